"""Satisfaction statistics: the workbench widget "Satisfaction" and the GraphQL query
`incidentSatisfaction`, scoped, one query, honouring field rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import update

from openitsm.kernel import utcnow
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.db import count_statements
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.testing import error_codes, gql
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident
from openitsm.web.pages import site_of

from .conftest import World
from .test_pages import signed_in

QUERY = """query($from: DateTime, $to: DateTime, $by: IncidentSatisfactionGrouping!) {
  incidentSatisfaction(from: $from, to: $to, groupBy: $by) {
    from to groupBy
    total { count average satisfied distribution }
    buckets { key label count average satisfied distribution group { code } }
  }
}"""


def rated(
    world: World,
    score: int,
    group: str = "desk",
    resolved_at: dt.datetime | None = None,
    desk: str = "agent",
    **values: Any,
) -> Incident:
    """An incident of the group resolved and rated `score` by the `desk`'s call-back."""
    incident = world.create(desk, group_id=world.departments[group], **values)
    with world.kernel.session(world.actor(desk)) as session:
        service.resolve(session, incident.id, resolution="<p>Done</p>")
        service.rate(session, incident.id, satisfaction=score)
        if resolved_at is not None:
            session.execute(
                update(Incident).where(Incident.id == incident.id).values(resolved_at=resolved_at)
            )
    return incident


def widget_rows(html: str) -> list[tuple[str, ...]]:
    """(group, average, count, share) of the widget's rows, the total last."""
    table = html.partition('class="list-table incidents-satisfaction"')[2].partition("</table>")[0]
    return re.findall(
        r"<tr><t[dh]>([^<]+)</t[dh]><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", table
    )


def hide(world: World, role: str, field: str) -> None:
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles[role], "incident", field, "hidden"
        )


def seed(world: World) -> None:
    for score in (5, 4, 2):
        rated(world, score, "desk", category="printer")
    for score in (5, 3):
        rated(world, score, "ops", category="desktop")
    rated(world, 1, "ops", desk="agent2", service_unit_id=world.units["globex"])  # not Acme's
    rated(world, 1, "desk", resolved_at=utcnow() - dt.timedelta(days=40))  # too long ago
    unrated = world.create(group_id=world.departments["desk"])
    with world.kernel.session(world.actor("agent")) as session:
        service.resolve(session, unrated.id, resolution="<p>Done</p>")


def test_the_widget_shows_the_last_30_days_by_group_within_the_scope(world: World) -> None:
    seed(world)
    everything = widget_rows(signed_in(world, "supervisor").get("/").text)
    assert everything == [
        ("Operations", "3.0", "3", "33%"),
        ("Service desk", "3.7", "3", "67%"),
        ("All", "3.3", "6", "50%"),
    ]
    assert widget_rows(signed_in(world, "agent").get("/").text) == [  # Acme's only
        ("Service desk", "3.7", "3", "67%"),
        ("Operations", "4.0", "2", "50%"),
        ("All", "3.8", "5", "60%"),
    ]
    assert widget_rows(signed_in(world, "engineer").get("/").text) == [  # ops and below
        ("Operations", "3.0", "3", "33%"),
        ("All", "3.0", "3", "33%"),
    ]
    widget = site_of(world.kernel).widgets["incidents_satisfaction"]
    assert widget.allowed(world.actor("supervisor"))
    assert not widget.allowed(world.actor("caller"))  # scope `own`: nothing to compare

    supervisor = signed_in(world, "supervisor")
    with count_statements(world.kernel.engine) as two_groups:
        supervisor.get("/")
    rated(world, 4, "ops")
    with world.kernel.session() as session:
        third = organisation.create_department(session, code="net", name="Network")
        world.departments["net"] = third.id
    rated(world, 5, "net")
    supervisor.get("/")
    with count_statements(world.kernel.engine) as three_groups:
        assert len(widget_rows(supervisor.get("/").text)) == 4
    assert three_groups.count == two_groups.count


def test_the_widget_honours_field_rules(world: World) -> None:
    seed(world)
    hide(world, "second_line_engineer", "group_id")
    assert widget_rows(signed_in(world, "engineer").get("/").text) == [("All", "3.0", "3", "33%")]
    hide(world, "supervisor", "satisfaction")
    page = signed_in(world, "supervisor").get("/").text
    assert "incidents-satisfaction" not in page


