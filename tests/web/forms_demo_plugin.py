"""A page with a rich text and an attachments field, served only in tests.

No module page has these fields yet, so the tests register this one: a "new note" form that,
when saved, creates a service unit (a record that did not exist while the files were being
uploaded) and attaches the viewer's pending uploads to it, as a module's "new record" page
would.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.forms import (
    Form,
    FormField,
    FormSection,
    image_attachment_ids,
    visible_fields,
)
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.references import RecordRef
from openitsm.web.pages import PageContext, explained, page_context, read_post

BASE = "/demo-notes"
NOTE_FORM = Form(
    key="demo_note",
    resource="demo_note",
    labels={"en": "Note"},
    sections=(
        FormSection(
            "main",
            {"en": "Note"},
            (
                FormField("title", {"en": "Title"}, required=True),
                FormField("body", {"en": "Details"}, type="richtext"),
                FormField("files", {"en": "Files"}, type="attachments"),
            ),
        ),
    ),
)
# What the saved notes said, by service unit id (a test page keeps no table of its own).
SAVED: dict[int, str] = {}

PAGE = """{% extends "base.html" %}
{% from "forms/macros.html" import render_form, form_assets, attachment_links %}
{% block head %}{{ form_assets() }}{% endblock %}
{% block content %}
{% if saved is not none %}
<section id="saved" data-unit="{{ unit_id }}">
  <div class="rich-text">{{ saved|safe_html }}</div>
  {{ attachment_links(files) }}
</section>
{% else %}
<form method="post" action="/demo-notes" class="record-form">
  <input type="hidden" name="csrf" value="{{ csrf }}">
  {{ render_form(form, sections, values, errors, access, locale, time_zone, choices) }}
  <button type="submit">Save</button>
</form>
{% endif %}
{% endblock %}
"""


def respond(page: PageContext, status: int = 200, **values: Any) -> Response:
    environment = page.site.environment(page.locale)
    html = environment.from_string(PAGE).render(
        page=page,
        actor=page.actor,
        locale=page.locale,
        time_zone=page.time_zone,
        csrf=page.csrf,
        form=NOTE_FORM,
        sections=visible_fields(NOTE_FORM, field_access(page.actor, NOTE_FORM.resource)),
        access=field_access(page.actor, NOTE_FORM.resource),
        **{"values": {}, "errors": {}, "choices": {}, "saved": None, **values},
    )
    response = HTMLResponse(html, status_code=status)
    page.keep_csrf(response)
    return response


def choices_for(page: PageContext, raw: str) -> dict[str, Any]:
    ids = [int(part) for part in raw.replace(",", " ").split() if part.isdigit()]
    with page.kernel.session() as session:
        files = attachments.field_choices(session, page.kernel, ids, page.actor)
        body = attachments.field_choices(session, page.kernel, [], page.actor)
    return {"files": files, "body": body}


@explained
async def new_note(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(lambda: respond(page, choices=choices_for(page, "")))


@explained
async def save_note(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    kernel, actor = page.kernel, page.actor

    def save() -> tuple[Any, int | None]:
        with kernel.unit_of_work(actor=actor) as session:
            lookups = {"attachments": attachments.attachment_lookup(session, kernel, actor)}
            submission = page.check(NOTE_FORM, posted, lookups)
            if not submission.valid:
                return submission, None
            values = submission.values
            unit = organisation.create_service_unit(
                session, code="n" + uuid.uuid4().hex[:12], name=values["title"]
            )
            ref = RecordRef("service_unit", unit.id)
            attachments.attach_pending(session, kernel, values["files"], ref, actor)
            body = values["body"] or ""
            images = image_attachment_ids(body)
            attachments.attach_pending(session, kernel, images, ref, actor, skip_others=True)
            SAVED[unit.id] = body
            return submission, unit.id

    submission, unit_id = await run_in_threadpool(save)
    if unit_id is None:
        choices = await run_in_threadpool(choices_for, page, submission.raw.get("files", ""))
        return respond(page, 400, values=submission.raw, errors=submission.errors, choices=choices)
    return RedirectResponse(f"{BASE}/{unit_id}", status_code=303)


@explained
async def show_note(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    unit_id = int(request.path_params["unit_id"])

    def files() -> list[dict[str, Any]]:
        with page.kernel.session() as session:
            ids = session.scalars(
                select(Attachment.id)
                .where(Attachment.target_kind == "service_unit", Attachment.target_id == unit_id)
                .order_by(Attachment.id)
            ).all()
            return attachments.describe(session, page.kernel, ids, page.actor)

    found = await run_in_threadpool(files)
    return respond(page, saved=SAVED.get(unit_id, ""), unit_id=unit_id, files=found)


class NotePages:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return [
            Route(BASE, new_note, methods=["GET"]),
            Route(BASE, save_note, methods=["POST"]),
            Route(BASE + "/{unit_id:int}", show_note, methods=["GET"]),
        ]
