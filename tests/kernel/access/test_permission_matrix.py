"""Field rules, field by field: every guarded GraphQL field of every resource type, hidden,
read-only or read-write for a role, on every path that could show or betray its value.

The matrix is read from the schema itself (`kernel.schema.field_guards.reads`), so a new
resource type or field joins it on its own; a type the matrix cannot reach fails
`test_every_guarded_type_can_be_reached`. Each case compares one actor whose role carries
the rule with one whose role carries none: the unrestricted answer proves the path reaches
the value, so a refusal is never vacuous.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from graphql import get_named_type, is_composite_type

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import SYSTEM, Actor
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.graphql.guards import FieldRead
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity import tokens
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.schema import USER_SEARCH_FIELDS
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import build_kernel, error_codes, gql, scratch_database
from openitsm.kernel.testing.tickets import (
    SEARCHED,
    Ticket,
    TicketPlugin,
    create_tables,
    drop_tables,
    update_ticket,
)
from openitsm.kernel.workflow import runtime

BASE_ACTIONS = ("org.read", "org.manage", "audit.read", "process.read")

# --- the matrix, from the schema --------------------------------------------------------


@dataclass(frozen=True)
class Guarded:
    """One guarded GraphQL field and how to select it."""

    type_name: str
    graphql: str
    read: FieldRead
    selection: str  # "title", or "related { __typename }" for a link


def _schema_matrix() -> tuple[list[Guarded], dict[str, tuple[str, ...]]]:
    """Guarded fields and each kind's `shows`, from a kernel built without a database."""
    with tempfile.TemporaryDirectory() as folder:
        kernel = build_kernel(
            Path(folder),
            f"sqlite:///{Path(folder) / 'schema.db'}",
            plugins={"tickets": TicketPlugin()},
            migrate=False,
        )
        try:
            schema = kernel.schema.field_guards.schema
            guarded = []
            for (type_name, name), read in sorted(kernel.schema.field_guards.reads.items()):
                graphql_field = schema.type_map[type_name].fields[name]  # type: ignore[union-attr]
                composite = is_composite_type(get_named_type(graphql_field.type))
                selection = f"{name} {{ __typename }}" if composite else name
                guarded.append(Guarded(type_name, name, read, selection))
            shows = {name: kind.shows for name, kind in kernel.record_kinds.kinds.items()}
        finally:
            kernel.close()
    return guarded, shows


GUARDED, SHOWS = _schema_matrix()

# Where a list shows rows of each type: %SEL% is the selection, %ORDER% a ticket order that
# is not the field under test (sorting by a hidden field is refused on its own), %TICKET%
# the sample ticket's id. User lists are narrowed to the sample user, who has every link.
SAM = '{ users(filter: {search: "samlogin"}) { edges { node { %IN% } } } }'
DIRECT = {
    "Ticket": "{ tickets(orderBy: %ORDER%) { edges { node { %SEL% } } } }",
    "User": SAM.replace("%IN%", "%SEL%"),
    "Department": "{ departments { %SEL% } }",
    "ServiceUnit": "{ serviceUnits { %SEL% } }",
    "ServiceUnitContact": "{ serviceUnits { contacts { %SEL% } } }",
    "Role": "{ roles { %SEL% } }",
    "Attachment": (
        '{ attachments(record: {kind: "ticket", recordId: %TICKET%}) { edges { node { %SEL% } } } }'
    ),
    "DictionaryItem": '{ dictionary(code: "incident_category") { items { %SEL% } } }',
    "ProcessInstance": "{ processInstances { edges { node { %SEL% } } } }",
}
NESTED = {
    "Ticket": "{ tickets(orderBy: %ORDER%) { edges { node { related { %SEL% } } } } }",
    "User": "{ departments { head { %SEL% } } }",
    "Department": SAM.replace("%IN%", "department { %SEL% }"),
    "ServiceUnit": SAM.replace("%IN%", "serviceUnits { %SEL% }"),
    "ServiceUnitContact": SAM.replace("%IN%", "serviceUnits { contacts { %SEL% } }"),
    "Role": SAM.replace("%IN%", "roles { %SEL% }"),
    "DictionaryItem": '{ dictionary(code: "incident_category") { roots { children { %SEL% } } } }',
}
NODE = "query($id: ID!) { node(id: $id) { ... on %TYPE% { %SEL% } } }"
PATHS = ("direct", "alias", "fragment", "node", "nested")


def _case_id(guarded: Guarded, *rest: str) -> str:
    """`ticket.internal_note`, plus the GraphQL name where several fields show one field."""
    read = guarded.read
    same = [g for g in GUARDED if g.read.resource == read.resource and g.read.field == read.field]
    via = f"[{guarded.graphql}]" if len(same) > 1 else ""
    return "-".join((f"{read.resource}.{read.field}{via}", *rest))


READ_CASES = [
    pytest.param(guarded, path, id=_case_id(guarded, "hidden", path))
    for guarded in GUARDED
    for path in PATHS
    if path != "nested" or guarded.type_name in NESTED
]

# --- the world -------------------------------------------------------------------------