def test_the_query_groups_by_group_category_and_month(world: World) -> None:
    seed(world)
    supervisor = world.actor("supervisor")
    by_group = gql(world.kernel, QUERY, {"by": "GROUP"}, supervisor)
    assert "errors" not in by_group, by_group
    answer = by_group["data"]["incidentSatisfaction"]
    assert answer["groupBy"] == "GROUP"
    assert answer["total"] == {
        "count": 6, "average": 20 / 6, "satisfied": 0.5, "distribution": [1, 1, 1, 1, 2],
    }  # fmt: skip
    buckets = {b["group"]["code"]: b for b in answer["buckets"]}
    assert buckets["desk"]["distribution"] == [0, 1, 0, 1, 1]
    assert buckets["ops"]["distribution"] == [1, 0, 1, 0, 1]
    assert buckets["ops"]["label"] == "Operations" and buckets["ops"]["key"]

    by_category = gql(world.kernel, QUERY, {"by": "CATEGORY"}, world.actor("agent"))
    categories = {
        b["key"]: (b["label"], b["count"])
        for b in by_category["data"]["incidentSatisfaction"]["buckets"]
    }
    # Labels in the reader's language: the site's (zh-CN) for one who chose none.
    assert categories == {"printer": ("打印机", 3), "desktop": ("台式机", 2)}

    # Months are the site's (Asia/Shanghai): 17:00 UTC on 31 January is already February.
    for score, when in (
        (5, dt.datetime(2026, 1, 31, 15, 0, tzinfo=dt.UTC)),
        (3, dt.datetime(2026, 1, 31, 17, 0, tzinfo=dt.UTC)),
        (4, dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)),
    ):
        rated(world, score, resolved_at=when)
    by_month = gql(
        world.kernel,
        QUERY,
        {"by": "MONTH", "from": "2026-01-01T00:00:00+08:00", "to": "2026-05-01T00:00:00+08:00"},
        supervisor,
    )["data"]["incidentSatisfaction"]
    assert [(b["key"], b["distribution"]) for b in by_month["buckets"]] == [
        ("2026-01", [0, 0, 0, 0, 1]),
        ("2026-02", [0, 0, 1, 0, 0]),
        ("2026-03", [0, 0, 0, 1, 0]),
        ("2026-04", [0, 0, 0, 0, 0]),
    ]
    assert by_month["buckets"][3]["average"] is None
    assert by_month["total"]["count"] == 3


def test_the_query_is_scoped_and_honours_field_rules(world: World) -> None:
    seed(world)
    agent2 = gql(world.kernel, QUERY, {"by": "GROUP"}, world.actor("agent2"))
    assert agent2["data"]["incidentSatisfaction"]["total"]["count"] == 1  # Globex's one
    caller = gql(world.kernel, QUERY, {"by": "GROUP"}, world.actor("caller"))
    assert caller["data"]["incidentSatisfaction"]["total"]["count"] == 6  # all they reported
    assert error_codes(gql(world.kernel, QUERY, {"by": "GROUP"}, world.actor("plain"))) == [
        "FORBIDDEN"
    ]
    backwards = gql(
        world.kernel,
        QUERY,
        {"by": "GROUP", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        world.actor("supervisor"),
    )
    assert error_codes(backwards) == ["BAD_USER_INPUT"]

    hide(world, "second_line_engineer", "group_id")
    engineer = world.actor("engineer")
    assert error_codes(gql(world.kernel, QUERY, {"by": "GROUP"}, engineer)) == ["FORBIDDEN"]
    by_category = gql(world.kernel, QUERY, {"by": "CATEGORY"}, engineer)
    assert by_category["data"]["incidentSatisfaction"]["total"]["count"] == 3
    hide(world, "second_line_engineer", "satisfaction")
    refused = gql(world.kernel, QUERY, {"by": "CATEGORY"}, world.actor("engineer"))
    assert error_codes(refused) == ["FORBIDDEN"]
    assert "satisfaction" in refused["errors"][0]["message"]
