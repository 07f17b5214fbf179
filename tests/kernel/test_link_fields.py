"""A record link that makes up a field of its source (`RecordKind.link_fields`): the field's
rules govern the link — a reader for whom the field is hidden finds it on neither record's
list of links nor in either history, and only those who may write the field make or remove
it. Other links of the same records are untouched."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel, RecordRef
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.audit.schema import readable_events
from openitsm.kernel.errors import Forbidden
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.links import service
from openitsm.kernel.references import RecordKind
from openitsm.kernel.testing import build_kernel, gql
from openitsm.kernel.testing.tickets import TICKET, Ticket, create_tables, drop_tables

# A ticket's cause is kept as a `caused_by` link from the ticket, and called `cause`.
CAUSED_TICKET = dataclasses.replace(TICKET, link_fields={"caused_by": "cause"})


class CausedTickets:
    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [CAUSED_TICKET]


def actor(user_id: int, name: str, access: str | None = None) -> Actor:
    return Actor(
        user_id=user_id,
        label=name,
        actions=frozenset({service.ACTION}),
        scopes=frozenset({("ticket", "all")}),
        field_rules=frozenset({("ticket", "cause", access)} if access else set()),
    )


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url, plugins={"tickets": CausedTickets()})
    create_tables(built.engine)
    yield built
    drop_tables(built.engine)
    built.close()


def test_a_link_that_is_a_field_follows_the_fields_rules(kernel: Kernel) -> None:
    with kernel.session() as session:
        ids = [identity.create_user(session, n, n.title()).id for n in ("agent", "blind", "ro")]
        tickets = [Ticket(title=f"Ticket {n}") for n in range(3)]
        session.add_all(tickets)
        session.flush()
        one, two, three = (RecordRef("ticket", t.id) for t in tickets)
    agent, blind, read_only = (
        actor(ids[0], "Agent"),
        actor(ids[1], "Blind", "hidden"),
        actor(ids[2], "Read-only", "read_only"),
    )
    assert "cause" in kernel.record_kinds.get("ticket").fields  # rules may name it
    for who in (read_only, blind):  # writing the field is refused, whichever end it is made at
        with pytest.raises(Forbidden) as refused, kernel.unit_of_work(actor=who) as session:
            service.add_link(session, one, two, "caused_by", who)
        assert refused.value.extensions["field"] == "cause"
    with kernel.unit_of_work(actor=agent) as session:
        service.add_link(session, one, two, "caused_by", agent)
        service.add_link(session, one, three, "related", agent)

    def listed(who: Actor, ref: RecordRef) -> list[tuple[str, str]]:
        with kernel.session() as session:
            return [(v.relation.name, v.direction) for v in service.links_of(session, ref, who)]

    def history(who: Actor, ref: RecordRef) -> list[tuple[str, str]]:
        with kernel.session() as session:
            statement = select(AuditEvent.id).where(
                AuditEvent.record_kind == ref.kind, AuditEvent.record_id == ref.id
            )
            shown = readable_events(statement, who, kernel.record_kinds, ref.kind)
            rows = session.execute(
                select(AuditEvent.action, AuditChange.new_value, AuditChange.old_value)
                .join(AuditChange, AuditChange.event_id == AuditEvent.id)
                .where(AuditEvent.id.in_(shown), AuditChange.field == service.HISTORY_FIELD)
                .order_by(AuditEvent.id)
            )
            return [(action, (new or old)["relation"]) for action, new, old in rows]

    assert listed(agent, one) == [("caused_by", "outgoing"), ("related", "outgoing")]
    assert listed(read_only, two) == [("caused_by", "incoming")]  # read-only still reads it
    assert listed(blind, one) == [("related", "outgoing")]
    assert listed(blind, two) == []
    assert history(agent, one) == [("link", "caused_by"), ("link", "related")]
    assert history(agent, two) == [("link", "caused_by")]
    assert history(blind, one) == [("link", "related")]
    assert history(blind, two) == []
    with pytest.raises(Forbidden), kernel.unit_of_work(actor=read_only) as session:
        service.remove_link(session, one, two, "caused_by", read_only)
    with kernel.unit_of_work(actor=read_only) as session:  # other relations are not the field
        service.remove_link(session, one, three, "related", read_only)
    with kernel.unit_of_work(actor=agent) as session:
        service.remove_link(session, one, two, "caused_by", agent)
    assert history(agent, two) == [("link", "caused_by"), ("unlink", "caused_by")]
    assert history(blind, two) == []
    assert history(blind, one) == [("link", "related"), ("unlink", "related")]
    # the same through GraphQL: the list of links and the history
    query = """query($r: String!, $ref: RecordReferenceInput!) {
      recordLinks(record: $r) { relation }
      history(record: $ref) { edges { node { action } } } }"""
    variables = {"r": str(two), "ref": {"kind": "ticket", "recordId": two.id}}
    with kernel.unit_of_work(actor=agent) as session:
        service.add_link(session, one, two, "caused_by", agent)
    seen = gql(kernel, query, variables, agent)["data"]
    assert seen["recordLinks"] == [{"relation": "caused_by"}]
    newest_first = ["LINK", "UNLINK", "LINK", "CREATE"]
    assert [e["node"]["action"] for e in seen["history"]["edges"]] == newest_first
    unseen = gql(kernel, query, variables, blind)["data"]
    assert unseen == {"recordLinks": [], "history": {"edges": [{"node": {"action": "CREATE"}}]}}