@dataclass
class World:
    kernel: Kernel
    ids: dict[str, int]  # sample rows: "ticket", "user", "department", ...
    global_ids: dict[str, str]  # by GraphQL type name
    refs: dict[str, RecordRef]  # one record per kind
    values: dict[str, Any]
    base_role: int
    actors: dict[tuple[tuple[str, str, str], ...], Actor] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def actor(self, *rules: tuple[str, str, str]) -> Actor:
        """A user holding the base role and, when given, one more role with `rules`
        ((resource, field, access)), set as an administrator would set them."""
        found = self.actors.get(rules)
        if found is None:
            self.prepare([rules])
            found = self.actors[rules]
        return found

    def prepare(self, rule_sets: list[tuple[tuple[str, str, str], ...]]) -> None:
        """Users and roles for many rule sets in one transaction."""
        with self.kernel.session() as session:
            made = []
            for rules in rule_sets:
                number = next(self.counter)
                user = identity.create_user(session, f"viewer-{number}", f"Viewer {number}")
                service.grant_role(session, user.id, self.base_role)
                if rules:
                    role = service.create_role(
                        session,
                        action_registry(self.kernel),
                        code=f"rules-{number}",
                        labels={"en": f"Rules {number}"},
                    )
                    for resource, name, access in rules:
                        set_field_rule(
                            session, self.kernel.record_kinds, role.id, resource, name, access
                        )
                    service.grant_role(session, user.id, role.id)
                made.append((rules, user.id))
            for rules, user_id in made:
                self.actors[rules] = actor_for_user(session, user_id)

    def hiding(self, read: FieldRead, access: str = "hidden") -> Actor:
        return self.actor((read.resource, read.field, access))

    def ruled(self, resource: str, name: str, access: str = "hidden") -> Actor:
        """An actor whose one rule gives `resource.name` the `access`."""
        return self.actor((resource, name, access))

    def run(self, query: str, actor: Actor, **variables: Any) -> dict[str, Any]:
        return gql(self.kernel, query, variables, actor)


def global_id(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def ticket_values(prefix: str, world_ids: dict[str, int]) -> dict[str, Any]:
    """Distinct values for every field, so a search for one matches nothing else."""
    return {
        "title": f"{prefix}-title-tok",
        "description": f"{prefix}-description-tok",
        "status": f"{prefix}-status",
        "priority": f"{prefix}-priority",
        "urgency": f"{prefix}-urgency",
        "impact": f"{prefix}-impact",
        "category": f"{prefix}-category",
        "channel": f"{prefix}-channel",
        "location": f"{prefix}-location",
        "contact_phone": f"{prefix}-phone-tok",
        "resolution": f"{prefix}-resolution",
        "cost": 4242,
        "internal_note": f"{prefix}-internal-tok",
        "due_at": dt.datetime(2031, 1, 2, 3, 4, 5),
        "reporter_id": world_ids["sam"],
        "assignee_id": world_ids["sam"],
        "department_id": world_ids["it"],
        "service_unit_id": world_ids["unit"],
    }


# Fields changed one at a time on a record of their own, so history has an update that
# changed that field alone (ticket fields with their new values).
HISTORY_TICKET = {
    "title": "h-title-2",
    "description": "h-description-2",
    "status": "h-status-2",
    "priority": "h-priority-2",
    "urgency": "h-urgency-2",
    "impact": "h-impact-2",
    "category": "h-category-2",
    "channel": "h-channel-2",
    "location": "h-location-2",
    "contact_phone": "h-phone-2",
    "resolution": "h-resolution-2",
    "cost": 7,
    "internal_note": "h-internal-2",
    "due_at": dt.datetime(2032, 5, 6, 7, 8, 9),
    "assignee_id": None,  # filled with a user id
    "department_id": None,  # filled with a department id
}
HISTORY_DEPARTMENT = ("code", "name", "sort_order", "head_user_id", "admin_user_id", "active")
HISTORY_USER = ("name", "email", "employee_id", "phone", "locale", "time_zone", "department_id")
HISTORY_SERVICE_UNIT = ("code", "name", "active")
HISTORY_FIELDS = [
    *(("ticket", name) for name in HISTORY_TICKET),
    *(("department", name) for name in HISTORY_DEPARTMENT),
    *(("user", name) for name in HISTORY_USER),
    *(("service_unit", name) for name in HISTORY_SERVICE_UNIT),
]


def build_world(kernel: Kernel) -> World:
    ids: dict[str, int] = {}
    with kernel.session() as session:
        # Logins sort in the opposite order of ids: a list falling back to id order differs.
        boss = identity.create_user(session, "zz-boss", "Boss Person")
        sam = identity.create_user(session, "samlogin", "Sam Nametok")
        ids.update(boss=boss.id, sam=sam.id, user=sam.id)
        hq = service.create_department(
            session, code="hq", name="Head Office", head_user_id=sam.id, admin_user_id=boss.id
        )
        it = service.create_department(session, code="it", name="IT", parent_id=hq.id)
        ids.update(hq=hq.id, department=hq.id, it=it.id)
        unit = service.create_service_unit(session, code="unit-a", name="Unit A")
        ids.update(unit=unit.id, service_unit=unit.id)
        contact = service.add_contact(
            session,
            unit.id,
            name="Carl Contact",
            phone="555-0199",
            email="carl@example.org",
            position="Buyer",
            user_id=sam.id,
        )
        ids["service_unit_contact"] = contact.id
        service.update_user(
            session,
            sam.id,
            sam.version,
            {
                "email": "sam.mail@example.org",
                "employee_id": "EMP-tok-77",
                "phone": "555 0101",
                "locale": "en",
                "department_id": it.id,
                "manager_id": boss.id,
                "service_unit_ids": [unit.id],
            },
        )
        base = service.create_role(
            session,
            action_registry(kernel),
            code="matrix-base",
            labels={"en": "Matrix base"},
            description="What every matrix viewer may do.",
            actions=BASE_ACTIONS,
        )
        set_role_scope(session, base.id, "ticket", "all")
        service.grant_role(session, sam.id, base.id)
        ids["role"] = base.id

        target = Ticket(title="linked target")
        session.add(target)
        session.flush()
        values = ticket_values("s", ids)
        sample = Ticket(**values, related_id=target.id)
        session.add(sample)
        session.flush()
        ids.update(ticket=sample.id, target=target.id)
        stored = attachments.save_attachment(
            session, kernel, RecordRef("ticket", sample.id), "report.txt", None, [b"hi"], SYSTEM
        )
        ids["attachment"] = stored.id
        ids["dictionary_item"] = session.scalar(
            sa.select(DictionaryItem.id)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == "incident_category", DictionaryItem.parent_id.is_not(None))
            .order_by(DictionaryItem.id)
            .limit(1)
        )
        # Scratch records that the write cases change.
        scratch = Ticket(title="scratch", department_id=it.id, service_unit_id=unit.id)
        session.add(scratch)
        session.flush()
        ids["scratch_ticket"] = scratch.id
        ids["scratch_department"] = service.create_department(
            session, code="scratch", name="Scratch", parent_id=hq.id
        ).id
        ids["scratch_user"] = identity.create_user(session, "scratch-user", "Scratch").id
        ids["scratch_unit"] = service.create_service_unit(
            session, code="unit-s", name="Scratch unit"
        ).id
    # Records whose history has one update per field, written by a user of their own so
    # the site-wide timeline can be narrowed to them.
    with kernel.session() as session:
        historian = identity.create_user(session, "historian", "Historian", superuser=True)
        ids["historian"] = historian.id
    with kernel.session(
        Actor(user_id=ids["historian"], label="Historian", superuser=True)
    ) as session:
        history = Ticket(**ticket_values("h", ids))
        session.add(history)
        session.flush()
        ids["history_ticket"] = history.id
        for name, value in HISTORY_TICKET.items():
            if name == "assignee_id":
                value = ids["boss"]
            elif name == "department_id":
                value = ids["hq"]
            update_ticket(session, history.id, history.version, **{name: value})
        dept = service.create_department(session, code="hist", name="History", parent_id=ids["hq"])
        dept_changes = {
            "code": "hist-2",
            "name": "History 2",
            "sort_order": 9,
            "head_user_id": ids["sam"],
            "admin_user_id": ids["boss"],
            "active": False,
        }
        for name, value in dept_changes.items():
            service.update_department(session, dept.id, dept.version, {name: value})
        ids["history_department"] = dept.id
        person = identity.create_user(session, "history-person", "History Person")
        person_changes = {
            "name": "History Person 2",
            "email": "hp@example.org",
            "employee_id": "EMP-h-1",
            "phone": "555 0111",
            "locale": "de",
            "time_zone": "Europe/Berlin",
            "department_id": ids["it"],
        }
        for name, value in person_changes.items():
            service.update_user(session, person.id, person.version, {name: value})
        ids["history_user"] = person.id
        hunit = service.create_service_unit(session, code="unit-h", name="History unit")
        for name, value in {"code": "unit-h2", "name": "History unit 2", "active": False}.items():
            service.update_service_unit(session, hunit.id, hunit.version, {name: value})
        ids["history_service_unit"] = hunit.id
    with kernel.session() as session:
        ids["process_instance"] = runtime.start_process(
            session, kernel, actor_for_user(session, ids["boss"]), "two_level_approval", title="t"
        ).id
    global_ids = {
        "Ticket": global_id("Ticket", ids["ticket"]),
        "User": global_id("User", ids["sam"]),
        "Department": global_id("Department", ids["hq"]),
        "ServiceUnit": global_id("ServiceUnit", ids["unit"]),
        "ServiceUnitContact": global_id("ServiceUnitContact", ids["service_unit_contact"]),
        "Role": global_id("Role", ids["role"]),
        "Attachment": global_id("Attachment", ids["attachment"]),
        "DictionaryItem": global_id("DictionaryItem", ids["dictionary_item"]),
        "ProcessInstance": global_id("ProcessInstance", ids["process_instance"]),
    }
    refs = {
        kind: RecordRef(kind, ids[kind])
        for kind in SHOWS
        if kind in ids  # a kind without a sample fails test_every_kind_has_a_sample
    }
    return World(kernel, ids, global_ids, refs, values, base.id)


