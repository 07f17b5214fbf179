"""SLA levels, the level matrix and service units' calendars, as records administrators
edit; `determine_level` picks a record's level through the matrix.

Writing needs `sla.manage`; reading only a signed-in user. Refusals are `BadUserInput`s
naming the field, so a page shows them next to what was typed. Every write is audited, and a
change of levels or of a unit's calendar re-bases the running clocks (`openitsm.kernel.sla
.clocks.recompute_all`, queued from `on_record_changed`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.actions import require
from openitsm.kernel.actors import Actor
from openitsm.kernel.calendar import parse_duration
from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.db import check_version
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, NotFound, Unauthenticated, _t
from openitsm.kernel.organisation.models import ServiceUnit
from openitsm.kernel.sla.clock import Level
from openitsm.kernel.sla.matrix import DIMENSIONS, Fact, LevelRule, pick_level
from openitsm.kernel.sla.models import SlaClock, SlaLevel, SlaRule, SlaServiceUnitCalendar
from openitsm.kernel.sla.subjects import SlaSubject, sla_subjects

MANAGE = "sla.manage"
LEVEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_LABEL, MAX_VALUE = 200, 100
# Clocks a change of levels or calendars can move: those still counting.
ACTIVE = ("running", "paused")

# Shipped levels, added by `openitsm migrate` while the site has none.
DEFAULT_LEVELS: tuple[tuple[str, str, str, str, str], ...] = (
    ("p1", "P1 紧急", "P1 Critical", "PT30M", "PT4H"),
    ("p2", "P2 高", "P2 High", "PT1H", "P1D"),
    ("p3", "P3 中", "P3 Medium", "PT4H", "P3D"),
    ("p4", "P4 低", "P4 Low", "P1D", "P5D"),
)
DEFAULT_WARNING_SHARE = 0.8


# --- levels ---------------------------------------------------------------------------


def _reader(actor: Actor) -> None:
    if not actor.authenticated:
        raise Unauthenticated()


def check_level_key(key: str) -> str:
    key = (key or "").strip()
    if not LEVEL_KEY.match(key):
        raise BadUserInput(
            _t(
                "'{key}' is not a level key: use letters, digits, '_', '.' or '-' (at most "
                "64), like P1."
            ),
            field="key",
            params={"key": key},
        )
    return key


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    checked = {locale: (text or "").strip() for locale, text in labels.items()}
    for locale, text in checked.items():
        if len(text) > MAX_LABEL:
            raise BadUserInput(
                _t("A name has at most {limit} characters."),
                field=f"labels.{locale}",
                params={"limit": MAX_LABEL},
            )
    checked = {locale: text for locale, text in checked.items() if text}
    if not checked:
        raise BadUserInput(_t("Give the level a name."), field="labels.zh-CN")
    return checked


def check_duration(text: str | None, field: str) -> str | None:
    text = (text or "").strip().upper()
    if not text:
        return None
    try:
        parse_duration(text)
    except BadUserInput as error:
        raise BadUserInput(
            error.template or error.message, field=field, params=error.params
        ) from None
    return text


def check_share(share: float | None) -> float | None:
    if share is None:
        return None
    if not 0 < share <= 1:
        raise BadUserInput(
            _t("The warning share is a fraction above 0 and at most 1, like 0.8."),
            field="warningShare",
        )
    return float(share)


def list_levels(session: Session, actor: Actor) -> list[SlaLevel]:
    """Every level, in order."""
    _reader(actor)
    return list(session.scalars(select(SlaLevel).order_by(SlaLevel.position, SlaLevel.key)))


def get_level(session: Session, actor: Actor, key: str) -> SlaLevel:
    _reader(actor)
    return _level(session, key)


def _level(session: Session, key: str) -> SlaLevel:
    found = session.scalar(select(SlaLevel).where(SlaLevel.key == key))
    if found is None:
        raise NotFound(_t("There is no SLA level '{key}'."), field="key", params={"key": key})
    return found


def create_level(
    session: Session,
    actor: Actor,
    *,
    key: str,
    labels: Mapping[str, str],
    response: str | None = None,
    resolution: str | None = None,
    warning_share: float | None = DEFAULT_WARNING_SHARE,
    warning_lead: str | None = None,
    active: bool = True,
    position: int | None = None,
) -> SlaLevel:
    require(actor, MANAGE)
    key = check_level_key(key)
    values = _level_values(labels, response, resolution, warning_share, warning_lead)
    if session.scalar(select(SlaLevel.id).where(SlaLevel.key == key)) is not None:
        raise BadUserInput(
            _t("There is already an SLA level '{key}'."), field="key", params={"key": key}
        )
    if position is None:
        position = (session.scalar(select(func.max(SlaLevel.position))) or 0) + 10
    level = SlaLevel(key=key, active=active, position=position, **values)
    session.add(level)
    flush(session)
    return level


def _level_values(
    labels: Mapping[str, str],
    response: str | None,
    resolution: str | None,
    warning_share: float | None,
    warning_lead: str | None,
) -> dict[str, Any]:
    values = {
        "labels": check_labels(labels),
        "response": check_duration(response, "response"),
        "resolution": check_duration(resolution, "resolution"),
        "warning_share": check_share(warning_share),
        "warning_lead": check_duration(warning_lead, "warningLead"),
    }
    if values["response"] is None and values["resolution"] is None:
        raise BadUserInput(
            _t("Give the level a response or a resolution target, like PT4H."),
            field="resolution",
        )
    return values


def update_level(
    session: Session,
    actor: Actor,
    key: str,
    version: int,
    *,
    labels: Mapping[str, str],
    response: str | None,
    resolution: str | None,
    warning_share: float | None,
    warning_lead: str | None,
    active: bool = True,
    position: int | None = None,
) -> SlaLevel:
    """Change the level last read at `version`. New targets apply to every running clock on
    that level when it is recomputed (re-based: the time already counted is kept)."""
    require(actor, MANAGE)
    level = _level(session, key)
    check_version(level, version, "SLA level")
    values = _level_values(labels, response, resolution, warning_share, warning_lead)
    values["active"] = bool(active)
    if position is not None:
        values["position"] = position
    for name, value in values.items():
        if getattr(level, name) != value:
            setattr(level, name, value)
    flush(session)
    return level


def delete_level(session: Session, actor: Actor, key: str, version: int | None = None) -> None:
    """Remove a level no rule names and no running clock counts on; retire one that is still
    in use by making it inactive instead."""
    require(actor, MANAGE)
    level = _level(session, key)
    if version is not None:
        check_version(level, version, "SLA level")
    used = session.scalar(select(SlaRule.id).where(SlaRule.level == key).limit(1)) or (
        session.scalar(
            select(SlaClock.id)
            .where(
                SlaClock.level == key,
                or_(SlaClock.response_state.in_(ACTIVE), SlaClock.resolution_state.in_(ACTIVE)),
            )
            .limit(1)
        )
    )
    if used is not None:
        raise BadUserInput(
            _t(
                "The level '{key}' is in use by matrix rules or running clocks; make it "
                "inactive instead."
            ),
            field="key",
            params={"key": key},
        )
    session.delete(level)
    flush(session)


def ensure_default_levels(session: Session) -> bool:
    """The shipped levels P1–P4 while the site has no level at all; True when added."""
    if session.scalar(select(SlaLevel.id).limit(1)) is not None:
        return False
    for position, (key, zh, en, response, resolution) in enumerate(DEFAULT_LEVELS, start=1):
        session.add(
            SlaLevel(
                key=key,
                labels={"zh-CN": zh, "en": en},
                response=response,
                resolution=resolution,
                warning_share=DEFAULT_WARNING_SHARE,
                position=position * 10,
            )
        )
    flush(session)
    return True


def levels_by_key(session: Session) -> dict[str, Level]:
    """Every stored level as the clock uses it (inactive ones too: records keep them)."""
    return {
        row.key: Level.of(
            row.key, row.response, row.resolution, row.warning_share, row.warning_lead
        )
        for row in session.scalars(select(SlaLevel))
    }


# --- the matrix -----------------------------------------------------------------------


def _subject_of(session: Session, kind: str) -> SlaSubject:
    kernel = session.info.get("kernel")
    subject = sla_subjects(kernel).get(kind) if kernel is not None else None
    if subject is None:
        raise BadUserInput(
            _t("Records of kind '{kind}' have no SLA."), field="recordKind", params={"kind": kind}
        )
    return subject


def list_rules(session: Session, actor: Actor, kind: str) -> list[SlaRule]:
    """A record kind's matrix, in order."""
    _reader(actor)
    return list(
        session.scalars(
            select(SlaRule).where(SlaRule.kind == kind).order_by(SlaRule.position, SlaRule.id)
        )
    )


