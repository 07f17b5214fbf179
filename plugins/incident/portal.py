"""The incident module on the self-service portal: report an issue (`/portal/incidents/new`)
and follow one (`/portal/incidents/{id}`: its public progress, adding information, rating
it), and the person's incidents on the portal's home page (`requests_for`, answering the
`portal_requests` hook).

The caller is always the signed-in person. What they may see is what the incident service's
data scope shows them, narrowed to the incidents they reported and those of their service
units (`service.followed_incidents`); another person's incident is NOT_FOUND. Every write
goes through the service, which checks again. docs/portal.md explains the pattern.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
from openitsm.plugins.incident import dispatched, forms, service
from openitsm.plugins.incident.models import CANCELLED, CLOSED, RESOLVED, STATUSES, WAITING
from openitsm.plugins.incident.pages import STATUS_TONES, status_label
from openitsm.web import pickers
from openitsm.web.menus import PORTAL, MenuItem
from openitsm.web.pages import PageContext
from openitsm.web.portal import (
    MAX_FILES,
    attach_pasted_images,
    comment_with_files,
    field_messages,
    lands_on_portal,
    portal_context,
    portal_explained,
    post_rating,
    public_progress,
    read_upload_form,
    save_uploads,
    upload_limit,
)

if TYPE_CHECKING:
    from openitsm.kernel import Kernel

log = logging.getLogger("openitsm.plugins.incident")

BASE = "/portal/incidents"
# A service refusal names GraphQL's field (`contactPhone`); the form's is the column's.
FORM_NAMES = {name: column for column, name in service.INPUT_NAME.items()}
# Where the incident's impact and urgency come from when a person reports it: the plugin's
# settings (`portal_impact`, `portal_urgency`), else these.
DEFAULT_IMPACT, DEFAULT_URGENCY = "minor", "medium"

REPORT = Form(
    "incident.portal_report",
    "incident",
    {"zh-CN": "报告故障", "en": "Report an issue"},
    (
        FormSection(
            "issue",
            {"zh-CN": "遇到的问题", "en": "The issue"},
            (forms.TITLE, forms.DESCRIPTION, forms.CATEGORY, forms.CONTACT_PHONE),
        ),
    ),
)
INFORMATION = FormField("body", {"zh-CN": "补充信息", "en": "More information"}, type="richtext")


# --- the home page's list ---------------------------------------------------------------


def requests_for(
    session: Session, actor: Actor, locale: str, limit: int, kernel: Kernel | None = None
) -> list[PortalRequest]:
    """The incidents `actor` follows on the portal as `PortalRequest`s, last changed first,
    in one query; fields the actor may not read are left out. For someone who works from
    the portal (a vendor), the incidents dispatched to them come too, marked `dispatched`
    and leading to their vendor page (`vendor_portal.py`); agents keep those in their inbox."""
    works_here = kernel is not None and lands_on_portal(kernel, actor)
    rows = dispatched.portal_rows(session, limit, actor, dispatched=works_here)
    if not rows:
        return []
    access = field_access(actor, service.INCIDENT.name)
    kind_label = pick_label(service.INCIDENT.labels, locale, service.INCIDENT.name)
    may_rate = actor.can(service.RATE) and access.writable("satisfaction")
    found = []
    for row, given in rows:
        number = row.number if access.readable("number") else f"#{row.id}"
        found.append(
            PortalRequest(
                kind=service.INCIDENT.name,
                number=number,
                title=row.title if access.readable("title") else number,
                status=status_label(row.status, locale) if access.readable("status") else "",
                url=f"{BASE}/dispatched/{row.id}" if given else f"{BASE}/{row.id}",
                updated_at=row.updated_at,
                kind_label=kind_label,
                needs_rating=not given
                and may_rate
                and _waits_for_rating(row.status, row.satisfaction)
                and row.caller_id == actor.user_id,
                dispatched=given,
            )
        )
    return found


def _waits_for_rating(status: str, satisfaction: int | None) -> bool:
    return status in (RESOLVED, CLOSED) and satisfaction is None


# --- reporting an issue -----------------------------------------------------------------


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
        "incident/portal_new.html",
        status=status,
        fields=_writable_fields(page, REPORT),
        values=values,
        errors=dict(errors or {}),
        choices=choices,
        max_size=upload_limit(page.kernel),
        max_files=MAX_FILES,
    )


@portal_explained
async def report_page(request: Request) -> Response:
    page = portal_context(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_report_page, page)


def _settings(page: PageContext) -> Any:
    try:
        return page.kernel.plugins.settings_of(service.PLUGIN)
    except Exception:  # registered without its settings (some tests)
        return None


def _portal_defaults(page: PageContext, session: Session) -> dict[str, str]:
    """The impact and urgency a reported incident gets (so its level follows from them),
    each only when it is an active dictionary item and the person may set that field."""
    settings = _settings(page)
    access = field_access(page.actor, service.INCIDENT.name)
    chosen: dict[str, str] = {}
    for name, fallback in (("impact", DEFAULT_IMPACT), ("urgency", DEFAULT_URGENCY)):
        code = str(getattr(settings, f"portal_{name}", fallback) or "")
        if not code or not access.writable(name):
            continue
        try:
            chosen[name] = service.dictionary_code(session, name, code) or ""
        except BadUserInput:
            log.warning("portal_%s '%s' is no active %s item; left empty", name, code, name)
    return {name: code for name, code in chosen.items() if code}


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
            values.update(_portal_defaults(page, session), caller_id=page.actor.user_id)
            incident = service.create_incident(session, **values)
            ref = RecordRef(service.INCIDENT.name, incident.id)
            attach_pasted_images(session, page.kernel, incident.description, ref, page.actor)
            save_uploads(session, page.kernel, ref, posted.files, page.actor)
            return submission, incident.id

    try:
        submission, incident_id = await run_in_threadpool(save)
    except BadUserInput as error:
        errors = field_messages(page, error, FORM_NAMES)
        return await run_in_threadpool(_report_page, page, 400, posted.fields, errors)
    if incident_id is None:
        return await run_in_threadpool(_report_page, page, 400, submission.raw, submission.errors)
    return RedirectResponse(f"{BASE}/{incident_id}?done=created", status_code=303)


# --- following one ----------------------------------------------------------------------


def _follow_page(
    page: PageContext,
    incident_id: int,
    status: int = 200,
    done: str = "",
    failed: str = "",
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> Response:
    access = field_access(page.actor, service.INCIDENT.name)
    labels = {code: status_label(code, page.locale) for code in STATUSES}
    with page.kernel.unit_of_work(actor=page.actor) as session:
        incident = service.get_followed(session, incident_id)
        ref = RecordRef(service.INCIDENT.name, incident.id)
        if not access.readable("status"):
            labels = {}
        progress = public_progress(page, session, ref, labels)
        files = attachments.files_of(session, ref)
        category = (
            dictionaries.item_label(
                session, forms.CATEGORY.dictionary, incident.category, page.locale
            )
            if access.readable("category")
            else None
        )
    caller = incident.caller_id is not None and incident.caller_id == page.actor.user_id
    rated = incident.satisfaction is not None and access.readable("satisfaction")
    may_rate = (
        caller
        and page.actor.can(service.RATE)
        and access.writable("satisfaction")
        and _waits_for_rating(incident.status, incident.satisfaction)
    )

    may_inform = incident.status not in (CLOSED, CANCELLED)
    offered = {"information": may_inform, "rate": may_rate}
    # A refusal of a form the page no longer offers (the incident moved on) goes on top.
    message = (
        " ".join(str(text) for text in (errors or {}).values())
        if failed and not offered.get(failed)
        else ""
    )

    def shown(name: str, value: Any) -> Any:
        return value if access.readable(name) else None

    return page.respond(
        "incident/portal_detail.html",
        status=status,
        incident=incident,
        number=shown("number", incident.number),
        title=incident.title if access.readable("title") else f"#{incident.id}",
        state=labels.get(incident.status),
        tone=STATUS_TONES.get(incident.status, "neutral"),
        opened_at=shown("opened_at", incident.opened_at),
        category=category,
        contact_phone=shown("contact_phone", incident.contact_phone),
        description=shown("description", incident.description),
        resolution=shown("resolution", incident.resolution),
        satisfaction=incident.satisfaction if rated else None,
        satisfaction_comment=shown("satisfaction_comment", incident.satisfaction_comment),
        waiting=caller and incident.status == WAITING,
        may_inform=may_inform,
        message=message,
        may_rate=may_rate,
        rate_fields=_writable_fields(page, forms.RATE) if may_rate else [],
        information=INFORMATION,
        steps=progress,
        files=files,
        done=done,
        failed=failed,
        values=dict(values or {}),
        errors=dict(errors or {}),
        max_size=upload_limit(page.kernel),
        max_files=MAX_FILES,
    )


DONE = ("created", "information", "rate")


@portal_explained
async def follow_page(request: Request) -> Response:
    page = portal_context(request, service.READ)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    done = request.query_params.get("done", "")
    return await run_in_threadpool(
        functools.partial(_follow_page, page, incident_id, done=done if done in DONE else "")
    )


@portal_explained
async def add_information(request: Request) -> Response:
    page = portal_context(request, service.READ)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    posted = await read_upload_form(request)
    body = posted.fields.get(INFORMATION.name, "")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            incident = service.receive_information(session, incident_id)
            ref = RecordRef(service.INCIDENT.name, incident.id)
            comment_with_files(session, page, ref, body, posted, INFORMATION.name)

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        return await run_in_threadpool(
            functools.partial(
                _follow_page,
                page,
                incident_id,
                400,
                failed="information",
                values={INFORMATION.name: body},
                errors=field_messages(page, error),
            )
        )
    return RedirectResponse(f"{BASE}/{incident_id}?done=information", status_code=303)


@portal_explained
async def rate(request: Request) -> Response:
    page = portal_context(request, service.RATE)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    return await post_rating(
        request,
        page,
        incident_id,
        forms.RATE,
        service.rate_as_caller,
        _follow_page,
        f"{BASE}/{incident_id}",
        FORM_NAMES,
    )


ROUTES = [
    Route(BASE + "/new", report_page, methods=["GET"]),
    Route(BASE + "/new", report, methods=["POST"]),
    Route(BASE + "/{incident_id:int}", follow_page, methods=["GET"]),
    Route(BASE + "/{incident_id:int}/information", add_information, methods=["POST"]),
    Route(BASE + "/{incident_id:int}/rate", rate, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "portal.incident",
        {"zh-CN": "报告故障", "en": "Report an issue"},
        BASE + "/new",
        PORTAL,
        service.CREATE,
        10,
        hint={
            "zh-CN": "电脑、网络、系统等出现故障或无法正常使用",
            "en": "Something is broken or does not work as it should",
        },
    )
]

__all__ = ["MENUS", "ROUTES", "requests_for"]
