"""The incident list's further filters (assignee, group, category, caller, service unit,
opened from/to, SLA state) and its SLA column, for `pages.list_view`.

Each filter names the incident field it reads, so the list refuses it (and does not offer
it) to those who may not read that field; the SLA follows the status (see `sla_state`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openitsm.kernel import BadUserInput
from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation.models import ServiceUnit
from openitsm.plugins.incident import service, sla_state
from openitsm.plugins.incident.models import Incident
from openitsm.web.lists import Column, Filter
from openitsm.web.pickers import department_options, tree_order

Apply = Callable[[Select[Any], str, FieldAccess], Select[Any]]

SLA_LABELS: dict[str, dict[str, str]] = {
    "breached": {"zh-CN": "已超时", "en": "Breached"},
    "warning": {"zh-CN": "即将超时", "en": "Warning"},
    "running": {"zh-CN": "计时中", "en": "Running"},
    "paused": {"zh-CN": "已暂停", "en": "Paused"},
    "met": {"zh-CN": "已达成", "en": "Met"},
}
SLA_CHOICES = tuple((state, SLA_LABELS[state]) for state in sla_state.STATES)
# Dates in the list's filters are days of the site's default zone; the filters are declared
# once for every viewer, so they cannot follow each viewer's own zone.
DATE_ZONE = ZoneInfo("Asia/Shanghai")


def _key(value: str, field: str) -> int:
    if not value.isdigit():
        raise BadUserInput(f"'{value}' is not an id.", field=field)
    return int(value)


def equals_id(column: str, key: str) -> Apply:
    def apply(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
        return statement.where(getattr(Incident, column) == _key(value, key))

    return apply


def _category(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(Incident.category == value)


def _day(value: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), DATE_ZONE)


def _opened_from(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(Incident.opened_at >= _day(value))


def _opened_to(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    """Up to and including the day given."""
    return statement.where(Incident.opened_at < _day(value) + dt.timedelta(days=1))


def _sla(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
    return statement.where(sla_state.incident_condition([value]))


def _groups(session: Session, actor: Any, locale: str) -> list[tuple[str, str]]:
    return [(str(option.id), option.indented) for option in department_options(session, actor)]


def _units(session: Session, actor: Any, locale: str) -> list[tuple[str, str]]:
    access = field_access(actor, "service_unit")
    shown = ServiceUnit.name if access.readable("name") else ServiceUnit.code
    rows = session.execute(select(ServiceUnit.id, shown).order_by(shown, ServiceUnit.id))
    return [(str(key), label) for key, label in rows]


def _categories(session: Session, actor: Any, locale: str) -> list[tuple[str, str]]:
    items = session.scalars(
        select(DictionaryItem)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(Dictionary.code == "incident_category")
    )
    return [
        (item.code, "\u00a0\u00a0\u00a0" * depth + item.label(locale))
        for item, depth in tree_order(items)
    ]


def filters(labels: Mapping[str, Mapping[str, str]]) -> tuple[Filter, ...]:
    """The further filters, labelled from the list's field labels."""
    return (
        Filter(
            "assignee",
            "assignee_id",
            labels["assignee_id"],
            equals_id("assignee_id", "assignee"),
            type="user",
        ),
        Filter(
            "group", "group_id", labels["group_id"], equals_id("group_id", "group"), options=_groups
        ),
        Filter("category", "category", labels["category"], _category, options=_categories),
        Filter(
            "caller",
            "caller_id",
            labels["caller_id"],
            equals_id("caller_id", "caller"),
            type="user",
        ),
        Filter(
            "unit",
            "service_unit_id",
            labels["service_unit_id"],
            equals_id("service_unit_id", "unit"),
            options=_units,
        ),
        Filter(
            "from", "opened_at", {"zh-CN": "登记自", "en": "Opened from"}, _opened_from, type="date"
        ),
        Filter(
            "to", "opened_at", {"zh-CN": "登记至", "en": "Opened until"}, _opened_to, type="date"
        ),
        Filter("sla", sla_state.FIELD, {"zh-CN": "SLA", "en": "SLA"}, _sla, choices=SLA_CHOICES),
    )


@dataclass(frozen=True)
class SlaCell:
    """The SLA column's value: plain text in the export, a coloured badge on the page."""

    state: str
    text: str

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        return str(Markup('<span class="sla sla-{}">{}</span>').format(self.state, self.text))


def rows_sla(session: Session, rows: Sequence[Incident]) -> dict[str, Any]:
    """The page's SLA summaries by incident id (one query) and the zone to show them in."""
    return {
        "sla": sla_state.summaries_of(session, (row.id for row in rows)),
        "sla_zone": service.site_zone(session),
    }


def sla_column(locale: str) -> Column:
    """'Breached · 2026-05-04 17:00' (paused: the time left), coloured by state."""

    def show(row: Incident, extra: Mapping[str, Any]) -> SlaCell | None:
        found = extra.get("sla", {}).get(row.id)
        if found is None:
            return None
        label = pick_label(SLA_LABELS[found.state], locale, found.state)
        if found.due_at is not None and found.state != "met":
            due = found.due_at.replace(tzinfo=found.due_at.tzinfo or dt.UTC)
            zone = extra.get("sla_zone") or DATE_ZONE
            label = f"{label} · {due.astimezone(zone):%Y-%m-%d %H:%M}"
        elif found.state == "paused" and found.remaining is not None:
            minutes = max(found.remaining, 0) // 60
            left = {"zh-CN": f"剩余 {minutes} 分钟", "en": f"{minutes} min left"}
            label = f"{label} · {pick_label(left, locale, left['en'])}"
        return SlaCell(found.state, label)

    return Column("sla", {"zh-CN": "SLA", "en": "SLA"}, show=show, needs=(sla_state.FIELD,))