def _rule(session: Session, rule_id: int) -> SlaRule:
    found = session.get(SlaRule, rule_id)
    if found is None:
        raise NotFound(_t("There is no such SLA rule."), field="id")
    return found


def _rule_values(
    session: Session, level: str, dimensions: Mapping[str, str | None]
) -> dict[str, Any]:
    level = (level or "").strip()
    if session.scalar(select(SlaLevel.id).where(SlaLevel.key == level)) is None:
        raise BadUserInput(
            _t("There is no SLA level '{key}'."), field="level", params={"key": level}
        )
    values: dict[str, Any] = {"level": level}
    for name in DIMENSIONS:
        text = (dimensions.get(name) or "").strip()
        if len(text) > MAX_VALUE:
            raise BadUserInput(
                _t("A value has at most {limit} characters."),
                field=name,
                params={"limit": MAX_VALUE},
            )
        values[name] = None if text in ("", "*") else text
    return values


def create_rule(
    session: Session,
    actor: Actor,
    kind: str,
    *,
    level: str,
    position: int | None = None,
    **dimensions: str | None,
) -> SlaRule:
    """A new matrix rule of `kind`: `level` for records matching the given dimensions
    (`category`, `impact`, `urgency`, `service_unit` code, `ci_importance`; None or `*`:
    any). Without `position` it goes last."""
    require(actor, MANAGE)
    _subject_of(session, kind)
    values = _rule_values(session, level, dimensions)
    if position is None:
        last = session.scalar(select(func.max(SlaRule.position)).where(SlaRule.kind == kind))
        position = (last or 0) + 10
    rule = SlaRule(kind=kind, position=position, **values)
    session.add(rule)
    flush(session)
    return rule