def database(
    kind: str, tmp: Path, request: pytest.FixtureRequest
) -> contextlib.AbstractContextManager[str]:
    return scratch_database(kind, tmp, lambda: request.getfixturevalue("postgres_url"))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One kernel and sample records per database, shared by the module: each case gets its
    own user and role, so no case sees another's rules."""
    tmp = tmp_path_factory.mktemp(f"matrix-{request.param}")
    with database(request.param, tmp, request) as url:
        kernel = build_kernel(tmp, url, plugins={"tickets": TicketPlugin()})
        create_tables(kernel.engine)
        try:
            built = build_world(kernel)
            fields = {(g.read.resource, g.read.field) for g in GUARDED}
            built.prepare(
                [()]
                + [
                    ((resource, name, access),)
                    for resource, name in sorted(fields)
                    for access in ("hidden", "read_only", "read_write")
                ]
            )
            yield built
        finally:
            drop_tables(kernel.engine)
            kernel.close()


# --- helpers ---------------------------------------------------------------------------


def assert_refused(result: dict[str, Any], read: FieldRead | tuple[str, str]) -> None:
    """FORBIDDEN for that very field, before anything was read."""
    resource, name = (read.resource, read.field) if isinstance(read, FieldRead) else read
    assert error_codes(result) == ["FORBIDDEN"], result
    assert result["data"] is None, result
    message = result["errors"][0]["message"]
    assert f"'{name}'" in message and resource in message, message


