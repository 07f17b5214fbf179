"""The complaint module on the self-service portal: make a complaint
(`/portal/complaints/new`) and follow it (`/portal/complaints/{id}`: its public progress, the
feedback, rating it), and the person's complaints on the portal's home page
(`requests_for`, answering the `portal_requests` hook).

The complainant is always the signed-in person, and only they follow their complaint
(`service.get_followed`); anyone else's is NOT_FOUND. Every write goes through the service,
which checks again. The pattern is the incident module's (see `openitsm.web.portal`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel import BadUserInput, RecordRef
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.actors import Actor
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.dictionaries import service as dictionaries
from openitsm.kernel.forms import Form, FormField, FormSection, visible_fields
from openitsm.kernel.hookspecs import PortalRequest
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.plugins.complaint import forms, service
from openitsm.plugins.complaint.models import ANSWERED, STATUSES
from openitsm.plugins.complaint.pages import STATUS_TONES, status_label
from openitsm.web import pickers
from openitsm.web.menus import PORTAL, MenuItem
from openitsm.web.pages import PageContext
from openitsm.web.portal import (
    MAX_FILES,
    attach_pasted_images,
    field_messages,
    portal_context,
    portal_explained,
    post_rating,
    public_progress,
    read_upload_form,
    save_uploads,
)

log = logging.getLogger("openitsm.plugins.complaint")

BASE = "/portal/complaints"
# A service refusal names GraphQL's field (`causedBy`); the form's is the column's.
FORM_NAMES = {name: column for column, name in service.INPUT_NAME.items()}
PORTAL_CHANNEL = "portal"

REPORT = Form(
    "complaint.portal_report",
    "complaint",
    {"zh-CN": "我要投诉", "en": "Make a complaint"},
    (
        FormSection(
            "complaint",
            {"zh-CN": "投诉内容", "en": "Your complaint"},
            (
                forms.TITLE,
                forms.DESCRIPTION,
                forms.CATEGORY,
                forms.CONTACT_PHONE,
                FormField(
                    "caused_by",
                    {"zh-CN": "相关的服务请求", "en": "The request it is about"},
                    type="reference",
                    max_length=100,
                    help={
                        "zh-CN": "如与您报告过的故障有关，请填写其编号（如 INC-2026-000042）",
                        "en": "If it is about an issue you reported, its number (INC-2026-000042)",
                    },
                ),
            ),
        ),
    ),
)


# --- the home page's list ---------------------------------------------------------------


def requests_for(session: Session, actor: Actor, locale: str, limit: int) -> list[PortalRequest]:
    """The complaints `actor` made, as `PortalRequest`s, last changed first, in one query;
    fields the actor may not read are left out."""
    rows = service.followed_complaints(session, limit, actor)
    if not rows:
        return []
    access = field_access(actor, service.COMPLAINT.name)
    kind_label = pick_label(service.COMPLAINT.labels, locale, service.COMPLAINT.name)
    may_rate = actor.can(service.RATE) and access.writable("satisfaction")
    found = []
    for row in rows:
        number = row.number if access.readable("number") else f"#{row.id}"
        found.append(
            PortalRequest(
                kind=service.COMPLAINT.name,
                number=number,
                title=row.title if access.readable("title") else number,
                status=status_label(row.status, locale) if access.readable("status") else "",
                url=f"{BASE}/{row.id}",
                updated_at=row.updated_at,
                kind_label=kind_label,
                needs_rating=may_rate and _waits_for_rating(row.status, row.satisfaction),
            )
        )
    return found


def _waits_for_rating(status: str, satisfaction: int | None) -> bool:
    return status in ANSWERED and satisfaction is None


def rating_url(session: Session, kernel: Any, complaint: Any) -> str | None:
    """Where the complainant is sent to rate: this page when the portal is their home (they
    hold nothing beyond self-service), else None (the agents' page)."""
    from openitsm.kernel.access.grants import actor_for_user
    from openitsm.web.portal import lands_on_portal

    if complaint.complainant_id is None:
        return None
    if not lands_on_portal(kernel, actor_for_user(session, complaint.complainant_id)):
        return None
    return f"{BASE}/{complaint.id}#rate"


# --- making a complaint -----------------------------------------------------------------


def _writable_fields(page: PageContext, form: Form) -> list[FormField]:
    access = field_access(page.actor, form.resource)
    return [
        f for _, fields in visible_fields(form, access) for f in fields if access.writable(f.name)
    ]


def _report_page(
    page: PageContext,
    status: int = 200,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> Response:
    values = dict(values or {})
    with page.kernel.session() as session:
        if "contact_phone" not in values:  # the person's own phone, to confirm or change
            phone = session.scalar(select(User.phone).where(User.id == page.actor.user_id))
            values["contact_phone"] = phone or ""
        choices = pickers.prepare(session, REPORT, values, page.actor, page.locale)
    return page.respond(
        "complaint/portal_new.html",
        status=status,
        fields=_writable_fields(page, REPORT),
        values=values,
        errors=dict(errors or {}),
        choices=choices,
        max_bytes=attachments.max_bytes(page.kernel.settings),
        max_files=MAX_FILES,
    )


@portal_explained
async def report_page(request: Request) -> Response:
    page = portal_context(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_report_page, page)


def _portal_channel(page: PageContext, session: Session) -> dict[str, str]:
    """The channel `portal`, when it is an active item and the person may set the channel."""
    if not field_access(page.actor, service.COMPLAINT.name).writable("channel"):
        return {}
    try:
        code = service.dictionary_code(session, "channel", PORTAL_CHANNEL)
    except BadUserInput:
        log.warning("the complaint channel '%s' is no active item; left empty", PORTAL_CHANNEL)
        return {}
    return {"channel": code} if code else {}


@portal_explained
async def report(request: Request) -> Response:
    page = portal_context(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    posted = await read_upload_form(request)

    def save() -> tuple[Any, int | None]:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            submission = page.check(REPORT, posted.fields, pickers.lookups(session))
            if not submission.valid:
                return submission, None
            values = dict(submission.values)
            if "category" in values:
                values["category"] = dictionaries.item_code(
                    session, forms.CATEGORY.dictionary, values["category"]
                )
            values.update(_portal_channel(page, session), complainant_id=page.actor.user_id)
            complaint = service.create_complaint(session, **values)
            ref = RecordRef(service.COMPLAINT.name, complaint.id)
            attach_pasted_images(session, page.kernel, complaint.description, ref, page.actor)
            save_uploads(session, page.kernel, ref, posted.files, page.actor)
            return submission, complaint.id

    try:
        submission, complaint_id = await run_in_threadpool(save)
    except BadUserInput as error:
        errors = field_messages(page, error, FORM_NAMES)
        return await run_in_threadpool(_report_page, page, 400, posted.fields, errors)
    if complaint_id is None:
        return await run_in_threadpool(_report_page, page, 400, submission.raw, submission.errors)
    return RedirectResponse(f"{BASE}/{complaint_id}?done=created", status_code=303)


# --- following one ----------------------------------------------------------------------


def _follow_page(
    page: PageContext,
    complaint_id: int,
    status: int = 200,
    done: str = "",
    failed: str = "",
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> Response:
    access = field_access(page.actor, service.COMPLAINT.name)
    labels = {code: status_label(code, page.locale) for code in STATUSES}
    with page.kernel.unit_of_work(actor=page.actor) as session:
        complaint = service.get_followed(session, complaint_id)
        ref = RecordRef(service.COMPLAINT.name, complaint.id)
        if not access.readable("status"):
            labels = {}
        progress = public_progress(page, session, ref, labels)
        files = attachments.files_of(session, ref)
        category = (
            dictionaries.item_label(
                session, forms.CATEGORY.dictionary, complaint.category, page.locale
            )
            if access.readable("category")
            else None
        )
    rated = complaint.satisfaction is not None and access.readable("satisfaction")
    may_rate = (
        page.actor.can(service.RATE)
        and access.writable("satisfaction")
        and _waits_for_rating(complaint.status, complaint.satisfaction)
    )
    message = (
        " ".join(str(text) for text in (errors or {}).values()) if failed and not may_rate else ""
    )

    def shown(name: str, value: Any) -> Any:
        return value if access.readable(name) else None

    return page.respond(
        "complaint/portal_detail.html",
        status=status,
        complaint=complaint,
        number=shown("number", complaint.number),
        title=complaint.title if access.readable("title") else f"#{complaint.id}",
        state=labels.get(complaint.status),
        tone=STATUS_TONES.get(complaint.status, "neutral"),
        opened_at=shown("opened_at", complaint.opened_at),
        category=category,
        contact_phone=shown("contact_phone", complaint.contact_phone),
        description=shown("description", complaint.description),
        feedback=shown("feedback", complaint.feedback),
        satisfaction=complaint.satisfaction if rated else None,
        satisfaction_comment=shown("satisfaction_comment", complaint.satisfaction_comment),
        message=message,
        may_rate=may_rate,
        rate_fields=_writable_fields(page, forms.RATE) if may_rate else [],
        steps=progress,
        files=files,
        done=done,
        failed=failed,
        values=dict(values or {}),
        errors=dict(errors or {}),
    )


DONE = ("created", "rate")


@portal_explained
async def follow_page(request: Request) -> Response:
    page = portal_context(request, service.READ)
    if not isinstance(page, PageContext):
        return page
    complaint_id = int(request.path_params["complaint_id"])
    done = request.query_params.get("done", "")
    return await run_in_threadpool(
        functools.partial(_follow_page, page, complaint_id, done=done if done in DONE else "")
    )


@portal_explained
async def rate(request: Request) -> Response:
    page = portal_context(request, service.RATE)
    if not isinstance(page, PageContext):
        return page
    complaint_id = int(request.path_params["complaint_id"])
    return await post_rating(
        request,
        page,
        complaint_id,
        forms.RATE,
        service.rate_as_complainant,
        _follow_page,
        f"{BASE}/{complaint_id}",
        FORM_NAMES,
    )


ROUTES = [
    Route(BASE + "/new", report_page, methods=["GET"]),
    Route(BASE + "/new", report, methods=["POST"]),
    Route(BASE + "/{complaint_id:int}", follow_page, methods=["GET"]),
    Route(BASE + "/{complaint_id:int}/rate", rate, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "portal.complaint",
        {"zh-CN": "我要投诉", "en": "Make a complaint"},
        BASE + "/new",
        PORTAL,
        service.CREATE,
        30,
        icon="📣",
        hint={
            "zh-CN": "对服务态度、响应速度、处理质量或费用不满意",
            "en": "Unhappy with how you were served, how long it took, the result or a bill",
        },
    )
]

__all__ = ["MENUS", "ROUTES", "requests_for"]
