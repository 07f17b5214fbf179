"""Rendering a notification for one recipient, in a jinja2 sandbox.

Templates see only what the recipient may read: the record's fields pass through the
recipient's field rules (`field_access(...).redact`), so a hidden field is simply absent
(it renders as nothing), exactly as GraphQL, exports and history treat it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates
from jinja2 import ChainableUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape
from sqlalchemy import inspect

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.notifications.spec import NotificationEvent, NotificationRegistry

if TYPE_CHECKING:
    from openitsm.kernel.actors import Actor
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.references import RecordKind

DEFAULT_ZONE = "Asia/Shanghai"
SUBJECT_LENGTH = 300


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _localtime(value: Any, zone: ZoneInfo, locale: str, style: str = "datetime") -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    babel_locale = locale.replace("-", "_")
    local = (
        value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=dt.UTC).astimezone(zone)
    )
    if style == "date":
        return dates.format_date(local.date(), "medium", locale=babel_locale)
    return dates.format_datetime(local, "medium", tzinfo=zone, locale=babel_locale)


def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        autoescape=html,
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


def site_url(kernel: Kernel) -> str:
    """The public address links start with: `[server] base_url`, else the served host."""
    base = kernel.settings.server.base_url
    if not base:
        server = kernel.settings.server
        base = f"http://{server.host}:{server.port}"
    return base.rstrip("/")


def absolute(kernel: Kernel, path: str | None) -> str | None:
    if not path:
        return None
    if path.startswith(("http://", "https://")):
        return path
    return site_url(kernel) + (path if path.startswith("/") else "/" + path)


def record_values(kind: RecordKind, row: Any, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every field of the record (its columns and what the caller adds), before the rules."""
    values = {
        attribute.key: getattr(row, attribute.key)
        for attribute in inspect(type(row)).column_attrs
        if attribute.key in kind.fields or attribute.key == "id"
    }
    values.update(extra or {})
    return values


def readable_record(
    actor: Actor, kind: RecordKind, row: Any, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The record's values the recipient may read: hidden fields are left out."""
    access = field_access(actor, kind.name)
    values = access.redact(record_values(kind, row, extra))
    values["id"] = row.id
    return values


def render(
    registry: NotificationRegistry,
    spec: NotificationEvent,
    locale: str,
    time_zone: str | None,
    context: Mapping[str, Any],
) -> Rendered:
    """The event's templates of `locale` (English when it has none) filled with `context`."""
    used, templates = spec.templates_for(locale)
    zone = zone_of(time_zone)

    def localtime(value: Any, style: str = "datetime") -> str:
        return _localtime(value, zone, used, style)

    values = {**context, "locale": used, "time_zone": str(zone.key)}

    def compiled(part: str, source: str, html: bool) -> Any:
        key = (spec.name, used, part)
        found = registry.compiled.get(key)
        if found is None:
            environment = _HTML if html else _TEXT
            found = registry.compiled[key] = environment.from_string(source)
        return found

    def run(part: str, source: str, html: bool) -> str:
        template = compiled(part, source, html)
        return str(template.render(**values, localtime=localtime))

    subject = " ".join(run("subject", templates.subject, False).split())[:SUBJECT_LENGTH]
    text = run("text", templates.text, False).strip() + "\n"
    if templates.html:
        html = run("html", templates.html, True)
    else:
        html = str(Markup("<pre>{}</pre>").format(escape(text)))
    return Rendered(used, subject, text, html)