def assert_answered(result: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"]
    return data


def order_avoiding(name: str) -> str:
    return "TITLE" if name == "opened_at" else "OPENED_AT"


def build_query(world: World, guarded: Guarded, path: str) -> tuple[str, dict[str, Any], str]:
    """The document for one path, its variables, and the key its answer appears under."""
    selection, key = guarded.selection, guarded.graphql
    if path == "node":
        text = NODE.replace("%TYPE%", guarded.type_name).replace("%SEL%", selection)
        return text, {"id": world.global_ids[guarded.type_name]}, key
    template = NESTED[guarded.type_name] if path == "nested" else DIRECT[guarded.type_name]
    fragment = ""
    if path == "alias":
        selection, key = f"leak: {selection}", "leak"
    elif path == "fragment":
        fragment = f" fragment Leak on {guarded.type_name} {{ {selection} }}"
        selection = "...Leak"
    text = (
        template.replace("%SEL%", selection)
        .replace("%ORDER%", order_avoiding(guarded.read.field))
        .replace("%TICKET%", str(world.ids["ticket"]))
    )
    return text + fragment, {}, key


def contains_key(data: Any, key: str) -> bool:
    if isinstance(data, dict):
        return key in data or any(contains_key(v, key) for v in data.values())
    if isinstance(data, list):
        return any(contains_key(v, key) for v in data)
    return False


# --- coverage of the matrix ------------------------------------------------------------


def test_every_guarded_type_can_be_reached() -> None:
    """A new resource type needs a list path here before its fields count as proved."""
    assert {g.type_name for g in GUARDED} <= set(DIRECT)
    assert {"Ticket", "User", "Department", "ServiceUnit", "ServiceUnitContact", "Role"} <= set(
        NESTED
    )
    assert len(GUARDED) >= 60  # twenty ticket fields and the kernel's own


def test_every_kind_has_a_sample(world: World) -> None:
    assert set(world.refs) == set(SHOWS)
    assert set(world.global_ids) == {g.type_name for g in GUARDED}


# --- reading: direct, alias, fragment, node(id:), nested ------------------------------


@pytest.mark.parametrize(("guarded", "path"), READ_CASES)
def test_a_hidden_field_cannot_be_read(world: World, guarded: Guarded, path: str) -> None:
    query, variables, key = build_query(world, guarded, path)
    open_answer = assert_answered(world.run(query, world.actor(), **variables))
    assert contains_key(open_answer, key), f"the path reaches no {guarded.type_name}: {query}"
    assert_refused(world.run(query, world.hiding(guarded.read), **variables), guarded.read)


@pytest.mark.parametrize(
    "guarded",
    [pytest.param(g, id=_case_id(g, "read_only", "node")) for g in GUARDED],
)
def test_a_read_only_field_reads_like_an_unrestricted_one(world: World, guarded: Guarded) -> None:
    query, variables, _ = build_query(world, guarded, "node")
    open_answer = assert_answered(world.run(query, world.actor(), **variables))
    read_only = world.run(query, world.hiding(guarded.read, "read_only"), **variables)
    assert assert_answered(read_only) == open_answer
    written = world.run(query, world.hiding(guarded.read, "read_write"), **variables)
    assert assert_answered(written) == open_answer


# --- filters, sorting and search ------------------------------------------------------

TICKET_COUNT = "query($f: TicketFilter, $o: TicketOrder!) { tickets(filter: $f, orderBy: $o) { totalCount { value } } }"
TICKET_FILTERS = {
    # field: (filter input, built from the sample's values)
    "status": lambda w: {"status": w.values["status"]},
    "priority": lambda w: {"priority": w.values["priority"]},
    "internal_note": lambda w: {"internalNote": w.values["internal_note"]},
    "assignee_id": lambda w: {"assigneeId": w.values["assignee_id"]},
    "cost": lambda w: {"costAtLeast": w.values["cost"]},
}
TICKET_ORDERS = {
    "title": "TITLE",
    "priority": "PRIORITY",
    "cost": "COST",
    "due_at": "DUE_AT",
    "opened_at": "OPENED_AT",
}
USER_COUNT = "query($f: UserFilter) { users(filter: $f) { totalCount { value } } }"
USER_FILTERS: dict[str, Callable[[World], dict[str, Any]]] = {
    "department_id": lambda w: {"department": global_id("Department", w.ids["it"])},
    "active": lambda w: {"active": True},
}


def ticket_count(world: World, actor: Actor, filter: Any, order: str = "OPENED_AT") -> Any:
    return world.run(TICKET_COUNT, actor, f=filter, o=order)


@pytest.mark.parametrize(
    "name", [pytest.param(n, id=f"ticket.{n}-hidden-filter") for n in TICKET_FILTERS]
)
def test_tickets_cannot_be_filtered_by_a_hidden_field(world: World, name: str) -> None:
    filter = TICKET_FILTERS[name](world)
    order = order_avoiding(name)
    matched = assert_answered(ticket_count(world, world.actor(), filter, order))
    assert matched["tickets"]["totalCount"]["value"] >= 1
    hidden = world.ruled("ticket", name)
    assert_refused(ticket_count(world, hidden, filter, order), ("ticket", name))


@pytest.mark.parametrize(
    "name", [pytest.param(n, id=f"ticket.{n}-hidden-sort") for n in TICKET_ORDERS]
)
def test_tickets_cannot_be_sorted_by_a_hidden_field(world: World, name: str) -> None:
    order = TICKET_ORDERS[name]
    query = f"{{ tickets(orderBy: {order}) {{ edges {{ cursor node {{ id }} }} }} }}"
    assert assert_answered(world.run(query, world.actor()))["tickets"]["edges"]
    assert_refused(world.run(query, world.ruled("ticket", name)), ("ticket", name))


@pytest.mark.parametrize(
    "name", [pytest.param(n, id=f"user.{n}-hidden-filter") for n in USER_FILTERS]
)
def test_users_cannot_be_filtered_by_a_hidden_field(world: World, name: str) -> None:
    filter = USER_FILTERS[name](world)
    assert (
        assert_answered(world.run(USER_COUNT, world.actor(), f=filter))["users"]["totalCount"][
            "value"
        ]
        >= 1
    )
    hidden = world.ruled("user", name)
    assert_refused(world.run(USER_COUNT, hidden, f=filter), ("user", name))


def test_users_listed_by_a_hidden_login_come_in_id_order(world: World) -> None:
    it = {"department": global_id("Department", world.ids["it"])}
    # Two users of `it`: by login history-person comes first, by id samlogin does.
    query = "query($f: UserFilter) { users(filter: $f) { edges { cursor node { id } } } }"
    by_login = [
        e["node"]["id"]
        for e in assert_answered(world.run(query, world.actor(), f=it))["users"]["edges"]
    ]
    hidden = world.ruled("user", "login")
    answer = assert_answered(world.run(query, hidden, f=it))["users"]["edges"]
    listed = [e["node"]["id"] for e in answer]

    def key(node_id: str) -> int:
        return int(base64.b64decode(node_id).decode().split(":")[1])

    assert listed == sorted(listed, key=key)
    assert len(listed) == 2 and sorted(listed) == sorted(by_login) and listed != by_login
    # The cursors carry no login either.
    cursors = " ".join(
        base64.b64decode(e["cursor"] + "==").decode(errors="replace") for e in answer
    )
    assert "samlogin" not in cursors and "zz-boss" not in cursors


SEARCH_CASES = [
    *(pytest.param("ticket", n, id=f"ticket.{n}-hidden-search") for n in SEARCHED),
    *(pytest.param("user", n, id=f"user.{n}-hidden-search") for n in USER_SEARCH_FIELDS),
]
USER_SEARCH_TERMS = {
    "login": "samlogin",
    "name": "Nametok",
    "employee_id": "EMP-tok",
    "phone": "555 0101",
    "email": "sam.mail",
}


def search_total(world: World, resource: str, name: str, actor: Actor) -> int:
    if resource == "ticket":
        answer = ticket_count(world, actor, {"search": str(world.values[name])})
        return int(assert_answered(answer)["tickets"]["totalCount"]["value"])
    answer = world.run(USER_COUNT, actor, f={"search": USER_SEARCH_TERMS[name]})
    return int(assert_answered(answer)["users"]["totalCount"]["value"])


@pytest.mark.parametrize(("resource", "name"), SEARCH_CASES)
def test_a_search_never_matches_a_hidden_field(world: World, resource: str, name: str) -> None:
    assert search_total(world, resource, name, world.actor()) == 1
    assert search_total(world, resource, name, world.ruled(resource, name)) == 0
    # Read-only still finds it: only hiding takes a field out of the search.
    assert search_total(world, resource, name, world.ruled(resource, name, "read_only")) == 1


# --- history ---------------------------------------------------------------------------

HISTORY = """query($r: RecordReferenceInput!) {
  history(record: $r, first: 200) { edges { node { action changes { field } } } }
}"""
TIMELINE = """query($k: String!, $by: Int!) {
  auditTimeline(filter: {recordKind: $k, actorId: $by}, first: 200) {
    edges { node { action record { recordId } changes { field } } }
  }
}"""


def changed_fields(events: list[dict[str, Any]]) -> list[list[str]]:
    return [[c["field"] for c in e["node"]["changes"]] for e in events]


@pytest.mark.parametrize(
    ("resource", "name"),
    [pytest.param(r, n, id=f"{r}.{n}-hidden-history") for r, n in HISTORY_FIELDS],
)
def test_history_drops_a_hidden_field(world: World, resource: str, name: str) -> None:
    record_id = world.ids[f"history_{resource}"]
    ref = {"kind": resource, "recordId": record_id}
    hidden = world.ruled(resource, name)
    shown = changed_fields(
        assert_answered(world.run(HISTORY, world.actor(), r=ref))["history"]["edges"]
    )
    kept = changed_fields(assert_answered(world.run(HISTORY, hidden, r=ref))["history"]["edges"])
    assert [name] in shown, shown  # an update that changed that field alone
    assert not any(name in fields for fields in kept), kept
    # Exactly the events that changed only that field are gone; the rest lose that field.
    expected = [[f for f in fields if f != name] for fields in shown if fields != [name]]
    assert kept == expected

    def timeline(actor: Actor) -> list[list[str]]:
        by = world.ids["historian"]
        events = assert_answered(world.run(TIMELINE, actor, k=resource, by=by))["auditTimeline"][
            "edges"
        ]
        return changed_fields([e for e in events if e["node"]["record"]["recordId"] == record_id])

    assert timeline(world.actor()) == shown
    assert timeline(hidden) == expected


# --- record references -----------------------------------------------------------------

RECORDS = """query($refs: [RecordReferenceInput!]!) {
  records(refs: $refs) { exists title status url }
}"""


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param(k, n, id=f"{k}.{n}-hidden-reference")
        for k, shows in SHOWS.items()
        for n in shows
    ],
)
def test_a_reference_title_falls_back_to_the_id(world: World, kind: str, name: str) -> None:
    ref = world.refs[kind]
    refs = [{"kind": kind, "recordId": ref.id}]
    shown = assert_answered(world.run(RECORDS, world.actor(), refs=refs))["records"][0]
    assert shown["exists"] and shown["title"] != f"#{ref.id}"
    hidden = assert_answered(world.run(RECORDS, world.ruled(kind, name), refs=refs))
    assert hidden["records"] == [
        {"exists": True, "title": f"#{ref.id}", "status": None, "url": None}
    ]
    read_only = world.ruled(kind, name, "read_only")
    assert assert_answered(world.run(RECORDS, read_only, refs=refs))["records"][0] == shown


