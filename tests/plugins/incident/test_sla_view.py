"""Incidents' SLA in queries and on the pages: `Incident.sla`/`slaState` loaded once per
page, the `slaState` filter, the list's SLA column, filters and export, and the process
diagram on the incident page."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from openpyxl import load_workbook

from openitsm.kernel import utcnow
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.db import count_statements
from openitsm.kernel.sla.models import SlaClock
from openitsm.kernel.testing import error_codes, gql
from openitsm.plugins.incident import sla_state

from .conftest import World
from .test_pages import rows, signed_in
from .test_widgets import set_clock

HOUR = dt.timedelta(hours=1)
SLA_QUERY = """query($first: Int, $filter: IncidentFilter) {
  incidents(first: $first, filter: $filter) { edges { node {
    title slaState sla { level response { state dueAt remainingSeconds } resolution { state dueAt } }
    caller { name } assignee { name } category
  } } }
}"""


def gid(kind: str, key: int) -> str:
    import base64

    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def states(world: World) -> dict[str, Any]:
    """An incident in each SLA state (and one left paused by waiting), by state."""
    now = utcnow()
    made = {
        "calm": world.create(title="Calm"),
        "warned": world.create(title="Warned"),
        "missed": world.create(title="Missed"),
        "late": world.create(title="Late, not yet scanned"),
        "paused": world.create(title="Paused"),
        "met": world.create(title="Met"),
    }
    set_clock(
        world,
        made["calm"].id,
        response_state="met",
        resolution_state="running",
        resolution_warning_at=now + HOUR,
        resolution_due_at=now + 2 * HOUR,
    )
    set_clock(
        world,
        made["warned"].id,
        response_state="met",
        resolution_state="running",
        resolution_warning_at=now - HOUR,
        resolution_due_at=now + HOUR,
    )
    set_clock(
        world, made["missed"].id, resolution_state="breached", resolution_due_at=now - 2 * HOUR
    )
    set_clock(
        world,
        made["late"].id,
        response_state="met",
        resolution_state="running",
        resolution_warning_at=now - 2 * HOUR,
        resolution_due_at=now - HOUR,
    )
    set_clock(
        world,
        made["paused"].id,
        response_state="met",
        resolution_state="paused",
        resolution_due_at=None,
        resolution_remaining=3600,
    )
    set_clock(world, made["met"].id, response_state="met", resolution_state="met")
    return made


def test_sla_state_filter_and_field_agree(world: World) -> None:
    made = states(world)
    agent = world.actor("agent")

    def titles(filter: dict[str, Any]) -> list[str]:
        result = gql(world.kernel, SLA_QUERY, {"filter": filter}, agent)
        assert "errors" not in result, result
        return sorted(e["node"]["title"] for e in result["data"]["incidents"]["edges"])

    assert titles({"slaState": ["BREACHED"]}) == ["Late, not yet scanned", "Missed"]
    assert titles({"slaState": ["WARNING"]}) == ["Warned"]
    assert titles({"slaState": ["RUNNING"]}) == ["Calm"]
    assert titles({"slaState": ["PAUSED"]}) == ["Paused"]
    assert titles({"slaState": ["MET"]}) == ["Met"]
    assert titles({"slaState": ["WARNING", "MET"]}) == ["Met", "Warned"]
    assert titles({"slaState": ["BREACHED"], "caller": gid("User", world.users["agent"])}) == []

    result = gql(world.kernel, SLA_QUERY, {"first": 20}, agent)
    nodes = {e["node"]["title"]: e["node"] for e in result["data"]["incidents"]["edges"]}
    assert nodes["Warned"]["slaState"] == "WARNING"
    assert nodes["Late, not yet scanned"]["slaState"] == "BREACHED"
    assert nodes["Paused"]["sla"]["resolution"] == {"state": "paused", "dueAt": None}
    assert nodes["Calm"]["sla"]["response"]["state"] == "met"
    # The Python summary says what the SQL filter says, for every incident.
    with world.kernel.session() as session:
        found = sla_state.clocks_of(session, [i.id for i in made.values()])
        for key, incident in made.items():
            summary = sla_state.summarise(found[incident.id])
            assert summary is not None
            expected = {"calm": "running", "late": "breached", "missed": "breached"}
            assert summary.state == expected.get(key, key.replace("warned", "warning"))


def test_sla_costs_the_same_for_5_and_20_rows(world: World) -> None:
    now = utcnow()
    for n in range(20):
        made = world.create(title=f"I{n}", assignee_id=world.users["engineer"])
        set_clock(world, made.id, resolution_due_at=now + n * HOUR)
    agent = world.actor("agent")
    gql(world.kernel, SLA_QUERY, {"first": 5}, agent)
    with count_statements(world.kernel.engine) as five:
        small = gql(world.kernel, SLA_QUERY, {"first": 5}, agent)
    with count_statements(world.kernel.engine) as twenty:
        large = gql(world.kernel, SLA_QUERY, {"first": 20}, agent)
    assert "errors" not in small and "errors" not in large, large
    assert len(large["data"]["incidents"]["edges"]) == 20
    assert all(e["node"]["sla"] for e in large["data"]["incidents"]["edges"])
    assert twenty.count == five.count


def test_sla_follows_the_status_field_rule(world: World) -> None:
    states(world)
    with world.kernel.session() as session:
        set_field_rule(
            session,
            world.kernel.record_kinds,
            world.roles["service_desk_agent"],
            "incident",
            "status",
            "hidden",
        )
    agent = world.actor("agent")
    asked = gql(world.kernel, "{ incidents { edges { node { sla { level } } } } }", None, agent)
    assert "FORBIDDEN" in error_codes(asked)
    filtered = gql(
        world.kernel,
        "{ incidents(filter: {slaState: [BREACHED]}) { edges { node { title } } } }",
        None,
        agent,
    )
    assert "FORBIDDEN" in error_codes(filtered)
    page = signed_in(world, "agent").get("/incidents")
    assert page.status_code == 200 and 'name="sla"' not in page.text
    assert signed_in(world, "agent").get("/incidents?sla=breached").status_code == 403


def test_list_shows_filters_and_exports_the_sla(world: World) -> None:
    made = states(world)
    other = world.create(title="Other caller", caller_id=world.users["agent"])
    with world.kernel.session() as session:
        session.query(SlaClock).filter(SlaClock.record_id == other.id).delete()
    agent = signed_in(world, "agent")
    page = agent.get("/incidents")
    assert page.status_code == 200
    for name in ("sla", "assignee", "group", "category", "caller", "unit", "from", "to"):
        assert f'name="{name}"' in page.text, name
    assert "sla-breached" in page.text and "sla-warning" in page.text

    missed = agent.get("/incidents?sla=breached")
    assert sorted(rows(missed.text)) == sorted({made["missed"].id, made["late"].id})
    assert rows(agent.get("/incidents?sla=warning").text) == [made["warned"].id]
    by_caller = agent.get(f"/incidents?caller={world.users['agent']}")
    assert rows(by_caller.text) == [other.id]
    assert agent.get("/incidents?caller=nobody").status_code == 400
    today = utcnow().date()
    assert len(set(rows(agent.get(f"/incidents?from={today}").text))) == 7
    assert rows(agent.get(f"/incidents?to={today - dt.timedelta(days=2)}").text) == []
    assert agent.get("/incidents?from=yesterday").status_code == 400

    export = agent.get("/incidents/export.xlsx?sla=breached")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert "SLA" in values[0]
    column = values[0].index("SLA")
    cells = sorted(str(row[column]) for row in values[1:])
    # The export's cells are worded in the reader's language.
    assert len(cells) == 2 and all(cell.startswith("Breached · ") for cell in cells)
    chinese = agent.get("/incidents/export.xlsx?sla=breached", headers={"accept-language": "zh-CN"})
    sheet = load_workbook(io.BytesIO(chinese.content)).active
    header, *rest = [[c.value for c in row] for row in sheet.iter_rows()]
    assert all(str(row[header.index("SLA")]).startswith("已超时 · ") for row in rest)


def test_list_sla_column_costs_the_same_for_more_rows(world: World) -> None:
    now = utcnow()
    agent = signed_in(world, "agent")
    for n in range(3):
        made = world.create(title=f"I{n}", assignee_id=world.users["engineer"])
        set_clock(world, made.id, resolution_due_at=now + n * HOUR)
    agent.get("/incidents")
    with count_statements(world.kernel.engine) as few:
        agent.get("/incidents")
    for n in range(3, 12):
        made = world.create(title=f"I{n}", assignee_id=world.users["engineer"])
        set_clock(world, made.id, resolution_due_at=now + n * HOUR)
    with count_statements(world.kernel.engine) as more:
        page = agent.get("/incidents")
    assert len(set(rows(page.text))) == 12
    assert more.count == few.count, [s[:120] for s in more.statements if s not in few.statements]


def test_incident_page_shows_its_process_to_those_who_may_see_it(world: World) -> None:
    from sqlalchemy import select

    from openitsm.kernel.workflow.models import ProcessInstance, WorkItem

    incident = world.create(title="With a process", group_id=world.departments["ops"])
    with world.kernel.session() as session:
        instance = session.scalar(
            select(ProcessInstance).where(
                ProcessInstance.record_kind == "incident",
                ProcessInstance.record_id == incident.id,
            )
        )
        assert instance is not None  # the module publishes its process on installation
        item = session.scalars(select(WorkItem).where(WorkItem.instance_id == instance.id)).first()
    page = signed_in(world, "agent").get(f"/incidents/{incident.id}")
    assert page.status_code == 200
    assert "data-process-diagram" in page.text
    assert f'data-xml-url="/processes/{instance.id}/diagram"' in page.text
    assert f'href="/processes/{instance.id}"' in page.text
    assert item is not None and "step-" in page.text
    # The engineer may see the incident (their group's), not its process: no section.
    engineer = signed_in(world, "engineer")
    assert engineer.get(f"/processes/{instance.id}").status_code == 404
    page = engineer.get(f"/incidents/{incident.id}")
    assert page.status_code == 200 and "With a process" in page.text
    assert "data-process-diagram" not in page.text
