"""Pickers for form fields that point at records: users (searched), departments and
dictionary items (trees drawn in the page).

A page calls `prepare(session, form, values, ...)` once to load what its `user`,
`department` and `dictionary` fields need (one query per kind, whatever the number of
fields), hands the result to the form macros as `choices`, and checks a post with
`lookups(session, ...)`, which refuses ids that do not exist or are no longer active.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.actors import Actor
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.forms import Form, FormField
from openitsm.kernel.identity.models import User
from openitsm.kernel.lookups import record_lookups
from openitsm.kernel.organisation.models import Department
from openitsm.web.pages import PageContext, explained, page_context

MAX_USERS = 20
USER_SEARCH_FIELDS = ("login", "name", "employee_id", "phone")
INDENT = "\u00a0\u00a0\u00a0"  # per tree level in a <select>, where CSS cannot indent


@dataclass(frozen=True)
class PickedUser:
    """A user as a picker shows them: only what the viewer may read."""

    id: int
    label: str
    detail: str = ""


@dataclass(frozen=True)
class TreeOption:
    """One node of a tree select, in tree order, with its depth for the indentation."""

    id: int
    label: str
    depth: int
    active: bool = True

    @property
    def indented(self) -> str:
        return INDENT * self.depth + self.label


def tree_order(
    nodes: Iterable[Any], key: Callable[[Any], Any] = lambda n: (n.sort_order, n.id)
) -> list[tuple[Any, int]]:
    """Adjacency-list rows as (row, depth), parents before their children, siblings by
    `key`; a row whose parent is not among them (or a loop) is shown at the top level."""
    rows = list(nodes)
    ids = {row.id for row in rows}
    children: dict[int | None, list[Any]] = {}
    for row in rows:
        parent = row.parent_id if row.parent_id in ids else None
        children.setdefault(parent, []).append(row)
    for group in children.values():
        group.sort(key=key)
    ordered: list[tuple[Any, int]] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        for row in children.get(parent, []):
            if row.id in seen:
                continue
            seen.add(row.id)
            ordered.append((row, depth))
            walk(row.id, depth + 1)

    walk(None, 0)
    for row in rows:  # rows caught in a loop of parents never reach the top: show them too
        if row.id not in seen:
            seen.add(row.id)
            ordered.append((row, 0))
            walk(row.id, 1)
    return ordered


# --- users ----------------------------------------------------------------------------


def user_label(user: User, access: FieldAccess) -> PickedUser:
    """The name (or login) of a user, never a field hidden from the viewer."""
    name = user.name if access.readable("name") else ""
    login = user.login if access.readable("login") else ""
    return PickedUser(user.id, name or login or f"#{user.id}", login if name else "")


def search_users(session: Session, actor: Actor, term: str, limit: int = MAX_USERS) -> list[Any]:
    """Active users whose readable login, name or employee id contains `term`."""
    access = field_access(actor, "user")
    statement = select(User).where(User.active.is_(True))
    term = term.strip()
    if term:
        columns = access.readable_only({name: getattr(User, name) for name in USER_SEARCH_FIELDS})
        if not columns:
            return []
        pattern = f"%{term}%"
        statement = statement.where(or_(*(column.ilike(pattern) for column in columns)))
    order = [User.sort_name] if access.readable("name") else []
    if access.readable("login"):
        order.append(User.login)
    users = session.scalars(statement.order_by(*order, User.id).limit(limit))
    return [user_label(user, access) for user in users]


@explained
async def pick_users(request: Request) -> Response:
    """Options for a user picker (htmx): `q` is the typed text, `name` the picker's field."""
    page = page_context(request, "org.read")
    if not isinstance(page, PageContext):
        return page
    term = request.query_params.get("q", "")[:100]
    field = request.query_params.get("name", "")

    def find() -> list[PickedUser]:
        with page.kernel.session() as session:
            return search_users(session, page.actor, term)

    users = await run_in_threadpool(find)
    return page.respond("pickers/users.html", users=users, field=field, term=term)


