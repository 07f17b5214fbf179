"""Vendor self-service on the portal (供应商自助): a vendor sees the incidents dispatched to
them (`/portal/incidents/dispatched/{id}`), reports progress — a comment and files the desk
sees on the incident's timeline — and finishes their process step: resolved there, or sent
back to the step before (the 3rd line, in the default process).

"Dispatched" is `service.dispatched_to`: assigned to them, or with an open process step in
their inbox. Anything else is NOT_FOUND. Every write goes through `dispatched.py`, the
kernel's comments and attachments services and its workflow runtime, which check again.
"""

from __future__ import annotations

import functools
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
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.forms import FormField
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.plugins.incident import dispatched, service
from openitsm.plugins.incident.models import CANCELLED, CLOSED, STATUSES
from openitsm.plugins.incident.pages import STATUS_TONES, status_label
from openitsm.web.pages import PageContext, read_post
from openitsm.web.portal import (
    HOME,
    MAX_FILES,
    comment_with_files,
    field_messages,
    lands_on_portal,
    portal_context,
    portal_explained,
    public_progress,
    read_upload_form,
    upload_limit,
)
from openitsm.web.posts import Errors, handle_post

BASE = "/portal/incidents/dispatched"
PROGRESS = FormField("body", {"zh-CN": "处理进展", "en": "Progress"}, type="richtext")
DONE = ("progress", "step")


def page_url(incident_id: int) -> str:
    return f"{BASE}/{incident_id}"


def portal_url(page: PageContext, incident_id: int) -> str:
    """Where a viewer who works from the portal follows an incident: the vendor page when
    it is dispatched to them, else the requester's page (which answers NOT_FOUND for one
    they do not follow, so the redirect tells nothing of the incident)."""
    with page.kernel.session(page.actor) as session:
        if dispatched.is_dispatched(session, incident_id, page.actor):
            return page_url(incident_id)
    return f"/portal/incidents/{incident_id}"


def redirect_from_agent_page(page: PageContext, incident_id: int) -> Response | None:
    """The agents' page `/incidents/{id}` sends people whose home is the portal to theirs
    (the links of notifications lead there); None for everyone else."""
    if not lands_on_portal(page.kernel, page.actor):
        return None
    return RedirectResponse(portal_url(page, incident_id), status_code=303)


# --- the page ---------------------------------------------------------------------------


def _labels(session: Session, codes: Mapping[str, str | None], locale: str) -> dict[str, str]:
    """{dictionary: label} of each item code given ({"incident_level": "p2"}), one query."""
    wanted = {(d, c) for d, c in codes.items() if c}
    if not wanted:
        return {}
    rows = session.execute(
        select(Dictionary.code, DictionaryItem.code, DictionaryItem.labels)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(
            Dictionary.code.in_(sorted(d for d, _ in wanted)),
            DictionaryItem.code.in_(sorted(c for _, c in wanted)),
        )
    )
    return {
        dictionary: pick_label(labels or {}, locale, code)
        for dictionary, code, labels in rows
        if (dictionary, code) in wanted
    }


