"""Incident operations: the one place that creates, changes and moves incidents.

Every function takes the unit of work it is given (its actor is the session's), checks the
action, the data scope and the field rules, validates everything before it writes, and never
commits. GraphQL, the pages, tasks and the demo data all come through here.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session

from openitsm.kernel import (
    SYSTEM,
    Actor,
    BadUserInput,
    RecordKind,
    check_version,
    flush,
    numbering,
    require,
    utcnow,
    validation,
)
from openitsm.kernel.access.fields import check_write
from openitsm.kernel.access.scope import (
    ScopeColumns,
    get_visible,
    scope_filter,
    scopes_of,
    visible,
)
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.db.session import begin_write
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.errors import Forbidden, NotFound, _t
from openitsm.kernel.forms import sanitise_html
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, ServiceUnit, UserServiceUnit
from openitsm.kernel.sla.models import SlaRule
from openitsm.plugins.incident.models import (
    ASSIGNED,
    CANCELLED,
    CLOSED,
    FINISHED,
    IN_PROGRESS,
    NEW,
    OPEN,
    RESOLVED,
    WAITING,
    Incident,
    IncidentCounter,
)

PLUGIN = "incident"
# The actions roles grant; see plugin.register_actions for who gets them by default.
READ = "incident.read"
CREATE = "incident.create"
UPDATE = "incident.update"
ASSIGN = "incident.assign"
RESOLVE = "incident.resolve"
CLOSE = "incident.close"
REOPEN = "incident.reopen"
CANCEL = "incident.cancel"
RATE = "incident.rate"
ESCALATE_PROBLEM = "incident.escalate_problem"
ARCHIVE_KNOWLEDGE = "incident.archive_knowledge"

# The kernel dictionaries each coded field takes its values from.
DICTIONARIES = {
    "category": "incident_category",
    "nature": "incident_nature",
    "impact": "incident_impact",
    "urgency": "incident_urgency",
    "level": "incident_level",
}
LEVELS = ("p1", "p2", "p3", "p4")
IMPACT_RANK = {"extensive": 1, "significant": 2, "moderate": 3, "minor": 4}
URGENCY_RANK = {"critical": 1, "high": 2, "medium": 3, "low": 4}
# Fields `create_incident` and `update_incident` accept (links as ids).
EDITABLE = (
    "title",
    "description",
    "caller_id",
    "contact_phone",
    "category",
    "nature",
    "impact",
    "urgency",
    "level",
    "level_reason",
    "service_unit_id",
    "custom_fields",
)
SEARCHED = ("number", "title", "description", "contact_phone", "resolution")
# How service fields are called in GraphQL input, for errors clients can place.
INPUT_NAME = {
    "caller_id": "caller",
    "contact_phone": "contactPhone",
    "level_reason": "levelReason",
    "service_unit_id": "serviceUnit",
    "assignee_id": "assignee",
    "group_id": "group",
    "parent_id": "parent",
    "work_hours": "workHours",
    "satisfaction_comment": "satisfactionComment",
    "custom_fields": "customFields",
}


def _describe(incident: Incident) -> dict[str, Any]:
    return {"title": f"{incident.number} {incident.title}", "status": incident.status}


SCOPE = ScopeColumns(
    owner=("caller_id", "assignee_id"), department="group_id", service_unit="service_unit_id"
)
# The kind as the kernel's data scope alone sees it; `INCIDENT` widens its `own` (below).
_SCOPED = RecordKind("incident", Incident, scope=SCOPE)


def step_incidents(actor: Actor) -> Select[Any]:
    """Ids of the incidents with an open process step in `actor`'s inbox — assigned to
    them, or offered to them (by name, department or role) and not yet claimed: the
    kernel's inbox query as one subquery."""
    from openitsm.kernel.workflow.models import ProcessInstance, WorkItem
    from openitsm.kernel.workflow.runtime import inbox_query

    return (
        inbox_query(actor)
        .with_only_columns(ProcessInstance.record_id)
        .join_from(WorkItem, ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
        .where(ProcessInstance.record_kind == "incident")
    )


def _visibility(actor: Actor) -> ColumnElement[bool]:
    """The data scope of incidents, where `own` means the incidents that are the person's:
    those they reported, those assigned to them, and those whose open process step is
    theirs. A step handed to a vendor (or anyone working from the portal) is what lets them
    open the incident, comment on it and read its files; once the step is done, only what
    their scope gives otherwise remains."""
    granted = scope_filter(actor, _SCOPED)
    scopes = scopes_of(actor, "incident")
    if actor.user_id is None or "own" not in scopes or "all" in scopes:
        return granted
    return or_(granted, Incident.id.in_(step_incidents(actor)))


def dispatched_to(actor: Actor) -> ColumnElement[bool]:
    """The incidents dispatched to `actor`: assigned to them (or to whom they stand in
    for), or with an open process step in their inbox (see `step_incidents`)."""
    from openitsm.kernel.workflow.runtime import acting_people

    return or_(
        Incident.assignee_id.in_(sorted(acting_people(actor))),
        Incident.id.in_(step_incidents(actor)),
    )


INCIDENT = RecordKind(
    "incident",
    Incident,
    labels={"zh-CN": "事件", "en": "Incident"},
    describe=_describe,
    url="/incidents/{id}",
    scope=SCOPE,
    visibility=_visibility,
    shows=("number", "title", "status"),
    searched=("title", "description", "contact_phone", "resolution"),
    search_number="number",
    search_order=("-opened_at",),
    search_action=READ,
    list_url="/incidents?q={q}",
    default_scopes={
        "service_desk_agent": "service_units",
        "second_line_engineer": "department_subtree",
        "third_line_expert": "department_subtree",
        "supervisor": "all",
        "administrator": "all",
        "end_user": "own",
        "vendor": "own",
    },
)


# --- helpers --------------------------------------------------------------------------


def actor_of(session: Session) -> Actor:
    return session.info.get("actor") or SYSTEM


def _settings(session: Session) -> Any:
    kernel = session.info.get("kernel")
    if kernel is None:
        return None
    try:
        return kernel.plugins.settings_of(PLUGIN)
    except Exception:  # the plugin object was registered without its Settings (tests)
        return None


def reopen_days(session: Session) -> int:
    settings = _settings(session)
    return int(getattr(settings, "reopen_days", 14))


def site_zone(session: Session) -> ZoneInfo:
    """The site's time zone (`time_zone`): whose calendar years number incidents and whose
    calendar months the satisfaction statistics count by."""
    settings = _settings(session)
    return ZoneInfo(getattr(settings, "time_zone", "Asia/Shanghai"))


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    return validation.text(value, field, limit, required=required)


def _money(value: Any, field: str, limit: int) -> decimal.Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise BadUserInput(_t("Enter a number."), field=field) from None
    if not number.is_finite() or number < 0 or number >= 10**limit:
        raise BadUserInput(
            _t("{field} must be between 0 and {max}."),
            field=field,
            params={"field": field, "max": 10**limit},
        )
    return number.quantize(decimal.Decimal("0.01"))


def dictionary_code(session: Session, field: str, code: str | None) -> str | None:
    """`code` when it is an active item of the field's dictionary, else BAD_USER_INPUT."""
    return validation.dictionary_code(session, DICTIONARIES[field], code, field)


def _active_user(session: Session, user_id: int | None, field: str) -> User | None:
    return validation.active_user(session, user_id, INPUT_NAME.get(field, field))


def _active_department(session: Session, department_id: int | None) -> Department | None:
    return validation.active_department(session, department_id, "group")


def _service_unit(session: Session, unit_id: int | None) -> int | None:
    return validation.active_service_unit(session, unit_id)


def table_level(impact: str | None, urgency: str | None) -> str | None:
    """The level the module's own impact × urgency table gives (p1 most urgent), or None
    without both: what a site without SLA matrix rules for incidents gets."""
    if impact not in IMPACT_RANK or urgency not in URGENCY_RANK:
        return None
    return LEVELS[(IMPACT_RANK[impact] + URGENCY_RANK[urgency]) // 2 - 1]


def _category_chain(session: Session, code: str | None) -> tuple[str, ...]:
    """The category's code and its parents' codes, most specific first (one query), so a
    matrix rule on `hardware` applies to an incident filed under `printer`."""
    if not code:
        return ()
    rows = session.execute(
        select(DictionaryItem.id, DictionaryItem.parent_id, DictionaryItem.code)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(Dictionary.code == DICTIONARIES["category"])
    ).all()
    by_id = {row.id: row for row in rows}
    node = next((row for row in rows if row.code == code), None)
    chain: list[str] = []
    while node is not None and node.code not in chain:
        chain.append(node.code)
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    return tuple(chain) or (code,)


# Built once: every registration runs them.
_HAS_RULES = select(SlaRule.id).where(SlaRule.kind == bindparam("kind")).limit(1)
_CALLER_UNITS = select(UserServiceUnit.service_unit_id).where(
    UserServiceUnit.user_id == bindparam("user_id")
)


def determine_level(session: Session, incident: Incident) -> str | None:
    """The level of the SLA matrix of kind `incident` for the incident's category (with its
    parents), impact, urgency and service unit; where no rule of the matrix matches, the
    module's impact × urgency table (`table_level`). People may override it with a reason.

    Costs one query when the site has no matrix rules for incidents, four when it has.
    """
    from openitsm.kernel.sla import service as sla

    has_rules = session.scalar(_HAS_RULES, {"kind": INCIDENT.name})
    if has_rules is not None:
        unit = (
            session.scalar(
                select(ServiceUnit.code).where(ServiceUnit.id == incident.service_unit_id)
            )
            if incident.service_unit_id is not None
            else None
        )
        facts = {
            "category": _category_chain(session, incident.category),
            "impact": incident.impact,
            "urgency": incident.urgency,
            "service_unit": unit,
        }
        found = sla.determine_level(session, INCIDENT.name, facts)
        if found is not None:
            return found
    return table_level(incident.impact, incident.urgency)


def next_number(session: Session, when: dt.datetime | None = None) -> str:
    """The next number of the year in the site's zone, `INC-2026-000123`, from this
    module's counter table (see `openitsm.kernel.numbering`)."""
    return numbering.next_number(
        session, IncidentCounter, "INC", zone=site_zone(session), when=when
    )


def get_incident(session: Session, incident_id: int) -> Incident:
    """An incident the session's actor may read, else NOT_FOUND (as for a missing one)."""
    require(actor_of(session), READ)
    return get_visible(session, INCIDENT, incident_id)  # type: ignore[no-any-return]


def _checked_values(
    session: Session,
    values: Mapping[str, Any],
    incident: Incident | None,
    loaded: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Typed, validated values for the editable fields given (None clears, except title);
    the records read to check them are kept in `loaded` (`caller`), so they are read once."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise BadUserInput(
            _t("Incidents have no field '{field}'."), field=unknown[0], params={"field": unknown[0]}
        )
    checked: dict[str, Any] = {}
    if "title" in values:
        checked["title"] = _text(values["title"], "title", 200, required=True)
    if "description" in values:
        html = sanitise_html(values["description"] or "").strip()
        checked["description"] = html or None
    if "caller_id" in values:
        caller = _active_user(session, values["caller_id"], "caller_id")
        checked["caller_id"] = caller.id if caller else None
        if loaded is not None:
            loaded["caller"] = caller
    if "contact_phone" in values:
        checked["contact_phone"] = _text(values["contact_phone"], "contactPhone", 50)
    coded = {
        field: (DICTIONARIES[field], values[field])
        for field in ("category", "nature", "impact", "urgency", "level")
        if field in values
    }
    checked.update(validation.dictionary_codes(session, coded))
    if "level_reason" in values:
        checked["level_reason"] = _text(values["level_reason"], "levelReason", 500)
    if "service_unit_id" in values:
        checked["service_unit_id"] = _service_unit(session, values["service_unit_id"])
    return checked


# Fields whose change gives the incident its computed level again (the matrix's dimensions).
LEVEL_DIMENSIONS = ("category", "impact", "urgency", "service_unit_id", "level")


def _apply_level(
    session: Session, incident: Incident, checked: Mapping[str, Any], creating: bool
) -> None:
    """The level `determine_level` gives, recomputed when one of the matrix's dimensions
    changes; a level given by hand that differs from it needs a reason (and stays until one
    of those dimensions changes)."""
    if checked.get("level") is not None:
        if (
            not (incident.level_reason or "").strip()
            and determine_level(session, incident) != checked["level"]
        ):
            raise BadUserInput(
                _t("Say why the level differs from the one the SLA matrix gives."),
                field="levelReason",
            )
        return
    if creating or any(name in checked for name in LEVEL_DIMENSIONS):
        incident.level = determine_level(session, incident)
        incident.level_reason = None


def _guard(session: Session, fields: Mapping[str, Any]) -> None:
    own = [name for name in fields if name != "custom_fields"]
    check_write(session, "incident", own)


def _set_custom(
    session: Session, incident: Incident, values: Mapping[str, Any] | None, creating: bool
) -> None:
    if values is None:
        return
    checked = customfields.check_values(session, "incident", values, creating=creating)
    customfields.apply_values(session, incident, "incident", checked)


# --- creating and editing -------------------------------------------------------------


def create_incident(session: Session, **values: Any) -> Incident:
    """Register an incident. `title` is required; the caller must be an active user and
    every coded field an active dictionary item. Assigning at once takes
    `assignee_id`/`group_id` (and the `incident.assign` action). Starts the incident process
    when the site has one published."""
    actor = actor_of(session)
    require(actor, CREATE)
    begin_write(session)  # the counter row is written: SQLite writers queue from here
    popped = {k: values.pop(k) for k in ("assignee_id", "group_id") if k in values}
    assignment: dict[str, Any] = {k: v for k, v in popped.items() if v is not None}
    given = {k: v for k, v in values.items() if v is not None}
    _guard(session, {**given, **assignment})
    if "title" not in given:
        raise BadUserInput(_t("An incident needs a title."), field="title")
    loaded: dict[str, Any] = {}
    checked = _checked_values(session, given, None, loaded)
    custom = given.get("custom_fields")
    caller: User | None = loaded.get("caller")
    if caller is not None:
        if not checked.get("contact_phone") and caller.phone:
            checked["contact_phone"] = caller.phone
        if checked.get("service_unit_id") is None:
            units = list(session.scalars(_CALLER_UNITS, {"user_id": caller.id}))
            if len(units) == 1:
                checked["service_unit_id"] = units[0]
    now = utcnow()
    incident = Incident(
        number=next_number(session, now), status=NEW, opened_at=now, custom_fields={}, **checked
    )
    _apply_level(session, incident, checked, creating=True)
    session.add(incident)
    _set_custom(session, incident, custom, creating=True)
    flush(session)
    if assignment:
        _assign(session, incident, assignment.get("assignee_id"), assignment.get("group_id"))
    start_incident_process(session, incident)
    return incident


def update_incident(
    session: Session, incident_id: int, version: int, changes: Mapping[str, Any]
) -> Incident:
    """Change the given fields of an incident that is neither closed nor cancelled; a stale
    `version` is a CONFLICT and changes nothing."""
    require(actor_of(session), UPDATE)
    _guard(session, changes)
    incident = get_visible(session, INCIDENT, incident_id)
    check_version(incident, version, "incident")
    if incident.status in (CLOSED, CANCELLED):
        raise BadUserInput(
            _t("A {status} incident cannot be changed; reopen it first."),
            field="status",
            params={"status": incident.status},
        )
    if "title" in changes and changes["title"] is None:
        changes = {k: v for k, v in changes.items() if k != "title"}
    checked = _checked_values(session, changes, incident)
    for name, value in checked.items():
        setattr(incident, name, value)
    _apply_level(session, incident, checked, creating=False)
    _set_custom(session, incident, changes.get("custom_fields"), creating=False)
    flush(session)
    return incident  # type: ignore[no-any-return]


# --- the process ----------------------------------------------------------------------


def process_key(session: Session) -> str:
    return str(getattr(_settings(session), "process", "incident") or "")


def start_incident_process(session: Session, incident: Incident) -> Any:
    """Start the site's incident process for `incident`, if one is published (else None).

    The process reads the incident through the `workflow_record` hook."""
    from openitsm.kernel.workflow.runtime import start_process
    from openitsm.kernel.workflow.service import published_version

    key = process_key(session)
    if not key:
        return None
    version = published_version(session, key)
    if version is None:
        return None
    return start_process(
        session,
        session.info.get("kernel"),
        actor_of(session),
        key,
        title=f"{incident.number} {incident.title}",
        record_kind=INCIDENT.name,
        record_id=incident.id,
        version=version,
    )


# --- actions --------------------------------------------------------------------------


def _load(session: Session, incident_id: int, version: int | None, action: str) -> Incident:
    require(actor_of(session), action)
    incident: Incident = get_visible(session, INCIDENT, incident_id)
    if version is not None:
        check_version(incident, version, "incident")
    return incident


def _refuse(message: str, field: str = "status", **params: Any) -> BadUserInput:
    """A refusal of the incident's state; `message` is a `_t` template."""
    return BadUserInput(message, field=field, params=params)


def _require_open(incident: Incident, what: str) -> None:
    if incident.status not in OPEN:
        raise _refuse(
            _t("Only an open incident can be {what}; this one is {status}."),
            what=what,
            status=incident.status,
        )


def open_children(session: Session, incident_id: int) -> list[str]:
    """Numbers of the child incidents still open (whoever may see them)."""
    return list(
        session.scalars(
            select(Incident.number)
            .where(Incident.parent_id == incident_id, Incident.status.in_(OPEN))
            .order_by(Incident.id)
        )
    )


def _no_open_children(session: Session, incident: Incident, what: str) -> None:
    children = open_children(session, incident.id)
    if children:
        raise _refuse(
            _t("This incident cannot be {what} while its child incidents {children} are open."),
            what=what,
            children=", ".join(children),
        )


def _assign(
    session: Session, incident: Incident, assignee_id: int | None, group_id: int | None
) -> None:
    assignee = _active_user(session, assignee_id, "assignee_id")
    group = _active_department(session, group_id)
    if assignee is None and group is None:
        raise BadUserInput(_t("Choose an assignee, a group or both."), field="assignee")
    if assignee is not None:
        incident.assignee_id = assignee.id
        if group is None and incident.group_id is None:
            incident.group_id = assignee.department_id
    if group is not None:
        incident.group_id = group.id
        if assignee is None:
            incident.assignee_id = None  # handed to the group: any member takes it
    if incident.status in (NEW, ASSIGNED, IN_PROGRESS):
        incident.status = ASSIGNED
    flush(session)


def assign(
    session: Session,
    incident_id: int,
    version: int | None = None,
    *,
    assignee_id: int | None = None,
    group_id: int | None = None,
) -> Incident:
    """Give an open incident to a person and/or a group (department)."""
    _guard(
        session,
        {k: v for k, v in (("assignee_id", assignee_id), ("group_id", group_id)) if v is not None},
    )
    incident = _load(session, incident_id, version, ASSIGN)
    _require_open(incident, "assigned")
    _assign(session, incident, assignee_id, group_id)
    return incident


def start_work(session: Session, incident_id: int, version: int | None = None) -> Incident:
    """The assignee (or the actor, taking it) starts working: the response time is kept."""
    incident = _load(session, incident_id, version, UPDATE)
    if incident.status not in (NEW, ASSIGNED, WAITING):
        raise _refuse(_t("Work can start on a new, assigned or waiting incident only."))
    actor = actor_of(session)
    if incident.assignee_id is None and actor.user_id is not None:
        incident.assignee_id = actor.user_id
    incident.status = IN_PROGRESS
    if incident.responded_at is None:
        incident.responded_at = utcnow()
    flush(session)
    return incident


def wait_for_customer(session: Session, incident_id: int, version: int | None = None) -> Incident:
    """Work waits on the caller (the SLA clock pauses on this state)."""
    incident = _load(session, incident_id, version, UPDATE)
    if incident.status != IN_PROGRESS:
        raise _refuse(_t("Only an incident in progress can wait for the customer."))
    incident.status = WAITING
    flush(session)
    return incident


def resolve(
    session: Session,
    incident_id: int,
    version: int | None = None,
    *,
    resolution: str | None,
    cost: Any = None,
    work_hours: Any = None,
) -> Incident:
    """Resolve an open incident: the resolution is required; cost and work hours optional.
    A parent waits until its children are resolved."""
    _guard(
        session,
        {"resolution": resolution, **({"cost": cost} if cost is not None else {})}
        | ({"work_hours": work_hours} if work_hours is not None else {}),
    )
    incident = _load(session, incident_id, version, RESOLVE)
    _require_open(incident, "resolved")
    text = sanitise_html(resolution or "").strip()
    if not text:
        raise BadUserInput(_t("Describe the resolution."), field="resolution")
    costed = _money(cost, "cost", 10)
    hours = _money(work_hours, "workHours", 6)
    _no_open_children(session, incident, "resolved")
    now = utcnow()
    incident.resolution = text
    if costed is not None:
        incident.cost = costed
    if hours is not None:
        incident.work_hours = hours
    incident.status = RESOLVED
    incident.resolved_at = now
    if incident.responded_at is None:
        incident.responded_at = now
    flush(session)
    return incident


def close(session: Session, incident_id: int, version: int | None = None) -> Incident:
    """Close a resolved incident (after the caller confirmed, or the desk called back)."""
    incident = _load(session, incident_id, version, CLOSE)
    if incident.status != RESOLVED:
        raise _refuse(
            _t("Only a resolved incident can be closed; this one is {status}."),
            status=incident.status,
        )
    _no_open_children(session, incident, "closed")
    incident.status = CLOSED
    incident.closed_at = utcnow()
    flush(session)
    return incident


def reopen(session: Session, incident_id: int, version: int | None = None) -> Incident:
    """Reopen a resolved or closed incident within the site's period (`reopen_days`)."""
    incident = _load(session, incident_id, version, REOPEN)
    if incident.status not in (RESOLVED, CLOSED):
        raise _refuse(_t("Only a resolved or closed incident can be reopened."))
    days = reopen_days(session)
    resolved_at = incident.resolved_at or incident.closed_at or incident.opened_at
    if utcnow() - resolved_at > dt.timedelta(days=days):
        raise _refuse(
            _t(
                "This incident was resolved more than {days} days ago and can no longer be "
                "reopened; register a new one."
            ),
            days=days,
        )
    if incident.parent_id is not None:
        parent = session.get(Incident, incident.parent_id)
        if parent is not None and parent.status in FINISHED:
            raise _refuse(
                _t("Its parent incident {number} is {status}; reopen the parent first."),
                number=parent.number,
                status=parent.status,
            )
    incident.status = (
        IN_PROGRESS if incident.assignee_id else (ASSIGNED if incident.group_id else NEW)
    )
    incident.resolved_at = None
    incident.closed_at = None
    flush(session)
    return incident


def cancel(session: Session, incident_id: int, version: int | None = None) -> Incident:
    """Cancel an open incident registered by mistake (its history stays)."""
    incident = _load(session, incident_id, version, CANCEL)
    _require_open(incident, "cancelled")
    incident.status = CANCELLED
    incident.closed_at = utcnow()
    flush(session)
    return incident


def rate(
    session: Session,
    incident_id: int,
    version: int | None = None,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> Incident:
    """The caller's (or the desk's call-back) satisfaction, 1 to 5, once resolved or closed."""
    _guard(session, {"satisfaction": satisfaction, "satisfaction_comment": comment})
    incident = _load(session, incident_id, version, RATE)
    if incident.status not in (RESOLVED, CLOSED):
        raise _refuse(
            _t(
                "Satisfaction can be given once the incident is resolved or closed; "
                "this one is {status}."
            ),
            field="satisfaction",
            status=incident.status,
        )
    if not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise BadUserInput(_t("Rate from 1 to 5."), field="satisfaction")
    incident.satisfaction = satisfaction
    incident.satisfaction_comment = _text(comment, "satisfactionComment", 1000)
    flush(session)
    return incident


def link_parent(
    session: Session, incident_id: int, parent_id: int | None, version: int | None = None
) -> Incident:
    """Make `parent_id` the incident's parent (None unlinks it). A parent must be visible,
    not the incident itself or one of its descendants, and still open while the child is."""
    _guard(session, {"parent_id": parent_id})
    incident = _load(session, incident_id, version, UPDATE)
    if parent_id is not None:
        parent: Incident = get_visible(session, INCIDENT, parent_id)
        seen = {incident.id}
        node: Incident | None = parent
        while node is not None:
            if node.id in seen:
                raise BadUserInput(
                    _t("An incident cannot be its own parent or the parent of its parent."),
                    field="parent",
                )
            seen.add(node.id)
            node = session.get(Incident, node.parent_id) if node.parent_id else None
        if parent.status in FINISHED and incident.status in OPEN:
            raise _refuse(
                _t("The parent {number} is {status}: an open incident cannot go under it."),
                field="parent",
                number=parent.number,
                status=parent.status,
            )
    incident.parent_id = parent_id
    flush(session)
    return incident


# --- the caller's side: the self-service portal ---------------------------------------


def followed_condition(actor: Actor) -> ColumnElement[bool]:
    """The incidents a person follows on the portal: those they reported, and those of
    their service units. The data scope narrows both (`own` leaves only their own)."""
    conditions = [Incident.caller_id == actor.user_id]
    if actor.service_unit_ids:
        conditions.append(Incident.service_unit_id.in_(sorted(actor.service_unit_ids)))
    return or_(*conditions)


def followed_incidents(session: Session, limit: int, actor: Actor | None = None) -> list[Incident]:
    """The `limit` incidents `actor` (the session's by default) follows on the portal, the
    last changed first, in one query under their data scope; none without `incident.read`."""
    actor = actor or actor_of(session)
    if actor.user_id is None or not actor.can(READ):
        return []
    statement = visible(select(Incident).where(followed_condition(actor)), actor, INCIDENT)
    return list(
        session.scalars(
            statement.order_by(Incident.updated_at.desc(), Incident.id.desc()).limit(limit)
        )
    )


def get_followed(session: Session, incident_id: int) -> Incident:
    """An incident the session's actor follows on the portal (see `followed_incidents`),
    else NOT_FOUND, as for one that does not exist."""
    actor = require(actor_of(session), READ)
    incident = (
        session.scalar(
            visible(
                select(Incident).where(Incident.id == incident_id, followed_condition(actor)),
                actor,
                INCIDENT,
            )
        )
        if actor.user_id is not None
        else None
    )
    if incident is None:
        raise NotFound(
            _t("No {kind} with id {id}."),
            field="id",
            params={"kind": "incident", "id": incident_id},
        )
    return incident


def receive_information(session: Session, incident_id: int) -> Incident:
    """Information from the caller's side arrives on a followed incident (the page adds the
    comment and files in the same unit of work). A closed or cancelled incident takes no
    more; the caller's own answer takes an incident waiting for them back to work (in
    progress, so its SLA clock runs again), while a colleague's only adds to it."""
    incident = get_followed(session, incident_id)
    if incident.status in (CLOSED, CANCELLED):
        raise _refuse(
            _t("A closed or cancelled incident takes no more information; report a new one."),
            field="body",
        )
    if incident.status == WAITING and incident.caller_id == actor_of(session).user_id:
        incident.status = IN_PROGRESS
        flush(session)
    return incident


def rate_as_caller(
    session: Session,
    incident_id: int,
    version: int | None = None,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> Incident:
    """The caller's own satisfaction from the portal: theirs only, once (a desk's call-back
    may still correct it through `rate`); the rest of `rate`'s rules apply."""
    incident = get_followed(session, incident_id)
    if incident.caller_id is None or incident.caller_id != actor_of(session).user_id:
        raise Forbidden(_t("Only the person who reported an incident may rate it here."))
    if incident.satisfaction is not None:
        raise _refuse(_t("You have already rated this incident."), field="satisfaction")
    return rate(session, incident_id, version, satisfaction=satisfaction, comment=comment)
