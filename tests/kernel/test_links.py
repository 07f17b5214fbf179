"""Record links: as visible as both their ends, idempotent, written into the history of both
records, listed in a constant number of queries, and the same through GraphQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from strawberry.relay import to_base64

from openitsm.kernel import Kernel, RecordRef
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.db import count_statements
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound
from openitsm.kernel.identity import service as identity
from openitsm.kernel.links import service
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.links.relations import INCOMING, OUTGOING
from openitsm.kernel.testing import build_kernel, error_codes, gql
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables


@dataclass
class World:
    kernel: Kernel
    agent: Actor  # sees every ticket and may link
    outsider: Actor  # may link, but sees only the tickets they reported
    reader: Actor  # sees every ticket, may not link
    tickets: list[RecordRef]
    own: RecordRef  # the outsider's ticket

    def add(
        self, who: Actor, source: RecordRef, target: RecordRef, relation: str = "related"
    ) -> int:
        with self.kernel.unit_of_work(actor=who) as session:
            return service.add_link(session, source, target, relation, who).id

    def links(self, who: Actor, ref: RecordRef) -> list[tuple[str, str, RecordRef]]:
        with self.kernel.session() as session:
            views = service.links_of(session, ref, who)
        return [(view.relation.name, view.direction, view.record.ref) for view in views]


def actor(user_id: int, name: str, *, link: bool, scope: str) -> Actor:
    return Actor(
        user_id=user_id,
        label=name,
        actions=frozenset({service.ACTION} if link else set()),
        scopes=frozenset({("ticket", scope)}),
    )


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    try:
        with kernel.session() as session:
            ids = [
                identity.create_user(session, login, login.title()).id
                for login in ("agent", "outsider", "reader")
            ]
            tickets = [Ticket(title=f"Ticket {n}") for n in range(14)]
            own = Ticket(title="Outsider's own", reporter_id=ids[1])
            session.add_all([*tickets, own])
            session.flush()
            refs = [RecordRef("ticket", t.id) for t in tickets]
            own_ref = RecordRef("ticket", own.id)
        yield World(
            kernel,
            actor(ids[0], "Agent", link=True, scope="all"),
            actor(ids[1], "Outsider", link=True, scope="own"),
            actor(ids[2], "Reader", link=False, scope="all"),
            refs,
            own_ref,
        )
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def test_links_need_sight_of_both_records_and_the_action(world: World) -> None:
    one, two = world.tickets[:2]
    world.add(world.agent, world.own, one, "caused_by")
    # The outsider sees their ticket, not what it is linked to: the link is not listed.
    assert world.links(world.outsider, world.own) == []
    assert world.links(world.agent, world.own) == [("caused_by", OUTGOING, one)]
    assert world.links(world.agent, one) == [("caused_by", INCOMING, world.own)]
    missing = RecordRef("ticket", 99_999)
    for target in (one, missing):  # hidden and missing answer alike
        with pytest.raises(NotFound) as error:
            world.add(world.outsider, world.own, target)
        assert error.value.extensions["field"] == "target"
    with pytest.raises(NotFound) as error:
        world.add(world.outsider, one, world.own)
    assert error.value.extensions["field"] == "source"
    with world.kernel.session() as session, pytest.raises(NotFound):
        service.links_of(session, one, world.outsider)
    with world.kernel.session() as session, pytest.raises(NotFound):
        service.remove_link(session, world.own, one, "caused_by", world.outsider)
    with pytest.raises(Forbidden):
        world.add(world.reader, one, two)
    assert world.links(world.reader, one) == [("caused_by", INCOMING, world.own)]


def test_self_links_unknown_relations_and_kinds_are_bad_input(world: World) -> None:
    one, two = world.tickets[:2]
    cases = [
        (one, one, "related", "target"),
        (one, two, "blocks", "relation"),
        (one, RecordRef("spaceship", 1), "related", "target"),
    ]
    for source, target, relation, field in cases:
        with pytest.raises(BadUserInput) as error:
            world.add(world.agent, source, target, relation)
        assert error.value.extensions["field"] == field
    with world.kernel.session() as session:
        assert session.scalar(select(func.count()).select_from(RecordLink)) == 0


def history(world: World, ref: RecordRef) -> list[tuple[str, object, object]]:
    with world.kernel.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditChange.old_value, AuditChange.new_value)
            .join(AuditChange, AuditChange.event_id == AuditEvent.id)
            .where(
                AuditEvent.record_kind == ref.kind,
                AuditEvent.record_id == ref.id,
                AuditChange.field == service.HISTORY_FIELD,
            )
            .order_by(AuditEvent.id)
        ).all()
    return [tuple(row) for row in rows]


def test_linking_twice_keeps_one_link_and_one_entry_on_each_side(world: World) -> None:
    one, two, three = world.tickets[:3]
    first = world.add(world.agent, one, two)
    assert world.add(world.agent, one, two) == first
    assert world.add(world.agent, two, one) == first  # `related` reads the same both ways
    duplicate = world.add(world.agent, two, one, "duplicate_of")  # another relation: a new link
    assert duplicate != first
    assert world.add(world.agent, two, one, "duplicate_of") == duplicate
    assert world.add(world.agent, one, two, "duplicate_of") != duplicate  # not symmetric
    with world.kernel.session() as session:
        assert session.scalar(select(func.count()).select_from(RecordLink)) == 3
    related = {"relation": "related", "direction": OUTGOING, "record": str(two)}
    assert history(world, one)[0] == ("link", None, related)
    assert len(history(world, one)) == 3 and len(history(world, two)) == 3
    assert history(world, three) == []


def test_link_and_unlink_are_in_both_histories(world: World) -> None:
    one, two = world.tickets[:2]
    world.add(world.agent, one, two, "duplicate_of")
    with world.kernel.unit_of_work(actor=world.agent) as session:
        service.remove_link(session, one, two, "duplicate_of", world.agent)
    assert world.links(world.agent, one) == []
    out = {"relation": "duplicate_of", "direction": OUTGOING, "record": str(two)}
    back = {"relation": "duplicate_of", "direction": INCOMING, "record": str(one)}
    assert history(world, one) == [("link", None, out), ("unlink", out, None)]
    assert history(world, two) == [("link", None, back), ("unlink", back, None)]
    with world.kernel.session() as session, pytest.raises(NotFound):
        service.remove_link(session, one, two, "duplicate_of", world.agent)
    # The API's history tells each reader only of records they may see.
    world.add(world.agent, world.own, one, "caused_by")
    query = """query($r: RecordReferenceInput!) {
      history(record: $r) { nodes { action changes { field newValue } } } }"""
    variables = {"r": {"kind": "ticket", "recordId": world.own.id}}
    for who, record in ((world.agent, str(one)), (world.outsider, None)):
        nodes = gql(world.kernel, query, variables, who)["data"]["history"]["nodes"]
        linked = [n for n in nodes if n["action"] == "LINK"]
        assert linked[0]["changes"] == [
            {
                "field": service.HISTORY_FIELD,
                "newValue": {"relation": "caused_by", "direction": OUTGOING, "record": record},
            }
        ]


def test_listing_links_costs_the_same_for_3_and_12(world: World) -> None:
    hub, *others = world.tickets
    for n, other in enumerate(others[:12]):
        if n % 2:
            world.add(world.agent, hub, other, "duplicate_of")
        else:
            world.add(world.agent, other, hub, "caused_by")
    small = world.tickets[1]  # linked to the hub only; give it two more
    world.add(world.agent, small, world.tickets[3])
    world.add(world.agent, world.tickets[5], small)
    counts = {}
    for ref, expected in ((small, 3), (hub, 12)):
        with world.kernel.session() as session, count_statements(world.kernel.engine) as log:
            views = service.links_of(session, ref, world.agent)
        assert len(views) == expected
        counts[expected] = log.count
    assert counts[3] == counts[12] <= 3
    query = """query($r: String!) { recordLinks(record: $r) {
      relation relationLabel direction createdAt record { kind recordId title url exists } } }"""
    for ref, expected in ((small, 3), (hub, 12)):
        with count_statements(world.kernel.engine) as log:
            answer = gql(world.kernel, query, {"r": str(ref)}, world.agent)
        assert len(answer["data"]["recordLinks"]) == expected
        counts[expected] = len(log.selects())
    assert counts[3] == counts[12]


LINK = """mutation($s: String!, $t: String!, $r: String) {
  linkRecords(source: $s, target: $t, relation: $r) {
    link { relation relationLabel direction record { kind recordId title } } } }"""
UNLINK = """mutation($s: String!, $t: String!, $r: String) {
  unlinkRecords(source: $s, target: $t, relation: $r) { source { recordId } target { recordId } relation } }"""
LIST = """query($r: String!) { recordLinks(record: $r) {
  relation relationLabel direction record { recordId title } } }"""


def test_graphql_round_trip(world: World) -> None:
    one, two = world.tickets[:2]
    source = to_base64("Ticket", one.id)  # a global id, or kind:id
    variables = {"s": source, "t": str(two), "r": "caused_by"}
    english = replace(world.agent, locale="en")
    answer = gql(world.kernel, LINK, variables, english)
    assert answer["data"]["linkRecords"]["link"] == {
        "relation": "caused_by",
        "relationLabel": "Caused by",
        "direction": "OUTGOING",
        "record": {"kind": "ticket", "recordId": two.id, "title": "Ticket 1"},
    }
    assert gql(world.kernel, LINK, variables, world.agent).get("errors") is None  # idempotent
    listed = gql(world.kernel, LIST, {"r": str(two)}, english)["data"]["recordLinks"]
    assert listed == [
        {
            "relation": "caused_by",
            "relationLabel": "Causes",
            "direction": "INCOMING",
            "record": {"recordId": one.id, "title": "Ticket 0"},
        }
    ]
    chinese = replace(world.agent, locale="zh-CN")
    listed = gql(world.kernel, LIST, {"r": str(two)}, chinese)["data"]["recordLinks"]
    assert listed[0]["relationLabel"] == "引起"
    refusals = [
        (world.outsider, {"s": str(world.own), "t": str(one)}, "NOT_FOUND", "target"),
        (world.reader, {"s": str(one), "t": str(two)}, "FORBIDDEN", None),
        (world.agent, {"s": str(one), "t": str(one)}, "BAD_USER_INPUT", "target"),
        (world.agent, {"s": str(one), "t": str(two), "r": "nope"}, "BAD_USER_INPUT", "relation"),
        (world.agent, {"s": "ticket:x", "t": str(two)}, "BAD_USER_INPUT", "source"),
        (world.agent, {"s": str(one), "t": "spaceship:1"}, "BAD_USER_INPUT", "target"),
        (world.agent, {"s": "NO-SUCH-NUMBER", "t": str(two)}, "NOT_FOUND", "source"),
    ]
    for who, given, code, field in refusals:
        answer = gql(world.kernel, LINK, given, who)
        assert error_codes(answer) == [code], answer
        assert answer["errors"][0]["extensions"].get("field") == field
    listed = gql(world.kernel, LIST, {"r": str(world.own)}, world.outsider)
    assert listed["data"]["recordLinks"] == []
    hidden = gql(world.kernel, LIST, {"r": str(one)}, world.outsider)
    assert error_codes(hidden) == ["NOT_FOUND"]
    removed = gql(world.kernel, UNLINK, variables, world.agent)["data"]["unlinkRecords"]
    assert removed == {
        "source": {"recordId": one.id},
        "target": {"recordId": two.id},
        "relation": "caused_by",
    }
    assert error_codes(gql(world.kernel, UNLINK, variables, world.agent)) == ["NOT_FOUND"]
    assert gql(world.kernel, LIST, {"r": str(two)}, world.agent)["data"]["recordLinks"] == []
    relations = gql(
        world.kernel, "{ linkRelations { name label inverseLabel symmetric } }", {}, english
    )
    assert {
        "name": "duplicate_of",
        "label": "Duplicate of",
        "inverseLabel": "Duplicated by",
        "symmetric": False,
    } in relations["data"]["linkRelations"]
