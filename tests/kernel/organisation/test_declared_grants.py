"""Module defaults for the predefined roles are given once: what an administrator takes
away stays away across restarts, and a default a new version declares arrives once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select

from openitsm.kernel import Kernel
from openitsm.kernel.access.actions import ActionRegistry, ActionSpec
from openitsm.kernel.access.models import DeclaredGrant, RoleScope
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import Role, RoleAction

DESK, SUPERVISOR = "service_desk_agent", "supervisor"


def registry(*roles: str, also: tuple[ActionSpec, ...] = ()) -> ActionRegistry:
    spec = ActionSpec("gadget.read", {"en": "See gadgets"}, "See gadgets.", roles=roles)
    return ActionRegistry([("gadget", [spec, *also])])


def gadget_kind(**scopes: str) -> Any:
    return SimpleNamespace(name="gadget", scope=object(), default_scopes=scopes)


def holders(kernel: Kernel, action: str = "gadget.read") -> set[str]:
    with kernel.session() as session:
        return set(
            session.scalars(
                select(Role.code)
                .join(RoleAction, RoleAction.role_id == Role.id)
                .where(RoleAction.action == action)
            )
        )


def scopes(kernel: Kernel) -> dict[str, str]:
    with kernel.session() as session:
        rows = session.execute(
            select(Role.code, RoleScope.scope)
            .join(RoleScope, RoleScope.role_id == Role.id)
            .where(RoleScope.resource == "gadget")
        )
        return {code: scope for code, scope in rows}


def grant(kernel: Kernel, actions: ActionRegistry, *kinds: Any) -> int:
    with kernel.session() as session:
        return service.grant_declared_defaults(session, actions, kinds)


def take_away(kernel: Kernel, *codes: str) -> None:
    with kernel.session() as session:
        role_ids = select(Role.id).where(Role.code.in_(codes))
        session.execute(
            delete(RoleAction).where(
                RoleAction.action == "gadget.read", RoleAction.role_id.in_(role_ids)
            )
        )
        session.execute(delete(RoleScope).where(RoleScope.resource == "gadget"))


def test_a_default_taken_from_every_role_is_not_given_back(kernel: Kernel) -> None:
    assert grant(kernel, registry(DESK, SUPERVISOR), gadget_kind(supervisor="all")) == 3
    assert holders(kernel) == {DESK, SUPERVISOR} and scopes(kernel) == {SUPERVISOR: "all"}
    take_away(kernel, DESK, SUPERVISOR)
    assert grant(kernel, registry(DESK, SUPERVISOR), gadget_kind(supervisor="all")) == 0
    assert holders(kernel) == set() and scopes(kernel) == {}


def test_a_role_a_later_version_names_gets_the_default_once(kernel: Kernel) -> None:
    grant(kernel, registry(SUPERVISOR))
    assert holders(kernel) == {SUPERVISOR}
    assert grant(kernel, registry(SUPERVISOR, DESK)) == 1  # the new version names the desk
    assert holders(kernel) == {DESK, SUPERVISOR}
    take_away(kernel, DESK)
    assert grant(kernel, registry(SUPERVISOR, DESK)) == 0
    assert holders(kernel) == {SUPERVISOR}


def test_a_site_from_before_the_record_keeps_what_its_administrators_chose(
    kernel: Kernel,
) -> None:
    grant(kernel, registry(SUPERVISOR))
    with kernel.session() as session:  # as the site was before defaults were recorded
        session.execute(delete(DeclaredGrant))
    later = ActionSpec("gadget.fix", {"en": "Fix gadgets"}, "Fix gadgets.", roles=(DESK,))
    # The desk never held gadget.read while the supervisor did: an administrator's choice
    # then, kept now; gadget.fix is new, so it is given.
    assert grant(kernel, registry(SUPERVISOR, DESK, also=(later,))) == 1
    assert holders(kernel) == {SUPERVISOR} and holders(kernel, "gadget.fix") == {DESK}
