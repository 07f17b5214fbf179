"""Custom fields on the pages: one more form section, list columns and filters, and the
detail page's summary rows, all from the definitions an administrator made.

A page never lists custom fields itself: `render_list` and the export extend the view with
`list_view`, forms take `with_custom_fields`, and a detail page asks `summary_rows`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, or_, select, true
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import FieldAccess
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.customfields.service import CustomFieldSpec
from openitsm.kernel.customfields.values import is_custom
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.errors import OpenITSMError
from openitsm.kernel.forms import FieldError, Form
from openitsm.kernel.graphql.connection import SortKey
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation.models import Department
from openitsm.web.lists import Column, Filter, ListView

if TYPE_CHECKING:
    from openitsm.web.pages import PageContext

YES_NO = (("1", {"zh-CN": "是", "en": "Yes"}), ("0", {"zh-CN": "否", "en": "No"}))
SORTABLE = ("text", "number", "money", "date", "datetime", "choice")
NAMES = "custom_names"


def _read(spec: CustomFieldSpec) -> Callable[[Any], Any]:
    """What `_element` gives, computed from a loaded row (for keyset cursors)."""

    def read(row: Any) -> Any:
        value = (row.custom_fields or {}).get(spec.name)
        if value is None:
            return None
        return float(value) if spec.type in ("number", "money") else str(value)

    return read


def sort_key(model: Any, spec: CustomFieldSpec, descending: bool = False) -> SortKey:
    return SortKey(
        customfields.value_expression(model, spec),
        descending,
        nullable=True,
        key=spec.name,
        read=_read(spec),
    )


Narrowing = Callable[[Select[Any], str, FieldAccess], Select[Any]]


def _filter(model: Any, spec: CustomFieldSpec) -> Narrowing:
    element = customfields.value_expression(model, spec)

    def apply(statement: Select[Any], value: str, access: FieldAccess) -> Select[Any]:
        if spec.type == "bool":
            if value == "1":
                return statement.where(element == true())
            return statement.where(or_(element == false(), element.is_(None)))
        if spec.type in customfields.LINK_TYPES:
            return statement.where(element == int(value) if value.isdigit() else false())
        if spec.type in ("text", "textarea"):
            return statement.where(element.ilike(f"%{value.strip()}%"))
        return statement.where(element == value)

    return apply


def _choices(
    session: Session, spec: CustomFieldSpec, locale: str
) -> tuple[tuple[str, Mapping[str, str]], ...]:
    if spec.type == "bool":
        return YES_NO
    if spec.type == "choice":
        return tuple((c.value, c.labels) for c in spec.choices)
    if spec.type == "dictionary":
        rows = session.execute(
            select(DictionaryItem.id, DictionaryItem.labels)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == spec.dictionary, DictionaryItem.active.is_(True))
            .order_by(DictionaryItem.sort_order, DictionaryItem.id)
        )
        return tuple((str(i), labels) for i, labels in rows)
    if spec.type == "department":
        rows = session.execute(
            select(Department.id, Department.name)
            .where(Department.active.is_(True))
            .order_by(Department.name)
        )
        return tuple((str(i), {"en": name}) for i, name in rows)
    return ()


def names_of(
    session: Session, specs: Sequence[CustomFieldSpec], rows: Sequence[Any], locale: str
) -> dict[tuple[str, int], str]:
    """Names of the users, departments and dictionary items the rows' custom fields point
    at: one query per type, whatever the number of rows and fields."""
    wanted: dict[str, set[int]] = {}
    for spec in specs:
        if spec.type in customfields.LINK_TYPES:
            for row in rows:
                value = (row.custom_fields or {}).get(spec.name)
                if isinstance(value, int):
                    wanted.setdefault(spec.type, set()).add(value)
    names: dict[tuple[str, int], str] = {}
    if wanted.get("user"):
        for key, name in session.execute(
            select(User.id, User.name).where(User.id.in_(sorted(wanted["user"])))
        ):
            names[("user", key)] = name
    if wanted.get("department"):
        for key, name in session.execute(
            select(Department.id, Department.name).where(
                Department.id.in_(sorted(wanted["department"]))
            )
        ):
            names[("department", key)] = name
    if wanted.get("dictionary"):
        for key, labels in session.execute(
            select(DictionaryItem.id, DictionaryItem.labels).where(
                DictionaryItem.id.in_(sorted(wanted["dictionary"]))
            )
        ):
            names[("dictionary", key)] = pick_label(labels, locale, str(key))
    return names


def shown(
    spec: CustomFieldSpec, value: Any, locale: str, names: Mapping[tuple[str, int], str]
) -> Any:
    """A typed value as a page or an export shows it: choices and links by their names."""
    if value is None:
        return None
    if spec.type == "choice":
        choice = next((c for c in spec.choices if c.value == value), None)
        return choice.label(locale) if choice else value
    if spec.type in customfields.LINK_TYPES:
        return names.get((spec.type, value), f"#{value}")
    return value


def _column(spec: CustomFieldSpec, model: Any, locale: str) -> Column:
    def show(row: Any, extra: Mapping[str, Any]) -> Any:
        value = customfields.typed(spec, (row.custom_fields or {}).get(spec.name))
        return shown(spec, value, locale, extra.get(NAMES, {}))

    kind = spec.export_kind
    return Column(
        spec.name,
        spec.labels,
        show=show,
        sort=sort_key(model, spec) if spec.type in SORTABLE else None,
        default=spec.listed,
        kind=kind,
    )


def list_view(session: Session, view: ListView, model: Any, locale: str) -> ListView:
    """`view` with a column and a filter for each of its resource's custom fields."""
    specs = customfields.definitions(session, view.kind)
    if not specs:
        return view
    columns = tuple(_column(spec, model, locale) for spec in specs)
    filters = tuple(
        Filter(
            spec.name,
            spec.name,
            spec.labels,
            _filter(model, spec),
            choices=_choices(session, spec, locale),
            type="text" if spec.type in ("text", "textarea") else "choice",
        )
        for spec in specs
        if spec.type in ("text", "textarea", "bool", "choice", "dictionary", "department")
    )
    own_rows = view.prepare_rows

    def prepare_rows(session: Session, rows: Sequence[Any]) -> Mapping[str, Any]:
        extra = dict(own_rows(session, rows)) if own_rows is not None else {}
        extra[NAMES] = names_of(session, specs, rows, locale)
        return extra

    return dataclasses.replace(
        view,
        columns=(*view.columns, *columns),
        filters=(*view.filters, *filters),
        prepare_rows=prepare_rows,
    )


