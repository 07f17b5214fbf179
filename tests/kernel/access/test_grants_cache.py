"""Grants are cached per process and follow changes made in any other process."""

from __future__ import annotations

from pathlib import Path

from openitsm.kernel.access import action_registry
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel


def test_grants_changed_in_one_kernel_are_seen_by_another(
    tmp_path: Path, database_url: str
) -> None:
    first = build_kernel(tmp_path, database_url)
    second = build_kernel(tmp_path, database_url, migrate=False)
    try:
        with first.session() as session:
            user = identity.create_user(session, "eve", "Eve", password="pw-secret")
            token = identity.open_session(session, user)
            unit = service.create_service_unit(session, code="acme", name="Acme")
        found = identity.actor_for_token(second.engine, token)
        assert found is not None and found[0].actions == frozenset()
        # Cached now: a second lookup in the same process reads no grants tables.
        assert identity.actor_for_token(second.engine, token)[0].actions == frozenset()  # type: ignore[index]

        with first.session() as session:
            service.grant_role(session, user.id, service.role_by_code(session, "supervisor").id)
            service.add_service_unit_member(session, unit.id, user.id)
        actor = identity.actor_for_token(second.engine, token)[0]  # type: ignore[index]
        assert actor.actions == {
            "org.read",
            "audit.read",
            "process.read",
            "process.supervise",
            "process.jump",
            "duty.manage",
        }
        assert actor.service_unit_ids == {unit.id}

        with first.session() as session:
            role = service.role_by_code(session, "supervisor")
            service.update_role(
                session, action_registry(first), role.id, role.version, {"actions": ["org.read"]}
            )
        assert identity.actor_for_token(second.engine, token)[0].actions == {"org.read"}  # type: ignore[index]
    finally:
        second.close()
        first.close()