# --- writing: hidden and read-only refused, nothing written -------------------------------


@dataclass(frozen=True)
class Write:
    resource: str
    field: str
    type_name: str
    record: str  # key in World.ids of the scratch record the write changes
    mutation: str
    # The input value, from the world, a fresh number and the field's current value.
    value: Callable[[World, int, Any], Any]


def _text(prefix: str) -> Callable[[World, int, Any], Any]:
    return lambda _w, n, _current: f"{prefix}-{n}"


def _link(type_name: str | None, *keys: str) -> Callable[[World, int, Any], Any]:
    """The first of `keys` (ids in the world) that differs from the current value."""

    def choose(world: World, _n: int, current: Any) -> Any:
        key = next(world.ids[k] for k in keys if world.ids[k] != current)
        return global_id(type_name, key) if type_name else key

    return choose


def _other(*options: Any) -> Callable[[World, int, Any], Any]:
    return lambda _w, _n, current: next(o for o in options if o != current)


TICKET_TEXT = (
    "title",
    "description",
    "status",
    "priority",
    "category",
    "contact_phone",
    "resolution",
    "internal_note",
)
WRITES = [
    *(
        Write("ticket", n, "Ticket", "scratch_ticket", "updateTicket", _text(n))
        for n in TICKET_TEXT
    ),
    Write("ticket", "cost", "Ticket", "scratch_ticket", "updateTicket", lambda _w, n, _c: 100 + n),
    Write(
        "ticket",
        "department_id",
        "Ticket",
        "scratch_ticket",
        "updateTicket",
        _link(None, "hq", "it"),
    ),
    Write(
        "ticket",
        "service_unit_id",
        "Ticket",
        "scratch_ticket",
        "updateTicket",
        _link(None, "history_service_unit", "unit"),
    ),
    Write(
        "ticket",
        "related_id",
        "Ticket",
        "scratch_ticket",
        "updateTicket",
        _link("Ticket", "target", "ticket"),
    ),
    Write("department", "code", "Department", "scratch_department", "updateDepartment", _text("c")),
    Write("department", "name", "Department", "scratch_department", "updateDepartment", _text("n")),
    Write(
        "department",
        "sort_order",
        "Department",
        "scratch_department",
        "updateDepartment",
        lambda _w, n, _c: 50 + n,
    ),
    Write(
        "department",
        "head_user_id",
        "Department",
        "scratch_department",
        "updateDepartment",
        _link("User", "sam", "boss"),
    ),
    Write(
        "department",
        "admin_user_id",
        "Department",
        "scratch_department",
        "updateDepartment",
        _link("User", "boss", "sam"),
    ),
    Write("user", "name", "User", "scratch_user", "updateUser", _text("Name")),
    Write(
        "user",
        "email",
        "User",
        "scratch_user",
        "updateUser",
        lambda _w, n, _c: f"m{n}@example.org",
    ),
    Write("user", "employee_id", "User", "scratch_user", "updateUser", _text("EMP")),
    Write("user", "phone", "User", "scratch_user", "updateUser", lambda _w, n, _c: f"555 {n:04}"),
    Write(
        "user",
        "time_zone",
        "User",
        "scratch_user",
        "updateUser",
        _other("Europe/Paris", "America/New_York"),
    ),
    Write(
        "user",
        "department_id",
        "User",
        "scratch_user",
        "updateUser",
        _link("Department", "hq", "history_department"),
    ),
    Write("user", "manager_id", "User", "scratch_user", "updateUser", _link("User", "boss", "sam")),
    Write("service_unit", "code", "ServiceUnit", "scratch_unit", "updateServiceUnit", _text("u")),
    Write("service_unit", "name", "ServiceUnit", "scratch_unit", "updateServiceUnit", _text("U")),
]
# The input's name for a field, where it is not the field's camel-case name.
INPUT_NAMES = {
    ("ticket", "contact_phone"): "contactPhone",
    ("ticket", "internal_note"): "internalNote",
    ("ticket", "department_id"): "departmentId",
    ("ticket", "service_unit_id"): "serviceUnitId",
    ("ticket", "related_id"): "related",
    ("department", "sort_order"): "sortOrder",
    ("department", "head_user_id"): "head",
    ("department", "admin_user_id"): "admin",
    ("user", "employee_id"): "employeeId",
    ("user", "time_zone"): "timeZone",
    ("user", "department_id"): "department",
    ("user", "manager_id"): "manager",
}
PAYLOAD_OF = {
    "Ticket": "ticket",
    "Department": "department",
    "User": "user",
    "ServiceUnit": "serviceUnit",
}
INPUT_TYPE = {
    "updateTicket": "TicketInput",
    "updateDepartment": "UpdateDepartmentInput",
    "updateUser": "UpdateUserInput",
    "updateServiceUnit": "ServiceUnitInput",
}
STATE = """query($id: ID!, $r: RecordReferenceInput!) {
  node(id: $id) { ... on %TYPE% { version } }
  history(record: $r, first: 200) { totalCount { value } }
}"""


