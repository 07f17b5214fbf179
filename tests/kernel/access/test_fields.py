"""Field rules: hidden fields are never shown, read-only ones never written, on every path."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import strawberry
from graphql import execute as execute_document
from graphql import parse
from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import field_access, merge, set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.db import count_statements
from openitsm.kernel.db.session import LazyUnitOfWork
from openitsm.kernel.errors import BadUserInput, ConfigurationError, Forbidden
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.nodes import Fields, ModelNode
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import Role
from openitsm.kernel.references import RecordKind, RecordRef
from openitsm.kernel.testing import actor_of, build_kernel, error_codes, gql
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables

TICKETS = "query($f: TicketFilter, $o: TicketOrder) { tickets(filter: $f, orderBy: $o) { nodes { title } } }"
UPDATE = """
mutation($id: ID!, $version: Int!, $input: TicketInput!) {
  updateTicket(id: $id, version: $version, input: $input) { ticket { version } }
}"""


@dataclass
class Desk:
    kernel: Kernel
    agent: Actor  # role "agent": cost read-only, internal note hidden
    admin: Actor
    role_id: int
    ticket_id: int


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[Desk]:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    try:
        with kernel.session() as session:
            agent = identity.create_user(session, "agent", "Agent")
            admin = identity.create_user(session, "admin", "Admin", superuser=True)
            role = service.create_role(
                session, action_registry(kernel), code="agent", labels={"en": "Agent"}
            )
            set_role_scope(session, role.id, "ticket", "all")
            rules = {"cost": "read_only", "internal_note": "hidden"}
            for field, access in rules.items():
                set_field_rule(session, kernel.record_kinds, role.id, "ticket", field, access)
            service.grant_role(session, agent.id, role.id)
            ticket = Ticket(title="Printer jam", cost=120, internal_note="needle in the note")
            session.add(ticket)
            session.flush()
            ids = agent.id, admin.id, role.id, ticket.id
        yield Desk(kernel, actor_of(kernel, ids[0]), actor_of(kernel, ids[1]), ids[2], ids[3])
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def ticket_global_id(desk: Desk) -> str:
    from strawberry.relay import to_base64

    return to_base64("Ticket", desk.ticket_id)


def test_the_most_generous_rule_wins_and_unnamed_fields_are_read_write() -> None:
    merged = merge(
        {
            "agent": {("ticket", "cost", "hidden"), ("ticket", "title", "read_only")},
            "viewer": {("ticket", "cost", "read_only")},
            "editor": {("ticket", "title", "read_write")},
        }
    )
    assert merged == {("ticket", "cost", "read_only")}
    access = field_access(Actor(user_id=1, label="x", field_rules=merged), "ticket")
    assert access.readable("cost") and not access.writable("cost")
    assert access.writable("title") and access.writable("status")
    superuser = Actor(user_id=2, label="root", superuser=True, field_rules=merged)
    assert field_access(superuser, "ticket").writable("cost")


def test_exports_and_messages_render_only_what_the_reader_may_see() -> None:
    rules = frozenset({("ticket", "internal_note", "hidden"), ("ticket", "cost", "read_only")})
    reader = Actor(user_id=1, label="reader", field_rules=rules)
    row = {"title": "Printer jam", "cost": 120, "internal_note": "needle"}
    assert field_access(reader, "ticket").redact(row) == {"title": "Printer jam", "cost": 120}
    assert field_access(reader, "user").redact(row) == row
    assert field_access(None, "ticket").redact(row) == row
    columns = {"title": "T", "internal_note": "N", "contact_phone": "P"}
    assert field_access(reader, "ticket").readable_only(columns) == ["T", "P"]


def test_asking_for_a_hidden_field_is_refused_before_anything_is_read(desk: Desk) -> None:
    queries = [
        "{ tickets { nodes { internalNote } } }",
        "{ tickets { nodes { note: internalNote } } }",
        "{ tickets { nodes { ...F } } } fragment F on Ticket { internalNote }",
        '{ node(id: "' + ticket_global_id(desk) + '") { ... on Ticket { internalNote } } }',
        "{ tickets { nodes { related { internalNote } } } }",
    ]
    for query in queries:
        with count_statements(desk.kernel.engine) as log:
            result = gql(desk.kernel, query, actor=desk.agent)
        assert error_codes(result) == ["FORBIDDEN"], query
        assert result["data"] is None
        assert result["errors"][0]["extensions"]["field"] == "internal_note"
        assert log.count == 0, query
    shown = gql(desk.kernel, "{ tickets { nodes { internalNote } } }", actor=desk.admin)
    assert shown["data"]["tickets"]["nodes"] == [{"internalNote": "needle in the note"}]


def test_every_guarded_resolver_refuses_on_its_own(desk: Desk) -> None:
    """Executed past the document check, the field's own guard still refuses the value."""
    unit = LazyUnitOfWork(desk.kernel.unit_of_work, desk.agent, "guard-test")
    context = Context(desk.kernel, unit, desk.agent, "guard-test")
    try:
        result = execute_document(
            desk.kernel.schema._schema,
            parse("{ tickets { nodes { title internalNote } } }"),
            context_value=context,
        )
        assert not hasattr(result, "__await__")
    finally:
        unit.close(succeeded=False)
    assert result.errors and isinstance(result.errors[0].original_error, Forbidden)  # type: ignore[union-attr]
    assert result.errors[0].path == ["tickets", "nodes", 0, "internalNote"]  # type: ignore[union-attr]
    assert "needle" not in repr(result.data)  # type: ignore[union-attr]


