"""Custom fields: define them, check and store their values, and show them.

A resource takes custom fields when its model has the `HasCustomFields` mixin. Each field
is a field of the resource like any other: field rules name it (`cf_seat`), forms get it as
one more `FormField`, lists as a column and a filter, exports as a column, GraphQL as a key
of `customFields`, and history records its changes one by one. Definitions are read once
per unit of work (one query per resource), so a change reaches every process at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import FieldAccess, check_write, session_access
from openitsm.kernel.customfields import values
from openitsm.kernel.customfields.models import CustomField, HasCustomFields
from openitsm.kernel.db import check_version
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.forms import (
    FIELD_TYPES,
    Choice,
    Form,
    FormField,
    FormSection,
    check_submission,
)
from openitsm.kernel.labels import pick_label

if TYPE_CHECKING:
    from openitsm.kernel.references import RecordKind, RecordKinds

# Every form field type but those whose values live elsewhere or need sanitising markup.
CUSTOM_TYPES = tuple(
    t for t in FIELD_TYPES if t not in ("richtext", "email", "reference", "attachments")
)
# Types whose values are ids of other records, shown by name.
LINK_TYPES = ("dictionary", "user", "department")
EXPORT_KINDS = {"number": "number", "money": "money", "date": "date", "datetime": "datetime"}
NAME = re.compile(r"^cf_[a-z][a-z0-9_]{0,40}$")
MAX_FIELDS_PER_RESOURCE = 100
SECTION_KEY = "custom"
SECTION_LABELS = {"zh-CN": "扩展信息", "en": "Additional information"}
_CACHE = "custom_field_definitions"


@dataclass(frozen=True)
class CustomFieldSpec:
    """A definition as read for one unit of work, detached from the session."""

    id: int
    resource: str
    name: str
    labels: Mapping[str, str]
    type: str
    required: bool = False
    choices: tuple[Choice, ...] = ()
    dictionary: str | None = None
    max_length: int | None = None
    help: Mapping[str, str] = field(default_factory=dict)
    position: int = 0
    listed: bool = False
    active: bool = True
    version: int = 1

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)

    @property
    def form_field(self) -> FormField:
        return FormField(
            self.name,
            self.labels,
            type=self.type,
            required=self.required,
            max_length=self.max_length,
            choices=self.choices,
            dictionary=self.dictionary,
            help=self.help,
        )

    @property
    def export_kind(self) -> str:
        return "bool" if self.type == "bool" else EXPORT_KINDS.get(self.type, "text")

    @classmethod
    def of(cls, row: CustomField) -> CustomFieldSpec:
        return cls(
            id=row.id,
            resource=row.resource,
            name=row.name,
            labels=dict(row.labels or {}),
            type=row.type,
            required=row.required,
            choices=tuple(
                Choice(str(c["value"]), dict(c.get("labels") or {})) for c in row.choices or ()
            ),
            dictionary=row.dictionary,
            max_length=row.max_length,
            help=dict(row.help or {}),
            position=row.position,
            listed=row.listed,
            active=row.active,
            version=row.version,
        )


def supports(kinds: RecordKinds, resource: str) -> bool:
    """Whether records of `resource` can carry custom fields."""
    return resource in kinds and issubclass(kinds.get(resource).model, HasCustomFields)


def resources(kinds: RecordKinds) -> list[str]:
    return sorted(name for name in kinds.kinds if supports(kinds, name))


def definitions(
    session: Session, resource: str, *, retired: bool = False
) -> tuple[CustomFieldSpec, ...]:
    """The resource's fields in their order: active ones, or all with `retired`.

    Every resource's definitions are read at the first call of a unit of work, in one query
    (a site has a few dozen), and kept for the rest of it."""
    cache: dict[str, tuple[CustomFieldSpec, ...]] | None = session.info.get(_CACHE)
    if cache is None:
        grouped: dict[str, list[CustomFieldSpec]] = {}
        rows = session.scalars(select(CustomField).order_by(CustomField.position, CustomField.id))
        for row in rows:
            grouped.setdefault(row.resource, []).append(CustomFieldSpec.of(row))
        cache = {name: tuple(specs) for name, specs in grouped.items()}
        session.info[_CACHE] = cache
    found = cache.get(resource, ())
    return found if retired else tuple(spec for spec in found if spec.active)


def field_names(session: Session, resource: str) -> frozenset[str]:
    """Every custom field name of the resource, retired ones too (rules may name them)."""
    return frozenset(spec.name for spec in definitions(session, resource, retired=True))


def resource_fields(session: Session, kind: RecordKind) -> frozenset[str]:
    """The fields rules, exports and the API may name: the kind's own and its custom ones."""
    if not issubclass(kind.model, HasCustomFields):
        return kind.fields
    return kind.fields | field_names(session, kind.name)