def write_state(world: World, write: Write) -> tuple[int, int, Any]:
    """The record's version, its number of history events, and the field's stored value."""
    record_id = world.ids[write.record]
    answer = assert_answered(
        world.run(
            STATE.replace("%TYPE%", write.type_name),
            SYSTEM,
            id=global_id(write.type_name, record_id),
            r={"kind": write.resource, "recordId": record_id},
        )
    )
    model = world.kernel.record_kinds.get(write.resource).model
    with world.kernel.session() as session:
        stored = getattr(session.get(model, record_id), write.field)
    return answer["node"]["version"], answer["history"]["totalCount"]["value"], stored


def attempt(world: World, write: Write, actor: Actor) -> dict[str, Any]:
    version, _, current = write_state(world, write)
    name = INPUT_NAMES.get((write.resource, write.field), write.field)
    payload = PAYLOAD_OF[write.type_name]
    query = (
        f"mutation($id: ID!, $v: Int!, $in: {INPUT_TYPE[write.mutation]}!) "
        f"{{ {write.mutation}(id: $id, version: $v, input: $in) {{ {payload} {{ version }} }} }}"
    )
    value = write.value(world, next(world.counter), current)
    record = global_id(write.type_name, world.ids[write.record])
    return world.run(query, actor, id=record, v=version, **{"in": {name: value}})