def test_read_only_fields_read_but_never_write(desk: Desk) -> None:
    read = gql(desk.kernel, "{ tickets { nodes { id cost version } } }", actor=desk.agent)
    ticket = read["data"]["tickets"]["nodes"][0]
    assert ticket["cost"] == 120
    with desk.kernel.session() as session:
        events_before = session.scalar(select(func.count()).select_from(AuditEvent))
    variables = {"id": ticket["id"], "version": ticket["version"]}
    for change in ({"cost": 1}, {"title": "Jam", "cost": 1}, {"internalNote": "mine"}):
        refused = gql(desk.kernel, UPDATE, {**variables, "input": change}, actor=desk.agent)
        assert error_codes(refused) == ["FORBIDDEN"], change
    created = gql(
        desk.kernel,
        'mutation { createTicket(input: {title: "New", cost: 3}) { ticket { id } } }',
        actor=desk.agent,
    )
    assert error_codes(created) == ["FORBIDDEN"]
    with desk.kernel.session() as session:
        stored = session.get(Ticket, desk.ticket_id)
        assert stored is not None
        assert (stored.title, stored.cost, stored.version) == ("Printer jam", 120, 1)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    allowed = gql(desk.kernel, UPDATE, {**variables, "input": {"title": "Jam"}}, actor=desk.agent)
    assert allowed["data"]["updateTicket"]["ticket"]["version"] == 2


def test_filtering_or_sorting_by_a_hidden_field_is_refused(desk: Desk) -> None:
    kernel, agent = desk.kernel, desk.agent
    by_note = gql(kernel, TICKETS, {"f": {"internalNote": "needle in the note"}}, actor=agent)
    assert error_codes(by_note) == ["FORBIDDEN"]
    assert by_note["errors"][0]["extensions"]["field"] == "internal_note"
    # Read-only fields may be filtered and sorted by: their values are visible anyway.
    assert gql(kernel, TICKETS, {"f": {"costAtLeast": 100}, "o": "COST"}, actor=agent)["data"]
    with desk.kernel.session() as session:
        role_id = desk.role_id
        set_field_rule(session, kernel.record_kinds, role_id, "ticket", "cost", "hidden")
    hidden_cost = actor_of(kernel, agent.user_id)  # type: ignore[arg-type]
    for variables in ({"o": "COST"}, {"f": {"costAtLeast": 100}}):
        assert error_codes(gql(kernel, TICKETS, variables, actor=hidden_cost)) == ["FORBIDDEN"]


