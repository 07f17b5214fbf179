"""Field rules: per role, resource and field, whether the field is read-write, read-only or
hidden.

A field no role of the actor names is read-write; where several roles name the same field,
the most generous rule wins, as with every other grant (roles only ever add rights). So
an agent who is also an end user sees what the agent role allows, and a role that hides a
field must not be combined with one that names it read-write by mistake.

Rules are merged once per role set (`merge`) and cached with the actor's grants; asking
what an actor may do with a resource's fields is a dictionary look-up (`field_access`).
Every path that shows, writes, filters or sorts by a field goes through `FieldAccess`:
GraphQL fields and inputs, history, record references, and the exports, search and
notifications that render records for someone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.access.models import FIELD_ACCESS, FieldRule
from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import BadUserInput, Forbidden, _t

if TYPE_CHECKING:
    from openitsm.kernel.references import RecordKinds

Value = TypeVar("Value")
# (resource, field, access) for every field an actor may not fully use.
Restrictions = frozenset[tuple[str, str, str]]
_RANK = {access: rank for rank, access in enumerate(FIELD_ACCESS)}


@dataclass(frozen=True)
class FieldAccess:
    """What one actor may do with the fields of one resource."""

    resource: str
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()

    @property
    def restricted(self) -> bool:
        return bool(self.hidden or self.read_only)

    def access(self, field: str) -> str:
        if field in self.hidden:
            return "hidden"
        return "read_only" if field in self.read_only else "read_write"

    def readable(self, field: str) -> bool:
        return field not in self.hidden

    def writable(self, field: str) -> bool:
        return field not in self.hidden and field not in self.read_only

    def check_write(self, fields: Iterable[str]) -> None:
        """Refuse a write naming a field the actor may not change; nothing is dropped silently."""
        for field in sorted(set(fields)):
            if not self.writable(field):
                raise Forbidden(
                    _t("Your roles do not allow changing the {resource} field '{field}'."),
                    field=field,
                    resource=self.resource,
                )

    def check_read(self, fields: Iterable[str], purpose: str = "filter by") -> None:
        """Refuse filtering or sorting by a hidden field: the answer would reveal its value."""
        for field in sorted(set(fields)):
            if field in self.hidden:
                raise Forbidden(
                    _t("Your roles do not allow you to {purpose} the {resource} field '{field}'."),
                    params={"purpose": purpose},
                    field=field,
                    resource=self.resource,
                )

    def readable_only(self, columns: Mapping[str, Value]) -> list[Value]:
        """The values of `columns` ({field: column}) whose field the actor may read: a search
        across several fields quietly leaves out the hidden ones."""
        return [column for field, column in columns.items() if field not in self.hidden]

    def redact(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """`values` ({field: value}) without the hidden fields, for exports and messages."""
        if not self.hidden:
            return dict(values)
        return {field: value for field, value in values.items() if field not in self.hidden}


def merge(rules_by_role: Mapping[str, Iterable[tuple[str, str, str]]]) -> Restrictions:
    """The effective restrictions of several roles: per field, the most generous rule."""
    best: dict[tuple[str, str], str] = {}
    for rules in rules_by_role.values():
        for resource, field, access in rules:
            key = (resource, field)
            if key not in best or _RANK[access] > _RANK[best[key]]:
                best[key] = access
    return frozenset(
        (resource, field, access)
        for (resource, field), access in best.items()
        if access != "read_write"
    )


@lru_cache(maxsize=8192)
def _unrestricted(resource: str) -> FieldAccess:
    return FieldAccess(resource)


@lru_cache(maxsize=8192)
def _restricted(restrictions: Restrictions, resource: str) -> FieldAccess:
    hidden = frozenset(f for r, f, access in restrictions if r == resource and access == "hidden")
    read_only = frozenset(
        f for r, f, access in restrictions if r == resource and access == "read_only"
    )
    return FieldAccess(resource, hidden, read_only)


def field_access(actor: Actor | None, resource: str) -> FieldAccess:
    """What `actor` may do with `resource`'s fields; no actor means the system itself."""
    if actor is None or actor.superuser or not actor.field_rules:
        return _unrestricted(resource)
    return _restricted(actor.field_rules, resource)


def session_access(session: Session, resource: str) -> FieldAccess:
    """Field access of the actor the session's unit of work runs for (the system if none)."""
    return field_access(session.info.get("actor"), resource)


def check_write(session: Session, resource: str, fields: Iterable[str]) -> None:
    """Refuse, in the service layer, a write of fields the session's actor may not change."""
    session_access(session, resource).check_write(fields)


def written_fields(
    values: Mapping[str, object],
    links: Iterable[str] = (),
    renamed: Mapping[str, str] | None = None,
) -> list[str]:
    """The fields a service call writes: each one given a value, and each link in `links`
    even when given as None (which clears it). `renamed` maps argument names to fields
    (`role_ids` -> `roles`)."""
    cleared, renamed = set(links), renamed or {}
    return [
        renamed.get(key, key)
        for key, value in values.items()
        if value is not None or key in cleared
    ]


def check_known_field(session: Session, kinds: RecordKinds, resource: str, field: str) -> None:
    from openitsm.kernel.customfields.service import resource_fields

    known = resource_fields(session, kinds.get(resource))
    if field not in known:
        close = get_close_matches(field, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise BadUserInput(
            f"'{resource}' has no field '{field}'.{hint} Its fields: {', '.join(sorted(known))}.",
            field="field",
        )


def set_field_rule(
    session: Session,
    kinds: RecordKinds,
    role_id: int,
    resource: str,
    field: str,
    access: str | None,
) -> FieldRule | None:
    """Set a role's rule on one field, replacing the previous one; None removes the rule."""
    from openitsm.kernel.access import grants

    check_write(session, "role", ["field_rules"])
    check_known_field(session, kinds, resource, field)
    if access is not None and access not in FIELD_ACCESS:
        raise BadUserInput(
            f"Unknown field access {access!r}; choose one of {', '.join(FIELD_ACCESS)}.",
            field="access",
        )
    rule = session.scalar(
        select(FieldRule).where(
            FieldRule.role_id == role_id, FieldRule.resource == resource, FieldRule.field == field
        )
    )
    if access is None:
        if rule is not None:
            session.delete(rule)
        rule = None
    elif rule is None:
        rule = FieldRule(role_id=role_id, resource=resource, field=field, access=access)
        session.add(rule)
    else:
        rule.access = access
    session.flush()
    grants.bump(session)
    return rule


def rules_of_roles(session: Session, role_ids: Iterable[int]) -> dict[int, list[FieldRule]]:
    ids = sorted(set(role_ids))
    grouped: dict[int, list[FieldRule]] = {role_id: [] for role_id in ids}
    statement = (
        select(FieldRule)
        .where(FieldRule.role_id.in_(ids))
        .order_by(FieldRule.resource, FieldRule.field)
    )
    for rule in session.scalars(statement):
        grouped[rule.role_id].append(rule)
    return grouped
