"""Audit history: every change recorded field by field, attributed, and readable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import User
from openitsm.kernel.testing import error_codes, gql


def events_for(kernel, kind: str, record_id: int) -> list[tuple[str, dict]]:
    with kernel.session() as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.record_kind == kind, AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
        ).all()
        result = []
        for event in events:
            changes = session.scalars(select(AuditChange).where(AuditChange.event_id == event.id))
            result.append((event.action, {c.field: (c.old_value, c.new_value) for c in changes}))
        return result


def test_create_update_delete_are_recorded_per_field(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "alice", "Alice", email="a@example.com")
        user_id = user.id
    with kernel.session() as session:
        user = session.get(User, user_id)
        user.name = "Alice Liddell"
        user.email = "alice@example.com"
    with kernel.session() as session:
        session.delete(session.get(User, user_id))
    history = events_for(kernel, "user", user_id)
    assert [action for action, _ in history] == ["create", "update", "delete"]
    assert history[0][1]["login"] == (None, "alice")
    assert history[1][1] == {
        "name": ("Alice", "Alice Liddell"),
        "email": ("a@example.com", "alice@example.com"),
    }
    assert history[2][1]["login"] == ("alice", None)


def test_secrets_are_recorded_as_changed_without_their_values(kernel):
    with kernel.session() as session:
        user_id = service.create_user(session, "bob", "Bob", password="first-pw").id
    with kernel.session() as session:
        session.get(User, user_id).password_hash = service.hash_password("second-pw")
    changes = events_for(kernel, "user", user_id)[1][1]
    assert changes == {"password_hash": ("[redacted]", "[redacted]")}


def test_saving_without_a_change_records_nothing(kernel):
    with kernel.session() as session:
        user_id = service.create_user(session, "carol", "Carol").id
    with kernel.session() as session:
        session.get(User, user_id).name = "Carol"
    assert [action for action, _ in events_for(kernel, "user", user_id)] == ["create"]


def test_rolled_back_changes_leave_no_history(kernel):
    with pytest.raises(RuntimeError), kernel.session() as session:
        user_id = service.create_user(session, "dave", "Dave").id
        raise RuntimeError("abandon")
    assert events_for(kernel, "user", user_id) == []


def test_actor_and_deputy_are_recorded(kernel):
    with kernel.session() as session:
        boss = service.create_user(session, "boss", "Boss")
        deputy = service.create_user(session, "deputy", "Deputy")
    acting = Actor(user_id=deputy.id, label="Deputy", on_behalf_of=boss.id)
    with kernel.session(acting) as session:
        session.get(User, boss.id).email = "boss@example.com"
    with kernel.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.record_id == boss.id).order_by(AuditEvent.id.desc())
        ).first()
        assert (event.actor_id, event.actor_label, event.on_behalf_of_id) == (
            deputy.id,
            "Deputy",
            boss.id,
        )


def test_history_query_pages_newest_first(kernel, admin):
    with kernel.session() as session:
        user_id = service.create_user(session, "erin", "Erin").id
    for n in range(5):
        with kernel.session() as session:
            session.get(User, user_id).name = f"Erin {n}"
    query = """query($r: RecordReferenceInput!, $after: String) {
      history(record: $r, first: 2, after: $after) {
        totalCount { value }
        pageInfo { hasNextPage endCursor }
        edges { node { action actorLabel record { kind recordId title } changes { field oldValue newValue } } }
      }
    }"""
    seen = []
    after = None
    while True:
        page = gql(
            kernel, query, {"r": {"kind": "user", "recordId": user_id}, "after": after}, actor=admin
        )
        history = page["data"]["history"]
        assert history["totalCount"]["value"] == 6
        seen.extend(edge["node"] for edge in history["edges"])
        if not history["pageInfo"]["hasNextPage"]:
            break
        after = history["pageInfo"]["endCursor"]
    assert [node["action"] for node in seen] == ["UPDATE"] * 5 + ["CREATE"]
    assert seen[0]["changes"] == [{"field": "name", "oldValue": "Erin 3", "newValue": "Erin 4"}]
    assert seen[0]["record"] == {"kind": "user", "recordId": user_id, "title": "Erin 4"}
    assert seen[0]["actorLabel"] == "system"


def test_history_of_a_missing_record_is_not_found(kernel, member):
    result = gql(
        kernel,
        '{ history(record: {kind: "user", recordId: 99999}) { edges { cursor } } }',
        actor=member,
    )
    assert error_codes(result) == ["NOT_FOUND"]
    unknown_kind = gql(
        kernel,
        '{ history(record: {kind: "nope", recordId: 1}) { edges { cursor } } }',
        actor=member,
    )
    assert error_codes(unknown_kind) == ["BAD_USER_INPUT"]


def test_timeline_is_for_administrators_and_filters(kernel, admin, member):
    query = """query($f: AuditTimelineFilter) {
      auditTimeline(filter: $f, first: 200) { edges { node { record { kind } actorId } } }
    }"""
    assert error_codes(gql(kernel, query, actor=member)) == ["FORBIDDEN"]
    assert error_codes(gql(kernel, query)) == ["UNAUTHENTICATED"]
    everything = gql(kernel, query, actor=admin)["data"]["auditTimeline"]["edges"]
    kinds = {edge["node"]["record"]["kind"] for edge in everything}
    assert {"user", "dictionary", "dictionary_item"} <= kinds
    users_only = gql(kernel, query, {"f": {"recordKind": "user"}}, actor=admin)
    assert {e["node"]["record"]["kind"] for e in users_only["data"]["auditTimeline"]["edges"]} == {
        "user"
    }
