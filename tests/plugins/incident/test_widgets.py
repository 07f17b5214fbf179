"""The incident module's workbench widgets "Breaching soon" and "My team's queue": scoped,
one query each, in the reader's language."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import update

from openitsm.kernel import utcnow
from openitsm.kernel.db import count_statements
from openitsm.kernel.sla import clocks
from openitsm.kernel.sla.models import SlaClock
from openitsm.plugins.incident import service

from .conftest import World
from .test_pages import signed_in


def set_clock(world: World, incident_id: int, **values: Any) -> None:
    """The incident's stored clock, computed from its history, then moved to a moment of
    interest (what the timer scan would have found by then)."""
    with world.kernel.session() as session:
        clocks.recompute(session, "incident", incident_id)
        session.execute(
            update(SlaClock)
            .where(SlaClock.record_kind == "incident", SlaClock.record_id == incident_id)
            .values(**values)
        )


def breaching_rows(html: str) -> list[str]:
    table = html.partition('class="list-table incidents-breaching"')[2].partition("</table>")[0]
    return re.findall(r"INC-\d{4}-\d{6}", table)


def test_breaching_soon_lists_missed_and_warned_targets_the_viewer_may_see(world: World) -> None:
    now = utcnow()
    hour = dt.timedelta(hours=1)
    calm = world.create(title="Calm", impact="minor", urgency="low")
    warned = world.create(title="Warned", impact="extensive", urgency="critical")
    missed = world.create(title="Missed", impact="minor", urgency="low")
    overdue = world.create(title="Overdue, not yet scanned", impact="minor", urgency="low")
    elsewhere = world.create(title="Globex", service_unit_id=world.units["globex"])
    finished = world.create(title="Done late")
    set_clock(world, calm.id, resolution_warning_at=now + hour, resolution_due_at=now + 2 * hour)
    set_clock(
        world,
        warned.id,
        response_state="met",
        resolution_warning_at=now - hour,
        resolution_due_at=now + hour,
    )
    set_clock(world, missed.id, resolution_state="breached", resolution_due_at=now - 2 * hour)
    set_clock(
        world, overdue.id, response_state="met", resolution_due_at=now - hour,
        resolution_warning_at=now - 2 * hour,
    )  # fmt: skip
    set_clock(world, elsewhere.id, resolution_state="breached", resolution_due_at=now - hour)
    set_clock(world, finished.id, resolution_state="breached", resolution_due_at=now - hour)
    with world.kernel.session(world.actor("agent")) as session:
        service.cancel(session, finished.id)

    agent = signed_in(world, "agent")
    page = agent.get("/").text
    assert "Breaching soon" in page
    # Missed targets first (soonest due first), then those in their warning window.
    rows = breaching_rows(page)
    assert rows == [missed.number, overdue.number, warned.number]
    assert "Breached" in page and "Due soon" in page and "Resolution" in page
    assert breaching_rows(signed_in(world, "agent2").get("/").text) == [elsewhere.number]

    with count_statements(world.kernel.engine) as three:
        assert len(breaching_rows(agent.get("/").text)) == 3
    for n in range(4):
        extra = world.create(title=f"Late {n}")
        set_clock(world, extra.id, resolution_state="breached", resolution_due_at=now - hour)
    agent.get("/")
    with count_statements(world.kernel.engine) as seven:
        assert len(breaching_rows(agent.get("/").text)) == 7
    assert seven.count == three.count  # the widget's cost does not grow with its rows


def test_breaching_soon_in_chinese(world: World) -> None:
    missed = world.create(title="打印机卡纸")
    set_clock(world, missed.id, resolution_state="breached", resolution_due_at=utcnow())
    client = signed_in(world, "agent")
    client.headers["accept-language"] = "zh-CN"
    page = client.get("/").text
    assert "即将超时的事件" in page and "我的团队队列" in page
    assert breaching_rows(page) == [missed.number]


def test_my_teams_queue_counts_its_open_incidents_by_status(world: World) -> None:
    ops = world.departments["ops"]
    world.create(title="Waiting in the queue", group_id=ops)
    world.create(title="Taken", group_id=ops, assignee_id=world.users["engineer"])
    with world.kernel.session(world.actor("agent")) as session:
        started = service.create_incident(
            session, title="Started", caller_id=world.users["caller"], group_id=ops
        )
        service.start_work(session, started.id)
    world.create(title="The desk's own", group_id=world.departments["desk"])
    done = world.create(title="Finished", group_id=ops)
    with world.kernel.session(world.actor("agent")) as session:
        service.cancel(session, done.id)

    page = signed_in(world, "engineer").get("/").text
    assert "My team&#39;s queue" in page
    table = page.partition('class="list-table incidents-team-queue"')[2].partition("</table>")[0]
    cells = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td></tr>", table)
    assert cells == [
        ("New", "0", "0"),
        ("Assigned", "2", "1"),
        ("In progress", "1", "0"),
        ("Waiting for the customer", "0", "0"),
    ]
    desk = signed_in(world, "agent").get("/").text
    assert re.search(r"<td>Assigned</td><td>1</td>", desk)  # the desk's team: its one incident
    nowhere = signed_in(world, "supervisor").get("/").text
    assert "You belong to no department" in nowhere