def custom_form(session: Session, form: Form) -> Form:
    """`form` with its resource's custom fields as a last section (once)."""
    if any(section.key == customfields.SECTION_KEY for section in form.sections):
        return form
    return customfields.with_custom_fields(form, customfields.definitions(session, form.resource))


def refusal(page: PageContext, error: OpenITSMError) -> tuple[dict[str, FieldError], str]:
    """A service's refusal of a custom value as an error next to the field; any other
    refusal as a message over the form."""
    name = str(error.extensions.get("field", ""))
    if is_custom(name):
        return {name: FieldError(str(error.extensions.get("reason") or "invalid"))}, ""
    return {}, page.explain(error)


def summary_rows(
    session: Session,
    record: Any,
    resource: str,
    access: FieldAccess,
    locale: str,
    time_zone: str = "UTC",
) -> list[tuple[str, Any]]:
    """(label, shown value) of each custom field of the record the viewer may read."""
    specs = [s for s in customfields.definitions(session, resource) if access.readable(s.name)]
    names = names_of(session, specs, [record], locale)
    values = customfields.values_of(record, specs)
    rows = []
    for spec in specs:
        value = shown(spec, values[spec.name], locale, names)
        if isinstance(value, bool):
            value = pick_label(dict(YES_NO)["1" if value else "0"], locale, str(value))
        elif isinstance(value, dt.datetime):
            value = value.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")
        rows.append((spec.label(locale), value))
    return rows
