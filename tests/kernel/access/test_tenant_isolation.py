"""Tenant isolation through the API: a user of service unit A never reads, counts, links to,
changes or learns of the existence of service unit B's records.

Wherever B's record could surface, the answer is compared with the answer for an id that
does not exist at all: equal answers are what make existence impossible to guess.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import SYSTEM, Actor
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import build_kernel, error_codes, gql, scratch_database
from openitsm.kernel.testing.tickets import (
    Ticket,
    TicketPlugin,
    create_tables,
    drop_tables,
    update_ticket,
)

MISSING = 987_654  # an id no ticket, attachment or event has


@dataclass
class Tenants:
    kernel: Kernel
    alice: Actor  # member of unit A, role with the `service_units` scope on tickets
    a_tickets: dict[str, int]
    b_ticket: int
    a_attachment: int
    b_attachment: int
    b_events: list[int]
    a_events: list[int]
    b_assignee: int

    def run(self, query: str, **variables: Any) -> dict[str, Any]:
        return gql(self.kernel, query, variables, self.alice)


def global_id(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


B_VALUES = {
    "title": "beta-title-secret",
    "description": "beta-description-secret",
    "status": "beta-status",
    "priority": "beta-priority",
    "contact_phone": "beta-phone-secret",
    "internal_note": "beta-note-secret",
    "cost": 99_999,
    "due_at": dt.datetime(2040, 1, 1),
}


def database(
    kind: str, tmp: Path, request: pytest.FixtureRequest
) -> contextlib.AbstractContextManager[str]:
    return scratch_database(kind, tmp, lambda: request.getfixturevalue("postgres_url"))


def build(kernel: Kernel) -> Tenants:
    with kernel.session() as session:
        units = {
            code: service.create_service_unit(session, code=f"unit-{code}", name=code).id
            for code in ("A", "B")
        }
        alice = identity.create_user(session, "alice", "Alice of A")
        bert = identity.create_user(session, "bert", "Bert of B")
        service.add_service_unit_member(session, units["A"], alice.id)
        service.add_service_unit_member(session, units["B"], bert.id)
        role = service.create_role(
            session,
            action_registry(kernel),
            code="outsourcer",
            labels={"en": "Outsourcer"},
            actions=["audit.read", "org.read"],
        )
        set_role_scope(session, role.id, "ticket", "service_units")
        service.grant_role(session, alice.id, role.id)
        b_ticket = Ticket(**B_VALUES, service_unit_id=units["B"], assignee_id=bert.id)
        session.add(b_ticket)
        session.flush()
        a_tickets = {}
        for title, related in (("alpha-1", b_ticket.id), ("alpha-2", MISSING), ("alpha-3", None)):
            ticket = Ticket(
                title=title,
                status="alpha-status",
                priority="alpha-priority",
                cost=10,
                service_unit_id=units["A"],
                related_id=related,
            )
            session.add(ticket)
            session.flush()
            a_tickets[title] = ticket.id
        update_ticket(session, b_ticket.id, b_ticket.version, resolution="beta-resolution")
        b_attachment = attachments.save_attachment(
            session, kernel, RecordRef("ticket", b_ticket.id), "beta.txt", None, [b"B"], SYSTEM
        ).id
        a_attachment = attachments.save_attachment(
            session,
            kernel,
            RecordRef("ticket", a_tickets["alpha-3"]),
            "alpha.txt",
            None,
            [b"A"],
            SYSTEM,
        ).id

        def events(record_id: int) -> list[int]:
            return list(
                session.scalars(
                    sa.select(AuditEvent.id).where(
                        AuditEvent.record_kind == "ticket", AuditEvent.record_id == record_id
                    )
                )
            )

        b_events = events(b_ticket.id)
        a_events = events(a_tickets["alpha-3"])
        actor = actor_for_user(session, alice.id)
    return Tenants(
        kernel,
        actor,
        a_tickets,
        b_ticket.id,
        a_attachment,
        b_attachment,
        b_events,
        a_events,
        bert.id,
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def tenants(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenants]:
    """One site per database, shared by the module; the tests only read, or write what
    they are refused."""
    tmp = tmp_path_factory.mktemp(f"tenants-{request.param}")
    with database(request.param, tmp, request) as url:
        kernel = build_kernel(tmp, url, plugins={"tickets": TicketPlugin()})
        create_tables(kernel.engine)
        try:
            yield build(kernel)
        finally:
            drop_tables(kernel.engine)
            kernel.close()


def without_id(payload: Any, *ids: int) -> Any:
    """The payload with the given ids replaced (in texts, global ids and `recordId`), so
    the answers for B's record and a missing one can be compared whole."""
    if isinstance(payload, dict):
        return {
            key: "<id>" if key == "recordId" and value in ids else without_id(value, *ids)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [without_id(value, *ids) for value in payload]
    if isinstance(payload, str):
        for key in ids:
            for type_name in ("Ticket", "Attachment", "AuditEvent"):
                payload = payload.replace(global_id(type_name, key), f"<{type_name} id>")
            payload = re.sub(rf"\b{key}\b", "<id>", payload)
    return payload


def a_titles(tenants: Tenants) -> set[str]:
    return set(tenants.a_tickets)


# --- reading and counting --------------------------------------------------------------

LIST = """query($f: TicketFilter, $o: TicketOrder!, $d: Boolean!) {
  tickets(filter: $f, orderBy: $o, descending: $d) {
    totalCount { value capped }
    edges { node { id title } }
  }
}"""


def listed(tenants: Tenants, **arguments: Any) -> tuple[set[str], int]:
    variables = {"f": None, "o": "OPENED_AT", "d": False, **arguments}
    answer = tenants.run(LIST, **variables)
    assert "errors" not in answer, answer
    page = answer["data"]["tickets"]
    return {e["node"]["title"] for e in page["edges"]}, page["totalCount"]["value"]


def test_lists_and_totals_hold_only_unit_a(tenants: Tenants) -> None:
    titles, total = listed(tenants)
    assert titles == a_titles(tenants) and total == 3


@pytest.mark.parametrize("order", ["OPENED_AT", "TITLE", "PRIORITY", "COST", "DUE_AT"])
@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_no_order_brings_b_in(tenants: Tenants, order: str, descending: bool) -> None:
    titles, total = listed(tenants, o=order, d=descending)
    assert titles == a_titles(tenants) and total == 3


@pytest.mark.parametrize(
    "filter",
    [
        pytest.param({"status": B_VALUES["status"]}, id="status"),
        pytest.param({"priority": B_VALUES["priority"]}, id="priority"),
        pytest.param({"internalNote": B_VALUES["internal_note"]}, id="internal_note"),
        pytest.param({"costAtLeast": 50_000}, id="cost"),
        pytest.param({"search": "beta"}, id="search-title-prefix"),
        pytest.param({"search": B_VALUES["description"]}, id="search-description"),
        pytest.param({"search": B_VALUES["contact_phone"]}, id="search-phone"),
        pytest.param({"search": B_VALUES["internal_note"]}, id="search-note"),
    ],
)
def test_filters_and_search_never_match_b(tenants: Tenants, filter: dict[str, Any]) -> None:
    titles, total = listed(tenants, f=filter)
    assert (titles, total) == (set(), 0)
    # The same filter as the system finds B's ticket: the filter itself is sound.
    answer = gql(tenants.kernel, LIST, {"f": filter, "o": "OPENED_AT", "d": False}, SYSTEM)
    assert answer["data"]["tickets"]["totalCount"]["value"] == 1


def test_filter_by_b_assignee_finds_nothing(tenants: Tenants) -> None:
    assert listed(tenants, f={"assigneeId": tenants.b_assignee}) == (set(), 0)
    assert listed(tenants, f={"assigneeId": MISSING}) == (set(), 0)


NODE = """query($id: ID!) {
  node(id: $id) { id ... on Ticket { title internalNote } }
}"""


def test_node_of_b_answers_as_a_missing_id(tenants: Tenants) -> None:
    b = tenants.run(NODE, id=global_id("Ticket", tenants.b_ticket))
    missing = tenants.run(NODE, id=global_id("Ticket", MISSING))
    assert b == {"data": {"node": None}}
    assert without_id(b, tenants.b_ticket) == without_id(missing, MISSING)
    mine = tenants.run(NODE, id=global_id("Ticket", tenants.a_tickets["alpha-3"]))
    assert mine["data"]["node"]["title"] == "alpha-3"


def test_a_link_to_b_reads_as_a_dangling_link(tenants: Tenants) -> None:
    query = "{ tickets(orderBy: TITLE) { edges { node { title related { id title } } } } }"
    answer = tenants.run(query)
    assert "errors" not in answer, answer
    assert [e["node"] for e in answer["data"]["tickets"]["edges"]] == [
        {"title": "alpha-1", "related": None},  # links to B's ticket
        {"title": "alpha-2", "related": None},  # links to an id that does not exist
        {"title": "alpha-3", "related": None},  # links to nothing
    ]
    # The system sees where alpha-1 points: the link is there, only hidden.
    seen = gql(tenants.kernel, query, {}, SYSTEM)["data"]["tickets"]["edges"]
    assert {"id": global_id("Ticket", tenants.b_ticket), "title": B_VALUES["title"]} in [
        e["node"]["related"] for e in seen
    ]


# --- history, attachments, references --------------------------------------------------

HISTORY = """query($r: RecordReferenceInput!) {
  history(record: $r) { totalCount { value } edges { node { changes { field newValue } } } }
}"""
ATTACHMENTS = """query($r: RecordReferenceInput!) {
  attachments(record: $r) { totalCount { value } edges { node { filename } } }
}"""
RECORDS = """query($refs: [RecordReferenceInput!]!) {
  records(refs: $refs) { kind recordId exists title status url kindLabel }
}"""


@pytest.mark.parametrize("query", [HISTORY, ATTACHMENTS], ids=["history", "attachments"])
def test_history_and_attachments_of_b_are_not_found(tenants: Tenants, query: str) -> None:
    b = tenants.run(query, r={"kind": "ticket", "recordId": tenants.b_ticket})
    missing = tenants.run(query, r={"kind": "ticket", "recordId": MISSING})
    assert error_codes(b) == ["NOT_FOUND"]
    assert without_id(b, tenants.b_ticket) == without_id(missing, MISSING)
    mine = tenants.run(query, r={"kind": "ticket", "recordId": tenants.a_tickets["alpha-3"]})
    assert "errors" not in mine and mine["data"]


def test_a_reference_to_b_describes_nothing(tenants: Tenants) -> None:
    answer = tenants.run(
        RECORDS,
        refs=[
            {"kind": "ticket", "recordId": tenants.b_ticket},
            {"kind": "ticket", "recordId": MISSING},
            {"kind": "ticket", "recordId": tenants.a_tickets["alpha-3"]},
        ],
    )
    b, missing, mine = answer["data"]["records"]
    assert b["exists"] is False and b["title"] is None and b["status"] is None
    assert without_id(b, tenants.b_ticket) == without_id(missing, MISSING)
    assert mine["exists"] and mine["title"] == "alpha-3"
    assert "beta" not in repr(answer)


def test_the_timeline_leaves_b_out(tenants: Tenants) -> None:
    query = """{ auditTimeline(filter: {recordKind: "ticket"}, first: 200) {
      edges { node { record { recordId } changes { field newValue } } }
    } }"""
    answer = tenants.run(query)
    assert "errors" not in answer, answer
    seen = {e["node"]["record"]["recordId"] for e in answer["data"]["auditTimeline"]["edges"]}
    assert seen == set(tenants.a_tickets.values())
    assert "beta" not in repr(answer)
    everything = gql(tenants.kernel, query, {}, SYSTEM)
    assert tenants.b_ticket in {
        e["node"]["record"]["recordId"] for e in everything["data"]["auditTimeline"]["edges"]
    }


NODE_ATTACHMENT = """query($id: ID!) {
  node(id: $id) { id ... on Attachment { filename size sha256 record { recordId } } }
}"""
NODE_EVENT = """query($id: ID!) {
  node(id: $id) { id ... on AuditEvent { action record { recordId } changes { field newValue } } }
}"""


def test_node_of_an_attachment_on_b_answers_as_a_missing_id(tenants: Tenants) -> None:
    b = tenants.run(NODE_ATTACHMENT, id=global_id("Attachment", tenants.b_attachment))
    missing = tenants.run(NODE_ATTACHMENT, id=global_id("Attachment", MISSING))
    assert b == {"data": {"node": None}}
    assert without_id(b, tenants.b_attachment) == without_id(missing, MISSING)


def test_node_of_an_event_of_b_answers_as_a_missing_id(tenants: Tenants) -> None:
    for event in tenants.b_events:
        b = tenants.run(NODE_EVENT, id=global_id("AuditEvent", event))
        missing = tenants.run(NODE_EVENT, id=global_id("AuditEvent", MISSING))
        assert b == {"data": {"node": None}}
        assert without_id(b, event) == without_id(missing, MISSING)


def test_nodes_of_a_own_attachment_and_events_are_readable(tenants: Tenants) -> None:
    """The counterpart of the two tests above, on unit A's own ticket."""
    attachment = tenants.run(NODE_ATTACHMENT, id=global_id("Attachment", tenants.a_attachment))
    assert attachment["data"]["node"]["filename"] == "alpha.txt"
    event = tenants.run(NODE_EVENT, id=global_id("AuditEvent", tenants.a_events[0]))
    assert event["data"]["node"]["record"]["recordId"] == tenants.a_tickets["alpha-3"]


# --- writing ---------------------------------------------------------------------------

UPDATE = """mutation($id: ID!, $v: Int!, $in: TicketInput!) {
  updateTicket(id: $id, version: $v, input: $in) { ticket { id title version } }
}"""
CREATE = """mutation($in: TicketInput!) {
  createTicket(input: $in) { ticket { id title } }
}"""


def b_state(tenants: Tenants) -> tuple[Any, ...]:
    with tenants.kernel.session() as session:
        ticket = session.get(Ticket, tenants.b_ticket)
        assert ticket is not None
        events = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.record_kind == "ticket", AuditEvent.record_id == ticket.id)
        )
        return ticket.version, ticket.title, ticket.related_id, events