def test_a_search_never_matches_on_a_hidden_field(desk: Desk) -> None:
    search = {"f": {"search": "needle"}}
    assert gql(desk.kernel, TICKETS, search, actor=desk.agent)["data"]["tickets"]["nodes"] == []
    found = gql(desk.kernel, TICKETS, search, actor=desk.admin)["data"]["tickets"]["nodes"]
    assert found == [{"title": "Printer jam"}]


HISTORY = """
query($id: Int!) {
  history(record: {kind: "ticket", recordId: $id}) { nodes { action changes { field } } }
}"""


def test_history_leaves_out_hidden_fields_and_their_changes(desk: Desk) -> None:
    with desk.kernel.session() as session:
        ticket = session.get(Ticket, desk.ticket_id)
        assert ticket is not None
        ticket.internal_note = "only the note changes"
        session.flush()
        ticket.internal_note, ticket.title = "and now the title too", "Printer jam (2)"
    variables = {"id": desk.ticket_id}
    seen = gql(desk.kernel, HISTORY, variables, actor=desk.agent)["data"]["history"]["nodes"]
    assert [event["action"] for event in seen] == ["UPDATE", "CREATE"]
    fields = {change["field"] for event in seen for change in event["changes"]}
    assert "internal_note" not in fields and {"title", "cost"} <= fields
    everything = gql(desk.kernel, HISTORY, variables, actor=desk.admin)["data"]["history"]["nodes"]
    assert len(everything) == 3
    timeline = gql(
        desk.kernel,
        '{ auditTimeline(filter: {recordKind: "ticket"}) { nodes { changes { field } } } }',
        actor=desk.admin,
    )
    assert len(timeline["data"]["auditTimeline"]["nodes"]) == 3


def test_a_reference_titled_by_a_hidden_field_shows_only_its_id(desk: Desk) -> None:
    kinds = desk.kernel.record_kinds
    ref = RecordRef("ticket", desk.ticket_id)
    with desk.kernel.session() as session:
        assert kinds.describe(session, [ref], desk.agent)[ref].title == "Printer jam"
        set_field_rule(session, kinds, desk.role_id, "ticket", "title", "hidden")
    hidden_title = actor_of(desk.kernel, desk.agent.user_id)  # type: ignore[arg-type]
    with desk.kernel.session() as session:
        summary = kinds.describe(session, [ref], hidden_title)[ref]
    assert (summary.title, summary.status) == (f"#{desk.ticket_id}", None)


SET_RULE = """
mutation($role: ID!, $resource: String!, $field: String!, $access: FieldAccessLevel) {
  setFieldRule(role: $role, resource: $resource, field: $field, access: $access) {
    role { fieldRules { resource field access } }
  }
}"""


def test_rules_are_set_through_graphql_and_bad_ones_are_refused(desk: Desk) -> None:
    from strawberry.relay import to_base64

    role = to_base64("Role", desk.role_id)
    kernel = desk.kernel

    def set_rule(actor: Actor, **variables: Any) -> dict[str, Any]:
        return gql(kernel, SET_RULE, {"role": role, **variables}, actor=actor)

    granted = set_rule(desk.admin, resource="ticket", field="priority", access="READ_ONLY")
    rules = granted["data"]["setFieldRule"]["role"]["fieldRules"]
    assert {"resource": "ticket", "field": "priority", "access": "READ_ONLY"} in rules
    assert len(rules) == 3
    unknown_field = set_rule(desk.admin, resource="ticket", field="priorty", access="HIDDEN")
    assert error_codes(unknown_field) == ["BAD_USER_INPUT"]
    assert "Did you mean 'priority'?" in unknown_field["errors"][0]["message"]
    unknown_resource = set_rule(desk.admin, resource="tickets", field="title", access="HIDDEN")
    assert error_codes(unknown_resource) == ["BAD_USER_INPUT"]
    assert error_codes(set_rule(desk.agent, resource="ticket", field="title")) == ["FORBIDDEN"]
    removed = set_rule(desk.admin, resource="ticket", field="priority")
    assert len(removed["data"]["setFieldRule"]["role"]["fieldRules"]) == 2
    with kernel.session() as session:
        changes = session.scalars(
            select(AuditEvent.action).where(AuditEvent.record_kind == "field_rule")
        ).all()
    assert changes.count("create") == 3 and changes.count("delete") == 1


