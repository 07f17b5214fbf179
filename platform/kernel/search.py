"""Search across modules: every record kind that declares `searched` fields, in one call.

Each kind is searched with at most two statements, whatever the number of hits: one for the
first hits and, when there may be more, one for a total that stops counting at `CAP` (a
search for "a" should not count a million rows). The data scope is part of both statements,
so a record the searcher may not see is neither listed nor counted; fields hidden from the
searcher are not searched (a hit on one would reveal its value), and a title built from a
hidden field shows as the bare id, as record references do everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, case, func, literal, or_, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.references import RecordKind, RecordKinds, RecordSummary

if TYPE_CHECKING:
    from openitsm.kernel.actors import Actor

CAP = 1000  # totals above this read "1000+"
MAX_FIRST = 50
MAX_TEXT = 200


@dataclass(frozen=True)
class SearchGroup:
    """The hits of one kind: the first few, described for the searcher, and how many in all."""

    kind: RecordKind
    records: list[RecordSummary]
    total: int  # at most CAP + 1, which means "more than CAP"

    @property
    def total_label(self) -> str:
        return f"{CAP}+" if self.total > CAP else str(self.total)

    def more_url(self, text: str) -> str | None:
        """The kind's own list filtered by the same text, when it has one."""
        if self.kind.list_url is None:
            return None
        from urllib.parse import quote

        return self.kind.list_url.format(q=quote(text, safe=""))


def clean(text: str | None) -> str:
    """The text as searched: trimmed, and short enough to make a sane query."""
    return " ".join((text or "").split())[:MAX_TEXT]


def searchable_kinds(
    kinds: RecordKinds, actor: Actor, only: Iterable[str] | None = None
) -> list[RecordKind]:
    """The kinds `actor` may search, in registration order; `only` narrows them (unknown names
    are refused, so a typo is not an empty answer)."""
    chosen = [kinds.get(name) for name in only] if only is not None else kinds.kinds.values()
    return [
        kind
        for kind in chosen
        if kind.searchable and (kind.search_action is None or actor.can(kind.search_action))
    ]


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _column(kind: RecordKind, name: str) -> Any:
    column = getattr(kind.model, name, None)
    if column is None:
        raise AttributeError(f"record kind '{kind.name}' searches '{name}', which it lacks")
    return column


def _number_match(kind: RecordKind, text: str, access: FieldAccess) -> ColumnElement[bool] | None:
    """The exact match on the kind's number field, when it is readable and `text` fits it."""
    name = kind.search_number
    if name is None or (name != "id" and not access.readable(name)):
        return None
    column = _column(kind, name)
    wanted = text.removeprefix("#")
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is int:
        return column == int(wanted) if wanted.isdigit() and len(wanted) < 19 else None
    return func.lower(column) == wanted.lower()


def _order(kind: RecordKind, access: FieldAccess) -> list[Any]:
    """The kind's search order, less hidden fields (sorting by one would reveal it)."""
    keys: list[Any] = []
    for entry in kind.search_order:
        name = entry.lstrip("-")
        if access.readable(name):
            column = _column(kind, name)
            keys.append(column.desc() if entry.startswith("-") else column.asc())
    keys.append(kind.model.id.desc())
    return keys


def _matching(kind: RecordKind, text: str, actor: Actor) -> tuple[Select[Any], Any] | None:
    """The visible rows matching `text`, and the rank of an exact number match; None when the
    searcher may read none of the fields searched."""
    access = field_access(actor, kind.name)
    pattern = f"%{_escaped(text)}%"
    columns = access.readable_only({name: _column(kind, name) for name in kind.searched})
    conditions: list[ColumnElement[bool]] = [c.ilike(pattern, escape="\\") for c in columns]
    exact = _number_match(kind, text, access)
    if exact is not None:
        conditions.append(exact)
    if not conditions:
        return None
    statement = visible(select(kind.model).where(or_(*conditions)), actor, kind)
    rank = case((exact, 0), else_=1) if exact is not None else literal(1)
    return statement, rank


def search_kind(
    session: Session, kind: RecordKind, text: str, actor: Actor, first: int = 10
) -> SearchGroup | None:
    """One kind's hits, or None when it has none (or none the searcher may look for)."""
    found = _matching(kind, text, actor)
    if found is None:
        return None
    statement, rank = found
    order = [rank, *_order(kind, field_access(actor, kind.name))]
    rows = list(session.scalars(statement.order_by(*order).limit(first)))
    if not rows:
        return None
    total = len(rows)
    if total == first:
        capped = statement.with_only_columns(kind.model.id).limit(CAP + 1).subquery()
        total = session.scalar(select(func.count()).select_from(capped)) or total
    hidden = field_access(actor, kind.name).hidden
    return SearchGroup(kind, [kind.summary(row, hidden) for row in rows], total)


def search(
    session: Session,
    kinds: RecordKinds,
    actor: Actor,
    text: str,
    *,
    only: Sequence[str] | None = None,
    first: int = 10,
) -> list[SearchGroup]:
    """Search every kind `actor` may search (or the kinds in `only`) for `text`.

    Returns the kinds with hits, in registration order, each with its first `first` hits
    (exact number matches first) and its total, counted up to `CAP` + 1.
    """
    text = clean(text)
    if not text:
        return []
    first = max(1, min(first, MAX_FIRST))
    groups = []
    for kind in searchable_kinds(kinds, actor, only):
        group = search_kind(session, kind, text, actor, first)
        if group is not None:
            groups.append(group)
    return groups