@pytest.mark.parametrize("version", [1, 2, 3], ids=lambda v: f"version-{v}")
def test_updating_b_is_not_found_like_a_missing_id(tenants: Tenants, version: int) -> None:
    """Whatever the version (B's is 2), the answer gives nothing away."""
    before = b_state(tenants)
    change = {"title": "taken over"}
    b = tenants.run(UPDATE, id=global_id("Ticket", tenants.b_ticket), v=version, **{"in": change})
    missing = tenants.run(UPDATE, id=global_id("Ticket", MISSING), v=version, **{"in": change})
    assert error_codes(b) == ["NOT_FOUND"]
    assert without_id(b, tenants.b_ticket) == without_id(missing, MISSING)
    assert b_state(tenants) == before


def test_linking_to_b_is_not_found_like_a_missing_id(tenants: Tenants) -> None:
    before_b = b_state(tenants)
    count = """{ tickets { totalCount { value } } }"""
    before = gql(tenants.kernel, count, {}, SYSTEM)
    for related_to, key in ((tenants.b_ticket, "b"), (MISSING, "missing")):
        created = tenants.run(
            CREATE, **{"in": {"title": f"link-{key}", "related": global_id("Ticket", related_to)}}
        )
        assert error_codes(created) == ["NOT_FOUND"]
        if key == "b":
            from_b = without_id(created, tenants.b_ticket)
        else:
            assert without_id(created, MISSING) == from_b
    assert gql(tenants.kernel, count, {}, SYSTEM) == before
    # Re-pointing one of A's own tickets at B's is refused the same way.
    mine = tenants.a_tickets["alpha-3"]
    node = tenants.run(
        "query($id: ID!) { node(id: $id) { ... on Ticket { version } } }",
        id=global_id("Ticket", mine),
    )
    version = node["data"]["node"]["version"]
    answers = [
        tenants.run(
            UPDATE,
            id=global_id("Ticket", mine),
            v=version,
            **{"in": {"related": global_id("Ticket", target)}},
        )
        for target in (tenants.b_ticket, MISSING)
    ]
    assert error_codes(answers[0]) == ["NOT_FOUND"]
    assert without_id(answers[0], tenants.b_ticket) == without_id(answers[1], MISSING)
    assert b_state(tenants) == before_b


def test_deleting_b_attachment_is_not_found_like_a_missing_id(tenants: Tenants) -> None:
    query = "mutation($id: ID!) { deleteAttachment(id: $id) { deletedId } }"
    b = tenants.run(query, id=global_id("Attachment", tenants.b_attachment))
    missing = tenants.run(query, id=global_id("Attachment", MISSING))
    assert error_codes(b) == ["NOT_FOUND"]
    assert without_id(b, tenants.b_attachment) == without_id(missing, MISSING)
    listed = gql(
        tenants.kernel,
        ATTACHMENTS,
        {"r": {"kind": "ticket", "recordId": tenants.b_ticket}},
        SYSTEM,
    )
    assert [e["node"]["filename"] for e in listed["data"]["attachments"]["edges"]] == ["beta.txt"]
