"""The incident template pages (`/incidents/templates`): list, create, edit, deactivate and
bring back, for holders of `incident.manage_templates`; and `prefill`, which the
registration page uses to start a new incident from a template (`/incidents/new?template=`).
Every write goes through `incident_templates`, which checks the action again."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel import BadUserInput
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.forms import FieldError, Submission, visible_fields
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation.models import Department
from openitsm.plugins.incident import forms, incident_templates, service
from openitsm.plugins.incident.models import IncidentTemplate
from openitsm.web import pickers
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context, read_post
from openitsm.web.posts import handle_post

BASE = "/incidents/templates"
CODED = incident_templates.CODED
DONE = ("created", "saved", "deactivated", "activated")
# The form field a service refusal belongs to (its `field`, as GraphQL names it).
FORM_FIELD = {"group": "group_id"}


def _viewer(request: Request) -> PageContext | Response:
    return page_context(request, incident_templates.MANAGE)


# --- dictionary codes and the item ids forms post -------------------------------------


def item_ids(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the coded fields' item codes as the item ids the form's pickers take
    (one query); a code that is no longer an item is left out."""
    wanted = {(service.DICTIONARIES[f], values[f]) for f in CODED if values.get(f)}
    found: dict[tuple[str, str], int] = {}
    if wanted:
        rows = session.execute(
            select(Dictionary.code, DictionaryItem.code, DictionaryItem.id)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(tuple_(Dictionary.code, DictionaryItem.code).in_(sorted(wanted)))
        )
        found = {(dictionary, code): item for dictionary, code, item in rows}
    converted = dict(values)
    for field in CODED:
        if converted.get(field):
            item = found.get((service.DICTIONARIES[field], converted[field]))
            if item is None:
                converted.pop(field)
            else:
                converted[field] = item
    return converted


