"""Data scope: roles narrow what an actor sees with one SQL condition, on every path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.grants import actor_for_user, load_grants
from openitsm.kernel.access.models import RoleScope
from openitsm.kernel.access.scope import records_seen, scope_filter, set_role_scope, visible
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import count_statements
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import build_kernel, error_codes, gql
from openitsm.kernel.testing.tickets import TICKET, Ticket, TicketPlugin, create_tables, drop_tables


@dataclass
class World:
    """Departments hq > it > desk and a separate root `other`; units A and B; users."""

    departments: dict[str, int]
    units: dict[str, int]
    users: dict[str, int]
    tickets: dict[str, int]


@pytest.fixture
def scoped(tmp_path: Path, database_url: str) -> Iterator[tuple[Kernel, World]]:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    try:
        with kernel.session() as session:
            world = build_world(session)
        yield kernel, world
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def build_world(session: Session) -> World:
    departments: dict[str, int] = {}
    for code, parent in (("hq", None), ("it", "hq"), ("desk", "it"), ("other", None)):
        departments[code] = service.create_department(
            session, code=code, name=code, parent_id=departments[parent] if parent else None
        ).id
    units = {
        code: service.create_service_unit(session, code=f"unit-{code}", name=code).id
        for code in ("A", "B")
    }
    users: dict[str, int] = {}
    for login, department in (("ann", "it"), ("bob", "desk"), ("cat", "hq"), ("out", None)):
        user = identity.create_user(session, login, login)
        if department:
            service.update_user(
                session, user.id, user.version, {"department_id": departments[department]}
            )
        users[login] = user.id
    service.add_service_unit_member(session, units["A"], users["out"])
    rows = {
        # title: (reporter, assignee, department, unit)
        "ann-reported": ("ann", None, "other", None),
        "ann-assigned": ("bob", "ann", "other", None),
        "at-hq": ("cat", None, "hq", None),
        "at-it": ("cat", None, "it", None),
        "at-desk": ("bob", None, "desk", None),
        "at-other": (None, None, "other", None),
        "unit-a-1": (None, None, None, "A"),
        "unit-a-2": (None, None, "other", "A"),
        "unit-b": (None, None, None, "B"),
    }
    tickets: dict[str, int] = {}
    for title, (reporter, assignee, department, unit) in rows.items():
        ticket = Ticket(
            title=title,
            reporter_id=users[reporter] if reporter else None,
            assignee_id=users[assignee] if assignee else None,
            department_id=departments[department] if department else None,
            service_unit_id=units[unit] if unit else None,
        )
        session.add(ticket)
        session.flush()
        tickets[title] = ticket.id
    return World(departments, units, users, tickets)


def grant(
    kernel: Kernel, session: Session, user_id: int, code: str, scopes: dict[str, str]
) -> None:
    """A new role with `scopes` ({resource: scope}), granted to the user."""
    role = service.create_role(session, action_registry(kernel), code=code, labels={"en": code})
    for resource, scope in scopes.items():
        set_role_scope(session, role.id, resource, scope)
    service.grant_role(session, user_id, role.id)


def seen(session: Session, actor: Actor) -> set[str]:
    return set(session.scalars(visible(select(Ticket.title), actor, TICKET)))


EXPECTED = {
    # ann works in `it` (below hq, above desk) and belongs to no service unit.
    "own": {"ann-reported", "ann-assigned"},
    "department": {"at-it"},
    "department_subtree": {"at-it", "at-desk"},
    "service_units": set(),
    "all": {
        "ann-reported",
        "ann-assigned",
        "at-hq",
        "at-it",
        "at-desk",
        "at-other",
        "unit-a-1",
        "unit-a-2",
        "unit-b",
    },
}


@pytest.mark.parametrize("scope", sorted(EXPECTED))
def test_each_scope_selects_its_rows(scoped: tuple[Kernel, World], scope: str) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        grant(kernel, session, world.users["ann"], "viewer", {"ticket": scope})
        actor = actor_for_user(session, world.users["ann"])
        assert actor.scopes == {("ticket", scope)}
        assert seen(session, actor) == EXPECTED[scope]


def test_two_roles_see_the_union_of_their_rows(scoped: tuple[Kernel, World]) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        grant(kernel, session, world.users["ann"], "mine", {"ticket": "own"})
        grant(kernel, session, world.users["ann"], "team", {"ticket": "department"})
        actor = actor_for_user(session, world.users["ann"])
        assert seen(session, actor) == {"ann-reported", "ann-assigned", "at-it"}


def test_a_scope_on_another_resource_grants_nothing_here(scoped: tuple[Kernel, World]) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        # A scope kept from a module no longer enabled: written as it was stored then.
        grant(kernel, session, world.users["ann"], "elsewhere", {})
        role = service.role_by_code(session, "elsewhere")
        session.add(RoleScope(role_id=role.id, resource="change", scope="all"))
        session.flush()
        actor = actor_for_user(session, world.users["ann"])
        assert actor.scopes == {("change", "all")}
        assert seen(session, actor) == set()
        total = session.scalar(visible(select(func.count()).select_from(Ticket), actor, TICKET))
        assert total == 0


def test_superuser_sees_everything_without_a_scope(scoped: tuple[Kernel, World]) -> None:
    kernel, _ = scoped
    with kernel.session() as session:
        boss = Actor(user_id=None, label="root", superuser=True)
        assert seen(session, boss) == EXPECTED["all"]
        assert str(scope_filter(boss, TICKET).compile()) == "true"


def test_kinds_without_scope_columns_are_not_narrowed(scoped: tuple[Kernel, World]) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        nobody = Actor(user_id=world.users["ann"], label="ann")
        ref = RecordRef("department", world.departments["hq"])
        assert kernel.record_kinds.exists(session, ref, nobody)


def test_a_record_read_under_scope_is_vouched_for_only_to_its_reader(
    scoped: tuple[Kernel, World],
) -> None:
    """`records_seen` spares a page checking one record's scope again for each part of it,
    and vouches for nothing else: not another record, not another reader or other grants,
    not after the block."""
    kernel, world = scoped
    kinds = kernel.record_kinds
    at_it = RecordRef("ticket", world.tickets["at-it"])
    at_hq = RecordRef("ticket", world.tickets["at-hq"])
    with kernel.session() as session:
        for login in ("ann", "bob"):
            grant(
                kernel,
                session,
                world.users[login],
                f"team-{login}",
                {"ticket": "department_subtree"},
            )
        ann = actor_for_user(session, world.users["ann"])
        bob = actor_for_user(session, world.users["bob"])  # desk, below it: not at-it
        with records_seen(ann, [at_it]):
            with count_statements(kernel.engine) as vouched:
                assert kinds.exists(session, at_it, ann)
                assert kinds.exists(session, at_it, replace(ann, locale="en", time_zone="UTC"))
            assert vouched.count == 0
            assert not kinds.exists(session, at_hq, ann)
            assert not kinds.exists(session, at_it, bob)
            assert not kinds.exists(session, at_it, replace(ann, scopes=frozenset()))
        with count_statements(kernel.engine) as afterwards:
            assert kinds.exists(session, at_it, ann)
        assert afterwards.count == 1


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        ("cat", {"at-hq", "at-it", "at-desk"}),
        ("ann", {"at-it", "at-desk"}),
        ("bob", {"at-desk"}),
    ],
)
def test_department_subtree_follows_three_levels(
    scoped: tuple[Kernel, World], login: str, expected: set[str]
) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        grant(kernel, session, world.users[login], "subtree", {"ticket": "department_subtree"})
        assert seen(session, actor_for_user(session, world.users[login])) == expected


def test_department_scopes_without_a_department_see_nothing(scoped: tuple[Kernel, World]) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        grant(kernel, session, world.users["out"], "team", {"ticket": "department_subtree"})
        assert seen(session, actor_for_user(session, world.users["out"])) == set()


def test_service_unit_a_never_reaches_unit_b(scoped: tuple[Kernel, World]) -> None:
    kernel, world = scoped
    b_ref = RecordRef("ticket", world.tickets["unit-b"])
    a_ref = RecordRef("ticket", world.tickets["unit-a-1"])
    with kernel.session() as session:
        grant(kernel, session, world.users["out"], "outsourcer", {"ticket": "service_units"})
        actor = actor_for_user(session, world.users["out"])
        assert seen(session, actor) == {"unit-a-1", "unit-a-2"}
        total = session.scalar(visible(select(func.count()).select_from(Ticket), actor, TICKET))
        assert total == 2
        kinds = kernel.record_kinds
        assert not kinds.exists(session, b_ref, actor)
        assert kinds.exists(session, a_ref, actor)
        assert set(kinds.describe(session, [a_ref, b_ref], actor)) == {a_ref}
        assert kinds.exists(session, b_ref)  # without an actor: the kernel's own view
    # Through the API: a reference to B's record reads as absent, its history as not found.
    records = gql(
        kernel,
        """query($refs: [RecordReferenceInput!]!) {
             records(refs: $refs) { recordId exists title }
           }""",
        {"refs": [{"kind": "ticket", "recordId": r.id} for r in (a_ref, b_ref)]},
        actor,
    )
    assert records["data"]["records"] == [
        {"recordId": a_ref.id, "exists": True, "title": "unit-a-1"},
        {"recordId": b_ref.id, "exists": False, "title": None},
    ]
    history = gql(
        kernel,
        """query($r: RecordReferenceInput!) { history(record: $r) { edges { cursor } } }""",
        {"r": {"kind": "ticket", "recordId": b_ref.id}},
        actor,
    )
    assert error_codes(history) == ["NOT_FOUND"]
    # An id that does not exist at all answers the same way: nothing to tell them apart.
    missing = gql(
        kernel,
        """query($r: RecordReferenceInput!) { history(record: $r) { edges { cursor } } }""",
        {"r": {"kind": "ticket", "recordId": 999_999}},
        actor,
    )
    assert error_codes(missing) == ["NOT_FOUND"]
    assert missing["errors"][0]["message"].replace("999999", "X") == history["errors"][0][
        "message"
    ].replace(str(b_ref.id), "X")


def test_the_filter_is_one_statement_whatever_the_number_of_roles(
    scoped: tuple[Kernel, World],
) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        grant(kernel, session, world.users["ann"], "r1", {"ticket": "own"})
        one = actor_for_user(session, world.users["ann"])
        grant(kernel, session, world.users["ann"], "r2", {"ticket": "department_subtree"})
        grant(kernel, session, world.users["ann"], "r3", {"ticket": "service_units"})
        grant(kernel, session, world.users["ann"], "r4", {"ticket": "department"})
        service.add_service_unit_member(session, world.units["B"], world.users["ann"])
        many = actor_for_user(session, world.users["ann"])
        counts = []
        for actor in (one, many):
            with count_statements(kernel.engine) as log:
                session.scalar(visible(select(func.count()).select_from(Ticket), actor, TICKET))
                rows = seen(session, actor)
            counts.append(len(log.statements))
        assert counts == [2, 2]
        assert rows == {"ann-reported", "ann-assigned", "at-it", "at-desk", "unit-b"}


def test_scope_changes_reach_cached_actors(scoped: tuple[Kernel, World]) -> None:
    kernel, _ = scoped
    with kernel.session() as session:
        user = identity.create_user(session, "eve", "Eve", password="pw-secret")
        token = identity.open_session(session, user)
        grant(kernel, session, user.id, "eve-role", {"ticket": "own"})
        role_id = service.role_by_code(session, "eve-role").id
    found = identity.actor_for_token(kernel.engine, token)
    assert found is not None and found[0].scopes == {("ticket", "own")}
    with kernel.session() as session:
        set_role_scope(session, role_id, "ticket", "all")
    found = identity.actor_for_token(kernel.engine, token)
    assert found is not None and found[0].scopes == {("ticket", "all")}
    with kernel.session() as session:
        set_role_scope(session, role_id, "ticket", None)
    found = identity.actor_for_token(kernel.engine, token)
    assert found is not None and found[0].scopes == frozenset()


def test_an_unknown_scope_is_refused(scoped: tuple[Kernel, World]) -> None:
    kernel, _ = scoped
    with kernel.session() as session:
        role = service.role_by_code(session, "supervisor")
        with pytest.raises(BadUserInput, match="Unknown data scope 'everything'"):
            set_role_scope(session, role.id, "ticket", "everything")
        for resource in ("user", "no_such_kind"):
            with pytest.raises(BadUserInput, match=f"'{resource}' has no data scope; scoped"):
                set_role_scope(session, role.id, resource, "all")


def test_a_token_keeps_only_the_scopes_of_its_roles(scoped: tuple[Kernel, World]) -> None:
    kernel, world = scoped
    with kernel.session() as session:
        grant(kernel, session, world.users["ann"], "narrow", {"ticket": "own"})
        grant(kernel, session, world.users["ann"], "wide", {"ticket": "all"})
        grants = load_grants(session, world.users["ann"])
    assert grants.scopes == {("ticket", "own"), ("ticket", "all")}
    assert grants.limited_to(frozenset({"narrow"})).scopes == {("ticket", "own")}
    wide = replace(Actor(user_id=1, label="x"), scopes=grants.scopes)
    assert str(scope_filter(wide, TICKET).compile()) == "true"


def test_attachments_follow_the_scope_of_their_record(scoped: tuple[Kernel, World]) -> None:
    from openitsm.kernel.attachments import service as attachments
    from openitsm.kernel.errors import NotFound

    kernel, world = scoped
    a_ref = RecordRef("ticket", world.tickets["unit-a-1"])
    b_ref = RecordRef("ticket", world.tickets["unit-b"])
    from openitsm.kernel.actors import SYSTEM as root

    with kernel.session(root) as session:
        grant(kernel, session, world.users["out"], "outsourcer", {"ticket": "service_units"})
        on_b = attachments.save_attachment(session, kernel, b_ref, "b.txt", None, [b"B"], root)
        on_a = attachments.save_attachment(session, kernel, a_ref, "a.txt", None, [b"A"], root)
    with kernel.session() as session:
        actor = actor_for_user(session, world.users["out"])
        with pytest.raises(NotFound):
            attachments.save_attachment(session, kernel, b_ref, "x.txt", None, [b"x"], actor)
        with pytest.raises(NotFound):
            attachments.open_attachment(session, kernel, on_b.id, actor)
        found, chunks = attachments.open_attachment(session, kernel, on_a.id, actor)
        assert b"".join(chunks) == b"A" and found.id == on_a.id


SET_SCOPE = """mutation($role: ID!, $resource: String!, $scope: DataScope) {
  setRoleScope(role: $role, resource: $resource, scope: $scope) { role { scopes { resource scope } } }
}"""


def test_scopes_are_set_per_role_through_graphql(scoped: tuple[Kernel, World]) -> None:
    import base64

    kernel, world = scoped
    admin = Actor(user_id=world.users["cat"], label="cat", superuser=True)
    member = Actor(user_id=world.users["ann"], label="ann")
    with kernel.session() as session:
        role = service.create_role(
            session, action_registry(kernel), code="watchers", labels={"en": "Watchers"}
        )
    role_id = base64.b64encode(f"Role:{role.id}".encode()).decode()
    granted = gql(
        kernel, SET_SCOPE, {"role": role_id, "resource": "ticket", "scope": "SERVICE_UNITS"}, admin
    )
    assert granted["data"]["setRoleScope"]["role"]["scopes"] == [
        {"resource": "ticket", "scope": "SERVICE_UNITS"}
    ]
    unscoped = gql(kernel, SET_SCOPE, {"role": role_id, "resource": "user", "scope": "ALL"}, admin)
    assert error_codes(unscoped) == ["BAD_USER_INPUT"]
    assert "scoped resources: ticket" in unscoped["errors"][0]["message"]
    refused = gql(kernel, SET_SCOPE, {"role": role_id, "resource": "ticket"}, member)
    assert error_codes(refused) == ["FORBIDDEN"]
    revoked = gql(kernel, SET_SCOPE, {"role": role_id, "resource": "ticket"}, admin)
    assert revoked["data"]["setRoleScope"]["role"]["scopes"] == []