def _forget(session: Session) -> None:
    session.info.pop(_CACHE, None)


# --- definitions ----------------------------------------------------------------------


def define(
    session: Session,
    kinds: RecordKinds,
    *,
    resource: str,
    name: str,
    labels: Mapping[str, str],
    type: str,
    required: bool = False,
    choices: Iterable[Mapping[str, Any]] = (),
    dictionary: str | None = None,
    max_length: int | None = None,
    help: Mapping[str, str] | None = None,
    listed: bool = False,
    position: int | None = None,
) -> CustomField:
    """Add a field to `resource`. `name` may be given without its `cf_` prefix."""
    if not supports(kinds, resource):
        offered = ", ".join(resources(kinds)) or "none"
        raise BadUserInput(
            _t("'{resource}' does not take custom fields; these do: {offered}."),
            field="resource",
            params={"resource": resource, "offered": offered},
        )
    name = name.strip().lower()
    if not name.startswith("cf_"):
        name = f"cf_{name}"
    if not NAME.match(name):
        raise BadUserInput(
            _t(
                "A field name is 'cf_' followed by a lower-case letter, then letters, digits "
                "or underscores (at most 43 characters)."
            ),
            field="name",
        )
    if name in kinds.get(resource).fields:
        raise BadUserInput(
            _t("'{resource}' already has a field '{name}'."),
            field="name",
            params={"resource": resource, "name": name},
        )
    existing = definitions(session, resource, retired=True)
    if any(spec.name == name for spec in existing):
        raise BadUserInput(
            _t("'{resource}' already has a custom field '{name}'."),
            field="name",
            params={"resource": resource, "name": name},
        )
    if len(existing) >= MAX_FIELDS_PER_RESOURCE:
        raise BadUserInput(
            _t("At most {limit} custom fields per resource."),
            field="name",
            params={"limit": MAX_FIELDS_PER_RESOURCE},
        )
    if type not in CUSTOM_TYPES:
        raise BadUserInput(
            _t("Unknown field type '{type}'; choose one of {types}."),
            field="type",
            params={"type": type, "types": ", ".join(CUSTOM_TYPES)},
        )
    row = CustomField(
        resource=resource,
        name=name,
        type=type,
        position=position if position is not None else len(existing) * 10 + 10,
    )
    _apply_definition(
        session,
        row,
        labels=labels,
        required=required,
        choices=choices,
        dictionary=dictionary,
        max_length=max_length,
        help=help or {},
        listed=listed,
    )
    session.add(row)
    flush(session)
    _forget(session)
    return row


def change(session: Session, field_id: int, version: int, **changes: Any) -> CustomField:
    """Change a field's labels, limits, choices, place or state; every setting given is
    applied (`max_length=None` removes the limit). Its name, resource and type stay: stored
    values and rules depend on them."""
    row = _get(session, field_id)
    check_version(row, version, "custom field")
    fixed = sorted(set(changes) & {"name", "resource", "type"})
    if fixed:
        raise BadUserInput(
            _t("A custom field's {setting} cannot change; retire it and add another."),
            params={"setting": fixed[0]},
            field=fixed[0],
        )
    if "active" in changes:
        row.active = bool(changes.pop("active"))
    if "position" in changes:
        row.position = int(changes.pop("position"))
    if not changes:  # only moved, retired or restored: the definition itself is as it was
        flush(session)
        _forget(session)
        return row
    current = {
        "labels": row.labels,
        "required": row.required,
        "choices": row.choices,
        "dictionary": row.dictionary,
        "max_length": row.max_length,
        "help": row.help,
        "listed": row.listed,
    }
    unknown = set(changes) - set(current)
    if unknown:
        first = sorted(unknown)[0]
        raise BadUserInput(
            _t("Unknown setting '{setting}'."), field=first, params={"setting": first}
        )
    current.update(changes)
    _apply_definition(session, row, **current)
    flush(session)
    _forget(session)
    return row


