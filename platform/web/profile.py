"""My profile (`/profile`): the first page built from a kernel form, field rules and all."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import Conflict
from openitsm.kernel.forms import (
    Choice,
    Form,
    FormField,
    FormSection,
    changed,
    form_values,
    visible_fields,
)
from openitsm.kernel.organisation import service as organisation
from openitsm.web.notifications import preference_data
from openitsm.web.pages import TIME_ZONES, PageContext, explained, page_context, read_post
from openitsm.web.timeline import Entry, timeline_entries

PROFILE = Form(
    "profile",
    "user",
    {"zh-CN": "个人资料", "en": "Profile"},
    (
        FormSection(
            "contact",
            {"zh-CN": "联系方式", "en": "Contact"},
            (
                FormField("name", {"zh-CN": "姓名", "en": "Name"}, required=True),
                FormField(
                    "email", {"zh-CN": "电子邮件", "en": "Email"}, type="email", max_length=254
                ),
                FormField("phone", {"zh-CN": "电话", "en": "Phone"}, max_length=50),
            ),
        ),
        FormSection(
            "preferences",
            {"zh-CN": "偏好", "en": "Preferences"},
            (
                FormField(
                    "locale",
                    {"zh-CN": "语言", "en": "Language"},
                    type="choice",
                    choices=(
                        Choice("zh-CN", {"zh-CN": "简体中文", "en": "简体中文"}),
                        Choice("en", {"zh-CN": "English", "en": "English"}),
                    ),
                ),
                FormField(
                    "time_zone",
                    {"zh-CN": "时区", "en": "Time zone"},
                    type="choice",
                    required=True,
                    choices=tuple(Choice(zone, {"en": zone}) for zone in TIME_ZONES),
                ),
            ),
        ),
    ),
)


def _since(page: PageContext, user_id: int, opened_at: str) -> list[Entry]:
    """What others changed on the profile after the form was opened, as the viewer may see it."""
    try:
        since = dt.datetime.fromisoformat(opened_at)
    except ValueError:
        since = utcnow() - dt.timedelta(hours=1)
    labels = {f.name: f.label(page.locale) for f in PROFILE.fields}
    entries = timeline_entries(page, "user", user_id, labels, since=since)
    return [e for e in reversed(entries) if e.event.action == "update" and e.changes]


def _show(
    page: PageContext, values: dict[str, Any], version: int, status: int = 200, **extra: Any
) -> Response:
    access = field_access(page.actor, "user")
    return page.respond(
        "profile.html",
        status=status,
        form=PROFILE,
        sections=visible_fields(PROFILE, access),
        access=access,
        values=values,
        version=version,
        opened_at=extra.pop("opened_at", utcnow().isoformat()),
        errors=extra.pop("errors", {}),
        conflict=extra.pop("conflict", None),
        saved=extra.pop("saved", False),
        **{**preference_data(page), **extra},
    )


def show_profile(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    with page.kernel.session() as session:
        user = organisation.get_user(session, page.actor.user_id)  # type: ignore[arg-type]
        values = form_values(PROFILE, user, field_access(page.actor, "user"))
        version = user.version
    return _show(page, values, version, saved=request.query_params.get("saved") == "1")


def show_profile_page(page: PageContext, status: int, **notifications: Any) -> Response:
    """The profile as stored, its notification section as posted (with its errors)."""
    with page.kernel.session() as session:
        user = organisation.get_user(session, page.actor.user_id)  # type: ignore[arg-type]
        values = form_values(PROFILE, user, field_access(page.actor, "user"))
        version = user.version
    return _show(page, values, version, status, **notifications)


@explained
async def save_profile(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    posted, version = await read_post(request)
    submission = page.check(PROFILE, posted)
    if not submission.valid:
        return _show(page, submission.raw, version, 400, errors=submission.errors)

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            user = organisation.get_user(session, page.actor.user_id)  # type: ignore[arg-type]
            organisation.update_user(session, user.id, version, changed(submission.values, user))

    try:
        await run_in_threadpool(save)
    except Conflict:
        with page.kernel.session() as session:
            current = organisation.get_user(session, page.actor.user_id).version  # type: ignore[arg-type]
        conflict = await run_in_threadpool(
            _since, page, page.actor.user_id, posted.get("opened_at", "")
        )
        return _show(page, submission.raw, current, 409, conflict=conflict)
    return RedirectResponse("/profile?saved=1", status_code=303)
