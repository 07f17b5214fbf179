"""Incident templates (事件模板): what a new incident starts from, kept by the service desk.

Holders of `incident.manage_templates` create, edit (with optimistic locking) and
deactivate them; whoever may register incidents sees the active ones and registers from
them. A template's values are checked again each time it is used, since a dictionary item
or a department it names may have been retired since: the refusal names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openitsm.kernel import SYSTEM, Actor, BadUserInput, check_version, flush, require, validation
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.errors import NotFound, _t
from openitsm.kernel.forms import sanitise_html
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import IncidentTemplate

MANAGE = "incident.manage_templates"
# What a template holds, as the service's field names (the group as a department id).
FIELDS = ("name", "title", "description", "category", "nature", "impact", "urgency", "group_id")
CODED = ("category", "nature", "impact", "urgency")
# The incident fields a template fills in.
INCIDENT_FIELDS = ("title", "description", *CODED, "group_id")


def _actor(session: Session) -> Actor:
    return session.info.get("actor") or SYSTEM


def may_use(actor: Actor) -> bool:
    return actor.can(service.CREATE) or actor.can(MANAGE)


def list_templates(session: Session, include_inactive: bool = False) -> list[IncidentTemplate]:
    """The templates by name: the active ones for whoever may register incidents, the
    inactive ones too for their managers. One query."""
    actor = _actor(session)
    if not may_use(actor):
        require(actor, service.CREATE)
    statement = select(IncidentTemplate).order_by(IncidentTemplate.name, IncidentTemplate.id)
    if not (include_inactive and actor.can(MANAGE)):
        statement = statement.where(IncidentTemplate.active.is_(True))
    return list(session.scalars(statement))


def get_template(session: Session, template_id: int, field: str = "id") -> IncidentTemplate:
    """A template the actor may see (an inactive one only with `incident.manage_templates`),
    else NOT_FOUND."""
    actor = _actor(session)
    if not may_use(actor):
        require(actor, service.CREATE)
    template = session.get(IncidentTemplate, template_id)
    if template is None or (not template.active and not actor.can(MANAGE)):
        raise NotFound(
            _t("No incident template with id {id}."), field=field, params={"id": template_id}
        )
    return template


def _text(value: Any, field: str, limit: int) -> str | None:
    return validation.text(str(value or ""), field, limit)


def _group(session: Session, group_id: int | None, field: str = "group") -> int | None:
    validation.active_department(session, group_id, field)
    return group_id


def _checked(
    session: Session, values: Mapping[str, Any], template: IncidentTemplate | None
) -> dict[str, Any]:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise BadUserInput(
            _t("Incident templates have no field '{field}'."),
            field=unknown[0],
            params={"field": unknown[0]},
        )
    checked: dict[str, Any] = {}
    if "name" in values or template is None:
        name = _text(values.get("name"), "name", 100)
        if name is None:
            raise BadUserInput(_t("A template needs a name."), field="name")
        taken = session.scalar(
            select(IncidentTemplate.id).where(
                func.lower(IncidentTemplate.name) == name.lower(),
                IncidentTemplate.active.is_(True),
                IncidentTemplate.id != (template.id if template is not None else 0),
            )
        )
        if taken is not None:
            raise BadUserInput(
                _t("An active template is already called '{name}'."),
                field="name",
                params={"name": name},
            )
        checked["name"] = name
    if "title" in values:
        checked["title"] = _text(values["title"], "title", 200)
    if "description" in values:
        checked["description"] = sanitise_html(values["description"] or "").strip() or None
    for field in CODED:
        if field in values:
            checked[field] = service.dictionary_code(session, field, values[field])
    if "group_id" in values:
        checked["group_id"] = _group(session, values["group_id"])
    return checked


def create_template(session: Session, **values: Any) -> IncidentTemplate:
    """A new active template; `name` is required and unique among the active ones."""
    require(_actor(session), MANAGE)
    template = IncidentTemplate(active=True, **_checked(session, values, None))
    session.add(template)
    flush(session)
    return template


def update_template(
    session: Session, template_id: int, version: int, changes: Mapping[str, Any]
) -> IncidentTemplate:
    """Change the given fields (`active` too, to bring one back); a stale `version` is a
    CONFLICT and changes nothing."""
    require(_actor(session), MANAGE)
    template = get_template(session, template_id)
    check_version(template, version, "incident template")
    changes = dict(changes)
    active = changes.pop("active", None)
    if active is True and not template.active:
        template.active = True  # the name must be free among the active ones again
        changes.setdefault("name", template.name)
    for name, value in _checked(session, changes, template).items():
        setattr(template, name, value)
    if active is False:
        template.active = False
    flush(session)
    return template


def deactivate_template(session: Session, template_id: int, version: int) -> IncidentTemplate:
    """Retire a template: it is offered no more and registering from it is refused; the
    incidents registered from it keep their values."""
    return update_template(session, template_id, version, {"active": False})


# --- registering from a template ------------------------------------------------------


def template_values(
    session: Session, template_id: int, skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """What a new incident takes from the template: the fields it sets that the actor may
    write (the group only with `incident.assign`), less those in `skip`, each checked again.

    A deactivated or deleted template is BAD_USER_INPUT on `template`; a dictionary item or
    department retired since it was saved is BAD_USER_INPUT naming that field.
    """
    actor = _actor(session)
    template = session.get(IncidentTemplate, template_id)
    if template is None or not template.active:
        raise BadUserInput(
            _t("The incident template {id} no longer exists or has been deactivated."),
            field="template",
            params={"id": template_id},
        )
    access = field_access(actor, "incident")
    values: dict[str, Any] = {}
    for field in INCIDENT_FIELDS:
        value = getattr(template, field)
        if value is None or field in skip or not access.writable(field):
            continue
        if field == "group_id" and not actor.can(service.ASSIGN):
            continue
        values[field] = value
    for field in CODED:
        if field in values:
            _still_active(session, field, values[field])
    if "group_id" in values:
        _group(session, values["group_id"])
    return values


def _still_active(session: Session, field: str, code: str) -> None:
    try:
        service.dictionary_code(session, field, code)
    except BadUserInput:
        raise BadUserInput(
            _t(
                "The template's {field} '{code}' is no longer an active dictionary item; "
                "choose another or edit the template."
            ),
            field=field,
            params={"field": field, "code": code},
        ) from None


def with_template(
    session: Session, template_id: int | None, given: Mapping[str, Any]
) -> dict[str, Any]:
    """`given` (a new incident's values) over the template's: a field given explicitly,
    even as None to leave it empty, wins; the template's values fill in the rest. Only
    the template values actually used are checked again."""
    if template_id is None:
        return dict(given)
    require(_actor(session), service.CREATE)
    return {**template_values(session, template_id, skip=set(given)), **given}