def _apply_definition(
    session: Session,
    row: CustomField,
    *,
    labels: Mapping[str, str],
    required: bool,
    choices: Iterable[Mapping[str, Any]],
    dictionary: str | None,
    max_length: int | None,
    help: Mapping[str, str],
    listed: bool,
) -> None:
    from openitsm.kernel.dictionaries.models import Dictionary

    cleaned = {k: str(v).strip() for k, v in (labels or {}).items() if str(v).strip()}
    if not cleaned:
        raise BadUserInput(_t("Give the field a label (zh-CN, en or both)."), field="labels")
    if any(len(text) > 100 for text in cleaned.values()):
        raise BadUserInput(_t("A label has at most 100 characters."), field="labels")
    options = [_choice(c) for c in choices or ()]
    values = [c["value"] for c in options]
    if row.type == "choice":
        if not options:
            raise BadUserInput(_t("A choice field lists its choices."), field="choices")
        if len(set(values)) != len(values):
            raise BadUserInput(_t("Each choice has its own value."), field="choices")
    elif options:
        raise BadUserInput(_t("Only a choice field has choices."), field="choices")
    if row.type == "dictionary":
        if not dictionary or not session.scalar(
            select(Dictionary.id).where(Dictionary.code == dictionary)
        ):
            raise BadUserInput(
                _t("There is no dictionary '{dictionary}'."),
                field="dictionary",
                params={"dictionary": dictionary or ""},
            )
    elif dictionary:
        raise BadUserInput(_t("Only a dictionary field names a dictionary."), field="dictionary")
    if max_length is not None and (
        row.type not in ("text", "textarea") or not 1 <= max_length <= 10_000
    ):
        raise BadUserInput(
            _t("A length limit is for text fields, from 1 to 10000 characters."),
            field="max_length",
        )
    row.labels = cleaned
    row.required = bool(required)
    row.choices = options
    row.dictionary = dictionary or None
    row.max_length = max_length
    row.help = {k: str(v) for k, v in (help or {}).items() if str(v).strip()}
    row.listed = bool(listed)


def _choice(raw: Mapping[str, Any]) -> dict[str, Any]:
    value = str(raw.get("value", "")).strip()
    if not value or len(value) > 100:
        raise BadUserInput(_t("Each choice has a value of 1 to 100 characters."), field="choices")
    labels = {k: str(v) for k, v in (raw.get("labels") or {}).items() if str(v).strip()}
    return {"value": value, "labels": labels or {"en": value}}


def _get(session: Session, field_id: int) -> CustomField:
    row = session.get(CustomField, field_id)
    if row is None:
        raise NotFound(_t("There is no custom field #{id}."), params={"id": field_id})
    return row


# --- values ---------------------------------------------------------------------------


def typed(spec: CustomFieldSpec, value: Any) -> Any:
    """A kept value as the field's type (None when absent or no longer readable as one)."""
    return values.typed(spec.type, value)


def values_of(
    record: Any, specs: Sequence[CustomFieldSpec], access: FieldAccess | None = None
) -> dict[str, Any]:
    """The record's values of `specs` that `access` may read, typed."""
    return {
        spec.name: values.read(record, spec.name, spec.type)
        for spec in specs
        if access is None or access.readable(spec.name)
    }