def test_the_viewer_learns_which_fields_it_may_not_use(desk: Desk) -> None:
    query = '{ fieldAccess(resource: "ticket") { hidden readOnly } }'
    mine = gql(desk.kernel, query, actor=desk.agent)["data"]["fieldAccess"]
    assert mine == {"hidden": ["internal_note"], "readOnly": ["cost"]}
    assert gql(desk.kernel, query, actor=desk.admin)["data"]["fieldAccess"] == {
        "hidden": [],
        "readOnly": [],
    }
    resources = gql(desk.kernel, "{ resources { name scoped fields } }", actor=desk.admin)
    ticket = next(r for r in resources["data"]["resources"] if r["name"] == "ticket")
    assert ticket["scoped"] and "internal_note" in ticket["fields"] and "id" not in ticket["fields"]


def test_rules_cost_no_statement_per_row_or_rule(desk: Desk) -> None:
    kernel = desk.kernel
    query = "{ tickets(first: 50) { nodes { title status cost related { title } } } }"

    def statements(actor: Actor) -> int:
        with count_statements(kernel.engine) as log:
            assert "errors" not in gql(kernel, query, actor=actor)
        return log.count

    with kernel.session() as session:
        session.add(Ticket(title="linked", related_id=desk.ticket_id))
    few = statements(desk.agent)
    with kernel.session() as session:
        session.add_all(Ticket(title=f"t{i}", related_id=desk.ticket_id) for i in range(40))
        for field in ("priority", "urgency", "impact", "category", "channel", "location"):
            set_field_rule(session, kernel.record_kinds, desk.role_id, "ticket", field, "hidden")
    many = statements(actor_of(kernel, desk.agent.user_id))  # type: ignore[arg-type]
    assert few == many


def test_user_fields_follow_the_rules_in_search_filters_and_writes(desk: Desk) -> None:
    kernel = desk.kernel
    with kernel.session() as session:
        clerk = identity.create_user(session, "clerk", "Clerk")
        role = service.create_role(
            session,
            action_registry(kernel),
            code="clerk",
            labels={"en": "Clerk"},
            actions=["org.read", "org.manage"],
        )
        for field, access in (("phone", "hidden"), ("email", "read_only")):
            set_field_rule(session, kernel.record_kinds, role.id, "user", field, access)
        service.grant_role(session, clerk.id, role.id)
        service.update_user(session, desk.agent.user_id, 1, {"phone": "+86 555 0100"})  # type: ignore[arg-type]
    actor = actor_of(kernel, clerk.id)
    users = "query($f: UserFilter) { users(filter: $f) { nodes { login } } }"
    assert gql(kernel, users, {"f": {"search": "555 0100"}}, actor=actor)["data"] == {
        "users": {"nodes": []}
    }
    assert gql(kernel, users, {"f": {"search": "555 0100"}}, actor=desk.admin)["data"] == {
        "users": {"nodes": [{"login": "agent"}]}
    }
    assert error_codes(gql(kernel, "{ users { nodes { phone } } }", actor=actor)) == ["FORBIDDEN"]
    with kernel.session() as session:
        session.info["actor"] = actor
        with pytest.raises(Forbidden):
            service.update_user(session, desk.agent.user_id, 2, {"email": "a@example.test"})  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            service.create_user(session, login="new", name="New", phone="1")
        service.update_user(session, desk.agent.user_id, 2, {"name": "Agent Smith"})  # type: ignore[arg-type]


