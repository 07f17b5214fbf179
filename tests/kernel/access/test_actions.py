"""Actions: declared through the hook, resolved from roles, enforced with `require`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from openitsm.kernel import SYSTEM, ActionSpec, Actor, Kernel, require
from openitsm.kernel.access import ActionRegistry, action_registry
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.errors import BadUserInput, ConfigurationError, Forbidden, Unauthenticated
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel, error_codes, gql


@pytest.fixture
def dummy_kernel(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    yield built
    built.close()


def test_hook_register_actions(dummy_kernel: Kernel) -> None:
    registry = action_registry(dummy_kernel)
    assert registry.owners["dummy.poke"] == "dummy"
    assert registry.owners["org.manage"] == "kernel.organisation"
    with dummy_kernel.session() as session:
        role = service.create_role(
            session, registry, code="poker", labels={"en": "Poker"}, actions=["dummy.poke"]
        )
        assert service.role_actions(session, role.id) == ["dummy.poke"]
    result = gql(dummy_kernel, '{ actions { name label(locale: "zh-CN") owner } }', actor=SYSTEM)
    assert {"name": "dummy.poke", "label": "戳一下", "owner": "dummy"} in result["data"]["actions"]


def test_registry_refuses_bad_and_duplicate_names() -> None:
    with pytest.raises(ConfigurationError, match="both 'a' and 'b'"):
        ActionRegistry([("a", [ActionSpec("x.do")]), ("b", [ActionSpec("x.do")])])
    with pytest.raises(ConfigurationError, match=r"<module>\.<verb>"):
        ActionRegistry([("a", [ActionSpec("NoDot")])])
    registry = ActionRegistry([("a", [ActionSpec("x.do")])])
    with pytest.raises(BadUserInput, match=r"'x\.undo'"):
        registry.check(["x.do", "x.undo"])


def test_require_and_can() -> None:
    clerk = Actor(user_id=5, label="clerk", actions=frozenset({"org.read"}))
    assert clerk.can("org.read") and not clerk.can("org.manage")
    assert require(clerk, "org.read") is clerk
    with pytest.raises(Forbidden, match=r"'org\.manage'"):
        require(clerk, "org.manage")
    assert Actor(user_id=1, label="root", superuser=True).can("anything.at_all")
    with pytest.raises(Unauthenticated):
        require(Actor(user_id=None, label="anonymous"), "org.read")


def test_actions_are_the_union_over_roles(kernel: Kernel) -> None:
    registry = action_registry(kernel)
    with kernel.session() as session:
        user = identity.create_user(session, "sup", "Supervisor")
        supervisor = service.role_by_code(session, "supervisor")
        admin_role = service.role_by_code(session, "administrator")
        service.grant_role(session, user.id, supervisor.id)
        assert actor_for_user(session, user.id).actions == {
            "org.read",
            "audit.read",
            "process.read",
            "process.supervise",
            "process.jump",
            "duty.manage",
        }
        service.grant_role(session, user.id, admin_role.id)
        assert actor_for_user(session, user.id).actions == {a.name for a in registry}
        service.revoke_role(session, user.id, admin_role.id)
        assert actor_for_user(session, user.id).actions == {
            "org.read",
            "audit.read",
            "process.read",
            "process.supervise",
            "process.jump",
            "duty.manage",
        }


def test_dictionary_edit_and_audit_timeline_need_their_actions(kernel: Kernel) -> None:
    with kernel.session() as session:
        user = identity.create_user(session, "clerk", "Clerk")
        clerk = actor_for_user(session, user.id)
    mutation = (
        'mutation { createDictionaryItem(input: {dictionary: "incident_category", code: "x", '
        'labels: {en: "X"}}) { item { code } } }'
    )
    timeline = "{ auditTimeline(first: 1) { edges { node { id } } } }"
    assert error_codes(gql(kernel, mutation, actor=clerk)) == ["FORBIDDEN"]
    assert error_codes(gql(kernel, timeline, actor=clerk)) == ["FORBIDDEN"]
    with kernel.session() as session:
        service.grant_role(session, user.id, service.role_by_code(session, "administrator").id)
        clerk = actor_for_user(session, user.id)
    assert gql(kernel, mutation, actor=clerk)["data"]["createDictionaryItem"]["item"]["code"] == "x"
    assert "errors" not in gql(kernel, timeline, actor=clerk)
