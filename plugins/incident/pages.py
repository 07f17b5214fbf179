"""The incident pages: `/incidents` (the list), `/incidents/new` (registration) and
`/incidents/{id}` (header, summary, related incidents, timeline and the action forms the
viewer may use). Every write goes through `service`, which checks the action again."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import BindParameter, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel import BadUserInput, RecordRef
from openitsm.kernel.access import require
from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.access.scope import records_seen, visible
from openitsm.kernel.actors import Actor
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.dictionaries.service import item_label
from openitsm.kernel.errors import NotFound, _t
from openitsm.kernel.forms import FieldError, Form, Submission, visible_fields
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.references import RecordSummary
from openitsm.plugins.incident import (
    forms,
    incident_templates,
    list_filters,
    offers,
    service,
    template_pages,
)
from openitsm.plugins.incident.models import OPEN, STATUSES, Incident
from openitsm.plugins.incident.process_panel import process_panel
from openitsm.web import lists, pickers
from openitsm.web.links import record_links
from openitsm.web.lists import Column, Filter, ListView
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context, read_post
from openitsm.web.posts import handle_post, post_action
from openitsm.web.records import RecordHeader
from openitsm.web.sla import sla_deadline
from openitsm.web.statements import per_viewer
from openitsm.web.timeline import record_timeline
from openitsm.web.widgets import Widget

BASE = "/incidents"
STATUS_LABELS: dict[str, dict[str, str]] = {
    "new": {"zh-CN": "新建", "en": "New"},
    "assigned": {"zh-CN": "已分派", "en": "Assigned"},
    "in_progress": {"zh-CN": "处理中", "en": "In progress"},
    "waiting_for_customer": {"zh-CN": "等待客户", "en": "Waiting for the customer"},
    "resolved": {"zh-CN": "已解决", "en": "Resolved"},
    "closed": {"zh-CN": "已关闭", "en": "Closed"},
    "cancelled": {"zh-CN": "已取消", "en": "Cancelled"},
}
STATUS_TONES = {
    "new": "info",
    "assigned": "info",
    "in_progress": "warning",
    "waiting_for_customer": "neutral",
    "resolved": "success",
    "closed": "neutral",
    "cancelled": "neutral",
}
LEVEL_CHOICES = tuple(
    (code, {"zh-CN": f"{code.upper()}", "en": code.upper()}) for code in service.LEVELS
)
YES_NO = (("1", {"zh-CN": "是", "en": "Yes"}), ("0", {"zh-CN": "否", "en": "No"}))
FIELD_LABELS = {
    f.name: f.labels for form in (forms.REGISTER, forms.RESOLVE, forms.RATE) for f in form.fields
}
FIELD_LABELS.update(
    {
        "number": {"zh-CN": "编号", "en": "Number"},
        "status": {"zh-CN": "状态", "en": "Status"},
        "opened_at": {"zh-CN": "登记时间", "en": "Opened"},
        "responded_at": {"zh-CN": "响应时间", "en": "Responded"},
        "resolved_at": {"zh-CN": "解决时间", "en": "Resolved"},
        "closed_at": {"zh-CN": "关闭时间", "en": "Closed"},
        "service_unit_id": {"zh-CN": "服务单位", "en": "Service unit"},
        "parent_id": {"zh-CN": "父事件", "en": "Parent incident"},
    }
)
LINKS = {
    "caller_id": "user",
    "assignee_id": "user",
    "group_id": "department",
    "service_unit_id": "service_unit",
    "parent_id": "incident",
}


def status_label(status: str, locale: str) -> str:
    return pick_label(STATUS_LABELS.get(status, {}), locale, status)


# --- the list -------------------------------------------------------------------------


def _search(statement: Select[Any], text: str, access: FieldAccess) -> Select[Any]:
    pattern = f"%{text.strip()}%"
    columns = access.readable_only({n: getattr(Incident, n) for n in service.SEARCHED})
    return statement.where(or_(*(column.ilike(pattern) for column in columns)))


def _status(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(Incident.status == value)


def _level(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(Incident.level == value)


def _open(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    condition = Incident.status.in_(OPEN)
    return statement.where(condition if value == "1" else ~condition)


def _dictionary_labels(session: Session) -> dict[str, Any]:
    """Labels of the category and level items by code (one query, once per page)."""
    rows = session.execute(
        select(Dictionary.code, DictionaryItem.code, DictionaryItem.labels)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(Dictionary.code.in_(["incident_category", "incident_level"]))
    )
    labels: dict[str, dict[str, Any]] = {"incident_category": {}, "incident_level": {}}
    for dictionary, code, item_labels in rows:
        labels[dictionary][code] = item_labels
    return {"dictionaries": labels}


def _names(session: Session, rows: Sequence[Incident]) -> dict[str, Any]:
    """Names of the people and groups on a page of rows: two queries, whatever its size."""
    people = {i for row in rows for i in (row.caller_id, row.assignee_id) if i}
    groups = {row.group_id for row in rows if row.group_id}
    users: dict[int, str] = (
        dict(session.execute(select(User.id, User.name).where(User.id.in_(people))).all())
        if people
        else {}
    )
    departments: dict[int, str] = (
        dict(
            session.execute(
                select(Department.id, Department.name).where(Department.id.in_(groups))
            ).all()
        )
        if groups
        else {}
    )
    return {"users": users, "departments": departments}


def _coded(dictionary: str, locale: str) -> Any:
    def show(row: Incident, extra: Mapping[str, Any]) -> Any:
        code = getattr(row, "category" if dictionary == "incident_category" else "level")
        if code is None:
            return None
        labels = extra.get("dictionaries", {}).get(dictionary, {}).get(code)
        return pick_label(labels or {}, locale, code)

    return show


@functools.cache
def list_view(locale: str) -> ListView:
    """The list's declaration, with cell values in `locale`."""
    return ListView(
        "incidents",
        "incident",
        {"zh-CN": "事件", "en": "Incidents"},
        columns=(
            Column("number", FIELD_LABELS["number"], sort=Incident.number, link=True),
            Column("title", FIELD_LABELS["title"], sort=Incident.title),
            Column(
                "status",
                FIELD_LABELS["status"],
                show=lambda row, extra: status_label(row.status, locale),
                sort=Incident.status,
            ),
            Column(
                "level",
                FIELD_LABELS["level"],
                show=_coded("incident_level", locale),
                sort=Incident.level,
            ),
            Column("category", FIELD_LABELS["category"], show=_coded("incident_category", locale)),
            Column(
                "caller_id",
                FIELD_LABELS["caller_id"],
                show=lambda row, extra: extra["users"].get(row.caller_id),
            ),
            Column(
                "assignee_id",
                FIELD_LABELS["assignee_id"],
                show=lambda row, extra: extra["users"].get(row.assignee_id),
            ),
            Column(
                "group_id",
                FIELD_LABELS["group_id"],
                show=lambda row, extra: extra["departments"].get(row.group_id),
                default=False,
            ),
            Column(
                "opened_at", FIELD_LABELS["opened_at"], sort=Incident.opened_at, kind="datetime"
            ),
            list_filters.sla_column(locale),
        ),
        filters=(
            Filter(
                "q",
                "title",
                {"zh-CN": "搜索事件", "en": "Search incidents"},
                _search,
                type="search",
            ),
            Filter(
                "status",
                "status",
                FIELD_LABELS["status"],
                _status,
                choices=tuple(STATUS_LABELS.items()),
            ),
            Filter("level", "level", FIELD_LABELS["level"], _level, choices=LEVEL_CHOICES),
            Filter("open", "status", {"zh-CN": "未完成", "en": "Open"}, _open, choices=YES_NO),
            *list_filters.filters(FIELD_LABELS),
        ),
        default_sort="opened_at",
        detail_url=BASE + "/{id}",
        prepare=_dictionary_labels,
        prepare_rows=_row_details,  # type: ignore[arg-type]
    )


