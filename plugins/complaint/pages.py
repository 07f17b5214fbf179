"""The complaint pages: `/complaints` (the list), `/complaints/new` (registration) and
`/complaints/{id}` (header, summary, the record that caused it, its process, timeline and
the action forms the viewer may use). Every write goes through `service`, which checks the
action again."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel import BadUserInput, RecordRef
from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.forms import FieldError, Form, Submission, visible_fields
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation.models import Department, ServiceUnit
from openitsm.plugins.complaint import forms, service
from openitsm.plugins.complaint.models import ANSWERED, OPEN, SEVERITIES, STATUSES, Complaint
from openitsm.web import lists, pickers
from openitsm.web.links import record_links
from openitsm.web.lists import Column, Filter, ListView
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context, read_post
from openitsm.web.posts import handle_post, post_action
from openitsm.web.records import RecordHeader
from openitsm.web.timeline import record_timeline
from openitsm.web.widgets import Widget

BASE = "/complaints"
STATUS_LABELS: dict[str, dict[str, str]] = {
    "new": {"zh-CN": "新登记", "en": "New"},
    "routed": {"zh-CN": "已转办", "en": "Routed"},
    "in_progress": {"zh-CN": "处理中", "en": "In progress"},
    "feedback_given": {"zh-CN": "已反馈", "en": "Feedback given"},
    "closed": {"zh-CN": "已办结", "en": "Closed"},
    "cancelled": {"zh-CN": "已取消", "en": "Cancelled"},
}
STATUS_TONES = {
    "new": "info",
    "routed": "info",
    "in_progress": "warning",
    "feedback_given": "success",
    "closed": "neutral",
    "cancelled": "neutral",
}
SEVERITY_LABELS: dict[str, Mapping[str, str]] = {
    choice.value: choice.labels for choice in forms.SEVERITY_CHOICES
}
SEVERITY_TONES = {"minor": "neutral", "major": "warning", "serious": "danger"}
YES_NO = (("1", {"zh-CN": "是", "en": "Yes"}), ("0", {"zh-CN": "否", "en": "No"}))
FIELD_LABELS: dict[str, Mapping[str, str]] = {
    f.name: f.labels for form in (forms.REGISTER, forms.FEEDBACK, forms.RATE) for f in form.fields
}
FIELD_LABELS.update(
    {
        "number": {"zh-CN": "编号", "en": "Number"},
        "status": {"zh-CN": "状态", "en": "Status"},
        "opened_at": {"zh-CN": "登记时间", "en": "Registered"},
        "routed_at": {"zh-CN": "转办时间", "en": "Routed"},
        "responded_at": {"zh-CN": "响应时间", "en": "Responded"},
        "feedback_at": {"zh-CN": "反馈时间", "en": "Feedback given"},
        "closed_at": {"zh-CN": "办结时间", "en": "Closed"},
        "service_unit_id": {"zh-CN": "服务单位", "en": "Service unit"},
        "archived_to": {"zh-CN": "已归档知识", "en": "Archived to"},
    }
)
LINKS = {
    "complainant_id": "user",
    "assignee_id": "user",
    "department_id": "department",
    "service_unit_id": "service_unit",
}
DICTIONARY_CODES = tuple(service.DICTIONARIES.values())


def status_label(status: str, locale: str) -> str:
    return pick_label(STATUS_LABELS.get(status, {}), locale, status)


def severity_label(severity: str | None, locale: str) -> str:
    return pick_label(SEVERITY_LABELS.get(severity or "", {}), locale, severity or "")


# --- the list -------------------------------------------------------------------------


def _search(statement: Select[Any], text: str, access: FieldAccess) -> Select[Any]:
    pattern = f"%{text.strip()}%"
    columns = access.readable_only({n: getattr(Complaint, n) for n in service.SEARCHED})
    return statement.where(or_(*(column.ilike(pattern) for column in columns)))


def _equals(column: str) -> Any:
    def apply(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
        return statement.where(getattr(Complaint, column) == value)

    return apply


def _open(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    condition = Complaint.status.in_(OPEN)
    return statement.where(condition if value == "1" else ~condition)


def _dictionary_labels(session: Session) -> dict[str, Any]:
    """Labels of the channel and category items by code (one query, once per page)."""
    rows = session.execute(
        select(Dictionary.code, DictionaryItem.code, DictionaryItem.labels)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(Dictionary.code.in_(DICTIONARY_CODES))
    )
    labels: dict[str, dict[str, Any]] = {code: {} for code in DICTIONARY_CODES}
    for dictionary, code, item_labels in rows:
        labels[dictionary][code] = item_labels
    return {"dictionaries": labels}


def _names(session: Session, rows: Sequence[Complaint]) -> dict[str, Any]:
    """Names of the people and departments on a page of rows: two queries, whatever its size."""
    people = {i for row in rows for i in (row.complainant_id, row.assignee_id) if i}
    departments = {row.department_id for row in rows if row.department_id}
    users: dict[int, str] = (
        dict(session.execute(select(User.id, User.name).where(User.id.in_(people))).all())
        if people
        else {}
    )
    names: dict[int, str] = (
        dict(
            session.execute(
                select(Department.id, Department.name).where(Department.id.in_(departments))
            ).all()
        )
        if departments
        else {}
    )
    return {"users": users, "departments": names}


def _coded(field: str, locale: str) -> Any:
    dictionary = service.DICTIONARIES[field]

    def show(row: Complaint, extra: Mapping[str, Any]) -> Any:
        code = getattr(row, field)
        if code is None:
            return None
        labels = extra.get("dictionaries", {}).get(dictionary, {}).get(code)
        return pick_label(labels or {}, locale, code)

    return show


def _category_choices() -> tuple[tuple[str, Mapping[str, str]], ...]:
    """The shipped items of the kernel's `complaint_type` (the filter takes any code given)."""
    from openitsm.kernel.dictionaries.plugin import DEFAULTS
    from openitsm.kernel.dictionaries.spec import load_specs

    for spec in load_specs(DEFAULTS):
        if spec.code == service.DICTIONARIES["category"]:
            return tuple((item.code, item.labels) for item in spec.items)
    return ()


