"""The workbench (服务台, `/`): the user's dashboard of widgets, and their preferences."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openitsm.kernel.access.delegation import visible_delegations
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden
from openitsm.kernel.hookspecs import Announcement
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.delegation_models import Delegation
from openitsm.kernel.references import RecordKind, RecordRef
from openitsm.kernel.search import searchable_kinds
from openitsm.web import portal
from openitsm.web import widgets as dashboards
from openitsm.web.i18n import LOCALES
from openitsm.web.pages import (
    TIME_ZONES,
    PageContext,
    check_csrf,
    explained,
    page_context,
    safe_target,
    site_of,
    widgets_for,
)
from openitsm.web.widgets import Widget

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

RECENT_ACTIVITY = 10
ANNOUNCEMENTS = 20
KNOWLEDGE = "knowledge"  # the record kind the workbench's knowledge search box looks in


# --- the kernel's own widgets -----------------------------------------------------------


def recent_activity(page: PageContext) -> Markup:
    """What I changed lately, each record described as I may see it."""
    with page.kernel.session() as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.actor_id == page.actor.user_id)
                .order_by(AuditEvent.id.desc())
                .limit(RECENT_ACTIVITY)
            )
        )
        refs = [RecordRef(e.record_kind, e.record_id) for e in events]
        described = page.kernel.record_kinds.describe(session, refs, page.actor)
    rows = [
        (event, described.get(RecordRef(event.record_kind, event.record_id))) for event in events
    ]
    kinds = page.kernel.record_kinds
    return page.render("widgets/recent_activity.html", rows=rows, kinds=kinds)


def delegations(page: PageContext) -> Markup:
    """Who stands in for me, and for whom I stand in, now and next."""
    now = utcnow()
    user_id = page.actor.user_id
    with page.kernel.session() as session:
        rows = list(
            session.scalars(
                visible_delegations(page.actor)
                .where(
                    or_(Delegation.delegator_id == user_id, Delegation.deputy_id == user_id),
                    Delegation.revoked_at.is_(None),
                    Delegation.ends_at > now,
                )
                .order_by(Delegation.starts_at)
                .limit(10)
            )
        )
        names = user_names(session, {r.delegator_id for r in rows} | {r.deputy_id for r in rows})
    upcoming = [(row, _aware(row.starts_at) > now) for row in rows]
    return page.render("widgets/delegations.html", rows=upcoming, names=names)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def user_names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    """{id: name} of these users, in one query (None and missing ids are left out)."""
    from openitsm.kernel.identity.models import User

    wanted = sorted(uid for uid in user_ids if uid)
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())  # type: ignore[arg-type]


KERNEL_WIDGETS = [
    Widget(
        "recent_activity",
        {"zh-CN": "我最近的操作", "en": "My recent activity"},
        recent_activity,
        width=2,
        order=20,
    ),
    Widget(
        "delegations",
        {"zh-CN": "出差授权", "en": "Delegations"},
        delegations,
        width=1,
        order=30,
    ),
]


# --- pages ------------------------------------------------------------------------------


def _dashboard(page: PageContext, error: str = "") -> Markup:
    site = site_of(page.kernel)
    with page.kernel.session() as session:
        stored = dashboards.load(session, page.actor.user_id)  # type: ignore[arg-type]
        layout = (
            stored.layout
            if stored
            else dashboards.default_layout(site.widgets.values(), page.actor)
        )
        version = stored.version if stored else 0
    placed = dashboards.placed(layout, site.widgets, page.actor)
    shown = {p.widget.key for p in placed}
    addable = [w for w in widgets_for(site, page.actor) if w.key not in shown]
    boxes = []
    for item in placed:
        try:
            body = item.widget.render(page)
        except Exception:  # one broken widget must not take the workbench down
            logging.getLogger("openitsm.web").exception("widget %s failed", item.widget.key)
            body = (
                Markup("<p class='muted'>")
                + page.gettext("This widget could not be shown.")
                + Markup("</p>")
            )
        if not body:  # nothing to show yet (the duty widget before any rota exists)
            continue
        boxes.append((item, body))
    return page.render(
        "dashboard.html",
        boxes=boxes,
        addable=sorted(addable, key=lambda w: w.order),
        version=version,
        error=error,
    )


def announcements(page: PageContext) -> list[Announcement]:
    """What every plugin announces to this viewer now, newest first; a plugin that fails is
    logged and the workbench drawn without the ticker."""
    try:
        with page.kernel.session() as session:
            answers = page.kernel.hook.workbench_announcements(
                kernel=page.kernel, actor=page.actor, session=session
            )
            found = [item for answer in answers for item in answer or ()]
    except Exception:
        logging.getLogger("openitsm.web").exception("announcements could not be collected")
        return []
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    found.sort(key=lambda a: _aware(a.published_at) if a.published_at else oldest, reverse=True)
    return found[:ANNOUNCEMENTS]


def knowledge_search(page: PageContext) -> RecordKind | None:
    """The knowledge kind, when a module provides it and the viewer may search it."""
    kinds = page.kernel.record_kinds
    if KNOWLEDGE not in kinds:
        return None
    found = searchable_kinds(kinds, page.actor, [KNOWLEDGE])
    return found[0] if found else None


def workbench(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    if portal.lands_on_portal(page.kernel, page.actor):  # self-service only: their home
        return portal.home_redirect()
    return page.respond(
        "workbench.html",
        dashboard=_dashboard(page),
        announcements=announcements(page),
        knowledge=knowledge_search(page),
    )


def _layout_from(form: Any) -> list[dict[str, Any]]:
    """`widgets` as sent by the dashboard: JSON `[{"widget": key, "width": n}, ...]`."""
    try:
        layout = json.loads(str(form.get("widgets", "[]")))
    except ValueError:
        raise BadUserInput("The dashboard layout could not be read.", field="widgets") from None
    if not isinstance(layout, list) or not all(isinstance(e, dict) for e in layout):
        raise BadUserInput("The dashboard layout could not be read.", field="widgets")
    return layout


async def save_layout(request: Request) -> Response:
    """Store the rearranged dashboard (htmx) and answer with the redrawn dashboard."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()

    def save() -> str:
        check_csrf(request, form)
        site = site_of(page.kernel)
        layout = dashboards.check_layout(_layout_from(form), site.widgets, page.actor)
        raw_version = str(form.get("version", "0"))
        version = int(raw_version) if raw_version.isdigit() else 0
        with page.kernel.session() as session:
            dashboards.save(session, page.actor.user_id, layout, version or None)  # type: ignore[arg-type]
        return ""

    try:
        await run_in_threadpool(save)
    except Conflict:
        message = page.gettext(
            "You changed this dashboard in another window; here is that version."
        )
        return page.respond(
            "fragment.html", body=await run_in_threadpool(_dashboard, page, message), status=409
        )
    except (BadUserInput, Forbidden) as error:
        return page.respond(
            "fragment.html",
            body=await run_in_threadpool(_dashboard, page, page.explain(error)),
            status=400,
        )
    return page.respond("fragment.html", body=await run_in_threadpool(_dashboard, page))


@explained
async def save_preferences(request: Request) -> Response:
    """Language and time zone from the user menu; back to the page it was sent from."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    changes: dict[str, Any] = {}
    if str(form.get("locale", "")) in LOCALES:
        changes["locale"] = str(form["locale"])
    if str(form.get("time_zone", "")) in TIME_ZONES:
        changes["time_zone"] = str(form["time_zone"])

    def save() -> None:
        user_id = page.actor.user_id
        with page.kernel.unit_of_work(actor=page.actor) as session:
            user = organisation.get_user(session, user_id)  # type: ignore[arg-type]
            organisation.update_user(session, user.id, user.version, changes)

    if changes:
        await run_in_threadpool(save)
    return RedirectResponse(safe_target(str(form.get("next", "/"))), status_code=303)