def _row_details(session: Session, rows: Sequence[Incident]) -> dict[str, Any]:
    """Names and SLA clocks of a page of rows: three queries, whatever its size."""
    return {**_names(session, rows), **list_filters.rows_sla(session, rows)}


def _viewer(request: Request, *actions: str) -> PageContext | Response:
    return page_context(request, service.READ, *actions)


@explained
async def incidents_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    params = lists.query_params(request)
    if "desc" not in params and "sort" not in params:
        params["desc"] = "1"  # newest first

    def draw() -> Response:
        body = lists.render_list(page, list_view(page.locale), params)
        return page.respond(
            "incident/list.html", body=body, may_create=page.actor.can(service.CREATE)
        )

    return await run_in_threadpool(draw)


# --- registration ---------------------------------------------------------------------


def _codes(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """The posted dictionary item ids as the item codes incidents keep."""
    ids = {values[n] for n in forms.DICTIONARY_FIELDS if values.get(n) is not None}
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
    for name in forms.DICTIONARY_FIELDS:
        if converted.get(name) is not None:
            converted[name] = codes.get(converted[name])
    return converted


def _field_errors(error: BadUserInput) -> dict[str, FieldError]:
    """A service refusal next to the form field it names (its GraphQL name mapped back)."""
    name = str(error.extensions.get("field", ""))
    columns = {v: k for k, v in service.INPUT_NAME.items()}
    return {columns.get(name, name): FieldError("invalid")}


def _new_page(
    page: PageContext,
    status: int = 200,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, FieldError] | None = None,
    message: str = "",
    template_id: int | None = None,
) -> Response:
    from openitsm.plugins.incident import desk

    access = field_access(page.actor, "incident")
    values = dict(values or {})
    with page.kernel.session() as session:
        choices = pickers.prepare(session, forms.REGISTER, values, page.actor, page.locale)
        templates = incident_templates.list_templates(session)
    may_assign = page.actor.can(service.ASSIGN)
    sections = [
        (section, fields)
        for section, fields in visible_fields(forms.REGISTER, access)
        if may_assign or section.key != "assignment"
    ]
    return page.respond(
        "incident/new.html",
        status=status,
        templates=templates,
        template_id=template_id,
        form=forms.REGISTER,
        sections=sections,
        values=values,
        errors=dict(errors or {}),
        access=access,
        choices=choices,
        message=message,
        panels=desk.panels(page, values),
    )


