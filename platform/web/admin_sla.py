"""SLA settings (`/admin/sla`): the levels with their targets, each record kind's level
matrix, and the calendars service units count on. Every page and post needs `sla.manage`;
the service checks it again, and refuses bad input naming the field, shown next to it with
what was typed kept.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.errors import BadUserInput, NotFound, OpenITSMError, _t
from openitsm.kernel.organisation.models import ServiceUnit
from openitsm.kernel.sla import service, sla_subjects
from openitsm.kernel.sla.matrix import DIMENSIONS
from openitsm.kernel.sla.models import SlaRule
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context, read_post
from openitsm.web.posts import Errors, handle_post

BASE = "/admin/sla"
LEVEL_FIELDS = ("key", "zh", "en", "response", "resolution", "warning_share", "warning_lead")
LEVEL_FIELD_OF = {
    "labels.zh-CN": "zh",
    "labels.en": "en",
    "warningShare": "warning_share",
    "warningLead": "warning_lead",
}
RULE_FIELDS = ("kind", "level", *DIMENSIONS, "position")
DONE = ("level", "rule", "removed", "calendar")


def _manager(request: Request) -> PageContext | Response:
    return page_context(request, service.MANAGE)


def _errors(page: PageContext, error: OpenITSMError, names: dict[str, str]) -> dict[str, str]:
    """A refusal under the form field it names; one naming none above the form (`""`)."""
    name = str(error.extensions.get("field", ""))
    return {names.get(name, name): page.explain(error)}


async def _save_edit(
    page: PageContext,
    typed: dict[str, str],
    save: Callable[[Session], None],
    edit_page: Callable[..., Response],
    done: str,
    names: dict[str, str],
) -> Response:
    """Answer a level's or a rule's edit form alike: `save`, then the overview with
    `?done=<done>`, or `edit_page(status, typed=…, errors=…)` again with what was typed and
    the refusal under its field (`names` as for `_errors`)."""

    def refused(status: int, values: Mapping[str, str], errors: Errors, message: str) -> Response:
        placed = {"": message} if status == 409 else errors  # a lost update names no field
        return edit_page(status, typed=values, errors=placed)

    return await handle_post(
        page,
        typed,
        save,
        refused,
        lambda _: f"{BASE}?done={done}",
        field_errors=lambda error: _errors(page, error, names),
    )


# --- the overview ---------------------------------------------------------------------


def _overview(page: PageContext, status: int = 200, **extra: Any) -> Response:
    kinds = sla_subjects(page.kernel)
    with page.kernel.session() as session:
        levels = service.list_levels(session, page.actor)
        matrices = [
            (
                kind,
                page.kernel.record_kinds.get(kind).label(page.locale),
                service.list_rules(session, page.actor, kind),
            )
            for kind in sorted(kinds)
        ]
        units = list(session.scalars(select(ServiceUnit).order_by(ServiceUnit.name)))
        unit_calendars = {unit.id: key for unit, key in service.unit_calendars(session, page.actor)}
        calendar_keys = [row.key for row in calendars.list_calendars(session, page.actor)]
    return page.respond(
        "admin/sla.html",
        status=status,
        levels=levels,
        matrices=matrices,
        dimensions=DIMENSIONS,
        units=units,
        unit_calendars=unit_calendars,
        calendar_keys=calendar_keys,
        level_typed=extra.pop("level_typed", {"warning_share": "0.8"}),
        level_errors=extra.pop("level_errors", {}),
        rule_typed=extra.pop("rule_typed", {}),
        rule_errors=extra.pop("rule_errors", {}),
        calendar_errors=extra.pop("calendar_errors", {}),
        done=extra.pop("done", ""),
    )


@explained
async def sla_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    done = request.query_params.get("done", "")
    return await run_in_threadpool(_overview, page, done=done if done in DONE else "")


# --- levels ---------------------------------------------------------------------------


def _share(text: str) -> float | None:
    text = (text or "").strip().rstrip("%")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadUserInput(
            _t("The warning share is a fraction above 0 and at most 1, like 0.8."),
            field="warningShare",
        ) from None
    return value / 100 if value > 1 else value


def _level_values(typed: dict[str, str]) -> dict[str, Any]:
    return {
        "labels": {"zh-CN": typed["zh"], "en": typed["en"]},
        "response": typed["response"],
        "resolution": typed["resolution"],
        "warning_share": _share(typed["warning_share"]),
        "warning_lead": typed["warning_lead"],
    }


def _typed(posted: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(posted.get(name, "") or "") for name in names}


@explained
async def create_level(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    typed = _typed(posted, LEVEL_FIELDS)

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.create_level(session, page.actor, key=typed["key"], **_level_values(typed))

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        errors = _errors(page, error, LEVEL_FIELD_OF)
        return await run_in_threadpool(_overview, page, 400, level_typed=typed, level_errors=errors)
    return RedirectResponse(f"{BASE}?done=level", status_code=303)


def _level_page(page: PageContext, key: str, status: int = 200, **extra: Any) -> Response:
    with page.kernel.session() as session:
        level = service.get_level(session, page.actor, key)
    typed = extra.pop("typed", None) or {
        "zh": level.labels.get("zh-CN", ""),
        "en": level.labels.get("en", ""),
        "response": level.response or "",
        "resolution": level.resolution or "",
        "warning_share": "" if level.warning_share is None else str(level.warning_share),
        "warning_lead": level.warning_lead or "",
        "active": "on" if level.active else "",
        "position": str(level.position),
    }
    return page.respond(
        "admin/sla_level.html",
        status=status,
        level=level,
        typed=typed,
        version=extra.pop("version", level.version),
        errors=extra.pop("errors", {}),
    )


@explained
async def level_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_level_page, page, request.path_params["key"])


@explained
async def save_level(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    posted, _ = await read_post(request)
    typed = _typed(posted, (*LEVEL_FIELDS[1:], "active", "position", "version"))

    def save(session: Session) -> None:
        position = typed["position"].strip()
        service.update_level(
            session,
            page.actor,
            key,
            int(typed["version"] or 0),
            active=bool(typed["active"]),
            position=int(position) if position.lstrip("-").isdigit() else None,
            **_level_values(typed),
        )

    edit_page = functools.partial(_level_page, page, key)
    return await _save_edit(page, typed, save, edit_page, "level", LEVEL_FIELD_OF)


@explained
async def remove_level(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params["key"]
    await read_post(request)

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.delete_level(session, page.actor, key)

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        return await run_in_threadpool(
            _level_page, page, key, 400, errors=_errors(page, error, {"key": ""})
        )
    except NotFound:
        pass  # removed meanwhile (a second click)
    return RedirectResponse(f"{BASE}?done=removed", status_code=303)


# --- the matrix -----------------------------------------------------------------------


def _rule_values(typed: dict[str, str]) -> dict[str, Any]:
    position = typed.get("position", "").strip()
    return {
        "level": typed["level"],
        "position": int(position) if position.lstrip("-").isdigit() else None,
        **{name: typed.get(name) for name in DIMENSIONS},
    }


@explained
async def create_rule(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    typed = _typed(posted, RULE_FIELDS)

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.create_rule(session, page.actor, typed["kind"], **_rule_values(typed))

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        errors = _errors(page, error, {"recordKind": "kind"})
        return await run_in_threadpool(_overview, page, 400, rule_typed=typed, rule_errors=errors)
    return RedirectResponse(f"{BASE}?done=rule#matrix-{typed['kind']}", status_code=303)


def _rule_page(page: PageContext, rule_id: int, status: int = 200, **extra: Any) -> Response:
    with page.kernel.session() as session:
        rule = session.get(SlaRule, rule_id)
        if rule is None:
            raise NotFound(_t("There is no such SLA rule."), field="id")
        levels = service.list_levels(session, page.actor)
    typed = extra.pop("typed", None) or {
        "level": rule.level,
        "position": str(rule.position),
        **{name: getattr(rule, name) or "" for name in DIMENSIONS},
    }
    return page.respond(
        "admin/sla_rule.html",
        status=status,
        rule=rule,
        levels=levels,
        dimensions=DIMENSIONS,
        typed=typed,
        version=extra.pop("version", rule.version),
        errors=extra.pop("errors", {}),
    )


@explained
async def rule_page(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    return await run_in_threadpool(_rule_page, page, int(request.path_params["id"]))


@explained
async def save_rule(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    rule_id = int(request.path_params["id"])
    posted, _ = await read_post(request)
    typed = _typed(posted, (*RULE_FIELDS[1:], "version"))

    def save(session: Session) -> None:
        service.update_rule(
            session, page.actor, rule_id, int(typed["version"] or 0), **_rule_values(typed)
        )

    edit_page = functools.partial(_rule_page, page, rule_id)
    return await _save_edit(page, typed, save, edit_page, "rule", {})


@explained
async def remove_rule(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    await read_post(request)
    rule_id = int(request.path_params["id"])

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.delete_rule(session, page.actor, rule_id)

    with contextlib.suppress(NotFound):  # removed meanwhile (a second click)
        await run_in_threadpool(save)
    return RedirectResponse(f"{BASE}?done=removed", status_code=303)


# --- service units' calendars ---------------------------------------------------------


@explained
async def set_calendar(request: Request) -> Response:
    page = _manager(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    unit = str(posted.get("service_unit", "") or "")
    key = str(posted.get("calendar", "") or "")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.set_unit_calendar(session, page.actor, int(unit) if unit.isdigit() else 0, key)

    try:
        await run_in_threadpool(save)
    except (BadUserInput, NotFound) as error:
        errors = _errors(page, error, {"serviceUnit": "service_unit"})
        return await run_in_threadpool(_overview, page, 400, calendar_errors=errors)
    return RedirectResponse(f"{BASE}?done=calendar", status_code=303)


ROUTES = [
    Route(BASE, sla_page, methods=["GET"]),
    Route(BASE + "/levels", create_level, methods=["POST"]),
    Route(BASE + "/levels/{key}", level_page, methods=["GET"]),
    Route(BASE + "/levels/{key}", save_level, methods=["POST"]),
    Route(BASE + "/levels/{key}/remove", remove_level, methods=["POST"]),
    Route(BASE + "/rules", create_rule, methods=["POST"]),
    Route(BASE + "/rules/{id:int}", rule_page, methods=["GET"]),
    Route(BASE + "/rules/{id:int}", save_rule, methods=["POST"]),
    Route(BASE + "/rules/{id:int}/remove", remove_rule, methods=["POST"]),
    Route(BASE + "/calendars", set_calendar, methods=["POST"]),
]
MENUS = [
    MenuItem("admin.sla", {"zh-CN": "服务级别", "en": "SLA"}, BASE, "admin", service.MANAGE, 46),
]
