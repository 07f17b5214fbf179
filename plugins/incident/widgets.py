"""Workbench widgets of the incident module beyond "Open incidents by level" (pages.py):
"Breaching soon", from the kernel's stored SLA clocks, "My team's queue" and
"Satisfaction" (the last 30 days' ratings by assignment group, `satisfaction.py`).

Each is one query under the viewer's data scope and leaves out what field rules hide.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import ColumnElement, and_, case, func, or_, select

from openitsm.kernel import utcnow
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import department_subtree, visible
from openitsm.kernel.sla.models import SlaClock
from openitsm.plugins.incident import satisfaction, service
from openitsm.plugins.incident.models import OPEN, Incident
from openitsm.web.pages import PageContext
from openitsm.web.widgets import Widget

BREACHING_SHOWN = 10


@dataclass(frozen=True)
class AtRisk:
    """An open incident whose SLA target is in its warning window or already missed."""

    id: int
    number: str | None
    title: str | None
    level: str | None
    target: str  # "response" or "resolution": the more pressing one
    breached: bool
    due_at: dt.datetime | None

    @property
    def url(self) -> str:
        return f"/incidents/{self.id}"


def _pressing(prefix: str, now: dt.datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(in trouble, breached) conditions on one target of the clock: breached, or running
    with its warning or due time passed (the scan may not have recomputed it yet)."""
    state = getattr(SlaClock, f"{prefix}_state")
    due = getattr(SlaClock, f"{prefix}_due_at")
    warning = getattr(SlaClock, f"{prefix}_warning_at")
    breached = or_(state == "breached", and_(state == "running", due <= now))
    trouble = or_(breached, and_(state == "running", warning <= now))
    return trouble, breached


def breaching_soon(page: PageContext, now: dt.datetime | None = None) -> list[AtRisk] | None:
    """The viewer's open incidents breaching or in their warning window, missed ones first,
    then the soonest due: one query joining the stored clocks (`sla_clock`); None when the
    viewer may not read incidents' status."""
    access = field_access(page.actor, service.INCIDENT.name)
    if not access.readable("status"):
        return None
    now = now or utcnow()
    response_trouble, response_breached = _pressing("response", now)
    resolution_trouble, resolution_breached = _pressing("resolution", now)
    # The target shown: a missed one before one only warned of, the response before the
    # resolution when both are alike.
    on_response = or_(response_breached, and_(~resolution_breached, response_trouble))
    breached = case((or_(response_breached, resolution_breached), 1), else_=0)
    due = case((on_response, SlaClock.response_due_at), else_=SlaClock.resolution_due_at)
    statement = (
        visible(
            select(
                Incident.id,
                Incident.number,
                Incident.title,
                Incident.level,
                on_response.label("on_response"),
                breached.label("breached"),
                due.label("due_at"),
            ),
            page.actor,
            service.INCIDENT,
        )
        .join(
            SlaClock,
            and_(SlaClock.record_kind == service.INCIDENT.name, SlaClock.record_id == Incident.id),
        )
        .where(Incident.status.in_(OPEN), or_(response_trouble, resolution_trouble))
        .order_by(breached.desc(), due.asc(), Incident.id)
        .limit(BREACHING_SHOWN)
    )
    with page.kernel.session(page.actor) as session:
        rows = session.execute(statement).all()
    return [
        AtRisk(
            id=row.id,
            number=row.number if access.readable("number") else None,
            title=row.title if access.readable("title") else None,
            level=row.level if access.readable("level") else None,
            target="response" if row.on_response else "resolution",
            breached=bool(row.breached),
            due_at=row.due_at,
        )
        for row in rows
    ]


def breaching_widget(page: PageContext) -> Markup:
    found = breaching_soon(page)
    if found is None:
        return Markup("")
    return page.render("incident/widget_breaching.html", rows=found, shown=BREACHING_SHOWN)


def team_queue(page: PageContext) -> list[tuple[str, int, int]] | None:
    """(status, open incidents, of them not yet taken by anyone) for the incidents assigned
    to the viewer's department and those below it, in the order of the states; one query
    under the viewer's scope. None for a viewer in no department (or who may not read the
    assignment group or status)."""
    access = field_access(page.actor, service.INCIDENT.name)
    department = page.actor.department_id
    if department is None or not (access.readable("group_id") and access.readable("status")):
        return None
    untaken = (
        func.sum(case((Incident.assignee_id.is_(None), 1), else_=0))
        if access.readable("assignee_id")
        else func.sum(0)
    )
    statement = (
        visible(select(Incident.status, func.count(), untaken), page.actor, service.INCIDENT)
        .where(Incident.status.in_(OPEN), Incident.group_id.in_(department_subtree(department)))
        .group_by(Incident.status)
    )
    with page.kernel.session(page.actor) as session:
        counts = {
            status: (total, int(free or 0)) for status, total, free in session.execute(statement)
        }
    return [(status, *counts.get(status, (0, 0))) for status in OPEN]


def team_widget(page: PageContext) -> Markup:
    from openitsm.plugins.incident.pages import status_label

    rows = team_queue(page)
    access = field_access(page.actor, service.INCIDENT.name)
    return page.render(
        "incident/widget_team.html",
        rows=[(status_label(status, page.locale), total, free) for status, total, free in rows]
        if rows is not None
        else None,
        total=sum(total for _, total, _ in rows or ()),
        untaken_shown=access.readable("assignee_id"),
    )


def satisfaction_widget(page: PageContext) -> Markup:
    """The ratings of the incidents resolved in the last 30 days that the viewer may see:
    average, count and share of 4–5, per assignment group and in all (one query); nothing
    for a viewer who may not read the satisfaction or the resolution time, and the total
    alone for one who may not read the assignment group."""
    access = field_access(page.actor, service.INCIDENT.name)
    if not (access.readable("satisfaction") and access.readable("resolved_at")):
        return Markup("")
    by_group = access.readable("group_id")
    grouping = satisfaction.GROUP if by_group else satisfaction.MONTH
    with page.kernel.session(page.actor) as session:
        buckets = satisfaction.statistics(session, page.actor, grouping, locale=page.locale)
    return page.render(
        "incident/widget_satisfaction.html",
        rows=buckets if by_group else [],
        total=satisfaction.total(buckets),
        days=satisfaction.WINDOW.days,
    )


WIDGETS = [
    Widget(
        "incidents_breaching_soon",
        {"zh-CN": "即将超时的事件", "en": "Breaching soon"},
        breaching_widget,
        action=service.READ,
        width=2,
        order=90,
    ),
    Widget(
        "incidents_team_queue",
        {"zh-CN": "我的团队队列", "en": "My team's queue"},
        team_widget,
        action=service.READ,
        order=95,
    ),
    Widget(
        "incidents_satisfaction",
        {"zh-CN": "满意度", "en": "Satisfaction"},
        satisfaction_widget,
        action=service.READ,
        width=2,
        order=96,
        audience=satisfaction.sees_beyond_own,
    ),
]