@pytest.mark.parametrize(
    ("write", "access"),
    [
        pytest.param(w, access, id=f"{w.resource}.{w.field}-{access}-write")
        for w in WRITES
        for access in ("hidden", "read_only")
    ],
)
def test_a_refused_write_changes_nothing(world: World, write: Write, access: str) -> None:
    before = write_state(world, write)
    result = attempt(world, write, world.ruled(write.resource, write.field, access))
    assert_refused(result, (write.resource, write.field))
    assert write_state(world, write) == before


@pytest.mark.parametrize(
    ("write", "access"),
    [
        pytest.param(w, access, id=f"{w.resource}.{w.field}-{access or 'no_rule'}-write")
        for w in WRITES
        for access in ("read_write", None)
    ],
)
def test_an_allowed_write_goes_through(world: World, write: Write, access: str | None) -> None:
    version, events, stored = write_state(world, write)
    actor = world.ruled(write.resource, write.field, access) if access else world.actor()
    result = attempt(world, write, actor)
    assert assert_answered(result)[write.mutation][PAYLOAD_OF[write.type_name]]["version"] > version
    after_version, after_events, after_stored = write_state(world, write)
    assert (after_version, after_events) == (version + 1, events + 1)
    assert after_stored != stored


def test_a_hidden_field_is_refused_on_creation_too(world: World) -> None:
    create = "mutation($in: TicketInput!) { createTicket(input: $in) { ticket { id } } }"
    count = "{ tickets { totalCount { value } } }"
    before = assert_answered(world.run(count, SYSTEM))
    hidden = world.ruled("ticket", "internal_note")
    refused = world.run(create, hidden, **{"in": {"title": "new", "internalNote": "secret"}})
    assert_refused(refused, ("ticket", "internal_note"))
    assert assert_answered(world.run(count, SYSTEM)) == before
    assert_answered(world.run(create, hidden, **{"in": {"title": "new, without the note"}}))
    assert assert_answered(world.run(count, SYSTEM)) != before


# --- several roles, tokens, caches, superusers ----------------------------------------

NOTE = "query($id: ID!) { node(id: $id) { ... on Ticket { internalNote } } }"
NOTE_WRITE = Write(
    "ticket", "internal_note", "Ticket", "scratch_ticket", "updateTicket", _text("n")
)


def test_the_most_generous_of_two_roles_wins(world: World) -> None:
    note = ("ticket", "internal_note")
    sample = world.global_ids["Ticket"]
    expected = {"node": {"internalNote": world.values["internal_note"]}}
    registry = action_registry(world.kernel)
    with world.kernel.session() as session:
        user = identity.create_user(session, "two-roles", "Two Roles")
        service.grant_role(session, user.id, world.base_role)
        first = service.create_role(session, registry, code="first-opinion", labels={"en": "1"})
        set_field_rule(session, world.kernel.record_kinds, first.id, *note, "hidden")
        service.grant_role(session, user.id, first.id)
        hiding = actor_for_user(session, user.id)
        # A second role on the same user: the rules of its roles merge field by field.
        second = service.create_role(session, registry, code="second-opinion", labels={"en": "2"})
        set_field_rule(session, world.kernel.record_kinds, second.id, *note, "read_only")
        service.grant_role(session, user.id, second.id)
        both = actor_for_user(session, user.id)
    assert_refused(world.run(NOTE, hiding, id=sample), note)
    assert both.field_rules == {(*note, "read_only")}
    assert assert_answered(world.run(NOTE, both, id=sample)) == expected
    assert_refused(attempt(world, NOTE_WRITE, both), note)
    with world.kernel.session() as session:
        third = service.create_role(session, registry, code="third-opinion", labels={"en": "3"})
        set_field_rule(session, world.kernel.record_kinds, third.id, *note, "read_write")
        service.grant_role(session, both.user_id, third.id)
        all_three = actor_for_user(session, both.user_id)
    assert all_three.field_rules == frozenset()
    assert_answered(attempt(world, NOTE_WRITE, all_three))


def test_a_token_keeps_only_the_rules_of_its_roles(world: World) -> None:
    note = ("ticket", "internal_note")
    sample = world.global_ids["Ticket"]
    with world.kernel.session() as session:
        user = identity.create_user(session, "token-owner", "Token Owner")
        registry = action_registry(world.kernel)
        codes = {}
        for code, access in (("token-narrow", "hidden"), ("token-wide", "read_write")):
            role = service.create_role(
                session, registry, code=code, labels={"en": code}, actions=BASE_ACTIONS
            )
            set_role_scope(session, role.id, "ticket", "all")
            set_field_rule(session, world.kernel.record_kinds, role.id, *note, access)
            service.grant_role(session, user.id, role.id)
            codes[access] = code
        owner = actor_for_user(session, user.id)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        secrets = {
            access: tokens.create_api_token(
                session, owner, name=code, expires_at=expires, roles=[code]
            )[0]
            for access, code in codes.items()
        }
    assert assert_answered(world.run(NOTE, owner, id=sample))["node"]["internalNote"]
    narrow = tokens.actor_for_api_token(world.kernel.engine, secrets["hidden"])
    wide = tokens.actor_for_api_token(world.kernel.engine, secrets["read_write"])
    assert narrow is not None and wide is not None
    assert narrow[0].field_rules == {(*note, "hidden")}
    assert_refused(world.run(NOTE, narrow[0], id=sample), note)
    assert assert_answered(world.run(NOTE, wide[0], id=sample)) == assert_answered(
        world.run(NOTE, owner, id=sample)
    )


