"""API tokens act with the roles they were given that their owner still holds, never more."""

from __future__ import annotations

import datetime as dt

from openitsm.kernel.access import action_registry
from openitsm.kernel.actors import Actor
from openitsm.kernel.identity import service, tokens
from openitsm.kernel.organisation import service as organisation


def test_token_actions_come_from_its_roles_within_the_owners(kernel):
    registry = action_registry(kernel)
    with kernel.session() as session:
        user = service.create_user(session, "ops", "Ops", password="ops-pw")
        readers = organisation.create_role(
            session, registry, code="readers", labels={"en": "Readers"}, actions=["org.read"]
        )
        editors = organisation.create_role(
            session, registry, code="editors", labels={"en": "Editors"}, actions=["org.manage"]
        )
        organisation.grant_role(session, user.id, readers.id)
        organisation.grant_role(session, user.id, editors.id)
        session_token = service.open_session(session, user)
    owner = Actor(user_id=user.id, label="Ops", roles=frozenset({"readers", "editors"}))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with kernel.session(owner) as session:
        secret, _ = tokens.create_api_token(
            session, owner, name="monitoring", expires_at=expires, roles=["readers"]
        )

    session_actor, _ = service.actor_for_token(kernel.engine, session_token)
    assert session_actor.roles == {"readers", "editors"}
    assert session_actor.actions == {"org.read", "org.manage"}

    token_actor, _, _ = tokens.actor_for_api_token(kernel.engine, secret)
    assert token_actor.roles == {"readers"}
    assert token_actor.actions == {"org.read"}
    assert not token_actor.superuser

    with kernel.session() as session:
        organisation.revoke_role(session, user.id, readers.id)
    token_actor, _, _ = tokens.actor_for_api_token(kernel.engine, secret)
    assert token_actor.roles == frozenset() and token_actor.actions == frozenset()