def test_an_unknown_field_in_a_rule_names_the_fields_there_are(desk: Desk) -> None:
    with desk.kernel.session() as session, pytest.raises(BadUserInput) as refused:
        set_field_rule(session, desk.kernel.record_kinds, desk.role_id, "user", "salary", "hidden")
    assert refused.value.extensions["field"] == "field" and "phone" in refused.value.message


class GadgetBase(DeclarativeBase):
    """Never created: building the schema needs the mapping only."""


class Gadget(GadgetBase):
    __tablename__ = "sample_gadget"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(50))


@strawberry.type(name="Gadget")
class GadgetType(ModelNode):
    __model__ = Gadget
    __fields__: ClassVar[Fields] = {}

    title: str

    @strawberry.field
    def shouting_title(self, root: strawberry.Parent[Gadget]) -> str:
        return root.title.upper()


@strawberry.type
class GadgetQuery:
    @strawberry.field
    def gadget(self) -> GadgetType | None:
        return None


class GadgetPlugin:
    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [RecordKind("gadget", Gadget)]

    @hookimpl
    def register_graphql(self) -> GraphQLContribution:
        return GraphQLContribution(query=GadgetQuery)


def test_a_field_the_kernel_cannot_guard_stops_start_up(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"gadgets": GadgetPlugin()})
    try:
        with pytest.raises(ConfigurationError, match="shouting_title"):
            kernel.schema  # noqa: B018
    finally:
        kernel.close()


def test_dictionary_items_and_roles_refuse_read_only_writes(desk: Desk) -> None:
    from openitsm.kernel.dictionaries import service as dictionaries
    from openitsm.kernel.dictionaries.models import DictionaryItem

    kernel = desk.kernel
    with kernel.session() as session:
        for resource, field in (("dictionary_item", "labels"), ("role", "scopes")):
            set_field_rule(session, kernel.record_kinds, desk.role_id, resource, field, "read_only")
        item = session.scalars(select(DictionaryItem).limit(1)).one()
        item_id, version = item.id, item.version
    agent = actor_of(kernel, desk.agent.user_id)  # type: ignore[arg-type]
    with kernel.session() as session:
        session.info["actor"] = agent
        with pytest.raises(Forbidden):
            dictionaries.update_item(session, item_id, version, {"labels": {"en": "Renamed"}})
        with pytest.raises(Forbidden):
            set_role_scope(session, desk.role_id, "ticket", "own")
        dictionaries.update_item(session, item_id, version, {"sort_order": 7})


def test_lists_never_order_by_a_hidden_field(desk: Desk) -> None:
    """Roles list by code, and a user's roles too, unless the code is hidden: then by id."""
    kernel = desk.kernel
    with kernel.session() as session:
        clerk = identity.create_user(session, "clerk", "Clerk")
        role = service.create_role(
            session,
            action_registry(kernel),
            code="clerk",
            labels={"en": "Clerk"},
            actions=["org.read"],
        )
        set_field_rule(session, kernel.record_kinds, role.id, "role", "code", "hidden")
        service.grant_role(session, clerk.id, role.id)
    query = "{ roles { id } }"
    by_code = [r["id"] for r in gql(kernel, query, actor=desk.admin)["data"]["roles"]]
    hidden = [
        r["id"] for r in gql(kernel, query, actor=actor_of(kernel, clerk.id))["data"]["roles"]
    ]
    assert sorted(by_code) == sorted(hidden) and by_code != hidden
    with kernel.session() as session:
        in_id_order = [r.id for r in session.scalars(select(Role).order_by(Role.id))]
    assert [int(base64.b64decode(i).decode().split(":")[1]) for i in hidden] == in_id_order