@functools.cache
def list_view(locale: str) -> ListView:
    """The list's declaration, with cell values in `locale`."""
    return ListView(
        "complaints",
        service.COMPLAINT.name,
        {"zh-CN": "投诉", "en": "Complaints"},
        columns=(
            Column("number", FIELD_LABELS["number"], sort=Complaint.number, link=True),
            Column("title", FIELD_LABELS["title"], sort=Complaint.title),
            Column(
                "status",
                FIELD_LABELS["status"],
                show=lambda row, extra: status_label(row.status, locale),
                sort=Complaint.status,
            ),
            Column(
                "severity",
                FIELD_LABELS["severity"],
                show=lambda row, extra: severity_label(row.severity, locale),
                sort=Complaint.severity,
            ),
            Column("category", FIELD_LABELS["category"], show=_coded("category", locale)),
            Column("nature", FIELD_LABELS["nature"], show=_coded("nature", locale), default=False),
            Column(
                "channel", FIELD_LABELS["channel"], show=_coded("channel", locale), default=False
            ),
            Column(
                "complainant_id",
                FIELD_LABELS["complainant_id"],
                show=lambda row, extra: extra["users"].get(row.complainant_id),
            ),
            Column(
                "department_id",
                FIELD_LABELS["department_id"],
                show=lambda row, extra: extra["departments"].get(row.department_id),
            ),
            Column(
                "assignee_id",
                FIELD_LABELS["assignee_id"],
                show=lambda row, extra: extra["users"].get(row.assignee_id),
                default=False,
            ),
            Column(
                "opened_at", FIELD_LABELS["opened_at"], sort=Complaint.opened_at, kind="datetime"
            ),
        ),
        filters=(
            Filter(
                "q",
                "title",
                {"zh-CN": "搜索投诉", "en": "Search complaints"},
                _search,
                type="search",
            ),
            Filter(
                "status",
                "status",
                FIELD_LABELS["status"],
                _equals("status"),
                choices=tuple(STATUS_LABELS.items()),
            ),
            Filter(
                "severity",
                "severity",
                FIELD_LABELS["severity"],
                _equals("severity"),
                choices=tuple(SEVERITY_LABELS.items()),
            ),
            Filter(
                "category",
                "category",
                FIELD_LABELS["category"],
                _equals("category"),
                choices=_category_choices(),
            ),
            Filter("open", "status", {"zh-CN": "未办结", "en": "Open"}, _open, choices=YES_NO),
        ),
        default_sort="opened_at",
        detail_url=BASE + "/{id}",
        prepare=_dictionary_labels,
        prepare_rows=_names,  # type: ignore[arg-type]
    )


def _viewer(request: Request, *actions: str) -> PageContext | Response:
    return page_context(request, service.READ, *actions)


@explained
async def complaints_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    params = lists.query_params(request)
    if "desc" not in params and "sort" not in params:
        params["desc"] = "1"  # newest first

    def draw() -> Response:
        body = lists.render_list(page, list_view(page.locale), params)
        return page.respond(
            "complaint/list.html", body=body, may_create=page.actor.can(service.CREATE)
        )

    return await run_in_threadpool(draw)


