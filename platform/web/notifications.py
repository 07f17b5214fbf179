"""The bell: `/notifications` lists the viewer's notifications (newest first, 20 a page),
marks them read and opens the record each is about; `/admin/notifications` shows
administrators the deliveries that failed or wait, with a button to send one again; the
profile page's notification section saves the viewer's preferences, quiet hours and
digests."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.notifications import digest, service
from openitsm.kernel.notifications.models import FAILED, PENDING, SENDING
from openitsm.kernel.notifications.spec import registry_of
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context, safe_target

PAGE_SIZE = 20


def unread(page: PageContext, session: Session | None = None) -> int:
    """The bell's number: the viewer's unread notifications (one count per page drawn),
    read in the page's `session` when it has one open."""
    if page.actor.user_id is None:
        return 0
    if session is not None:
        return service.unread_count(session, page.actor.user_id)
    with page.kernel.session() as reading:
        return service.unread_count(reading, page.actor.user_id)


def _before(request: Request) -> int | None:
    raw = request.query_params.get("before", "")
    return int(raw) if raw.isdigit() else None


def list_notifications(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    assert page.actor.user_id is not None
    before = _before(request)
    with page.kernel.session() as session:
        rows = service.inbox(session, page.actor.user_id, limit=PAGE_SIZE + 1, before=before)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return page.respond(
        "notifications/list.html",
        notifications=rows,
        next_before=rows[-1].id if more and rows else None,
        before=before,
    )


def _ids(values: list[Any]) -> list[int]:
    return [int(str(v)) for v in values if str(v).isdigit()]


@explained
async def mark_read(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    user_id = page.actor.user_id
    assert user_id is not None
    ids = None if form.get("all") else _ids(form.getlist("id"))

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.mark_read(session, user_id, ids)

    await run_in_threadpool(save)
    return RedirectResponse(safe_target(str(form.get("next", "")) or "/notifications"), 303)


@explained
async def open_notification(request: Request) -> Response:
    """Mark one read and go to the record it is about."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    user_id = page.actor.user_id
    assert user_id is not None
    notification_id = int(request.path_params["id"])

    def save() -> str | None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            found = service.own_notification(session, user_id, notification_id)
            service.mark_read(session, user_id, [found.id])
            return found.url

    target = await run_in_threadpool(save)
    return RedirectResponse(safe_target(target) if target else "/notifications", 303)


@explained
async def admin_deliveries(request: Request) -> Response:
    page = page_context(request, service.MANAGE)
    if not isinstance(page, PageContext):
        return page
    state = request.query_params.get("state", "")
    states = (state,) if state in (FAILED, PENDING, SENDING) else (FAILED, PENDING, SENDING)
    before = _before(request)

    def load() -> list[Any]:
        with page.kernel.session() as session:
            return service.deliveries(session, page.actor, states, limit=100, before=before)

    rows = await run_in_threadpool(load)
    return page.respond(
        "admin/notifications.html",
        deliveries=rows,
        state=state,
        retried=request.query_params.get("retried"),
    )


@explained
async def retry(request: Request) -> Response:
    page = page_context(request, service.MANAGE)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    delivery_id = int(request.path_params["id"])

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.retry_delivery(session, page.actor, delivery_id)

    await run_in_threadpool(save)
    return RedirectResponse(f"/admin/notifications?retried={delivery_id}", 303)


def preference_data(page: PageContext) -> dict[str, Any]:
    """What the profile page's notification section shows."""
    assert page.actor.user_id is not None
    with page.kernel.session() as session:
        prefs = service.preferences(session, page.kernel, page.actor.user_id, page.locale)
        quiet = service.quiet_hours(session, page.actor.user_id)
        digests = digest.digest_settings(session, page.kernel, page.actor.user_id, page.locale)
    events: dict[str, tuple[str, list[service.Preference]]] = {}
    for pref in prefs:
        events.setdefault(pref.event, (pref.event_label, []))[1].append(pref)
    channels: dict[str, str] = {}
    for pref in prefs:
        channels.setdefault(pref.channel, pref.channel_label)
    return {
        "notification_events": list(events.items()),
        "notification_channels": channels,
        "quiet_hours": quiet,
        "digests": digests,
        "digest_typed": {},
        "digest_errors": {},
    }


def _typed_digests(
    page: PageContext, form: Any
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The digest choices posted, per channel, and what is wrong with any of them."""
    typed: dict[str, tuple[str, str]] = {}
    errors: dict[str, str] = {}
    for channel in registry_of(page.kernel).digest_channels(page.kernel):
        if f"digest_{channel.name}" not in form:
            continue  # a form without the choice leaves it as it is
        frequency = str(form.get(f"digest_{channel.name}", ""))
        at = str(form.get(f"digest_at_{channel.name}", ""))
        typed[channel.name] = (frequency, at)
        try:
            digest.parse_digest(frequency, at)
        except BadUserInput as error:
            errors[channel.name] = page.explain(error)
    return typed, errors


@explained
async def save_preferences(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    ticked = {str(v) for v in form.getlist("on")}
    starts, ends = str(form.get("quiet_starts", "")), str(form.get("quiet_ends", ""))
    if bool(starts.strip()) != bool(ends.strip()):
        raise BadUserInput(_t("Give both the start and the end of your quiet hours, or neither."))
    typed, errors = _typed_digests(page, form)
    if errors:
        from openitsm.web.profile import show_profile_page

        return await run_in_threadpool(
            show_profile_page, page, 400, digest_typed=typed, digest_errors=errors
        )

    def save() -> None:
        assert page.actor.user_id is not None
        with page.kernel.unit_of_work(actor=page.actor) as session:
            current = {
                d.channel: (d.frequency, d.at or "")
                for d in digest.digest_settings(
                    session, page.kernel, page.actor.user_id, page.locale
                )
            }
            for channel, (frequency, at) in typed.items():
                choice = (frequency, at.strip() if frequency == "daily" else "")
                if current.get(channel) != choice:
                    digest.set_digest(session, page.kernel, page.actor, channel, frequency, at)
            for pref in service.preferences(session, page.kernel, page.actor.user_id, page.locale):
                wanted = f"{pref.event}:{pref.channel}" in ticked
                if wanted != pref.enabled:
                    service.set_preference(
                        session, page.kernel, page.actor, pref.event, pref.channel, wanted
                    )
            service.set_quiet_hours(session, page.actor, starts, ends)

    await run_in_threadpool(save)
    return RedirectResponse("/profile?saved=1#notifications", 303)


ROUTES = [
    Route("/notifications", list_notifications, methods=["GET"]),
    Route("/notifications/read", mark_read, methods=["POST"]),
    Route("/notifications/{id:int}", open_notification, methods=["GET"]),
    Route("/admin/notifications", admin_deliveries, methods=["GET"]),
    Route("/admin/notifications/{id:int}/retry", retry, methods=["POST"]),
    Route("/profile/notifications", save_preferences, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.notifications",
        {"zh-CN": "通知发送", "en": "Notification delivery"},
        "/admin/notifications",
        "admin",
        service.MANAGE,
        95,
    )
]
