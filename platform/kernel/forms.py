"""Forms that modules declare and the web layer renders: fields, sections, validation.

A form belongs to a resource, and each of its fields names a field of that resource, so
field rules apply without extra code: a hidden field is not rendered at all, a read-only one
is shown but not editable, and a post that still carries either (a forged one) is refused
as a whole with FORBIDDEN. Checking a submission turns the typed strings into values and
collects one error per field as a code with parameters (`too_long`, `{"max": 200}`), which
the pages translate; nothing is written by a submission with errors, and the page shows
again what the user typed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import nh3

from openitsm.kernel.access.fields import FieldAccess
from openitsm.kernel.customfields import values as custom_values
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.labels import pick_label

FIELD_TYPES = (
    "text",
    "textarea",
    "richtext",
    "email",
    "number",
    "money",
    "date",
    "datetime",
    "bool",
    "choice",
    "dictionary",
    "user",
    "department",
    "reference",
    "attachments",
)
# Tags and attributes rich text may keep; everything else (scripts, handlers, styles) goes.
RICH_TEXT_TAGS = {
    "p", "br", "b", "strong", "i", "em", "u", "s", "ul", "ol", "li", "blockquote", "code",
    "pre", "h2", "h3", "h4", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "hr",
}  # fmt: skip
RICH_TEXT_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
# Images in rich text are this site's attachments only: an outside image would tell its
# server who read the record and when (and the content security policy blocks it anyway).
RICH_TEXT_IMAGE = re.compile(r"^/attachments/([0-9]+)$")
MAX_ATTACHMENTS = 100  # files in one attachments field
LOOKED_UP = ("dictionary", "user", "department", "reference", "attachments")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_TEXT_LENGTH = 200


@dataclass(frozen=True)
class Choice:
    value: str
    labels: Mapping[str, str]

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.value)


@dataclass(frozen=True)
class FormField:
    """One input. `name` is the resource field it writes (field rules apply to it)."""

    name: str
    labels: Mapping[str, str]
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    minimum: decimal.Decimal | int | None = None
    maximum: decimal.Decimal | int | None = None
    choices: tuple[Choice, ...] = ()
    dictionary: str | None = None  # for `dictionary`: the dictionary's code
    kinds: tuple[str, ...] = ()  # for `reference`: the record kinds it may point at
    help: Mapping[str, str] = field(default_factory=dict)
    placeholder: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ConfigurationError(
                f"form field '{self.name}': unknown type '{self.type}'; use one of "
                f"{', '.join(FIELD_TYPES)}"
            )
        if self.type == "dictionary" and not self.dictionary:
            raise ConfigurationError(f"form field '{self.name}': a dictionary field names one")
        if self.type == "choice" and not self.choices:
            raise ConfigurationError(f"form field '{self.name}': a choice field lists choices")

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)

    @property
    def length_limit(self) -> int | None:
        if self.max_length is not None:
            return self.max_length
        return DEFAULT_TEXT_LENGTH if self.type in ("text", "email") else None


@dataclass(frozen=True)
class FormSection:
    key: str
    labels: Mapping[str, str]
    fields: tuple[FormField, ...]

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


@dataclass(frozen=True)
class Form:
    """A form over one resource; `key` is how pages and plugins refer to it."""

    key: str
    resource: str
    labels: Mapping[str, str]
    sections: tuple[FormSection, ...]

    def __post_init__(self) -> None:
        names = [f.name for s in self.sections for f in s.fields]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigurationError(f"form '{self.key}' has the field(s) {repeated} twice")

    @property
    def fields(self) -> tuple[FormField, ...]:
        return tuple(f for s in self.sections for f in s.fields)

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


@dataclass(frozen=True)
class FieldError:
    """Why one input was refused: a code the pages translate, with its parameters."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Submission:
    """A checked post: typed `values` to write, or `errors` by field; `raw` is what the
    user typed, shown again when there are errors so nothing typed is lost."""

    values: dict[str, Any]
    errors: dict[str, FieldError]
    raw: dict[str, str]

    @property
    def valid(self) -> bool:
        return not self.errors


def sanitise_html(html: str) -> str:
    """Rich text as it may be stored and shown: no script, handlers, styles or frames."""
    return nh3.clean(
        html,
        tags=RICH_TEXT_TAGS,
        attributes=RICH_TEXT_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        attribute_filter=_only_attachment_images,
    )


def _only_attachment_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not RICH_TEXT_IMAGE.match(value.strip()):
        return None
    return value


def image_attachment_ids(html: str | None) -> list[int]:
    """The attachment ids of the images in (sanitised) rich text, in order, once each, so
    the page saving it can attach the pending ones to the record."""
    found = re.findall(r'<img[^>]*\ssrc="/attachments/([0-9]+)"', html or "")
    return list(dict.fromkeys(int(number) for number in found))