def test_rule_changes_reach_a_cached_actor(world: World) -> None:
    note = ("ticket", "internal_note")
    sample = world.global_ids["Ticket"]
    with world.kernel.session() as session:
        user = identity.create_user(session, "cached-person", "Cached", password="pw-secret-1")
        service.grant_role(session, user.id, world.base_role)
        role = service.create_role(
            session, action_registry(world.kernel), code="cached-rules", labels={"en": "c"}
        )
        service.grant_role(session, user.id, role.id)
        token = identity.open_session(session, user)

    def current() -> Actor:
        found = identity.actor_for_token(world.kernel.engine, token)
        assert found is not None
        return found[0]

    assert current().field_rules == frozenset()
    assert_answered(world.run(NOTE, current(), id=sample))
    for access, refused in (("hidden", True), ("read_only", False), (None, False)):
        with world.kernel.session() as session:
            set_field_rule(session, world.kernel.record_kinds, role.id, *note, access)
        actor = current()
        expected = (
            frozenset({(*note, access)}) if access in ("hidden", "read_only") else frozenset()
        )
        assert actor.field_rules == expected
        result = world.run(NOTE, actor, id=sample)
        if refused:
            assert_refused(result, note)
        else:
            assert assert_answered(result)["node"]["internalNote"] == world.values["internal_note"]


def test_a_superuser_is_not_bound_by_field_rules(world: World) -> None:
    note = ("ticket", "internal_note")
    hider = world.actor((*note, "hidden"))
    with world.kernel.session() as session:
        user = identity.create_user(session, "super-person", "Super", superuser=True)
        role_codes = set(hider.roles)
        for code in role_codes:
            service.grant_role(session, user.id, service.role_by_code(session, code).id)
        boss = actor_for_user(session, user.id)
    assert boss.superuser and boss.field_rules == {(*note, "hidden")}
    sample = world.global_ids["Ticket"]
    assert assert_answered(world.run(NOTE, boss, id=sample))["node"]["internalNote"]
    filtered = ticket_count(world, boss, {"internalNote": world.values["internal_note"]})
    assert assert_answered(filtered)["tickets"]["totalCount"]["value"] == 1
    searched = ticket_count(world, boss, {"search": world.values["internal_note"]})
    assert assert_answered(searched)["tickets"]["totalCount"]["value"] == 1
    ref = {"kind": "ticket", "recordId": world.ids["history_ticket"]}
    history = changed_fields(assert_answered(world.run(HISTORY, boss, r=ref))["history"]["edges"])
    assert ["internal_note"] in history
    assert_answered(attempt(world, NOTE_WRITE, boss))


# --- fixed orders and filters of the kernel's own lists ----------------------------------

INACTIVE_LISTS = {
    # resource: (query listing rows with and without inactive ones, path to the rows)
    "department": "query($all: Boolean!) { departments(includeInactive: $all) { id } }",
    "service_unit": "query($all: Boolean!) { serviceUnits(includeInactive: $all) { id } }",
}


@pytest.mark.parametrize(
    "resource", [pytest.param(r, id=f"{r}.active-hidden-filter") for r in INACTIVE_LISTS]
)
def test_a_list_never_filters_by_a_hidden_active_flag(world: World, resource: str) -> None:
    with world.kernel.session() as session:
        if resource == "department":
            row = service.create_department(session, code="gone", name="Gone")
            service.update_department(session, row.id, row.version, {"active": False})
        else:
            row = service.create_service_unit(session, code="unit-gone", name="Gone")
            service.update_service_unit(session, row.id, row.version, {"active": False})
    query = INACTIVE_LISTS[resource]
    key = "departments" if resource == "department" else "serviceUnits"
    hidden = world.ruled(resource, "active")
    answers = []
    for include in (False, True):
        answer = world.run(query, hidden, all=include)
        answers.append(answer if "errors" in answer else {e["id"] for e in answer["data"][key]})
    refused = all(isinstance(a, dict) and error_codes(a) == ["FORBIDDEN"] for a in answers)
    assert refused or answers[0] == answers[1]


def test_nested_members_are_not_ordered_by_a_hidden_login(world: World) -> None:
    query = "query($id: ID!) { node(id: $id) { ... on Department { members { id } } } }"
    it = global_id("Department", world.ids["it"])
    hidden = world.ruled("user", "login")
    members = [m["id"] for m in assert_answered(world.run(query, hidden, id=it))["node"]["members"]]
    by_login = [
        m["id"] for m in assert_answered(world.run(query, world.actor(), id=it))["node"]["members"]
    ]
    assert len(members) == 2 and by_login != sorted(by_login, key=lambda i: base64.b64decode(i))
    assert members != by_login


# Fields kept in link tables, whose rows have a history of their own.
LINK_HISTORY = {
    ("user", "roles"): "user_role",
    ("user", "service_units"): "user_service_unit",
    ("role", "actions"): "role_action",
    ("role", "scopes"): "role_scope",
    ("role", "field_rules"): "field_rule",
}
LINK_TIMELINE = """query($k: String!) {
  auditTimeline(filter: {recordKind: $k}, first: 5) { edges { node { changes { field } } } }
}"""


@pytest.mark.parametrize(
    ("resource", "name"),
    [pytest.param(r, n, id=f"{r}.{n}-hidden-link-history") for r, n in LINK_HISTORY],
)
def test_the_timeline_of_link_rows_drops_a_hidden_field(
    world: World, resource: str, name: str
) -> None:
    kind = LINK_HISTORY[(resource, name)]
    shown = world.run(LINK_TIMELINE, world.actor(), k=kind)
    assert assert_answered(shown)["auditTimeline"]["edges"]
    kept = world.run(LINK_TIMELINE, world.ruled(resource, name), k=kind)
    assert error_codes(kept) == ["FORBIDDEN"] or kept["data"]["auditTimeline"]["edges"] == []