# --- trees ----------------------------------------------------------------------------


# Every department as a tree select shows it, built once (see `openitsm.web.statements`).
_DEPARTMENTS = select(
    Department.id,
    Department.parent_id,
    Department.sort_order,
    Department.code,
    Department.name,
    Department.active,
)


def department_options(session: Session, actor: Actor | None) -> list[TreeOption]:
    """Every department in tree order (one query); inactive ones are marked only when the
    viewer may read `active`."""
    access = field_access(actor, "department")
    rows = session.execute(_DEPARTMENTS).all()
    # Siblings in their stored order, unless that order is hidden from the viewer.
    by_order = access.readable("sort_order")
    ordered = tree_order(rows, key=(lambda r: (r.sort_order, r.id)) if by_order else lambda r: r.id)
    options = []
    for row, depth in ordered:
        label = (
            row.name
            if access.readable("name")
            else (row.code if access.readable("code") else f"#{row.id}")
        )
        active = row.active if access.readable("active") else True
        options.append(TreeOption(row.id, label, depth, active))
    return options


def dictionary_options(
    session: Session, codes: Iterable[str], locale: str
) -> dict[str, list[TreeOption]]:
    """The items of the dictionaries `codes` in tree order, by dictionary code (one query)."""
    wanted = sorted(set(codes))
    found: dict[str, list[TreeOption]] = {code: [] for code in wanted}
    if not wanted:
        return found
    rows = session.execute(
        select(DictionaryItem, Dictionary.code)
        .join(Dictionary, DictionaryItem.dictionary_id == Dictionary.id)
        .where(Dictionary.code.in_(wanted))
    ).all()
    by_code: dict[str, list[DictionaryItem]] = {}
    for item, code in rows:
        by_code.setdefault(code, []).append(item)
    for code, items in by_code.items():
        found[code] = [
            TreeOption(item.id, item.label(locale), depth, item.active)
            for item, depth in tree_order(items)
        ]
    return found


# --- forms ----------------------------------------------------------------------------


def _ids(values: Mapping[str, Any], fields: Sequence[FormField]) -> set[int]:
    found = set()
    for spec in fields:
        value = values.get(spec.name)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            found.add(int(value))
    return found


def prepare(
    session: Session,
    form: Form,
    values: Mapping[str, Any],
    actor: Actor | None,
    locale: str,
) -> dict[str, Any]:
    """What the form macros need for the pickers of `form`, by field name: the picked
    `PickedUser` (or None) for a user field, the `TreeOption`s of a department or
    dictionary field. One query per kind of picker present."""
    by_type: dict[str, list[FormField]] = {}
    for spec in form.fields:
        by_type.setdefault(spec.type, []).append(spec)
    choices: dict[str, Any] = {}
    user_fields = by_type.get("user", [])
    if user_fields:
        access = field_access(actor, "user")
        ids = _ids(values, user_fields)
        users = session.scalars(select(User).where(User.id.in_(ids))).all() if ids else []
        picked = {user.id: user_label(user, access) for user in users}
        for spec in user_fields:
            value = str(values.get(spec.name))
            choices[spec.name] = picked.get(int(value)) if value.isdigit() else None
    if by_type.get("department"):
        departments = department_options(session, actor)
        for spec in by_type["department"]:
            choices[spec.name] = departments
    dictionary_fields = by_type.get("dictionary", [])
    if dictionary_fields:
        items = dictionary_options(
            session, (spec.dictionary or "" for spec in dictionary_fields), locale
        )
        for spec in dictionary_fields:
            choices[spec.name] = items.get(spec.dictionary or "", [])
    return choices


def lookups(
    session: Session, current: Mapping[str, Any] | None = None
) -> dict[str, Callable[[FormField, Any], bool]]:
    """Checks for `check_submission(lookups=...)`; see `openitsm.kernel.lookups`."""
    return record_lookups(session, current)


ROUTES = [Route("/pick/users", pick_users, methods=["GET"])]
