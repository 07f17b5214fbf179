"""Data scope: which rows of a record kind an actor may see, as one SQL condition.

A role grants a scope per resource (record kind): `own`, `department`, `department_subtree`,
`service_units` or `all`. A kind says which of its columns carry the owner, the department
and the service unit (`ScopeColumns` on its `RecordKind`). The actor sees the union of the
rows its roles allow; the union is compiled to one WHERE condition, so lists, totals and
references are filtered by the database and never after the fact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from openitsm.kernel.access.models import SCOPES, RoleScope
from openitsm.kernel.actors import SYSTEM, Actor
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.organisation.models import Department

if TYPE_CHECKING:
    from openitsm.kernel.references import RecordKind, RecordRef

Statement = TypeVar("Statement", bound=Select[Any])


@dataclass(frozen=True)
class ScopeColumns:
    """The columns of a kind's model that the scopes compare with.

    A column left out means that scope grants nothing for the kind: `own` with no owner
    column shows no rows rather than all of them.
    """

    owner: tuple[str, ...] = ()
    department: str | None = None
    service_unit: str | None = None


def scopes_of(actor: Actor, resource: str) -> frozenset[str]:
    """The scopes the actor's roles grant on `resource`."""
    return frozenset(scope for name, scope in actor.scopes if name == resource)


def _column(model: Any, name: str) -> Any:
    column = getattr(model, name, None)
    if column is None:
        raise AttributeError(f"{model.__name__} has no column '{name}' named in its scope")
    return column


@lru_cache(maxsize=4096)
def department_subtree(department_id: int) -> Select[Any]:
    """Ids of a department and everything below it: a recursive walk down `parent_id`.

    The statement (not its result) is kept per department: building the recursive query
    costs more than the rest of the scope, and the database walks the tree on each use.
    """
    tree = (
        select(Department.id)
        .where(Department.id == department_id)
        .cte("scope_department_tree", recursive=True)
    )
    tree = tree.union_all(select(Department.id).where(Department.parent_id == tree.c.id))
    return select(tree.c.id)


def scope_filter(actor: Actor, kind: RecordKind) -> ColumnElement[bool]:
    """The condition selecting the kind's rows the actor may see.

    Superusers and kinds that declare no scope columns see everything; an actor whose roles
    grant no scope on the kind sees nothing. A kind with its own `visibility` decides alone.
    """
    columns: ScopeColumns | None = kind.scope
    if actor.superuser:
        return true()
    if kind.visibility is not None:
        return kind.visibility(actor)
    if columns is None:
        return true()
    granted = scopes_of(actor, kind.name)
    if "all" in granted:
        return true()
    model = kind.model
    allowed: list[ColumnElement[bool]] = []
    if "own" in granted and columns.owner and actor.user_id is not None:
        allowed.extend(_column(model, name) == actor.user_id for name in columns.owner)
    if columns.department and actor.department_id is not None:
        department = _column(model, columns.department)
        if "department_subtree" in granted:
            allowed.append(department.in_(department_subtree(actor.department_id)))
        elif "department" in granted:
            allowed.append(department == actor.department_id)
    if "service_units" in granted and columns.service_unit and actor.service_unit_ids:
        unit = _column(model, columns.service_unit)
        allowed.append(unit.in_(sorted(actor.service_unit_ids)))
    if not allowed:
        return false()
    return or_(*allowed)


def visible(statement: Statement, actor: Actor, kind: RecordKind) -> Statement:
    """`statement` narrowed to the rows of `kind` the actor may see."""
    return statement.where(scope_filter(actor, kind))


def get_visible(session: Session, kind: RecordKind, record_id: int) -> Any:
    """A row the session's actor may see, else NotFound: a row outside the scope gets the
    same answer as one that does not exist, so ids cannot be probed."""
    actor = session.info.get("actor") or SYSTEM
    row = session.scalar(visible(select(kind.model).where(kind.model.id == record_id), actor, kind))
    if row is None:
        raise NotFound(
            _t("No {kind} with id {id}."), field="id", params={"kind": kind.name, "id": record_id}
        )
    return row


_SEEN: ContextVar[tuple[Actor, frozenset[RecordRef]] | None] = ContextVar(
    "openitsm_seen_records", default=None
)


@contextlib.contextmanager
def records_seen(actor: Actor, refs: Iterable[RecordRef]) -> Iterator[None]:
    """Within the block, `refs` count as visible to `actor` without asking the database.

    For a page that has just read those records under `actor`'s data scope and goes on to
    read what hangs off them (comments, history, process steps, links): each of those
    checks the record again, and the scope condition (a recursive walk of the department
    tree) would otherwise run once per part of one page. The memo lives in the current
    context only, so it ends with the block and never reaches another request.
    """
    token = _SEEN.set((actor, frozenset(refs)))
    try:
        yield
    finally:
        _SEEN.reset(token)


def seen(actor: Actor, ref: RecordRef) -> bool:
    """Whether an enclosing `records_seen` vouches for `ref` being visible to `actor` (the
    same person with the same grants; the language and time zone they read in may differ)."""
    memo = _SEEN.get()
    if memo is None or ref not in memo[1]:
        return False
    known = memo[0]
    return actor is known or replace(actor, locale=known.locale, time_zone=known.time_zone) == known


def set_role_scope(session: Session, role_id: int, resource: str, scope: str | None) -> None:
    """Grant `scope` on `resource` to a role, replacing its previous one; None revokes it.

    Only resources that declare scope columns take a scope; any other is refused."""
    from openitsm.kernel.access import grants
    from openitsm.kernel.access.fields import check_write

    check_write(session, "role", ["scopes"])
    kernel = session.info.get("kernel")
    if kernel is not None:
        kinds = kernel.record_kinds
        if resource not in kinds or kinds.kinds[resource].scope is None:
            scoped = sorted(name for name, kind in kinds.kinds.items() if kind.scope is not None)
            raise BadUserInput(
                _t("'{resource}' has no data scope; scoped resources: {scoped}."),
                field="resource",
                params={"resource": resource, "scoped": ", ".join(scoped) or "none"},
            )
    if scope is not None and scope not in SCOPES:
        raise BadUserInput(
            _t("Unknown data scope {scope}; choose one of {choices}."),
            field="scope",
            params={"scope": repr(scope), "choices": ", ".join(SCOPES)},
        )
    existing = session.scalar(
        select(RoleScope).where(RoleScope.role_id == role_id, RoleScope.resource == resource)
    )
    if scope is None:
        if existing is not None:
            session.delete(existing)
    elif existing is None:
        session.add(RoleScope(role_id=role_id, resource=resource, scope=scope))
    else:
        existing.scope = scope
    session.flush()
    grants.bump(session)