def nested(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as a service call takes them: custom ones under `custom_fields`."""
    own = {name: value for name, value in changes.items() if not values.is_custom(name)}
    custom = {name: value for name, value in changes.items() if values.is_custom(name)}
    if custom:
        own["custom_fields"] = custom
    return own


def with_custom_fields(form: Form, specs: Sequence[CustomFieldSpec]) -> Form:
    """`form` with one more section holding the resource's custom fields."""
    if not specs:
        return form
    section = FormSection(SECTION_KEY, SECTION_LABELS, tuple(spec.form_field for spec in specs))
    return Form(form.key, form.resource, form.labels, (*form.sections, section))


def check_values(
    session: Session, resource: str, given: Mapping[str, Any], *, creating: bool = False
) -> dict[str, Any]:
    """Typed values from API input (`{"cf_seat": "B-204"}`), checked like a form post:
    unknown names, wrong types and missing required values are BAD_USER_INPUT naming the
    field; a field the actor may not write is FORBIDDEN."""
    specs = {spec.name: spec for spec in definitions(session, resource)}
    for name in given:
        if name not in specs:
            close = get_close_matches(name, list(specs), n=1)
            message = (
                _t("'{resource}' has no custom field '{name}'. Did you mean '{close}'?")
                if close
                else _t("'{resource}' has no custom field '{name}'.")
            )
            raise BadUserInput(
                message,
                field=name,
                params={"resource": resource, "name": name, "close": close[0] if close else ""},
            )
    checked = [specs[name] for name in given]
    if creating:
        checked += [s for s in specs.values() if s.required and s.name not in given]
    form = Form(
        "custom", resource, {}, (FormSection("custom", {}, tuple(s.form_field for s in checked)),)
    )
    posted = {spec.name: _as_posted(given.get(spec.name)) for spec in checked}
    from openitsm.kernel.lookups import record_lookups

    access = session_access(session, resource)
    access.check_write(given)
    submission = check_submission(form, posted, access, lookups=record_lookups(session))
    if submission.errors:
        name, error = sorted(submission.errors.items())[0]
        raise BadUserInput(
            _t("The custom field '{name}' is not valid ({reason})."),
            field=name,
            params={"name": name},
            reason=error.code,
            **{k: str(v) for k, v in error.params.items()},
        )
    return {name: submission.values.get(name) for name in given}


def _as_posted(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    return str(value)


def apply_values(
    session: Session, record: HasCustomFields, resource: str, checked: Mapping[str, Any]
) -> None:
    """Write checked values onto the record (None clears a field); fields the session's
    actor may not write are refused."""
    if not checked:
        return
    check_write(session, resource, checked)
    current = dict(record.custom_fields or {})
    for name, value in checked.items():
        if value is None or value == "":
            current.pop(name, None)
        else:
            current[name] = values.stored(value)
    if current != (record.custom_fields or {}):
        record.custom_fields = current


def value_expression(model: Any, spec: CustomFieldSpec) -> Any:
    """The field's value inside the record's JSON column, typed for comparing and ordering."""
    element = model.custom_fields[spec.name]
    if spec.type in ("number", "money"):
        return element.as_float()
    if spec.type in LINK_TYPES:
        return element.as_integer()
    if spec.type == "bool":
        return element.as_boolean()
    return element.as_string()


def where_values(
    session: Session, statement: Select[Any], model: Any, resource: str, wanted: Mapping[str, Any]
) -> Select[Any]:
    """`statement` narrowed to records whose custom fields equal `wanted` (null: not set).
    Filtering by a field hidden from the session's actor is refused: it would reveal it."""
    specs = {spec.name: spec for spec in definitions(session, resource)}
    session_access(session, resource).check_read(wanted)
    for name, value in wanted.items():
        spec = specs.get(name)
        if spec is None:
            raise BadUserInput(
                _t("'{resource}' has no custom field '{name}'."),
                field=name,
                params={"resource": resource, "name": name},
            )
        element = value_expression(model, spec)
        if value is None:
            statement = statement.where(element.is_(None))
            continue
        try:
            typed_value = values.typed(spec.type, values.stored(value))
        except (TypeError, ValueError):
            typed_value = None
        if typed_value is None:
            raise BadUserInput(
                _t("'{value}' is not a value of '{name}'."),
                field=name,
                params={"value": value, "name": name},
            )
        if spec.type in ("number", "money"):
            typed_value = float(typed_value)
        elif spec.type not in (*LINK_TYPES, "bool"):
            typed_value = str(values.stored(typed_value))
        statement = statement.where(element == typed_value)
    return statement
