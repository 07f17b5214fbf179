"""Complaint operations: the one place that creates, changes and moves complaints.

Every function takes the unit of work it is given (its actor is the session's), checks the
action, the data scope and the field rules, validates everything before it writes, and never
commits. GraphQL, the pages and the demo data all come through here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openitsm.kernel import (
    SYSTEM,
    Actor,
    BadUserInput,
    NotFound,
    RecordKind,
    RecordRef,
    check_version,
    flush,
    numbering,
    require,
    utcnow,
    validation,
)
from openitsm.kernel.access.fields import check_write, field_access
from openitsm.kernel.access.scope import ScopeColumns, get_visible, visible
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.db.session import begin_write
from openitsm.kernel.errors import _t
from openitsm.kernel.forms import sanitise_html
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.kernel.links import service as links
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.links.relations import ARCHIVED_TO, CAUSED_BY
from openitsm.kernel.organisation.models import Department, UserServiceUnit
from openitsm.plugins.complaint.models import (
    ANSWERED,
    CANCELLED,
    CLOSED,
    FEEDBACK_GIVEN,
    IN_PROGRESS,
    NEW,
    OPEN,
    ROUTED,
    SEVERITIES,
    Complaint,
    ComplaintCounter,
)

PLUGIN = "complaint"
# The actions roles grant; see plugin.ACTIONS for who gets them by default.
READ = "complaint.read"
CREATE = "complaint.create"
UPDATE = "complaint.update"
ASSIGN = "complaint.assign"
FEEDBACK = "complaint.feedback"
CLOSE = "complaint.close"
REOPEN = "complaint.reopen"
CANCEL = "complaint.cancel"
RATE = "complaint.rate"

FEEDBACK_EVENT = "complaint.feedback_given"
# The kernel dictionaries (its default ITSM set) each coded field takes its values from.
DICTIONARIES = {
    "channel": "complaint_source",
    "category": "complaint_type",
    "nature": "complaint_nature",
}
# Fields `create_complaint` and `update_complaint` accept (links as ids).
EDITABLE = (
    "title",
    "description",
    "complainant_id",
    "contact_phone",
    "channel",
    "category",
    "nature",
    "severity",
    "caused_by",
    "service_unit_id",
    "custom_fields",
)
SEARCHED = ("number", "title", "description", "contact_phone", "feedback")
# How service fields are called in GraphQL input, for errors clients can place.
INPUT_NAME = {
    "complainant_id": "complainant",
    "contact_phone": "contactPhone",
    "service_unit_id": "serviceUnit",
    "assignee_id": "assignee",
    "department_id": "department",
    "caused_by": "causedBy",
    "satisfaction_comment": "satisfactionComment",
    "custom_fields": "customFields",
}
REFERENCE = re.compile(r"^([a-z][a-z0-9_]*):([0-9]{1,18})$")


def _describe(complaint: Complaint) -> dict[str, Any]:
    return {"title": f"{complaint.number} {complaint.title}", "status": complaint.status}


COMPLAINT = RecordKind(
    "complaint",
    Complaint,
    labels={"zh-CN": "投诉", "en": "Complaint"},
    describe=_describe,
    url="/complaints/{id}",
    scope=ScopeColumns(
        owner=("complainant_id", "assignee_id"),
        department="department_id",
        service_unit="service_unit_id",
    ),
    shows=("number", "title", "status"),
    searched=("title", "description", "contact_phone", "feedback"),
    # Kept as the kernel's record links from the complaint, not as columns: one store, which
    # both records' pages show, under these fields' rules.
    link_fields={CAUSED_BY: "caused_by", ARCHIVED_TO: "archived_to"},
    search_number="number",
    search_order=("-opened_at",),
    search_action=READ,
    list_url="/complaints?q={q}",
    default_scopes={
        "service_desk_agent": "service_units",
        "second_line_engineer": "department_subtree",
        "third_line_expert": "department_subtree",
        "supervisor": "all",
        "administrator": "all",
        "end_user": "own",
    },
)


# --- helpers --------------------------------------------------------------------------


def actor_of(session: Session) -> Actor:
    return session.info.get("actor") or SYSTEM


def _kernel(session: Session) -> Any:
    return session.info.get("kernel")


def _settings(session: Session) -> Any:
    kernel = _kernel(session)
    if kernel is None:
        return None
    try:
        return kernel.plugins.settings_of(PLUGIN)
    except Exception:  # the plugin object was registered without its Settings (tests)
        return None


def reopen_days(session: Session) -> int:
    return int(getattr(_settings(session), "reopen_days", 14))


def _site_zone(session: Session) -> ZoneInfo:
    return ZoneInfo(getattr(_settings(session), "time_zone", "Asia/Shanghai"))


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    return validation.text(value, field, limit, required=required)


def dictionary_code(session: Session, field: str, code: str | None) -> str | None:
    """`code` when it is an active item of the field's dictionary, else BAD_USER_INPUT."""
    return validation.dictionary_code(session, DICTIONARIES[field], code, field)