def item_codes(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """The posted item ids of the coded fields as the item codes templates keep."""
    ids = {values[f] for f in CODED if values.get(f) is not None}
    codes: dict[int, str] = (
        dict(
            session.execute(
                select(DictionaryItem.id, DictionaryItem.code).where(DictionaryItem.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    converted = dict(values)
    for field in CODED:
        if converted.get(field) is not None:
            converted[field] = codes.get(converted[field])
    return converted


def prefill(
    session: Session, template_id: int
) -> tuple[dict[str, Any], dict[str, FieldError], BadUserInput | None]:
    """The registration form's values from a template, the fields whose template value can
    no longer be used (a retired category: left empty, marked), and the refusal when the
    template itself cannot be used (deactivated or deleted)."""
    skip: set[str] = set()
    errors: dict[str, FieldError] = {}
    for _ in range(len(incident_templates.INCIDENT_FIELDS) + 1):
        try:
            values = incident_templates.template_values(session, template_id, skip)
        except BadUserInput as error:
            field = str(error.extensions.get("field", ""))
            column = FORM_FIELD.get(field, field)
            if field == "template" or column in skip:
                return {}, {}, error
            skip.add(column)
            code = "unknown_department" if column == "group_id" else "unknown_dictionary"
            errors[column] = FieldError(code)
            continue
        return item_ids(session, values), errors, None
    return {}, errors, None


# --- the list -------------------------------------------------------------------------


def _labels(session: Session, rows: list[IncidentTemplate], locale: str) -> dict[str, Any]:
    """Category labels and group names of the listed templates: two queries."""
    codes = {row.category for row in rows if row.category}
    categories: dict[str, str] = {}
    if codes:
        found = session.execute(
            select(DictionaryItem.code, DictionaryItem.labels)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(
                Dictionary.code == service.DICTIONARIES["category"],
                DictionaryItem.code.in_(codes),
            )
        )
        categories = {code: pick_label(labels or {}, locale, code) for code, labels in found}
    groups = {row.group_id for row in rows if row.group_id}
    names: dict[int, str] = (
        dict(
            session.execute(
                select(Department.id, Department.name).where(Department.id.in_(groups))
            ).all()
        )
        if groups
        else {}
    )
    return {"categories": categories, "groups": names}


def _list(page: PageContext, status: int = 200, message: str = "", done: str = "") -> Response:
    with page.kernel.session(page.actor) as session:
        rows = incident_templates.list_templates(session, include_inactive=True)
        labels = _labels(session, rows, page.locale)
    return page.respond(
        "incident/templates.html",
        status=status,
        templates=rows,
        labels=labels,
        message=message,
        done=done,
    )


@explained
async def templates_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    done = request.query_params.get("done", "")
    return await run_in_threadpool(_list, page, 200, "", done if done in DONE else "")


# --- one template ---------------------------------------------------------------------


def _form(
    page: PageContext,
    template_id: int | None,
    status: int = 200,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, FieldError] | None = None,
    message: str = "",
) -> Response:
    """The create (no `template_id`) or edit form; `values` as typed, or the stored ones."""
    access = field_access(page.actor, forms.TEMPLATE.resource)
    template = None
    with page.kernel.session(page.actor) as session:
        if template_id is not None:
            template = incident_templates.get_template(session, template_id)
            session.expunge(template)
        if values is None:
            stored = (
                {f: getattr(template, f) for f in incident_templates.FIELDS} if template else {}
            )
            values = item_ids(session, stored)
        choices = pickers.prepare(session, forms.TEMPLATE, values, page.actor, page.locale)
    return page.respond(
        "incident/template_form.html",
        status=status,
        record=template,
        form=forms.TEMPLATE,
        sections=visible_fields(forms.TEMPLATE, access),
        values=dict(values),
        errors=dict(errors or {}),
        access=access,
        choices=choices,
        message=message,
    )


def _refused(error: BadUserInput) -> dict[str, FieldError]:
    field = str(error.extensions.get("field", ""))
    return {FORM_FIELD.get(field, field): FieldError("invalid")}


@explained
async def new_template_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_form, page, None)


@explained
async def template_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_form, page, int(request.path_params["template_id"]))


async def _save(request: Request, template_id: int | None) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    posted, version = await read_post(request)

    def save(session: Session) -> Submission | None:
        submission = page.check(forms.TEMPLATE, posted, pickers.lookups(session))
        if not submission.valid:
            return submission
        values = item_codes(session, submission.values)
        if template_id is None:
            incident_templates.create_template(session, **values)
        else:
            incident_templates.update_template(session, template_id, version, values)
        return None

    done = "created" if template_id is None else "saved"
    return await handle_post(
        page,
        posted,
        save,
        functools.partial(_form, page, template_id),
        lambda _: f"{BASE}?done={done}",
        field_errors=_refused,
    )


@explained
async def create_template(request: Request) -> Response:
    return await _save(request, None)


@explained
async def update_template(request: Request) -> Response:
    return await _save(request, int(request.path_params["template_id"]))


@explained
async def set_active(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    template_id = int(request.path_params["template_id"])
    if request.path_params["change"] not in ("activate", "deactivate"):
        return Response(status_code=404)
    active = request.path_params["change"] == "activate"
    _, version = await read_post(request)

    def save(session: Session) -> None:
        incident_templates.update_template(session, template_id, version, {"active": active})

    def refused(
        status: int, values: Mapping[str, str], errors: Mapping[str, FieldError], message: str
    ) -> Response:
        return _list(page, status, message)

    done = "activated" if active else "deactivated"
    return await handle_post(page, {}, save, refused, lambda _: f"{BASE}?done={done}")


ROUTES = [
    Route(BASE, templates_page, methods=["GET"]),
    Route(BASE + "/new", new_template_page, methods=["GET"]),
    Route(BASE + "/new", create_template, methods=["POST"]),
    Route(BASE + "/{template_id:int}", template_page, methods=["GET"]),
    Route(BASE + "/{template_id:int}", update_template, methods=["POST"]),
    Route(BASE + "/{template_id:int}/{change:str}", set_active, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "incidents.templates",
        {"zh-CN": "事件模板", "en": "Incident templates"},
        BASE,
        "admin",
        incident_templates.MANAGE,
        30,
    )
]