def _vendor_page(
    page: PageContext,
    incident_id: int,
    status: int = 200,
    done: str = "",
    failed: str = "",
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> Response:
    access = field_access(page.actor, service.INCIDENT.name)
    states = {code: status_label(code, page.locale) for code in STATUSES}
    with page.kernel.unit_of_work(actor=page.actor) as session:
        incident = dispatched.get_dispatched(session, incident_id)
        ref = RecordRef(service.INCIDENT.name, incident.id)
        steps = dispatched.open_steps(session, incident, page.actor, page.locale)
        progress = public_progress(page, session, ref, states if access.readable("status") else {})
        files = attachments.files_of(session, ref)
        labels = _labels(
            session,
            {
                "incident_category": incident.category if access.readable("category") else None,
                "incident_level": incident.level if access.readable("level") else None,
            },
            page.locale,
        )
        caller = (
            session.scalar(select(User.name).where(User.id == incident.caller_id))
            if incident.caller_id and access.readable("caller_id")
            else None
        )

    def shown(name: str, value: Any) -> Any:
        return value if access.readable(name) else None

    may_report = incident.status not in (CLOSED, CANCELLED)
    return page.respond(
        "incident/portal_dispatched.html",
        status=status,
        incident=incident,
        number=shown("number", incident.number),
        title=incident.title if access.readable("title") else f"#{incident.id}",
        state=states.get(incident.status) if access.readable("status") else None,
        tone=STATUS_TONES.get(incident.status, "neutral"),
        opened_at=shown("opened_at", incident.opened_at),
        level=labels.get("incident_level"),
        category=labels.get("incident_category"),
        caller=caller,
        contact_phone=shown("contact_phone", incident.contact_phone),
        description=shown("description", incident.description),
        steps=steps,
        resolved=dispatched.RESOLVED,
        back=dispatched.BACK,
        may_report=may_report,
        progress_field=PROGRESS,
        entries=progress,
        files=files,
        done=done,
        failed=failed,
        values=dict(values or {}),
        errors=dict(errors or {}),
        max_size=upload_limit(page.kernel),
        max_files=MAX_FILES,
    )


@portal_explained
async def vendor_page(request: Request) -> Response:
    page = portal_context(request, service.READ)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    done = request.query_params.get("done", "")
    return await run_in_threadpool(
        functools.partial(_vendor_page, page, incident_id, done=done if done in DONE else "")
    )


# --- reporting progress -----------------------------------------------------------------


@portal_explained
async def report_progress(request: Request) -> Response:
    page = portal_context(request, service.READ)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    posted = await read_upload_form(request)
    body = posted.fields.get(PROGRESS.name, "")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            incident = dispatched.add_progress(session, incident_id)
            ref = RecordRef(service.INCIDENT.name, incident.id)
            comment_with_files(session, page, ref, body, posted, PROGRESS.name)

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        return await run_in_threadpool(
            functools.partial(
                _vendor_page,
                page,
                incident_id,
                400,
                failed="progress",
                values={PROGRESS.name: body},
                errors=field_messages(page, error),
            )
        )
    return RedirectResponse(f"{page_url(incident_id)}?done=progress", status_code=303)


# --- finishing the step -----------------------------------------------------------------


@portal_explained
async def finish_step(request: Request) -> Response:
    page = portal_context(request, service.READ)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    posted, version = await read_post(request)
    raw_item = posted.get("item", "")
    item_id = int(raw_item) if raw_item.isdigit() else 0

    def save(session: Session) -> bool:
        """True while the incident is still dispatched to the viewer afterwards."""
        dispatched.finish_step(
            session,
            page.kernel,
            incident_id,
            item_id,
            posted.get("result", ""),
            posted.get("comment"),
            version or None,
        )
        session.flush()
        return dispatched.is_dispatched(session, incident_id, page.actor)

    def refused(status: int, values: Mapping[str, str], errors: Errors, message: str) -> Response:
        # A lost update names no field: its message goes at the top of the form.
        placed = {"": message} if status == 409 else errors
        return _vendor_page(
            page, incident_id, status, failed=f"step-{item_id}", values=values, errors=placed
        )

    def next_page(still_mine: bool) -> str:
        return f"{page_url(incident_id)}?done=step" if still_mine else f"{HOME}?done=step"

    return await handle_post(
        page,
        posted,
        save,
        refused,
        next_page,
        field_errors=lambda error: field_messages(page, error),
    )


ROUTES = [
    Route(BASE + "/{incident_id:int}", vendor_page, methods=["GET"]),
    Route(BASE + "/{incident_id:int}/progress", report_progress, methods=["POST"]),
    Route(BASE + "/{incident_id:int}/step", finish_step, methods=["POST"]),
]

__all__ = ["ROUTES", "page_url", "portal_url", "redirect_from_agent_page"]