@explained
async def new_incident_page(request: Request) -> Response:
    page = _viewer(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    chosen = request.query_params.get("template", "")
    if chosen.isdigit():
        return await run_in_threadpool(_from_template, page, int(chosen))
    return await run_in_threadpool(_new_page, page)


def _from_template(page: PageContext, template_id: int) -> Response:
    """The registration form filled in from a template (`?template=`); values the template
    can no longer give (a retired category) are left empty and marked."""
    with page.kernel.session(page.actor) as session:
        values, errors, refusal = template_pages.prefill(session, template_id)
    if refusal is not None:
        return _new_page(page, message=page.explain(refusal))
    return _new_page(page, values=values, errors=errors, template_id=template_id)


@explained
async def create_incident(request: Request) -> Response:
    page = _viewer(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    if not page.actor.can(service.ASSIGN):
        posted = {k: v for k, v in posted.items() if k not in ("assignee_id", "group_id")}

    def save(session: Session) -> Submission | int:
        submission = page.check(forms.REGISTER, posted, pickers.lookups(session))
        if not submission.valid:
            return submission
        values = _codes(session, submission.values)
        return service.create_incident(session, **values).id

    return await handle_post(
        page,
        posted,
        save,
        functools.partial(_new_page, page),
        lambda incident_id: f"{BASE}/{incident_id}?done=created",
        field_errors=_field_errors,
        catch=(BadUserInput,),
    )


# --- one incident ---------------------------------------------------------------------

ACTIONS: dict[str, tuple[str, Form | None]] = {
    "assign": (service.ASSIGN, forms.ASSIGN),
    "start": (service.UPDATE, None),
    "wait": (service.UPDATE, None),
    "resolve": (service.RESOLVE, forms.RESOLVE),
    "close": (service.CLOSE, None),
    "reopen": (service.REOPEN, None),
    "cancel": (service.CANCEL, None),
    "rate": (service.RATE, forms.RATE),
    "escalate_problem": (service.ESCALATE_PROBLEM, None),
    "archive_knowledge": (service.ARCHIVE_KNOWLEDGE, None),
}


def allowed_actions(page: PageContext, incident: Incident) -> list[str]:
    """The actions the viewer may take on the incident in its current state."""
    status = incident.status
    states = {
        "assign": status in OPEN,
        "start": status in ("new", "assigned", "waiting_for_customer"),
        "wait": status == "in_progress",
        "resolve": status in OPEN,
        "close": status == "resolved",
        "reopen": status in ("resolved", "closed"),
        "cancel": status in OPEN,
        "rate": status in ("resolved", "closed"),
        # Handed to another module only while one is enabled to take it.
        "escalate_problem": offers.may_offer(page.kernel, page.actor, incident, offers.ESCALATE),
        "archive_knowledge": offers.may_offer(page.kernel, page.actor, incident, offers.ARCHIVE),
    }
    return [
        name for name, (action, _) in ACTIONS.items() if states[name] and page.actor.can(action)
    ]


def _summary(
    session: Session, seen: SeenIncident, access: FieldAccess, page: PageContext
) -> list[tuple[str, Any]]:
    """(label, value) of the fields the viewer may read, links by name."""
    incident = seen.incident
    rows: list[tuple[str, Any]] = []

    def add(field: str, value: Any) -> None:
        if access.readable(field) and value not in (None, ""):
            rows.append((pick_label(FIELD_LABELS.get(field, {}), page.locale, field), value))

    add("caller_id", seen.names.get("caller_id"))
    add("contact_phone", incident.contact_phone)
    if access.readable("category"):
        add("category", item_label(session, "incident_category", incident.category, page.locale))
    add("nature", incident.nature)
    add("impact", incident.impact)
    add("urgency", incident.urgency)
    add("level", (incident.level or "").upper())
    add("level_reason", incident.level_reason)
    add("group_id", seen.names.get("group_id"))
    add("assignee_id", seen.names.get("assignee_id"))
    for field in ("opened_at", "responded_at", "resolved_at", "closed_at"):
        value = getattr(incident, field)
        if value is not None:
            add(
                field,
                Markup('<time datetime="{}">{}</time>').format(
                    value.isoformat(), value.astimezone(page_zone(page)).strftime("%Y-%m-%d %H:%M")
                ),
            )
    add("cost", incident.cost)
    add("work_hours", incident.work_hours)
    if incident.satisfaction:
        add("satisfaction", "★" * incident.satisfaction)
    add("satisfaction_comment", incident.satisfaction_comment)
    return rows


def page_zone(page: PageContext) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(page.time_zone)


# Made once: an alias made per request is new to SQLAlchemy's caches each time.
_CHILD = aliased(Incident, name="child")
_CALLER = aliased(User, name="caller")
_ASSIGNEE = aliased(User, name="assignee")


_INCIDENT_ID: BindParameter[int] = bindparam("incident_id")
# The incident, its parent and children, with the names the page shows of it.
_SEEN = (
    select(Incident, _CALLER.name, _ASSIGNEE.name, Department.name)
    .outerjoin(_CALLER, _CALLER.id == Incident.caller_id)
    .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Incident.assignee_id)
    .outerjoin(Department, Department.id == Incident.group_id)
    .where(
        or_(
            Incident.id == _INCIDENT_ID,
            Incident.parent_id == _INCIDENT_ID,
            Incident.id
            == select(_CHILD.parent_id).where(_CHILD.id == _INCIDENT_ID).scalar_subquery(),
        )
    )
    .order_by(Incident.id)
)


@per_viewer
def _seen_statement(actor: Actor) -> Select[Any]:
    """`_SEEN` under the viewer's data scope; the incident's id is bound as it runs."""
    return visible(_SEEN, actor, service.INCIDENT)


@dataclass(frozen=True)
class SeenIncident:
    """What the page reads of an incident under the viewer's data scope in one query: the
    incident, the names its links show (`caller_id`, `assignee_id`, `group_id`), and the
    parent and children the viewer may see."""

    incident: Incident
    names: Mapping[str, str | None]
    family: Sequence[Incident]


@contextlib.contextmanager
def _seen_incident(page: PageContext, session: Session, incident_id: int) -> Iterator[SeenIncident]:
    """The incident (NOT_FOUND outside the viewer's data scope, as `get_visible` answers),
    its names, parent and children, in one query under that scope. While the page is drawn,
    the parts that check the record again (timeline, comments, links) take this read's word
    for it instead of running the scope condition once each."""
    require(page.actor, service.READ)
    rows = session.execute(_seen_statement(page.actor), {"incident_id": incident_id}).all()
    found = next((row for row in rows if row[0].id == incident_id), None)
    if found is None:  # outside the scope, or no such incident: the same answer
        raise NotFound(
            _t("No {kind} with id {id}."),
            field="id",
            params={"kind": service.INCIDENT.name, "id": incident_id},
        )
    incident, caller_name, assignee_name, group_name = found
    names = {"caller_id": caller_name, "assignee_id": assignee_name, "group_id": group_name}
    with records_seen(page.actor, [RecordRef(service.INCIDENT.name, incident.id)]):
        yield SeenIncident(incident, names, [row[0] for row in rows])


def _family(
    seen: SeenIncident, access: FieldAccess
) -> tuple[list[RecordSummary], list[RecordSummary]]:
    """The parent and the child incidents the viewer may see, named as references to them
    are (`RecordKind.summary`)."""
    incident, named = seen.incident, service.INCIDENT.summary
    parent = [named(row, access.hidden) for row in seen.family if row.id == incident.parent_id]
    children = [named(row, access.hidden) for row in seen.family if row.parent_id == incident.id]
    return parent, children


def _detail(
    page: PageContext,
    incident_id: int,
    status: int = 200,
    message: str = "",
    done: str = "",
    posted: Mapping[str, Any] | None = None,
    errors: Mapping[str, FieldError] | None = None,
    failed: str = "",
) -> Response:
    access = field_access(page.actor, "incident")
    with (
        page.kernel.unit_of_work(actor=page.actor) as session,
        _seen_incident(page, session, incident_id) as seen,
    ):
        incident = seen.incident
        summary = _summary(session, seen, access, page)
        parent, children = _family(seen, access)
        related = [
            (page.gettext("Parent incident"), parent),
            (page.gettext("Child incidents"), children),
        ]
        actions = allowed_actions(page, incident)
        action_forms = {}
        for name in actions:
            form = ACTIONS[name][1]
            if form is None:
                continue
            values = dict(posted or {}) if failed == name else {}
            action_forms[name] = {
                "form": form,
                "sections": visible_fields(form, access),
                "values": values,
                "errors": dict(errors or {}) if failed == name else {},
                "choices": pickers.prepare(session, form, values, page.actor, page.locale),
            }
        description = incident.description if access.readable("description") else None
        resolution = incident.resolution if access.readable("resolution") else None
        ref = RecordRef(service.INCIDENT.name, incident.id)
        deadline = sla_deadline(session, ref, page.gettext)
        process = process_panel(page, session, incident.id)
        labels = {
            field: pick_label(names, page.locale, field) for field, names in FIELD_LABELS.items()
        }
        timeline = record_timeline(
            page,
            "incident",
            incident.id,
            labels,
            LINKS,
            comments=True,
            session=session,
            known={s.ref: s for s in parent},
        )
        linked = record_links(page, ref, f"{BASE}/{incident.id}", session=session)
        page.count_unread(session)
    header = RecordHeader(
        title=incident.title if access.readable("title") else f"#{incident.id}",
        number=incident.number if access.readable("number") else None,
        state_label=status_label(incident.status, page.locale)
        if access.readable("status")
        else None,
        state_tone=STATUS_TONES.get(incident.status, "neutral"),
        badges=((incident.level or "").upper(),)
        if incident.level and access.readable("level")
        else (),
        deadline=deadline,
    )
    return page.respond(
        "incident/detail.html",
        status=status,
        incident=incident,
        header=header,
        summary=summary,
        description=description,
        resolution=resolution,
        related_records=related,
        linked_records=linked,
        process=process,
        timeline=timeline,
        actions=actions,
        action_forms=action_forms,
        access=access,
        message=message,
        done=done,
    )


@explained
async def incident_page(request: Request) -> Response:
    from openitsm.plugins.incident.vendor_portal import redirect_from_agent_page

    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    done = request.query_params.get("done", "")

    def draw() -> Response:  # one trip to the thread pool for the whole page
        # People whose home is the portal (callers, vendors) follow the incident there.
        elsewhere = redirect_from_agent_page(page, incident_id)
        if elsewhere is not None:
            return elsewhere
        return _detail(page, incident_id, done=done if done in (*ACTIONS, "created") else "")

    return await run_in_threadpool(draw)


def _run(
    session: Session, name: str, incident_id: int, version: int, values: Mapping[str, Any]
) -> None:
    version_or_none = version or None
    if name == "assign":
        service.assign(
            session,
            incident_id,
            version_or_none,
            assignee_id=values.get("assignee_id"),
            group_id=values.get("group_id"),
        )
    elif name == "start":
        service.start_work(session, incident_id, version_or_none)
    elif name == "wait":
        service.wait_for_customer(session, incident_id, version_or_none)
    elif name == "resolve":
        service.resolve(
            session,
            incident_id,
            version_or_none,
            resolution=values.get("resolution"),
            cost=values.get("cost"),
            work_hours=values.get("work_hours"),
        )
    elif name == "close":
        service.close(session, incident_id, version_or_none)
    elif name == "reopen":
        service.reopen(session, incident_id, version_or_none)
    elif name == "cancel":
        service.cancel(session, incident_id, version_or_none)
    elif name == "rate":
        service.rate(
            session,
            incident_id,
            version_or_none,
            satisfaction=int(values["satisfaction"]),
            comment=values.get("satisfaction_comment"),
        )
    elif name == "escalate_problem":
        offers.escalate_to_problem(session, incident_id, version_or_none)
    elif name == "archive_knowledge":
        offers.archive_to_knowledge(session, incident_id, version_or_none)


@explained
async def incident_action(request: Request) -> Response:
    name = request.path_params["action"]
    if name not in ACTIONS:
        return Response(status_code=404)
    action, form = ACTIONS[name]
    page = _viewer(request, action)
    if not isinstance(page, PageContext):
        return page
    incident_id = int(request.path_params["incident_id"])
    url = f"{BASE}/{incident_id}"
    return await post_action(
        request, page, incident_id, name, form, _run, _detail, url, field_errors=_field_errors
    )


# --- the workbench --------------------------------------------------------------------


def open_by_level(page: PageContext) -> Markup:
    """The viewer's open incidents counted by level (one query, under their data scope)."""
    access = field_access(page.actor, "incident")
    if not access.readable("level") or not access.readable("status"):
        return Markup("")
    with page.kernel.session() as session:
        statement = visible(
            select(Incident.level, func.count()).where(Incident.status.in_(OPEN)),
            page.actor,
            service.INCIDENT,
        ).group_by(Incident.level)
        counts = {level: count for level, count in session.execute(statement)}
    rows = [(code.upper(), code, counts.get(code, 0)) for code in service.LEVELS]
    if counts.get(None):
        rows.append((page.gettext("No level"), "", counts[None]))
    return page.render("incident/widget.html", rows=rows, total=sum(counts.values()))


ROUTES = [
    Route(BASE, incidents_page, methods=["GET"]),
    *lists.ListRoutes(list_view("zh-CN"), BASE, service.READ, localised=list_view).routes(),
    Route(BASE + "/new", new_incident_page, methods=["GET"]),
    Route(BASE + "/new", create_incident, methods=["POST"]),
    Route(BASE + "/{incident_id:int}", incident_page, methods=["GET"]),
    Route(BASE + "/{incident_id:int}/{action:str}", incident_action, methods=["POST"]),
]
MENUS = [
    MenuItem("incidents", {"zh-CN": "事件", "en": "Incidents"}, BASE, "records", service.READ, 10),
    MenuItem(
        "incidents.new",
        {"zh-CN": "登记事件", "en": "Register an incident"},
        BASE + "/new",
        "workbench",
        service.CREATE,
        20,
    ),
]
WIDGETS = [
    Widget(
        "incidents_open_by_level",
        {"zh-CN": "未完成事件（按级别）", "en": "Open incidents by level"},
        open_by_level,
        action=service.READ,
    )
]

__all__ = ["MENUS", "ROUTES", "STATUSES", "WIDGETS"]