def check_submission(
    form: Form,
    posted: Mapping[str, str],
    access: FieldAccess,
    *,
    time_zone: str = "UTC",
    lookups: Mapping[str, Any] | None = None,
) -> Submission:
    """Check a post against the form and the actor's field rules.

    `posted` holds the submitted strings by field name (other keys, such as the CSRF token,
    are ignored). `lookups` checks values that need the database, by type (`dictionary`,
    `user`, `department`, `reference`, `attachments`): a callable `(field, value) -> bool`.
    An `attachments` field posts attachment ids separated by commas and gives a tuple of
    ints (empty when none); its lookup decides which ids the viewer may use
    (`openitsm.kernel.attachments.service.attachment_lookup`).
    """
    fields = {f.name: f for f in form.fields}
    forged = sorted(name for name in posted if name in fields and not access.writable(name))
    if forged:
        access.check_write(forged)  # raises: the page never offered these
    zone = ZoneInfo(time_zone)
    values: dict[str, Any] = {}
    errors: dict[str, FieldError] = {}
    raw: dict[str, str] = {}
    for name, spec in fields.items():
        if not access.writable(name):
            continue
        text = str(posted.get(name, ""))
        raw[name] = text
        try:
            value = _parse(spec, text, zone)
        except _Invalid as invalid:
            errors[name] = invalid.error
            continue
        if value is None or value == "":
            if spec.required:
                errors[name] = FieldError("required")
                continue
            value = {"bool": False, "attachments": ()}.get(spec.type)
        elif spec.type in LOOKED_UP and lookups:
            check = lookups.get(spec.type)
            if check is not None and not check(spec, value):
                errors[name] = FieldError("unknown_" + spec.type)
                continue
        values[name] = value
    return Submission(values, errors, raw)


class _Invalid(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.error = FieldError(code, params)


def _parse(spec: FormField, text: str, zone: ZoneInfo) -> Any:
    kind = spec.type
    if kind == "bool":
        return text.lower() in ("on", "true", "1", "yes")
    if kind == "attachments":
        return _attachment_ids(text)
    text = text.strip() if kind != "textarea" else text.rstrip()
    if not text:
        return None
    limit = spec.length_limit
    if limit is not None and len(text) > limit and kind not in ("number", "money"):
        raise _Invalid("too_long", max=limit)
    if kind in ("text", "textarea"):
        return text
    if kind == "richtext":
        return sanitise_html(text)
    if kind == "email":
        if not EMAIL.match(text):
            raise _Invalid("not_an_email")
        return text
    if kind in ("number", "money"):
        return _number(spec, text)
    if kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise _Invalid("not_a_date") from None
    if kind == "datetime":
        try:
            local = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _Invalid("not_a_datetime") from None
        if local.tzinfo is None:
            local = local.replace(tzinfo=zone)  # typed in the user's own time zone
        return local.astimezone(dt.UTC)
    if kind == "choice":
        if text not in {c.value for c in spec.choices}:
            raise _Invalid("unknown_choice")
        return text
    if kind in ("dictionary", "user", "department"):
        if not text.isdigit():
            raise _Invalid("unknown_" + kind)
        return int(text)
    return text  # reference: "kind:id", checked by its lookup


def _attachment_ids(text: str) -> tuple[int, ...] | None:
    parts = [part for part in re.split(r"[\s,]+", text) if part]
    if not all(part.isdigit() for part in parts):
        raise _Invalid("unknown_attachments")
    if len(parts) > MAX_ATTACHMENTS:
        raise _Invalid("too_many_files", max=MAX_ATTACHMENTS)
    return tuple(dict.fromkeys(int(part) for part in parts)) or None


def _number(spec: FormField, text: str) -> int | decimal.Decimal:
    cleaned = text.replace(",", "").replace("，", "").replace(" ", "")
    try:
        number = decimal.Decimal(cleaned)
    except decimal.InvalidOperation:
        raise _Invalid("not_a_number") from None
    if not number.is_finite():
        raise _Invalid("not_a_number")
    if spec.type == "money":
        if number != number.quantize(decimal.Decimal("0.01")):
            raise _Invalid("too_many_decimals", places=2)
        value: int | decimal.Decimal = number.quantize(decimal.Decimal("0.01"))
    elif number != number.to_integral_value():
        raise _Invalid("not_a_whole_number")
    else:
        value = int(number)
    if spec.minimum is not None and value < spec.minimum:
        raise _Invalid("below_minimum", min=spec.minimum)
    if spec.maximum is not None and value > spec.maximum:
        raise _Invalid("above_maximum", max=spec.maximum)
    return value


def visible_fields(form: Form, access: FieldAccess) -> list[tuple[FormSection, list[FormField]]]:
    """The sections and fields to render: hidden fields are left out entirely."""
    shown = []
    for section in form.sections:
        fields = [f for f in section.fields if access.readable(f.name)]
        if fields:
            shown.append((section, fields))
    return shown


def form_values(form: Form, record: Any, access: FieldAccess) -> dict[str, Any]:
    """A record's current values for the form's readable fields (custom ones typed)."""
    return {f.name: _current(record, f) for f in form.fields if access.readable(f.name)}


def _current(record: Any, spec: FormField) -> Any:
    if custom_values.is_custom(spec.name):
        return custom_values.read(record, spec.name, spec.type)
    return getattr(record, spec.name, None)


def changed(values: Mapping[str, Any], record: Any) -> dict[str, Any]:
    """The submitted values that differ from the record's, so unchanged fields (even
    read-only for someone else) are not written."""
    kept = getattr(record, "custom_fields", None) or {}

    def differs(name: str, value: Any) -> bool:
        if custom_values.is_custom(name):
            return kept.get(name) != custom_values.stored(value)
        return getattr(record, name, None) != value

    return {name: value for name, value in values.items() if differs(name, value)}