def _severity(value: str | None) -> str:
    code = (value or "").strip() or "minor"
    if code not in SEVERITIES:
        raise BadUserInput(
            _t("The severity is one of {choices}."),
            field="severity",
            params={"choices": ", ".join(SEVERITIES)},
        )
    return code


def _active_user(session: Session, user_id: int | None, field: str) -> User | None:
    return validation.active_user(session, user_id, INPUT_NAME.get(field, field))


def _active_department(session: Session, department_id: int | None) -> Department | None:
    return validation.active_department(session, department_id, "department")


def _service_unit(session: Session, unit_id: int | None) -> int | None:
    return validation.active_service_unit(session, unit_id)


def _by_number(session: Session, actor: Actor, text: str) -> RecordRef | None:
    """The record whose number is exactly `text` (`INC-2026-000042`) among the kinds the
    actor may search and whose number field they may read: one query per such kind."""
    kinds = _kernel(session).record_kinds
    for kind in kinds.kinds.values():
        number = kind.search_number
        if (
            not number
            or number == "id"
            or (kind.search_action and not actor.can(kind.search_action))
        ):
            continue
        if not field_access(actor, kind.name).readable(number):
            continue
        found = session.scalar(
            visible(select(kind.model.id), actor, kind)
            .where(getattr(kind.model, number) == text)
            .limit(1)
        )
        if found is not None:
            return RecordRef(kind.name, found)
    return None


def parse_reference(session: Session, text: str | None) -> RecordRef | None:
    """The record a complaint says caused it: `incident:42`, or a record's number. Any kind
    an enabled module registers will do, but only a record the actor may see; anything else
    is BAD_USER_INPUT on `causedBy`."""
    text = (text or "").strip()
    if not text:
        return None
    kernel = _kernel(session)
    if kernel is None:
        raise BadUserInput(_t("Records cannot be looked up here."), field="causedBy")
    kinds, actor = kernel.record_kinds, actor_of(session)
    match = REFERENCE.match(text)
    ref = RecordRef(match[1], int(match[2])) if match else _by_number(session, actor, text[:100])
    if ref is None or ref.kind not in kinds:
        raise BadUserInput(
            _t("'{reference}' names no record; give one like incident:42, or its number."),
            field="causedBy",
            params={"reference": text[:100]},
        )
    if not kinds.exists(session, ref, actor):
        raise BadUserInput(
            _t("There is no {kind} {id} that you may see."),
            field="causedBy",
            params={"kind": ref.kind, "id": ref.id},
        )
    return ref


