"""Incidents: numbering, validation, locking, the parent/child rule, reopening, rating,
data scope, field rules, the process, and the GraphQL API."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from openitsm.kernel import BadUserInput, Forbidden, NotFound, utcnow
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.search import search
from openitsm.kernel.testing import error_codes, gql
from openitsm.kernel.workflow.models import ProcessInstance, ProcessVersion, WorkItem
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident

from .conftest import World

YEAR = utcnow().year


def gid(kind: str, key: int) -> str:
    import base64

    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def refused(error: pytest.ExceptionInfo[Any]) -> str:
    return str(error.value.extensions.get("field"))


# --- numbers --------------------------------------------------------------------------


def test_numbers_are_per_year_and_formatted(world: World) -> None:
    first, second = world.create(), world.create(title="Second")
    assert first.number == f"INC-{YEAR}-000001"
    assert second.number == f"INC-{YEAR}-000002"
    with world.kernel.session() as session:
        later = dt.datetime(YEAR + 1, 3, 1, tzinfo=dt.UTC)
        assert service.next_number(session, later) == f"INC-{YEAR + 1}-000001"
        assert service.next_number(session, later) == f"INC-{YEAR + 1}-000002"
        # New Year's Eve in Beijing is already the next year
        eve = dt.datetime(YEAR + 2, 12, 31, 17, tzinfo=dt.UTC)
        assert service.next_number(session, eve) == f"INC-{YEAR + 3}-000001"


def test_concurrent_registrations_never_share_a_number(world: World) -> None:
    actor = world.actor("agent")
    numbers: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def register(worker: int) -> None:
        try:
            start.wait()
            for n in range(4):
                with world.kernel.session(actor) as session:
                    incident = service.create_incident(
                        session, title=f"w{worker}-{n}", caller_id=world.users["caller"]
                    )
                    numbers.append(incident.number)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=register, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(numbers) == [f"INC-{YEAR}-{n:06d}" for n in range(1, 25)]


# --- validation -----------------------------------------------------------------------


def test_invalid_input_is_refused_on_its_field(world: World) -> None:
    with pytest.raises(BadUserInput) as missing:
        world.create(title="  ")
    assert refused(missing) == "title"
    with pytest.raises(BadUserInput) as category:
        world.create(category="no-such-category")
    assert refused(category) == "category"
    with pytest.raises(BadUserInput) as leaver:
        world.create(caller_id=world.users["leaver"])
    assert refused(leaver) == "caller"
    with pytest.raises(BadUserInput) as reason:
        world.create(impact="minor", urgency="low", level="p1")
    assert refused(reason) == "levelReason"
    overridden = world.create(impact="minor", urgency="low", level="p1", level_reason="VIP")
    assert (overridden.level, overridden.level_reason) == ("p1", "VIP")


def test_registration_fills_in_level_phone_unit_and_sanitises(world: World) -> None:
    incident = world.create(
        impact="extensive",
        urgency="critical",
        description='<p onclick="x()">hi<script>1</script></p>',
    )
    assert incident.level == "p1"
    assert incident.contact_phone == "+86 555 0199"
    assert incident.service_unit_id == world.units["acme"]
    assert incident.description == "<p>hi</p>"
    assert incident.status == "new"


def test_a_stale_version_is_a_conflict(world: World) -> None:
    incident = world.create()
    mutation = """mutation($id: ID!, $v: Int!, $t: String) {
      updateIncident(id: $id, version: $v, input: {title: $t}) { incident { title version } } }"""
    agent = world.actor("agent")
    ok = gql(world.kernel, mutation, {"id": gid("Incident", incident.id), "v": 1, "t": "A"}, agent)
    assert ok["data"]["updateIncident"]["incident"] == {"title": "A", "version": 2}
    stale = gql(
        world.kernel, mutation, {"id": gid("Incident", incident.id), "v": 1, "t": "B"}, agent
    )
    assert error_codes(stale) == ["CONFLICT"]


# --- state rules ----------------------------------------------------------------------


def test_a_parent_waits_for_its_open_children(world: World) -> None:
    parent, child = world.create(title="Parent"), world.create(title="Child")
    with world.kernel.session(world.actor("agent")) as session:
        service.link_parent(session, child.id, parent.id)
        with pytest.raises(BadUserInput, match="child incidents"):
            service.resolve(session, parent.id, resolution="done")
    with world.kernel.session(world.actor("agent")) as session:
        with pytest.raises(BadUserInput, match="own parent"):
            service.link_parent(session, parent.id, child.id)
        service.resolve(session, child.id, resolution="fixed")
        service.resolve(session, parent.id, resolution="fixed", cost="12.50", work_hours=2)
        service.close(session, parent.id)
        assert session.get(Incident, parent.id).cost == 12.5  # type: ignore[union-attr]
    with (
        world.kernel.session(world.actor("agent")) as session,
        pytest.raises(BadUserInput, match="reopen the parent"),
    ):
        service.reopen(session, child.id)


def test_reopening_is_allowed_within_the_period_only(world: World) -> None:
    incident = world.create()
    with world.kernel.session(world.actor("agent")) as session:
        with pytest.raises(BadUserInput, match="resolution"):
            service.resolve(session, incident.id, resolution=" ")
        service.resolve(session, incident.id, resolution="fixed")
    with world.kernel.session(world.actor("agent")) as session:
        assert service.reopen(session, incident.id).status == "new"
        service.resolve(session, incident.id, resolution="fixed again")
        session.execute(
            update(Incident)
            .where(Incident.id == incident.id)
            .values(resolved_at=utcnow() - dt.timedelta(days=15))
        )
    with (
        world.kernel.session(world.actor("agent")) as session,
        pytest.raises(BadUserInput, match="14 days"),
    ):
        service.reopen(session, incident.id)


def test_satisfaction_only_once_resolved(world: World) -> None:
    incident = world.create()
    with world.kernel.session(world.actor("caller")) as session:
        with pytest.raises(BadUserInput) as early:
            service.rate(session, incident.id, satisfaction=5)
        assert refused(early) == "satisfaction"
    with world.kernel.session(world.actor("agent")) as session:
        service.resolve(session, incident.id, resolution="fixed")
    with world.kernel.session(world.actor("caller")) as session:
        with pytest.raises(BadUserInput):
            service.rate(session, incident.id, satisfaction=6)
        rated = service.rate(session, incident.id, satisfaction=4, comment="ok")
        assert (rated.satisfaction, rated.satisfaction_comment) == (4, "ok")


def test_actions_need_their_permission(world: World) -> None:
    incident = world.create()
    with world.kernel.session(world.actor("caller")) as session, pytest.raises(Forbidden):
        service.resolve(session, incident.id, resolution="I fixed it myself")
    with world.kernel.session(world.actor("plain")) as session, pytest.raises(Forbidden):
        service.create_incident(session, title="x")


# --- scope and field rules ------------------------------------------------------------


def test_another_service_units_agent_sees_nothing(world: World) -> None:
    incident = world.create()
    query = (
        "query($id: ID!) { incident(id: $id) { number } incidents { edges { node { number } } } }"
    )
    variables = {"id": gid("Incident", incident.id)}
    mine = gql(world.kernel, query, variables, world.actor("agent"))["data"]
    assert mine["incident"] == {"number": incident.number}
    theirs = gql(world.kernel, query, variables, world.actor("agent2"))["data"]
    assert theirs == {"incident": None, "incidents": {"edges": []}}
    with world.kernel.session(world.actor("agent2")) as session:
        with pytest.raises(NotFound):
            service.get_incident(session, incident.id)
        with pytest.raises(NotFound):
            service.resolve(session, incident.id, resolution="x")
        kinds = world.kernel.record_kinds
        assert search(session, kinds, world.actor("agent2"), incident.number) == []
        assert search(session, kinds, world.actor("agent2"), "Printer") == []
    with world.kernel.session(world.actor("agent")) as session:
        found = search(session, world.kernel.record_kinds, world.actor("agent"), incident.number)
        assert [r.ref.id for g in found for r in g.records] == [incident.id]
    # the engineer sees it once it is their group's
    engineer = gql(world.kernel, query, variables, world.actor("engineer"))["data"]
    assert engineer["incident"] is None
    with world.kernel.session(world.actor("agent")) as session:
        service.assign(session, incident.id, group_id=world.departments["ops"])
    engineer = gql(world.kernel, query, variables, world.actor("engineer"))["data"]
    assert engineer["incident"] == {"number": incident.number}


def test_a_parent_outside_the_readers_scope_is_null_in_a_list(world: World) -> None:
    parent, child = world.create(title="Parent"), world.create(title="Child")
    with world.kernel.session(world.actor("agent")) as session:
        service.link_parent(session, child.id, parent.id)
        service.assign(session, child.id, group_id=world.departments["ops"])
    query = "{ incidents { edges { node { title parent { title } group { code } } } } }"
    agent = gql(world.kernel, query, None, world.actor("agent"))["data"]["incidents"]["edges"]
    assert {e["node"]["title"]: e["node"]["parent"] for e in agent} == {
        "Parent": None,
        "Child": {"title": "Parent"},
    }
    engineer = gql(world.kernel, query, None, world.actor("engineer"))["data"]["incidents"]
    assert [e["node"] for e in engineer["edges"]] == [
        {"title": "Child", "parent": None, "group": {"code": "ops"}}
    ]


def test_a_hidden_field_is_neither_read_nor_filtered(world: World) -> None:
    world.create(category="printer")
    with world.kernel.session() as session:
        set_field_rule(
            session,
            world.kernel.record_kinds,
            world.roles["service_desk_agent"],
            "incident",
            "category",
            "hidden",
        )
    agent = world.actor("agent")
    read = gql(world.kernel, "{ incidents { edges { node { category } } } }", None, agent)
    assert error_codes(read) == ["FORBIDDEN"]
    filtered = gql(
        world.kernel, '{ incidents(filter: {category: "printer"}) { edges { node { number } } } }',
        None, agent,
    )  # fmt: skip
    assert error_codes(filtered) == ["FORBIDDEN"]
    with world.kernel.session(agent) as session, pytest.raises(Forbidden):
        service.create_incident(session, title="x", category="printer")
    allowed = gql(world.kernel, "{ incidents { edges { node { category } } } }", None, world.actor("supervisor"))  # fmt: skip
    assert allowed["data"]["incidents"]["edges"] == [{"node": {"category": "printer"}}]


# --- the process ----------------------------------------------------------------------


def test_the_shipped_process_is_published_and_starts_on_registration(world: World) -> None:
    with world.kernel.session() as session:
        published = session.scalars(
            select(ProcessVersion.state).where(ProcessVersion.key == "incident")
        ).all()
        assert published == ["published"]
    desk_case = world.create(category="printer")
    security_case = world.create(category="virus")
    with world.kernel.session() as session:
        steps = {}
        for incident in (desk_case, security_case):
            instance = session.scalar(
                select(ProcessInstance).where(
                    ProcessInstance.record_kind == "incident",
                    ProcessInstance.record_id == incident.id,
                )
            )
            assert instance is not None and instance.state == "running"
            steps[incident.id] = session.scalars(
                select(WorkItem.node_id).where(WorkItem.instance_id == instance.id)
            ).all()
    assert steps[desk_case.id] == ["desk"]
    assert steps[security_case.id] == ["second_line"]


def test_a_registration_reads_its_caller_once_and_its_codes_in_one_query(world: World) -> None:
    from openitsm.kernel.dictionaries.models import DictionaryItem
    from openitsm.kernel.testing import count_statements

    coded = {"category": "printer", "nature": "fault", "impact": "minor", "urgency": "medium"}
    agent = world.actor("agent")
    with count_statements(world.kernel.engine) as log, world.kernel.session(agent) as session:
        incident = service.create_incident(
            session, title="Printer jams", caller_id=world.users["caller"], **coded
        )
    assert (incident.category, incident.urgency, incident.level) == ("printer", "medium", "p3")
    people = [s for s in log.selects() if "WHERE user_account.id =" in s]
    assert len(people) == 1  # the caller; the route on record.category reads no person
    assert sum("FROM dictionary_item" in s for s in log.selects()) == 1
    # The process's token is written once, where it waits.
    assert sum(s.startswith("INSERT INTO wf_token") for s in log.statements) == 1
    assert not [s for s in log.statements if s.startswith("UPDATE wf_token")]
    with pytest.raises(BadUserInput) as nature:
        world.create(**{**coded, "nature": "no-such-nature", "urgency": "no-such-urgency"})
    assert refused(nature) == "nature"  # the first field in order, as one by one
    with world.kernel.session() as session:
        session.execute(
            update(DictionaryItem).where(DictionaryItem.code == "medium").values(active=False)
        )
    with pytest.raises(BadUserInput) as retired:
        world.create(**coded)
    assert refused(retired) == "urgency"


def test_the_process_definition_passes_the_kernels_checks(world: World) -> None:
    from openitsm.kernel.workflow import service as workflow

    xml = Path(service.__file__).parent / "processes" / "incident.bpmn"
    with world.kernel.session() as session:
        version, definition = workflow.import_definition(session, xml.read_bytes())
        workflow.publish(session, version.key, version.number, version.version)
        assert definition.process_id == "incident"
        assert {"desk", "second_line", "third_line", "vendor"} <= set(definition.nodes)
        assert definition.nodes["second_line"].return_targets == ("desk",)


# --- GraphQL --------------------------------------------------------------------------

CREATE = """mutation($input: CreateIncidentInput!) {
  createIncident(input: $input) { incident { id number status level version caller { login } } } }"""
ACT = """mutation($id: ID!, $g: ID, $who: ID) {
  assignIncident(id: $id, group: $g, assignee: $who) { incident { status group { code } assignee { login } } }
  startIncident(id: $id) { incident { status respondedAt } }
  resolveIncident(id: $id, resolution: "Replaced the toner", cost: "10.00", workHours: "1.5") {
    incident { status resolution cost workHours } }
  rateIncident(id: $id, satisfaction: 5, comment: "Quick") { incident { satisfaction } }
  closeIncident(id: $id) { incident { status closedAt } }
  reopenIncident(id: $id) { incident { status closedAt } }
}"""


def test_the_graphql_api_registers_and_works_an_incident(world: World) -> None:
    agent = world.actor("agent")
    created = gql(
        world.kernel,
        CREATE,
        {"input": {"title": "Toner empty", "caller": gid("User", world.users["caller"]),
                   "category": "printer", "impact": "minor", "urgency": "high"}},
        agent,
    )  # fmt: skip
    incident = created["data"]["createIncident"]["incident"]
    assert re.fullmatch(rf"INC-{YEAR}-\d{{6}}", incident["number"])
    assert (incident["status"], incident["level"]) == ("NEW", "p3")
    assert incident["caller"] == {"login": "caller"}
    done = gql(
        world.kernel,
        ACT,
        {"id": incident["id"], "g": gid("Department", world.departments["ops"]),
         "who": gid("User", world.users["engineer"])},
        agent,
    )  # fmt: skip
    assert "errors" not in done, done
    data = done["data"]
    assert data["assignIncident"]["incident"] == {
        "status": "ASSIGNED", "group": {"code": "ops"}, "assignee": {"login": "engineer"}
    }  # fmt: skip
    assert data["startIncident"]["incident"]["status"] == "IN_PROGRESS"
    assert data["resolveIncident"]["incident"]["cost"] == "10.00"
    assert data["rateIncident"]["incident"] == {"satisfaction": 5}
    assert data["closeIncident"]["incident"]["status"] == "CLOSED"
    assert data["reopenIncident"]["incident"] == {"status": "IN_PROGRESS", "closedAt": None}
    bad = gql(world.kernel, CREATE, {"input": {"title": "x", "category": "gone"}}, agent)
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["field"] == "category"


def test_graphql_filters_and_pages(world: World) -> None:
    printer = world.create(title="Printer", category="printer")
    world.create(title="VPN", category="vpn", caller_id=world.users["agent"])
    resolved = world.create(title="Mail", category="email")
    with world.kernel.session(world.actor("agent")) as session:
        service.resolve(session, resolved.id, resolution="done")
    query = """query($f: IncidentFilter, $first: Int, $after: String) {
      incidents(filter: $f, first: $first, after: $after, orderBy: {field: NUMBER, direction: ASC}) {
        edges { node { title } } pageInfo { hasNextPage endCursor } } }"""

    def titles(f: dict[str, Any]) -> list[str]:
        result = gql(world.kernel, query, {"f": f}, world.actor("agent"))
        assert "errors" not in result, result
        return [e["node"]["title"] for e in result["data"]["incidents"]["edges"]]

    assert titles({}) == ["Printer", "VPN", "Mail"]
    assert titles({"status": ["RESOLVED"]}) == ["Mail"]
    assert titles({"openOnly": True}) == ["Printer", "VPN"]
    assert titles({"category": "vpn"}) == ["VPN"]
    assert titles({"caller": gid("User", world.users["agent"])}) == ["VPN"]
    assert titles({"text": "rint"}) == ["Printer"]
    assert titles({"level": "p1"}) == []
    now = utcnow()
    assert titles({"openedFrom": (now - dt.timedelta(hours=1)).isoformat()}) == [
        "Printer",
        "VPN",
        "Mail",
    ]
    assert titles({"openedUntil": (now - dt.timedelta(hours=1)).isoformat()}) == []
    first = gql(world.kernel, query, {"first": 2}, world.actor("agent"))["data"]["incidents"]
    assert [e["node"]["title"] for e in first["edges"]] == ["Printer", "VPN"]
    rest = gql(world.kernel, query, {"first": 2, "after": first["pageInfo"]["endCursor"]}, world.actor("agent"))  # fmt: skip
    assert [e["node"]["title"] for e in rest["data"]["incidents"]["edges"]] == ["Mail"]
    assert printer.id


def test_children_come_in_one_query(world: World) -> None:
    from openitsm.kernel.testing import count_statements

    parents = [world.create(title=f"P{n}") for n in range(4)]
    with world.kernel.session(world.actor("agent")) as session:
        for parent in parents[1:]:
            service.link_parent(session, parent.id, parents[0].id)
    query = "{ incidents(first: %d) { edges { node { number children { number } parent { number } } } } }"
    gql(world.kernel, query % 1, None, world.actor("agent"))
    with count_statements(world.kernel.engine) as one:
        gql(world.kernel, query % 1, None, world.actor("agent"))
    with count_statements(world.kernel.engine) as four:
        result = gql(world.kernel, query % 4, None, world.actor("agent"))
    assert "errors" not in result
    assert four.count == one.count
