"""Delegation (出差授权): its rules, the deputy's actor, history, and the GraphQL API."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel import Actor, Kernel
from openitsm.kernel.access import delegation as rules
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.delegation_models import Delegation
from openitsm.kernel.testing import error_codes, gql

HOUR = dt.timedelta(hours=1)


def _gid(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def _person(kernel: Kernel, login: str, **extra: Any) -> Actor:
    with kernel.session() as session:
        user = identity.create_user(session, login, login.title(), password="secret-pw", **extra)
    return Actor(user_id=user.id, label=user.name)


@pytest.fixture
def people(kernel: Kernel) -> dict[str, Actor]:
    return {login: _person(kernel, login) for login in ("alice", "bob", "carol", "dave")}


def _delegate(
    kernel: Kernel, by: Actor, deputy: Actor, start: dt.datetime, end: dt.datetime, **extra: Any
) -> Delegation:
    with kernel.session(by) as session:
        return rules.create_delegation(
            session, by, deputy_id=deputy.user_id, starts_at=start, ends_at=end, **extra
        )


def _count(kernel: Kernel) -> int:
    with kernel.session() as session:
        return session.scalar(select(func.count()).select_from(Delegation)) or 0


def test_bad_input_is_refused_and_nothing_is_written(
    kernel: Kernel, people: dict[str, Actor]
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    now = utcnow()
    _delegate(kernel, alice, bob, now + HOUR, now + 5 * HOUR)
    _delegate(kernel, carol, alice, now + 20 * HOUR, now + 30 * HOUR)
    with kernel.session() as session:
        inactive = identity.create_user(session, "gone", "Gone", password="secret-pw")
        inactive.active = False
    written = _count(kernel)

    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"deputy_id": alice.user_id}, BadUserInput, "deputy"),
        ({"starts_at": now + 3 * HOUR, "ends_at": now + 2 * HOUR}, BadUserInput, "endsAt"),
        ({"starts_at": now + 2 * HOUR, "ends_at": now + 2 * HOUR}, BadUserInput, "endsAt"),
        ({"starts_at": now - 3 * HOUR, "ends_at": now - HOUR}, BadUserInput, "endsAt"),
        ({"starts_at": dt.datetime(2030, 1, 1)}, BadUserInput, "startsAt"),
        ({"reason": "x" * 501}, BadUserInput, "reason"),
        # Overlaps Alice -> Bob, though the deputy differs.
        ({"starts_at": now + 4 * HOUR, "ends_at": now + 6 * HOUR}, BadUserInput, "startsAt"),
        ({"starts_at": now, "ends_at": now + 10 * HOUR}, BadUserInput, "startsAt"),
        # Alice would hand on work she holds for Carol then.
        ({"starts_at": now + 25 * HOUR, "ends_at": now + 40 * HOUR}, BadUserInput, "startsAt"),
        ({"deputy_id": 999_999}, NotFound, "deputy"),
        ({"deputy_id": inactive.id}, NotFound, "deputy"),
    ]
    for overrides, error, field in cases:
        arguments: dict[str, Any] = {
            "deputy_id": carol.user_id,
            "starts_at": now + 10 * HOUR,
            "ends_at": now + 12 * HOUR,
            **overrides,
        }
        with kernel.session(alice) as session, pytest.raises(error) as raised:
            rules.create_delegation(session, alice, **arguments)
        assert raised.value.extensions["field"] == field, overrides
    assert _count(kernel) == written


def test_a_deputy_away_themselves_cannot_take_work_on(
    kernel: Kernel, people: dict[str, Actor]
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    now = utcnow()
    _delegate(kernel, bob, carol, now + HOUR, now + 3 * HOUR)
    with kernel.session(alice) as session, pytest.raises(BadUserInput) as raised:
        rules.create_delegation(
            session, alice, deputy_id=bob.user_id, starts_at=now, ends_at=now + 2 * HOUR
        )
    assert raised.value.extensions["field"] == "deputy"
    assert "third person" in raised.value.message
    # Touching, not overlapping: Bob is back when Alice leaves.
    _delegate(kernel, alice, bob, now + 3 * HOUR, now + 4 * HOUR)
    assert _count(kernel) == 2


def test_touching_periods_are_allowed_and_revoked_ones_free_theirs(
    kernel: Kernel, people: dict[str, Actor]
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    now = utcnow()
    middle = _delegate(kernel, alice, bob, now + 2 * HOUR, now + 4 * HOUR)
    _delegate(kernel, alice, carol, now + 4 * HOUR, now + 6 * HOUR)
    _delegate(kernel, alice, carol, now + HOUR, now + 2 * HOUR)
    with kernel.session(alice) as session, pytest.raises(BadUserInput):
        rules.create_delegation(
            session,
            alice,
            deputy_id=carol.user_id,
            starts_at=now + 4 * HOUR - dt.timedelta(seconds=1),
            ends_at=now + 5 * HOUR,
        )
    with kernel.session(alice) as session:
        rules.revoke_delegation(session, alice, middle.id, middle.version)
    _delegate(kernel, alice, carol, now + 3 * HOUR, now + 4 * HOUR)
    assert _count(kernel) == 4


def test_delegating_for_someone_else_needs_org_manage(
    kernel: Kernel, people: dict[str, Actor], admin: Actor
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    now = utcnow()
    with kernel.session(carol) as session, pytest.raises(Forbidden):
        rules.create_delegation(
            session,
            carol,
            delegator_id=alice.user_id,
            deputy_id=bob.user_id,
            starts_at=now,
            ends_at=now + HOUR,
        )
    made = _delegate(kernel, admin, bob, now, now + HOUR, delegator_id=alice.user_id)
    assert (made.delegator_id, made.deputy_id, made.created_by) == (
        alice.user_id,
        bob.user_id,
        admin.user_id,
    )
    with kernel.session(admin) as session, pytest.raises(NotFound) as raised:
        rules.create_delegation(
            session,
            admin,
            delegator_id=999_999,
            deputy_id=bob.user_id,
            starts_at=now + 2 * HOUR,
            ends_at=now + 3 * HOUR,
        )
    assert raised.value.extensions["field"] == "delegator"


def test_deputy_acts_with_the_delegators_rights_and_history_says_so(
    kernel: Kernel, people: dict[str, Actor], admin: Actor
) -> None:
    alice, bob = people["alice"], people["bob"]
    with kernel.session() as session:
        manager = service.role_by_code(session, "administrator")
        user = service.get_user(session, alice.user_id)
        service.update_user(session, user.id, user.version, {"role_ids": [manager.id]})
        department = service.create_department(session, code="ops", name="Ops")
    now = utcnow()
    _delegate(kernel, alice, bob, now - dt.timedelta(minutes=1), now + HOUR)

    with kernel.session() as session:
        assert rules.delegators_of(session, bob.user_id) == [alice.user_id]
        assert rules.delegators_of(session, alice.user_id) == []
        assert rules.delegators_of(session, bob.user_id, now + 2 * HOUR) == []
        acting = rules.acting_for(session, bob, alice.user_id)
    assert (acting.user_id, acting.on_behalf_of, acting.label) == (
        bob.user_id,
        alice.user_id,
        "Bob",
    )
    assert acting.can("org.manage") and not bob.can("org.manage")

    with kernel.session(acting) as session:
        current = service.get_department(session, department.id)
        service.update_department(session, current.id, current.version, {"name": "Operations"})
    with kernel.session() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.record_kind == "department", AuditEvent.record_id == department.id)
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None
        assert (event.action, event.actor_id, event.on_behalf_of_id, event.actor_label) == (
            "update",
            bob.user_id,
            alice.user_id,
            "Bob",
        )
        with pytest.raises(Forbidden):
            rules.acting_for(session, acting, alice.user_id)  # no handing on again
        with pytest.raises(Forbidden):
            rules.acting_for(session, alice, bob.user_id)  # the other way round


def test_acting_for_is_forbidden_outside_the_period_or_once_revoked(
    kernel: Kernel, people: dict[str, Actor]
) -> None:
    alice, bob = people["alice"], people["bob"]
    now = utcnow()
    later = _delegate(kernel, alice, bob, now + HOUR, now + 2 * HOUR)
    with kernel.session() as session:
        with pytest.raises(Forbidden):
            rules.acting_for(session, bob, alice.user_id)
        assert (
            rules.acting_for(session, bob, alice.user_id, now + HOUR).on_behalf_of == alice.user_id
        )
        with pytest.raises(Forbidden):
            rules.acting_for(session, bob, alice.user_id, now + 2 * HOUR)  # the end is exclusive
    with kernel.session(alice) as session:
        rules.revoke_delegation(session, alice, later.id, later.version)
    with kernel.session() as session:
        with pytest.raises(Forbidden):
            rules.acting_for(session, bob, alice.user_id, now + HOUR)
        assert rules.delegators_of(session, bob.user_id, now + HOUR) == []


CREATE = """
mutation($deputy: ID!, $start: DateTime!, $end: DateTime!, $delegator: ID) {
  createDelegation(input: {deputy: $deputy, startsAt: $start, endsAt: $end,
                           delegator: $delegator, reason: "trip"}) {
    delegation { id version active reason delegator { login } deputy { login }
                 createdBy { login } }
  }
}"""
LIST = "{ delegations(first: 10) { totalCount { value } edges { node { deputy { login } delegator { login } } } } }"
REVOKE = """
mutation($id: ID!, $version: Int!) {
  revokeDelegation(id: $id, version: $version) { delegation { version active revokedAt } }
}"""


def test_graphql_create_list_and_revoke(
    kernel: Kernel, people: dict[str, Actor], admin: Actor
) -> None:
    alice, bob, carol, dave = (people[name] for name in ("alice", "bob", "carol", "dave"))
    now = utcnow()
    window = {"start": (now - HOUR).isoformat(), "end": (now + HOUR).isoformat()}

    created = gql(kernel, CREATE, {"deputy": _gid("User", bob.user_id), **window}, alice)
    delegation = created["data"]["createDelegation"]["delegation"]
    assert {k: v for k, v in delegation.items() if k not in ("id", "version")} == {
        "active": True,
        "reason": "trip",
        "delegator": {"login": "alice"},
        "deputy": {"login": "bob"},
        "createdBy": {"login": "alice"},
    }
    to_self = gql(kernel, CREATE, {"deputy": _gid("User", alice.user_id), **window}, alice)
    assert error_codes(to_self) == ["BAD_USER_INPUT"]
    assert to_self["errors"][0]["extensions"]["field"] == "deputy"
    for_other = {"deputy": _gid("User", dave.user_id), "delegator": _gid("User", carol.user_id)}
    assert error_codes(gql(kernel, CREATE, {**for_other, **window}, alice)) == ["FORBIDDEN"]
    by_admin = gql(kernel, CREATE, {**for_other, **window}, admin)
    assert by_admin["data"]["createDelegation"]["delegation"]["createdBy"] == {"login": "root"}
    assert error_codes(gql(kernel, CREATE, {"deputy": _gid("User", bob.user_id), **window})) == [
        "UNAUTHENTICATED"
    ]

    def listed(actor: Actor) -> list[tuple[str, str]]:
        result = gql(kernel, LIST, actor=actor)["data"]["delegations"]
        return sorted(
            (e["node"]["delegator"]["login"], e["node"]["deputy"]["login"]) for e in result["edges"]
        )

    assert listed(alice) == [("alice", "bob")]
    assert listed(bob) == [("alice", "bob")]
    assert listed(dave) == [("carol", "dave")]
    assert listed(admin) == [("alice", "bob"), ("carol", "dave")]
    total = gql(kernel, LIST, actor=dave)["data"]["delegations"]["totalCount"]
    assert total == {"value": 1}
    node = gql(kernel, "query($id: ID!) { node(id: $id) { id } }", {"id": delegation["id"]}, dave)
    assert node["data"]["node"] is None

    ids = {"id": delegation["id"], "version": delegation["version"]}
    assert error_codes(gql(kernel, REVOKE, ids, bob)) == ["FORBIDDEN"]
    assert error_codes(gql(kernel, REVOKE, ids, dave)) == ["NOT_FOUND"]
    revoked = gql(kernel, REVOKE, ids, alice)["data"]["revokeDelegation"]["delegation"]
    assert revoked["active"] is False and revoked["revokedAt"] is not None
    assert error_codes(gql(kernel, REVOKE, ids, alice)) == ["CONFLICT"]
    again = {"id": delegation["id"], "version": revoked["version"]}
    assert error_codes(gql(kernel, REVOKE, again, alice)) == ["BAD_USER_INPUT"]
    with kernel.session() as session:
        assert rules.delegators_of(session, bob.user_id) == []