def linked(session: Session, relation: str, complaint_ids: Iterable[int]) -> dict[int, RecordRef]:
    """The record each complaint is linked to by `relation` (the newest link, should there be
    several), whether or not anyone may see it: one query, whatever the number of complaints."""
    ids = sorted(set(complaint_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(RecordLink.source_id, RecordLink.target_kind, RecordLink.target_id)
        .where(
            RecordLink.source_kind == COMPLAINT.name,
            RecordLink.source_id.in_(ids),
            RecordLink.relation == relation,
        )
        .order_by(RecordLink.id)
    )
    return {source_id: RecordRef(kind, target_id) for source_id, kind, target_id in rows}


def visible_links(
    session: Session, relation: str, complaint_ids: Iterable[int], actor: Actor
) -> dict[int, RecordRef]:
    """`linked`, less the records `actor` may not see (or whose module is gone): one query for
    the links and one per kind of linked record."""
    found = linked(session, relation, complaint_ids)
    if not found:
        return {}
    seen = _kernel(session).record_kinds.fetch(session, set(found.values()), actor)
    return {complaint_id: ref for complaint_id, ref in found.items() if ref in seen}


def cause_of(session: Session, complaint_id: int, actor: Actor | None = None) -> RecordRef | None:
    """What caused the complaint, as far as `actor` may see it; the system sees it all."""
    if actor is None:
        return linked(session, CAUSED_BY, [complaint_id]).get(complaint_id)
    return visible_links(session, CAUSED_BY, [complaint_id], actor).get(complaint_id)


def archived_to(session: Session, complaint_id: int) -> RecordRef | None:
    """The knowledge draft the complaint was archived to, while it exists."""
    ref = linked(session, ARCHIVED_TO, [complaint_id]).get(complaint_id)
    if ref is None or not _kernel(session).record_kinds.fetch(session, [ref]):
        return None
    return ref


def _granted(session: Session) -> Actor:
    """The session's actor, allowed the link its action implies (history still names them)."""
    actor = actor_of(session)
    return actor if actor is SYSTEM else dataclasses.replace(actor, superuser=True)


def _link(session: Session, complaint: Complaint, target: RecordRef, relation: str) -> None:
    """Link the complaint to `target` in the kernel's record links, the one store of its cause
    and its knowledge draft, so both records' pages list it ("Causes CMP-…"). What the
    complaint's own action allowed (the cause was checked visible to the actor, the field
    writable) grants the link: like the hand-overs between modules, it needs no
    `record.link`. Written into both records' history."""
    links.add_link(
        session, RecordRef(COMPLAINT.name, complaint.id), target, relation, _granted(session)
    )


def _replace_cause(session: Session, complaint: Complaint, cause: RecordRef | None) -> None:
    """Make `cause` the complaint's only `caused_by` link (none: no cause), in this unit of
    work: the links to anything else are removed, each written into history."""
    source = RecordRef(COMPLAINT.name, complaint.id)
    kinds, actor = _kernel(session).record_kinds, _granted(session)
    current = session.execute(
        select(RecordLink.target_kind, RecordLink.target_id).where(
            RecordLink.source_kind == COMPLAINT.name,
            RecordLink.source_id == complaint.id,
            RecordLink.relation == CAUSED_BY,
        )
    ).all()
    for kind, target_id in current:
        old = RecordRef(kind, target_id)
        if old == cause or kind not in kinds:  # a disabled module's record is left alone
            continue
        with contextlib.suppress(NotFound):  # gone with its record, or removed meanwhile
            links.remove_link(session, source, old, CAUSED_BY, actor)
    if cause is not None:
        _link(session, complaint, cause, CAUSED_BY)


def next_number(session: Session, when: dt.datetime | None = None) -> str:
    """The next number of the year in the site's zone, `CMP-2026-000123`, from this
    module's counter table (see `openitsm.kernel.numbering`)."""
    return numbering.next_number(
        session, ComplaintCounter, "CMP", zone=_site_zone(session), when=when
    )


def get_complaint(session: Session, complaint_id: int) -> Complaint:
    """A complaint the session's actor may read, else NOT_FOUND (as for a missing one)."""
    require(actor_of(session), READ)
    return get_visible(session, COMPLAINT, complaint_id)  # type: ignore[no-any-return]


def _checked_values(
    session: Session, values: Mapping[str, Any], complaint: Complaint | None
) -> dict[str, Any]:
    """Typed, validated values for the editable fields given (None clears, except title);
    `caused_by` comes back as a `RecordRef` (or None), which is a link, not a column."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise BadUserInput(
            _t("Complaints have no field '{field}'."),
            field=unknown[0],
            params={"field": unknown[0]},
        )
    checked: dict[str, Any] = {}
    if "title" in values:
        checked["title"] = _text(values["title"], "title", 200, required=True)
    if "description" in values:
        checked["description"] = sanitise_html(values["description"] or "").strip() or None
    if "complainant_id" in values:
        complainant = _active_user(session, values["complainant_id"], "complainant_id")
        checked["complainant_id"] = complainant.id if complainant else None
    if "contact_phone" in values:
        checked["contact_phone"] = _text(values["contact_phone"], "contactPhone", 50)
    for field in DICTIONARIES:
        if field in values:
            checked[field] = dictionary_code(session, field, values[field])
    if "severity" in values:
        checked["severity"] = _severity(values["severity"])
    if "caused_by" in values:
        ref = parse_reference(session, values["caused_by"])
        if complaint is not None and ref == RecordRef(COMPLAINT.name, complaint.id):
            raise BadUserInput(_t("A complaint cannot be caused by itself."), field="causedBy")
        checked["caused_by"] = ref
    if "service_unit_id" in values:
        checked["service_unit_id"] = _service_unit(session, values["service_unit_id"])
    return checked


def _guard(session: Session, fields: Mapping[str, Any]) -> None:
    check_write(session, COMPLAINT.name, [name for name in fields if name != "custom_fields"])


def _set_custom(
    session: Session, complaint: Complaint, values: Mapping[str, Any] | None, creating: bool
) -> None:
    if values is None:
        return
    checked = customfields.check_values(session, COMPLAINT.name, values, creating=creating)
    customfields.apply_values(session, complaint, COMPLAINT.name, checked)


def routed_department(session: Session, category: str | None) -> int | None:
    """The responsible department the site's `category_departments` names for `category`
    (an active department), or None: how a complaint is routed by its category."""
    mapping = getattr(_settings(session), "category_departments", None) or {}
    code = mapping.get(category or "")
    if not code:
        return None
    return session.scalar(  # type: ignore[no-any-return]
        select(Department.id).where(Department.code == code, Department.active.is_(True))
    )


# --- creating and editing -------------------------------------------------------------


def create_complaint(session: Session, **values: Any) -> Complaint:
    """Register a complaint. `title` is required; the complainant must be an active user,
    channel, category and nature active dictionary items, `caused_by` a record the actor may
    see (kept as the complaint's `caused_by` link, made in the same unit of work).
    Routing at once takes `department_id`/`assignee_id` (and `complaint.assign`); without
    them the category may name the responsible department (`category_departments`).
    Starts the complaint process when the site has one published."""
    require(actor_of(session), CREATE)
    begin_write(session)  # the counter row is written: SQLite writers queue from here
    popped = {k: values.pop(k) for k in ("assignee_id", "department_id") if k in values}
    assignment: dict[str, Any] = {k: v for k, v in popped.items() if v is not None}
    given = {k: v for k, v in values.items() if v is not None}
    _guard(session, {**given, **assignment})
    if assignment:
        require(actor_of(session), ASSIGN)
    if "title" not in given:
        raise BadUserInput(_t("A complaint needs a title."), field="title")
    checked = _checked_values(session, given, None)
    checked.setdefault("severity", "minor")
    complainant = (
        session.get(User, checked["complainant_id"]) if checked.get("complainant_id") else None
    )
    if complainant is not None:
        if not checked.get("contact_phone") and complainant.phone:
            checked["contact_phone"] = complainant.phone
        if checked.get("service_unit_id") is None:
            units = list(
                session.scalars(
                    select(UserServiceUnit.service_unit_id).where(
                        UserServiceUnit.user_id == complainant.id
                    )
                )
            )
            if len(units) == 1:
                checked["service_unit_id"] = units[0]
    cause = checked.pop("caused_by", None)
    now = utcnow()
    complaint = Complaint(
        number=next_number(session, now), status=NEW, opened_at=now, custom_fields={}, **checked
    )
    session.add(complaint)
    _set_custom(session, complaint, given.get("custom_fields"), creating=True)
    flush(session)
    if cause is not None:
        _link(session, complaint, cause, CAUSED_BY)
    if not assignment:
        by_category = routed_department(session, complaint.category)
        if by_category is not None:
            assignment = {"department_id": by_category}
    if assignment:
        _assign(session, complaint, assignment.get("department_id"), assignment.get("assignee_id"))
    start_complaint_process(session, complaint)
    return complaint


def update_complaint(
    session: Session, complaint_id: int, version: int, changes: Mapping[str, Any]
) -> Complaint:
    """Change the given fields of a complaint that is neither closed nor cancelled; a stale
    `version` is a CONFLICT and changes nothing. A new `caused_by` replaces the complaint's
    cause link (None removes it) and counts as an edit of the complaint (its version moves)."""
    require(actor_of(session), UPDATE)
    _guard(session, changes)
    complaint: Complaint = get_visible(session, COMPLAINT, complaint_id)
    check_version(complaint, version, "complaint")
    if complaint.status in (CLOSED, CANCELLED):
        raise BadUserInput(
            _t("A {status} complaint cannot be changed; reopen it first."),
            field="status",
            params={"status": complaint.status},
        )
    if "title" in changes and changes["title"] is None:
        changes = {k: v for k, v in changes.items() if k != "title"}
    if "severity" in changes and changes["severity"] is None:
        changes = {k: v for k, v in changes.items() if k != "severity"}
    checked = _checked_values(session, changes, complaint)
    recaused = "caused_by" in checked and checked["caused_by"] != cause_of(session, complaint.id)
    cause = checked.pop("caused_by", None)
    for name, value in checked.items():
        setattr(complaint, name, value)
    _set_custom(session, complaint, changes.get("custom_fields"), creating=False)
    if recaused:
        complaint.updated_at = utcnow()  # no column changes, but the complaint does
    flush(session)
    if recaused:
        _replace_cause(session, complaint, cause)
    return complaint


# --- the process ----------------------------------------------------------------------


def process_key(session: Session) -> str:
    return str(getattr(_settings(session), "process", "complaint") or "")


def start_complaint_process(session: Session, complaint: Complaint) -> Any:
    """Start the site's complaint process for `complaint`, if one is published (else None).

    The process reads the complaint through the `workflow_record` hook."""
    from openitsm.kernel.workflow.models import PUBLISHED, ProcessVersion
    from openitsm.kernel.workflow.runtime import start_process

    key = process_key(session)
    if not key:
        return None
    published = session.scalar(
        select(func.count())
        .select_from(ProcessVersion)
        .where(ProcessVersion.key == key, ProcessVersion.state == PUBLISHED)
    )
    if not published:
        return None
    return start_process(
        session,
        _kernel(session),
        actor_of(session),
        key,
        title=f"{complaint.number} {complaint.title}",
        record_kind=COMPLAINT.name,
        record_id=complaint.id,
    )


# --- actions --------------------------------------------------------------------------


def _load(session: Session, complaint_id: int, version: int | None, action: str) -> Complaint:
    require(actor_of(session), action)
    complaint: Complaint = get_visible(session, COMPLAINT, complaint_id)
    if version is not None:
        check_version(complaint, version, "complaint")
    return complaint


def _refuse(message: str, field: str = "status", **params: Any) -> BadUserInput:
    """A refusal of the complaint's state; `message` is a `_t` template."""
    return BadUserInput(message, field=field, params=params)


def _require_open(complaint: Complaint, what: str) -> None:
    if complaint.status not in OPEN:
        raise _refuse(
            _t("Only an open complaint can be {what}; this one is {status}."),
            what=what,
            status=complaint.status,
        )


def _assign(
    session: Session, complaint: Complaint, department_id: int | None, assignee_id: int | None
) -> None:
    department = _active_department(session, department_id)
    assignee = _active_user(session, assignee_id, "assignee_id")
    if assignee is None and department is None:
        raise BadUserInput(
            _t("Choose the responsible department, an assignee or both."), field="department"
        )
    if assignee is not None:
        complaint.assignee_id = assignee.id
        if department is None and complaint.department_id is None:
            complaint.department_id = assignee.department_id
    if department is not None:
        complaint.department_id = department.id
        if assignee is None:
            complaint.assignee_id = None  # handed to the department: any member takes it
    complaint.status = ROUTED
    if complaint.routed_at is None:
        complaint.routed_at = utcnow()
    flush(session)


def assign(
    session: Session,
    complaint_id: int,
    version: int | None = None,
    *,
    department_id: int | None = None,
    assignee_id: int | None = None,
) -> Complaint:
    """Route an open complaint to the responsible department and/or a person (转办)."""
    _guard(
        session,
        {
            k: v
            for k, v in (("department_id", department_id), ("assignee_id", assignee_id))
            if v is not None
        },
    )
    complaint = _load(session, complaint_id, version, ASSIGN)
    _require_open(complaint, "routed")
    _assign(session, complaint, department_id, assignee_id)
    return complaint


def start_work(session: Session, complaint_id: int, version: int | None = None) -> Complaint:
    """The handler starts on the complaint (taking it when nobody has it): the first
    response time is kept."""
    complaint = _load(session, complaint_id, version, UPDATE)
    if complaint.status not in (NEW, ROUTED):
        raise _refuse(_t("Work can start on a new or routed complaint only."))
    actor = actor_of(session)
    if complaint.assignee_id is None and actor.user_id is not None:
        complaint.assignee_id = actor.user_id
    complaint.status = IN_PROGRESS
    if complaint.responded_at is None:
        complaint.responded_at = utcnow()
    flush(session)
    return complaint


def give_feedback(
    session: Session, complaint_id: int, version: int | None = None, *, feedback: str | None
) -> Complaint:
    """Record what was done and its result (反馈); the complainant is told, with a link to
    rate their satisfaction."""
    _guard(session, {"feedback": feedback})
    complaint = _load(session, complaint_id, version, FEEDBACK)
    _require_open(complaint, "answered")
    text = sanitise_html(feedback or "").strip()
    if not text:
        raise BadUserInput(_t("Say what was done and what came of it."), field="feedback")
    now = utcnow()
    complaint.feedback = text
    complaint.status = FEEDBACK_GIVEN
    complaint.feedback_at = now
    if complaint.responded_at is None:
        complaint.responded_at = now
    flush(session)
    _tell_complainant(session, complaint)
    return complaint


def _tell_complainant(session: Session, complaint: Complaint) -> None:
    if complaint.complainant_id is None or _kernel(session) is None:
        return
    from openitsm.kernel.notifications import notify

    ref = RecordRef(COMPLAINT.name, complaint.id)
    notify(
        session,
        FEEDBACK_EVENT,
        [complaint.complainant_id],
        record=ref,
        values={"by": actor_of(session).label},
        url=_rating_url(session, complaint),
        key=f"{ref}:feedback:{complaint.version}",
    )


def _rating_url(session: Session, complaint: Complaint) -> str:
    """Where the complainant rates the handling: the self-service portal's page when that is
    their home, else the complaint's page; the rating form is at `#rate` on both."""
    try:
        from openitsm.plugins.complaint.portal import rating_url
    except ImportError:  # a site without the web portal
        rating_url = None
    found = rating_url(session, _kernel(session), complaint) if rating_url else None
    return found or f"/complaints/{complaint.id}#rate"


def close(session: Session, complaint_id: int, version: int | None = None) -> Complaint:
    """Close a complaint once its feedback is given (after the desk's review and call-back)."""
    complaint = _load(session, complaint_id, version, CLOSE)
    if complaint.status != FEEDBACK_GIVEN:
        raise _refuse(
            _t("Only a complaint with feedback can be closed; this one is {status}."),
            status=complaint.status,
        )
    complaint.status = CLOSED
    complaint.closed_at = utcnow()
    flush(session)
    return complaint


def reopen(session: Session, complaint_id: int, version: int | None = None) -> Complaint:
    """Take a complaint with feedback (or closed) back to work within `reopen_days` of its
    feedback; its satisfaction is cleared, so the next feedback can be rated again."""
    complaint = _load(session, complaint_id, version, REOPEN)
    if complaint.status not in ANSWERED:
        raise _refuse(_t("Only a complaint with feedback or a closed one can be reopened."))
    days = reopen_days(session)
    answered = complaint.feedback_at or complaint.closed_at or complaint.opened_at
    if utcnow() - answered > dt.timedelta(days=days):
        raise _refuse(
            _t(
                "This complaint was answered more than {days} days ago and can no longer be "
                "reopened; register a new one."
            ),
            days=days,
        )
    complaint.status = (
        IN_PROGRESS if complaint.assignee_id else (ROUTED if complaint.department_id else NEW)
    )
    complaint.feedback_at = None
    complaint.closed_at = None
    complaint.satisfaction = None
    complaint.satisfaction_comment = None
    flush(session)
    return complaint


def cancel(session: Session, complaint_id: int, version: int | None = None) -> Complaint:
    """Cancel an open complaint registered by mistake (its history stays)."""
    complaint = _load(session, complaint_id, version, CANCEL)
    _require_open(complaint, "cancelled")
    complaint.status = CANCELLED
    complaint.closed_at = utcnow()
    flush(session)
    return complaint


def rate(
    session: Session,
    complaint_id: int,
    version: int | None = None,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> Complaint:
    """The complainant's satisfaction (or the desk's call-back), 1 to 5, once the feedback
    is given; once only."""
    _guard(session, {"satisfaction": satisfaction, "satisfaction_comment": comment})
    complaint = _load(session, complaint_id, version, RATE)
    if complaint.status not in ANSWERED:
        raise _refuse(
            _t("Satisfaction can be given once the feedback is given; this complaint is {status}."),
            field="satisfaction",
            status=complaint.status,
        )
    if complaint.satisfaction is not None:
        raise _refuse(_t("This complaint has been rated already."), field="satisfaction")
    if isinstance(satisfaction, bool) or not isinstance(satisfaction, int):
        raise BadUserInput(_t("Rate from 1 to 5."), field="satisfaction")
    if not 1 <= satisfaction <= 5:
        raise BadUserInput(_t("Rate from 1 to 5."), field="satisfaction")
    complaint.satisfaction = satisfaction
    complaint.satisfaction_comment = _text(comment, "satisfactionComment", 1000)
    flush(session)
    return complaint


# --- archive to knowledge -------------------------------------------------------------

HEADINGS = {
    "description": {"zh-CN": "投诉内容", "en": "The complaint"},
    "feedback": {"zh-CN": "处理反馈", "en": "What was done"},
}


def may_archive(session: Session) -> bool:
    """Whether some enabled module takes knowledge drafts (the button is offered only then)."""
    kernel = _kernel(session)
    return kernel is not None and bool(kernel.offers("archive_to_knowledge"))


def knowledge_draft(session: Session, complaint: Complaint) -> Any:
    """The `RecordDraft` handed to the knowledge module: title, the description and the
    feedback, the coded fields and the cause — only what the actor may read and see."""
    from openitsm.kernel.hookspecs import RecordDraft

    actor = actor_of(session)
    access = field_access(actor, COMPLAINT.name)
    locale = actor.locale or "zh-CN"
    parts = []
    for field in ("description", "feedback"):
        value = getattr(complaint, field)
        if value and access.readable(field):
            parts.append(f"<h2>{pick_label(HEADINGS[field], locale, field)}</h2>{value}")
    fields = {
        name: getattr(complaint, column)
        for name, column in (
            ("category", "category"),
            ("channel", "channel"),
            ("nature", "nature"),
            ("severity", "severity"),
            ("resolution", "feedback"),
            ("complainant", "complainant_id"),
        )
        if getattr(complaint, column) is not None and access.readable(column)
    }
    cause = cause_of(session, complaint.id, actor) if access.readable("caused_by") else None
    if cause is not None:
        fields["caused_by"] = str(cause)
    return RecordDraft(
        source=RecordRef(COMPLAINT.name, complaint.id),
        title=complaint.title if access.readable("title") else complaint.number,
        body_html=sanitise_html("".join(parts)),
        fields=fields,
    )


def archive_to_knowledge(
    session: Session, complaint_id: int, version: int | None = None
) -> RecordRef:
    """Hand a complaint with feedback to the knowledge module as a draft article (归档知识库)
    and link the complaint to it (`archived_to`); once per complaint, while the draft exists.
    Refused (`BAD_USER_INPUT`, `reason` `UNSUPPORTED`) when no enabled module takes
    knowledge drafts."""
    _guard(session, {"archived_to": True})
    complaint = _load(session, complaint_id, version, UPDATE)
    kernel = _kernel(session)
    if not may_archive(session):
        raise BadUserInput(
            _t("No enabled module takes knowledge articles, so nothing can be archived."),
            field="knowledge",
            reason="UNSUPPORTED",
        )
    if complaint.status not in ANSWERED:
        raise _refuse(
            _t("Give the feedback first: a {status} complaint has nothing to archive."),
            status=complaint.status,
        )
    archived = archived_to(session, complaint.id)
    if archived is not None:
        raise _refuse(
            _t("This complaint is archived already ({reference})."),
            field="knowledge",
            reference=str(archived),
        )
    draft = knowledge_draft(session, complaint)
    made = kernel.hook.archive_to_knowledge(
        kernel=kernel, session=session, actor=actor_of(session), draft=draft
    )
    if not isinstance(made, RecordRef) or made.kind not in kernel.record_kinds:
        # nothing to link to: the unit of work undoes whatever the other side wrote
        raise BadUserInput(
            _t("No module took the knowledge draft; nothing was archived."),
            field="knowledge",
            reason="UNSUPPORTED",
        )
    complaint.updated_at = utcnow()  # an edit of the complaint: its version moves
    flush(session)
    _link(session, complaint, made, ARCHIVED_TO)
    return made


# --- the complainant's own view (the self-service portal) -----------------------------


def followed_complaints(
    session: Session, limit: int, actor: Actor | None = None
) -> list[Complaint]:
    """The `limit` complaints `actor` (the session's by default) made, the last changed
    first, in one query under their data scope; none without `complaint.read`. Unlike
    incidents, colleagues' complaints are not shared: a complaint is personal."""
    actor = actor or actor_of(session)
    if actor.user_id is None or not actor.can(READ):
        return []
    statement = visible(
        select(Complaint).where(Complaint.complainant_id == actor.user_id), actor, COMPLAINT
    )
    return list(
        session.scalars(
            statement.order_by(Complaint.updated_at.desc(), Complaint.id.desc()).limit(limit)
        )
    )


def get_followed(session: Session, complaint_id: int) -> Complaint:
    """A complaint the session's actor made (and may see), else NOT_FOUND, as for one that
    does not exist."""
    actor = require(actor_of(session), READ)
    complaint = (
        session.scalar(
            visible(
                select(Complaint).where(
                    Complaint.id == complaint_id, Complaint.complainant_id == actor.user_id
                ),
                actor,
                COMPLAINT,
            )
        )
        if actor.user_id is not None
        else None
    )
    if complaint is None:
        raise NotFound(
            _t("No {kind} with id {id}."),
            field="id",
            params={"kind": COMPLAINT.name, "id": complaint_id},
        )
    return complaint


def rate_as_complainant(
    session: Session,
    complaint_id: int,
    version: int | None = None,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> Complaint:
    """The complainant's own satisfaction from the portal: their complaint only; the rest of
    `rate`'s rules apply (after the feedback, once)."""
    get_followed(session, complaint_id)
    return rate(session, complaint_id, version, satisfaction=satisfaction, comment=comment)