# --- registration ---------------------------------------------------------------------


def _codes(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """The posted dictionary item ids as the item codes complaints keep."""
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
) -> Response:
    access = field_access(page.actor, service.COMPLAINT.name)
    values = dict(values or {})
    values.setdefault("severity", "minor")
    with page.kernel.session() as session:
        choices = pickers.prepare(session, forms.REGISTER, values, page.actor, page.locale)
    may_assign = page.actor.can(service.ASSIGN)
    sections = [
        (section, fields)
        for section, fields in visible_fields(forms.REGISTER, access)
        if may_assign or section.key != "routing"
    ]
    return page.respond(
        "complaint/new.html",
        status=status,
        form=forms.REGISTER,
        sections=sections,
        values=values,
        errors=dict(errors or {}),
        access=access,
        choices=choices,
        message=message,
    )


@explained
async def new_complaint_page(request: Request) -> Response:
    page = _viewer(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    # `?caused_by=incident:42` (from the page of the record behind it) fills the field in.
    given = {"caused_by": request.query_params.get("caused_by", "")[:100]}
    return await run_in_threadpool(_new_page, page, 200, {k: v for k, v in given.items() if v})


@explained
async def create_complaint(request: Request) -> Response:
    page = _viewer(request, service.CREATE)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    if not page.actor.can(service.ASSIGN):
        posted = {k: v for k, v in posted.items() if k not in ("assignee_id", "department_id")}

    def save(session: Session) -> Submission | int:
        submission = page.check(forms.REGISTER, posted, pickers.lookups(session))
        if not submission.valid:
            return submission
        values = _codes(session, submission.values)
        return service.create_complaint(session, **values).id

    return await handle_post(
        page,
        posted,
        save,
        functools.partial(_new_page, page),
        lambda complaint_id: f"{BASE}/{complaint_id}?done=created",
        field_errors=_field_errors,
        catch=(BadUserInput,),
    )


# --- one complaint --------------------------------------------------------------------

ACTIONS: dict[str, tuple[str, Form | None]] = {
    "assign": (service.ASSIGN, forms.ROUTE),
    "start": (service.UPDATE, None),
    "feedback": (service.FEEDBACK, forms.FEEDBACK),
    "close": (service.CLOSE, None),
    "reopen": (service.REOPEN, None),
    "cancel": (service.CANCEL, None),
    "rate": (service.RATE, forms.RATE),
    "archive": (service.UPDATE, None),
}


def allowed_actions(page: PageContext, complaint: Complaint, may_archive: bool) -> list[str]:
    """The actions the viewer may take on the complaint in its current state; `may_archive`:
    some module takes knowledge drafts and the complaint has none yet."""
    status = complaint.status
    states = {
        "assign": status in OPEN,
        "start": status in ("new", "routed"),
        "feedback": status in OPEN,
        "close": status == "feedback_given",
        "reopen": status in ANSWERED,
        "cancel": status in OPEN,
        "rate": status in ANSWERED and complaint.satisfaction is None,
        "archive": may_archive and status in ANSWERED,
    }
    return [
        name for name, (action, _) in ACTIONS.items() if states[name] and page.actor.can(action)
    ]


def _when(page: PageContext, value: Any) -> Markup:
    local = value.astimezone(ZoneInfo(page.time_zone)).strftime("%Y-%m-%d %H:%M")
    return Markup('<time datetime="{}">{}</time>').format(value.isoformat(), local)


def _linked(page: PageContext, ref: RecordRef | None, found: Mapping[RecordRef, Any]) -> Any:
    """A referenced record as a link when the viewer may see it, else its bare reference."""
    if ref is None:
        return None
    summary = found.get(ref)
    if summary is None:
        return Markup('{} <span class="muted">({})</span>').format(
            str(ref), page.gettext("not available")
        )
    kinds = page.kernel.record_kinds
    label = kinds.kinds[ref.kind].label(page.locale) if ref.kind in kinds else ref.kind
    if summary.url:
        return Markup('{}: <a href="{}">{}</a>').format(label, summary.url, summary.title)
    return f"{label}: {summary.title}"


def _summary(
    session: Session, complaint: Complaint, access: FieldAccess, page: PageContext
) -> list[tuple[str, Any]]:
    """(label, value) of the fields the viewer may read, links by name, references linked."""
    labels = _dictionary_labels(session)["dictionaries"]
    people = {i for i in (complaint.complainant_id, complaint.assignee_id) if i}
    users: dict[int, str] = (
        dict(session.execute(select(User.id, User.name).where(User.id.in_(people))).all())
        if people
        else {}
    )
    department = (
        session.get(Department, complaint.department_id) if complaint.department_id else None
    )
    unit = (
        session.get(ServiceUnit, complaint.service_unit_id) if complaint.service_unit_id else None
    )
    # Both are the complaint's record links; a record the viewer may not see is not named.
    cause = service.cause_of(session, complaint.id, page.actor)
    archived = service.archived_to(session, complaint.id)
    refs = [ref for ref in (cause, archived) if ref is not None]
    found = page.kernel.record_kinds.describe(session, refs, page.actor) if refs else {}
    rows: list[tuple[str, Any]] = []

    def add(field: str, value: Any) -> None:
        if access.readable(field) and value not in (None, ""):
            rows.append((pick_label(FIELD_LABELS.get(field, {}), page.locale, field), value))

    def coded(field: str) -> str | None:
        code = getattr(complaint, field)
        if code is None:
            return None
        item = labels[service.DICTIONARIES[field]].get(code) or {}
        return pick_label(item, page.locale, code)

    add("complainant_id", users.get(complaint.complainant_id))  # type: ignore[arg-type]
    add("contact_phone", complaint.contact_phone)
    add("channel", coded("channel"))
    add("category", coded("category"))
    add("nature", coded("nature"))
    add("severity", severity_label(complaint.severity, page.locale))
    add("caused_by", _linked(page, cause, found))
    add("department_id", department.name if department else None)
    add("assignee_id", users.get(complaint.assignee_id))  # type: ignore[arg-type]
    add("service_unit_id", unit.name if unit else None)
    for field in ("opened_at", "routed_at", "responded_at", "feedback_at", "closed_at"):
        value = getattr(complaint, field)
        if value is not None:
            add(field, _when(page, value))
    if complaint.satisfaction:
        add("satisfaction", "★" * complaint.satisfaction)
    add("satisfaction_comment", complaint.satisfaction_comment)
    if archived is not None and archived in found:
        add("archived_to", _linked(page, archived, found))
    return rows


def _processes(session: Session, page: PageContext, complaint_id: int) -> list[dict[str, Any]]:
    """The process instances driving the complaint that the viewer may see, with their open
    steps: where to follow them, and to urge a step (督办) for who may supervise."""
    from openitsm.kernel.workflow.engine import definition_of
    from openitsm.kernel.workflow.models import ProcessInstance
    from openitsm.kernel.workflow.runtime import may_see_instance, running_items

    instances = session.scalars(
        select(ProcessInstance)
        .where(
            ProcessInstance.record_kind == service.COMPLAINT.name,
            ProcessInstance.record_id == complaint_id,
        )
        .order_by(ProcessInstance.id)
    ).all()
    shown = []
    for instance in instances:
        if not may_see_instance(session, page.actor, instance):
            continue
        definition = definition_of(session, instance.process_version_id)
        steps = [
            {
                "name": definition.node_label(item.node_id, page.locale),
                "due": _when(page, item.due_at) if item.due_at else None,
            }
            for item in running_items(session, instance.id)
        ]
        shown.append({"id": instance.id, "state": instance.state, "steps": steps})
    return shown


def _detail(
    page: PageContext,
    complaint_id: int,
    status: int = 200,
    message: str = "",
    done: str = "",
    posted: Mapping[str, Any] | None = None,
    errors: Mapping[str, FieldError] | None = None,
    failed: str = "",
) -> Response:
    access = field_access(page.actor, service.COMPLAINT.name)
    with page.kernel.unit_of_work(actor=page.actor) as session:
        complaint = service.get_complaint(session, complaint_id)
        summary = _summary(session, complaint, access, page)
        may_archive = service.may_archive(session) and not service.archived_to(
            session, complaint.id
        )
        actions = allowed_actions(page, complaint, may_archive)
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
        description = complaint.description if access.readable("description") else None
        feedback = complaint.feedback if access.readable("feedback") else None
        processes = _processes(session, page, complaint.id)
    badges = []
    if access.readable("severity"):
        badges.append(severity_label(complaint.severity, page.locale))
    header = RecordHeader(
        title=complaint.title if access.readable("title") else f"#{complaint.id}",
        number=complaint.number if access.readable("number") else None,
        state_label=status_label(complaint.status, page.locale)
        if access.readable("status")
        else None,
        state_tone=STATUS_TONES.get(complaint.status, "neutral"),
        badges=tuple(badges),
    )
    labels = {field: pick_label(names, page.locale, field) for field, names in FIELD_LABELS.items()}
    timeline = record_timeline(
        page, service.COMPLAINT.name, complaint.id, labels, LINKS, comments=True
    )
    linked = record_links(
        page, RecordRef(service.COMPLAINT.name, complaint.id), f"{BASE}/{complaint.id}"
    )
    return page.respond(
        "complaint/detail.html",
        status=status,
        complaint=complaint,
        header=header,
        summary=summary,
        description=description,
        feedback=feedback,
        processes=processes,
        may_supervise=page.actor.can("process.supervise"),
        timeline=timeline,
        linked_records=linked,
        actions=actions,
        action_forms=action_forms,
        access=access,
        message=message,
        done=done,
    )


@explained
async def complaint_page(request: Request) -> Response:
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    complaint_id = int(request.path_params["complaint_id"])
    done = request.query_params.get("done", "")
    return await run_in_threadpool(
        _detail, page, complaint_id, done=done if done in (*ACTIONS, "created") else ""
    )


def _run(
    session: Session, name: str, complaint_id: int, version: int, values: Mapping[str, Any]
) -> None:
    version_or_none = version or None
    if name == "assign":
        service.assign(
            session,
            complaint_id,
            version_or_none,
            department_id=values.get("department_id"),
            assignee_id=values.get("assignee_id"),
        )
    elif name == "start":
        service.start_work(session, complaint_id, version_or_none)
    elif name == "feedback":
        service.give_feedback(
            session, complaint_id, version_or_none, feedback=values.get("feedback")
        )
    elif name == "close":
        service.close(session, complaint_id, version_or_none)
    elif name == "reopen":
        service.reopen(session, complaint_id, version_or_none)
    elif name == "cancel":
        service.cancel(session, complaint_id, version_or_none)
    elif name == "rate":
        service.rate(
            session,
            complaint_id,
            version_or_none,
            satisfaction=int(values["satisfaction"]),
            comment=values.get("satisfaction_comment"),
        )
    elif name == "archive":
        service.archive_to_knowledge(session, complaint_id, version_or_none)


@explained
async def complaint_action(request: Request) -> Response:
    name = request.path_params["action"]
    if name not in ACTIONS:
        return Response(status_code=404)
    action, form = ACTIONS[name]
    page = _viewer(request, action)
    if not isinstance(page, PageContext):
        return page
    complaint_id = int(request.path_params["complaint_id"])
    url = f"{BASE}/{complaint_id}"
    return await post_action(
        request, page, complaint_id, name, form, _run, _detail, url, field_errors=_field_errors
    )


# --- the workbench --------------------------------------------------------------------


def open_complaints(page: PageContext) -> Markup:
    """The viewer's open complaints counted by severity and status (one query, under their
    data scope)."""
    access = field_access(page.actor, service.COMPLAINT.name)
    if not access.readable("severity") or not access.readable("status"):
        return Markup("")
    with page.kernel.session() as session:
        statement = visible(
            select(Complaint.severity, Complaint.status, func.count()).where(
                Complaint.status.in_(OPEN)
            ),
            page.actor,
            service.COMPLAINT,
        ).group_by(Complaint.severity, Complaint.status)
        counts = {(severity, status): n for severity, status, n in session.execute(statement)}
    statuses = [(code, status_label(code, page.locale)) for code in OPEN]
    rows = [
        (
            severity_label(code, page.locale),
            code,
            [counts.get((code, status), 0) for status, _ in statuses],
            sum(counts.get((code, status), 0) for status, _ in statuses),
        )
        for code in SEVERITIES
    ]
    return page.render(
        "complaint/widget.html", rows=rows, statuses=statuses, total=sum(counts.values())
    )


ROUTES = [
    Route(BASE, complaints_page, methods=["GET"]),
    *lists.ListRoutes(list_view("zh-CN"), BASE, service.READ, localised=list_view).routes(),
    Route(BASE + "/new", new_complaint_page, methods=["GET"]),
    Route(BASE + "/new", create_complaint, methods=["POST"]),
    Route(BASE + "/{complaint_id:int}", complaint_page, methods=["GET"]),
    Route(BASE + "/{complaint_id:int}/{action:str}", complaint_action, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "complaints", {"zh-CN": "投诉", "en": "Complaints"}, BASE, "records", service.READ, 20
    ),
    MenuItem(
        "complaints.new",
        {"zh-CN": "登记投诉", "en": "Register a complaint"},
        BASE + "/new",
        "workbench",
        service.CREATE,
        25,
    ),
]
WIDGETS = [
    Widget(
        "complaints_open",
        {"zh-CN": "未办结投诉", "en": "Open complaints"},
        open_complaints,
        action=service.READ,
    )
]

__all__ = ["MENUS", "ROUTES", "STATUSES", "WIDGETS"]