def update_rule(
    session: Session,
    actor: Actor,
    rule_id: int,
    version: int,
    *,
    level: str,
    position: int | None = None,
    **dimensions: str | None,
) -> SlaRule:
    require(actor, MANAGE)
    rule = _rule(session, rule_id)
    check_version(rule, version, "SLA rule")
    values = _rule_values(session, level, dimensions)
    if position is not None:
        values["position"] = position
    for name, value in values.items():
        if getattr(rule, name) != value:
            setattr(rule, name, value)
    flush(session)
    return rule


def delete_rule(session: Session, actor: Actor, rule_id: int, version: int | None = None) -> None:
    require(actor, MANAGE)
    rule = _rule(session, rule_id)
    if version is not None:
        check_version(rule, version, "SLA rule")
    session.delete(rule)
    flush(session)


def determine_level(session: Session, kind: str, facts: Mapping[str, Fact]) -> str | None:
    """The level the matrix of `kind` gives a record with `facts` (dimension → value, or the
    value and its parents, most specific first), or None when no rule matches. The module
    stores it in its level field, or keeps a level set by hand instead."""
    rules = [
        LevelRule(
            rule.level,
            rule.category,
            rule.impact,
            rule.urgency,
            rule.service_unit,
            rule.ci_importance,
        )
        for rule in session.scalars(
            select(SlaRule).where(SlaRule.kind == kind).order_by(SlaRule.position, SlaRule.id)
        )
    ]
    return pick_level(rules, {name: value for name, value in facts.items() if name in DIMENSIONS})


def facts_of(session: Session, subject: SlaSubject, row: Any) -> dict[str, Fact]:
    """The matrix facts of a record, read from the fields its subject names; a service unit
    id becomes the unit's code, as rules name it."""
    facts: dict[str, Fact] = {}
    for name, field in subject.fact_fields.items():
        value = getattr(row, field, None)
        if name == "service_unit" and isinstance(value, int):
            value = session.scalar(select(ServiceUnit.code).where(ServiceUnit.id == value))
        facts[name] = None if value is None else str(value)
    return facts


# --- service units' calendars ---------------------------------------------------------


def unit_calendars(session: Session, actor: Actor) -> list[tuple[ServiceUnit, str]]:
    """Every service unit with a calendar of its own, and that calendar's key."""
    _reader(actor)
    return [
        (unit, key)
        for unit, key in session.execute(
            select(ServiceUnit, SlaServiceUnitCalendar.calendar_key)
            .join(SlaServiceUnitCalendar, SlaServiceUnitCalendar.service_unit_id == ServiceUnit.id)
            .order_by(ServiceUnit.name)
        )
    ]


def set_unit_calendar(
    session: Session, actor: Actor, service_unit_id: int, calendar_key: str | None
) -> None:
    """The calendar the unit's clocks count on; None: the site's default calendar."""
    require(actor, MANAGE)
    if session.get(ServiceUnit, service_unit_id) is None:
        raise NotFound(_t("There is no such service unit."), field="serviceUnit")
    key = (calendar_key or "").strip() or None
    if key is not None and not calendars.exists(session, key):
        raise BadUserInput(
            _t("There is no business calendar '{key}'."), field="calendar", params={"key": key}
        )
    found = session.scalar(
        select(SlaServiceUnitCalendar).where(
            SlaServiceUnitCalendar.service_unit_id == service_unit_id
        )
    )
    if key is None:
        if found is not None:
            session.delete(found)
    elif found is None:
        session.add(SlaServiceUnitCalendar(service_unit_id=service_unit_id, calendar_key=key))
    elif found.calendar_key != key:
        found.calendar_key = key
    flush(session)
