"""Custom fields (`/admin/custom-fields`): the fields administrators add to users, departments
and other records without code — add, edit, reorder, retire and restore them.

Every page needs `fields.manage`, reading included: the list shows names that field rules,
exports and the API use. Definitions are written through `openitsm.kernel.customfields`,
which checks them; its refusals name the field they are about and are shown next to it.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.customfields.models import CustomField
from openitsm.kernel.customfields.service import CUSTOM_TYPES, CustomFieldSpec
from openitsm.kernel.db import utcnow
from openitsm.kernel.dictionaries.models import Dictionary
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, OpenITSMError
from openitsm.web.menus import MenuItem
from openitsm.web.pages import STATUS, PageContext, check_csrf, explained, page_context, read_post
from openitsm.web.timeline import Entry, record_timeline, timeline_entries

BASE = "/admin/custom-fields"
MANAGE = "fields.manage"
KIND = "custom_field"
TEXT_TYPES = ("text", "textarea")
# Positions are spread in steps, as elsewhere, so one field can later go between two.
STEP = 10
TYPED = (
    "label_zh",
    "label_en",
    "name",
    "type",
    "required",
    "listed",
    "help_zh",
    "help_en",
    "max_length",
    "choices",
    "dictionary",
)
DONE = ("added", "saved", "order", "retired", "restored")


@dataclass(frozen=True)
class Tab:
    resource: str
    label: str


def _manager(request: Request) -> PageContext | Response:
    return page_context(request, MANAGE)


def _tabs(page: PageContext) -> list[Tab]:
    kinds = page.kernel.record_kinds
    return [Tab(name, kinds.get(name).label(page.locale)) for name in customfields.resources(kinds)]


def _chosen(tabs: list[Tab], wanted: str) -> str:
    names = [tab.resource for tab in tabs]
    return wanted if wanted in names else (names[0] if names else "")


def _get(session: Session, field_id: int) -> CustomFieldSpec:
    row = session.get(CustomField, field_id)
    if row is None:
        raise NotFound(f"There is no custom field #{field_id}.")
    return CustomFieldSpec.of(row)


def _list_url(resource: str, done: str = "") -> str:
    query = {"resource": resource, **({"done": done} if done else {})}
    return f"{BASE}?{urllib.parse.urlencode(query)}"


# --- the list and its order -----------------------------------------------------------


def _list_values(page: PageContext, wanted: str) -> dict[str, Any]:
    tabs = _tabs(page)
    resource = _chosen(tabs, wanted)
    with page.kernel.session() as session:
        fields = customfields.definitions(session, resource, retired=True) if resource else ()
    return {"tabs": tabs, "resource": resource, "fields": fields}


@explained
async def custom_fields_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    values = await run_in_threadpool(_list_values, page, request.query_params.get("resource", ""))
    done = request.query_params.get("done", "")
    return page.respond(
        "admin/custom_fields.html", done=done if done in DONE else "", message="", **values
    )


def _posted_order(posted: Mapping[str, str]) -> list[tuple[int, int]]:
    """The `id:version` pairs of the list as the page showed it, moved by an up or down
    button when one was pressed."""
    order: list[tuple[int, int]] = []
    for part in posted.get("order", "").split(","):
        field_id, _, version = part.strip().partition(":")
        if not (field_id.isdigit() and version.isdigit()):
            raise BadUserInput("The order of the fields could not be read.", field="order")
        order.append((int(field_id), int(version)))
    for direction, step in (("up", -1), ("down", 1)):
        moved = posted.get(direction, "")
        ids = [field_id for field_id, _ in order]
        if moved.isdigit() and int(moved) in ids:
            index = ids.index(int(moved))
            other = index + step
            if 0 <= other < len(order):
                order[index], order[other] = order[other], order[index]
    return order


def save_order(session: Session, resource: str, order: list[tuple[int, int]]) -> None:
    """Number the resource's fields in `order`, which must be every field as stored now
    (a field added, changed or reordered meanwhile makes it a conflict)."""
    stored = {spec.id: spec for spec in customfields.definitions(session, resource, retired=True)}
    shown = dict(order)
    if set(shown) != set(stored) or any(stored[i].version != v for i, v in shown.items()):
        raise Conflict("The custom fields were changed by someone else meanwhile.")
    for index, (field_id, version) in enumerate(order):
        wanted = (index + 1) * STEP
        if stored[field_id].position != wanted:
            customfields.change(session, field_id, version, position=wanted)


@explained
async def reorder(request: Request) -> Response:
    """Drag and drop, or the up and down buttons: the answer to htmx is the list as stored,
    with the reason when the order was refused."""
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    resource = posted.get("resource", "")
    message, status = "", 200
    try:
        order = _posted_order(posted)

        def save() -> None:
            with page.kernel.unit_of_work(actor=page.actor) as session:
                save_order(session, resource, order)

        await run_in_threadpool(save)
    except OpenITSMError as error:
        status = STATUS.get(error.code, 400)
        message = (
            page.gettext(
                "Someone else changed these fields meanwhile; the list below is as stored "
                "now. Move the field again."
            )
            if isinstance(error, Conflict)
            else error.translated(page.gettext)
        )
    if status == 200 and not request.headers.get("hx-request"):
        return RedirectResponse(_list_url(resource, "order"), status_code=303)
    values = await run_in_threadpool(_list_values, page, resource)
    template = (
        "admin/custom_fields_list.html"
        if request.headers.get("hx-request")
        else "admin/custom_fields.html"
    )
    return page.respond(template, status=status, message=message, done="", **values)


# --- the form -------------------------------------------------------------------------


def _choices_text(spec: CustomFieldSpec) -> str:
    lines = []
    for choice in spec.choices:
        zh, en = choice.labels.get("zh-CN", ""), choice.labels.get("en", "")
        if not zh and en == choice.value:
            lines.append(choice.value)
        else:
            lines.append(f"{choice.value} = {zh} / {en}")
    return "\n".join(lines)


def _typed_of(spec: CustomFieldSpec) -> dict[str, str]:
    """The form as a stored field fills it in."""
    return {
        "label_zh": spec.labels.get("zh-CN", ""),
        "label_en": spec.labels.get("en", ""),
        "name": spec.name,
        "type": spec.type,
        "required": "on" if spec.required else "",
        "listed": "on" if spec.listed else "",
        "help_zh": spec.help.get("zh-CN", ""),
        "help_en": spec.help.get("en", ""),
        "max_length": str(spec.max_length) if spec.max_length is not None else "",
        "choices": _choices_text(spec),
        "dictionary": spec.dictionary or "",
    }


def parse_choices(text: str) -> list[dict[str, Any]]:
    """One choice a line: `value`, `value = 中文 / English`, or `value = label` (both languages)."""
    choices = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, equals, rest = line.partition("=")
        labels: dict[str, str] = {}
        if equals:
            separator = " / " if " / " in rest else "/"
            zh, slash, en = rest.partition(separator)
            if slash:
                labels = {"zh-CN": zh.strip(), "en": en.strip()}
            else:
                labels = {"zh-CN": rest.strip(), "en": rest.strip()}
        choices.append({"value": value.strip(), "labels": labels})
    return choices


def _settings(page: PageContext, typed: Mapping[str, str], type_: str) -> dict[str, Any]:
    """What the form asks of the service; the type decides which limits apply."""
    settings: dict[str, Any] = {
        "labels": {"zh-CN": typed["label_zh"], "en": typed["label_en"]},
        "required": bool(typed["required"]),
        "listed": bool(typed["listed"]),
        "help": {"zh-CN": typed["help_zh"].strip(), "en": typed["help_en"].strip()},
        "choices": parse_choices(typed["choices"]) if type_ == "choice" else [],
        "dictionary": (typed["dictionary"].strip() or None) if type_ == "dictionary" else None,
    }
    raw = typed["max_length"].strip()
    if type_ in TEXT_TYPES:
        if raw and not raw.isdigit():
            raise BadUserInput(page.gettext("Enter a whole number."), field="max_length")
        settings["max_length"] = int(raw) if raw else None  # empty: no limit
    return settings


def _dictionaries(page: PageContext) -> list[tuple[str, str]]:
    with page.kernel.session() as session:
        rows = session.scalars(select(Dictionary).order_by(Dictionary.code))
        return [(row.code, row.label(page.locale)) for row in rows]


def _errors(page: PageContext, error: OpenITSMError) -> dict[str, str]:
    """A refusal as a message next to the field it names (the top of the form otherwise)."""
    field = str(error.extensions.get("field") or "")
    shown = set(TYPED) | {"labels", "help"}
    return {field if field in shown else "": error.translated(page.gettext)}


def _form(
    page: PageContext,
    typed: Mapping[str, str],
    status: int = 200,
    *,
    spec: CustomFieldSpec | None = None,
    resource: str = "",
    **extra: Any,
) -> Response:
    kinds = page.kernel.record_kinds
    resource = spec.resource if spec is not None else resource
    values: dict[str, Any] = {}
    if spec is not None:
        values["timeline"] = record_timeline(page, KIND, spec.id, _history_labels(page))
    return page.respond(
        "admin/custom_fields_form.html",
        status=status,
        spec=spec,
        resource=resource,
        resource_label=kinds.get(resource).label(page.locale) if resource in kinds else resource,
        types=CUSTOM_TYPES,
        text_types=TEXT_TYPES,
        dictionaries=_dictionaries(page),
        typed=typed,
        version=extra.pop("version", spec.version if spec else 0),
        opened_at=extra.pop("opened_at", utcnow().isoformat()),
        errors=extra.pop("errors", {}),
        conflict=extra.pop("conflict", None),
        done=extra.pop("done", ""),
        **values,
    )


def _history_labels(page: PageContext) -> dict[str, str]:
    """The settings of a field as its history names them."""
    return {
        "resource": page.gettext("Records"),
        "name": page.gettext("Name"),
        "type": page.gettext("Type"),
        "labels": page.gettext("Label"),
        "required": page.gettext("Required"),
        "listed": page.gettext("Shown in lists"),
        "help": page.gettext("Help text"),
        "max_length": page.gettext("Maximum length"),
        "choices": page.gettext("Choices"),
        "dictionary": page.gettext("Dictionary"),
        "position": page.gettext("Position"),
        "active": page.gettext("Active"),
    }


def _typed(posted: Mapping[str, str]) -> dict[str, str]:
    return {key: posted.get(key, "") for key in TYPED}


@explained
async def new_field_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    resource = _chosen(_tabs(page), request.query_params.get("resource", ""))
    typed = {**{key: "" for key in TYPED}, "type": "text"}
    return await run_in_threadpool(_form, page, typed, resource=resource)


@explained
async def create_field(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    typed = _typed(posted)
    resource = posted.get("resource", "")

    def save() -> None:
        settings = _settings(page, typed, typed["type"])
        with page.kernel.unit_of_work(actor=page.actor) as session:
            customfields.define(
                session,
                page.kernel.record_kinds,
                resource=resource,
                name=typed["name"],
                type=typed["type"],
                **settings,
            )

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        return await run_in_threadpool(
            _form, page, typed, 400, resource=resource, errors=_errors(page, error)
        )
    return RedirectResponse(_list_url(resource, "added"), status_code=303)


@explained
async def field_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    field_id = int(request.path_params["field_id"])
    spec = await run_in_threadpool(_load, page, field_id)
    done = request.query_params.get("done", "")
    return await run_in_threadpool(
        _form, page, _typed_of(spec), spec=spec, done=done if done in DONE else ""
    )


def _load(page: PageContext, field_id: int) -> CustomFieldSpec:
    with page.kernel.session() as session:
        return _get(session, field_id)


def _since(page: PageContext, field_id: int, opened_at: str) -> list[Entry]:
    """What others changed on the field after the form was opened."""
    try:
        since = dt.datetime.fromisoformat(opened_at)
    except ValueError:
        since = utcnow() - dt.timedelta(hours=1)
    entries = timeline_entries(page, KIND, field_id, _history_labels(page), since=since)
    return [e for e in reversed(entries) if e.event.action == "update" and e.changes]


def _conflict(
    page: PageContext, field_id: int, typed: Mapping[str, str], opened_at: str
) -> Response:
    """The form again with the typing kept, the version stored now and what changed."""
    spec = _load(page, field_id)
    return _form(
        page,
        typed,
        409,
        spec=spec,
        version=spec.version,
        conflict=_since(page, field_id, opened_at),
    )


@explained
async def save_field(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    field_id = int(request.path_params["field_id"])
    posted, version = await read_post(request)
    typed = _typed(posted)
    opened_at = posted.get("opened_at", "")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            spec = _get(session, field_id)
            typed.update(name=spec.name, type=spec.type)
            customfields.change(session, field_id, version, **_settings(page, typed, spec.type))

    try:
        await run_in_threadpool(save)
    except Conflict:
        return await run_in_threadpool(_conflict, page, field_id, typed, opened_at)
    except BadUserInput as error:
        spec = await run_in_threadpool(_load, page, field_id)
        return await run_in_threadpool(
            _form,
            page,
            {**typed, "name": spec.name, "type": spec.type},
            400,
            spec=spec,
            version=version,
            opened_at=opened_at,
            errors=_errors(page, error),
        )
    return RedirectResponse(f"{BASE}/{field_id}?done=saved", status_code=303)


def _activation(active: bool, done: str) -> Any:
    """Retire or restore: the values stay on the records either way."""

    @explained
    async def handler(request: Request) -> Response:
        page = _manager(request)
        if not isinstance(page, PageContext):
            return page
        form = await request.form()
        check_csrf(request, form)
        field_id = int(request.path_params["field_id"])
        raw = str(form.get("version", ""))
        version = int(raw) if raw.isdigit() else 0

        def save() -> str:
            with page.kernel.unit_of_work(actor=page.actor) as session:
                row = customfields.change(session, field_id, version, active=active)
                return row.resource

        try:
            resource = await run_in_threadpool(save)
        except Conflict:
            spec = await run_in_threadpool(_load, page, field_id)
            return await run_in_threadpool(
                _conflict, page, field_id, _typed_of(spec), str(form.get("opened_at", ""))
            )
        return RedirectResponse(_list_url(resource, done), status_code=303)

    return handler


retire_field = _activation(False, "retired")
restore_field = _activation(True, "restored")

ROUTES = [
    Route(BASE, custom_fields_page, methods=["GET"]),
    Route(BASE + "/order", reorder, methods=["POST"]),
    Route(BASE + "/new", new_field_page, methods=["GET"]),
    Route(BASE + "/new", create_field, methods=["POST"]),
    Route(BASE + "/{field_id:int}", field_page, methods=["GET"]),
    Route(BASE + "/{field_id:int}", save_field, methods=["POST"]),
    Route(BASE + "/{field_id:int}/retire", retire_field, methods=["POST"]),
    Route(BASE + "/{field_id:int}/restore", restore_field, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.custom_fields",
        {"zh-CN": "自定义字段", "en": "Custom fields"},
        BASE,
        "admin",
        MANAGE,
        45,
    ),
]
