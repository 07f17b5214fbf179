"""Resource types backed by models: Relay `Node`s loaded in batches, one query per type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.graphql.context import Context

# GraphQL field name -> the resource field(s) it shows, or None; see `graphql.guards`.
Fields = Mapping[str, str | tuple[str, ...] | None]

# The largest primary key a 64-bit column holds; larger ids cannot exist.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """The primary key in a global id's node part, or None when it cannot be one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def rows_by_id(
    context: Context, model: type[Any], ids: Sequence[int], scoped: bool = True
) -> list[Any]:
    """Rows by primary key; a row outside the actor's data scope loads as None, exactly as
    if it did not exist, so `node(id:)` and nested links never reveal another tenant's rows.
    `scoped=False` is for rows reached through one that already admits the viewer to them
    (the instance of a work item the viewer was given)."""
    from openitsm.kernel.access.scope import visible

    statement = select(model).where(model.id.in_(ids))
    kind = context.kernel.record_kinds.by_model.get(model)
    if scoped and kind is not None and kind.restricted:
        statement = visible(statement, context.actor, kind)
    found = {row.id: row for row in context.session.scalars(statement)}
    return [found.get(i) for i in ids]


def by_id_loader(context: Context, model: type[Any], scoped: bool = True) -> Any:
    """The request's loader of `model` rows by primary key; missing ids load as None."""
    return context.loader(
        ("by-id", model, scoped), lambda ids: rows_by_id(context, model, ids, scoped)
    )


def _hidden_of(context: Context, model: type[Any]) -> frozenset[str]:
    kind = context.kernel.record_kinds.by_model.get(model)
    return context.hidden(kind.name) if kind is not None else frozenset()


def readable_order(context: Context, model: type[Any], order_by: Iterable[Any]) -> tuple[Any, ...]:
    """`order_by` less its terms on fields hidden from the actor, whose order would show
    them; the primary key keeps what remains a total order."""
    terms = tuple(order_by)
    hidden = _hidden_of(context, model)
    if not hidden:
        return terms
    kept = tuple(term for term in terms if _term_field(term) not in hidden)
    return kept if len(kept) == len(terms) else (*kept, model.id)


def _term_field(term: Any) -> str | None:
    key = getattr(term, "key", None)
    return key if key is not None else getattr(getattr(term, "element", None), "key", None)


def shows_inactive(context: Context, model: type[Any], include_inactive: bool) -> bool:
    """Whether a list leaves inactive rows in: always, when `active` is hidden from the
    actor, since leaving them out would tell which rows are inactive."""
    return include_inactive or "active" in _hidden_of(context, model)


def children_loader(
    context: Context, model: type[Any], parent_column: str, order_by: Any = None
) -> Any:
    """The request's loader of `model` rows grouped by `parent_column` (one IN query per tick)."""
    column = getattr(model, parent_column)

    def load(keys: Sequence[Any]) -> list[list[Any]]:
        statement = select(model).where(column.in_(keys))
        if order_by is not None:
            statement = statement.order_by(*readable_order(context, model, order_by))
        grouped: dict[Any, list[Any]] = {key: [] for key in keys}
        for row in context.session.scalars(statement):
            grouped[getattr(row, parent_column)].append(row)
        return [grouped[key] for key in keys]

    return context.loader(("children", model, parent_column), load)


async def linked(context: Context, model: type[Any], key: int | None) -> Any:
    """The row a link column points at, batched with the request's other look-ups."""
    if key is None:
        return None
    return await by_id_loader(context, model).load(key)


async def active_children(
    context: Context, model: type[Any], parent_id: int, order_by: Any, include_inactive: bool
) -> list[Any]:
    """A tree node's children in order, the inactive ones only when asked for."""
    rows = await children_loader(context, model, "parent_id", order_by).load(parent_id)
    everything = shows_inactive(context, model, include_inactive)
    return [row for row in rows if everything or row.active]


class ModelNode(relay.Node):
    """Base for a GraphQL type whose objects are rows of `__model__`.

    Resolvers may return model rows directly; `node(id:)` and `nodes(ids:)` resolve
    through the request's by-id loader, so asking for 50 nodes costs one query.
    """

    __model__: ClassVar[type[Any]]
    __fields__: ClassVar[Fields] = {}

    @classmethod
    def resolve_id(cls, root: Any, *, info: Info) -> str:
        return str(root.id)

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, (cls, cls.__model__))

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """`rows` (None for missing ones) with those the actor may not see replaced by None.

        The by-id loader already applies the data scope of kinds that declare one; a type
        whose rows borrow their visibility from elsewhere (an attachment from its record)
        overrides this.
        """
        return rows

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        ids = [parse_id(node_id) for node_id in node_ids]
        loader = by_id_loader(info.context, cls.__model__)
        rows = cls.visible_rows(
            info.context, await loader.load_many([i for i in ids if i is not None])
        )
        found = iter(rows)
        rows = [next(found) if i is not None else None for i in ids]
        if required and any(row is None for row in rows):
            from openitsm.kernel.errors import NotFound

            raise NotFound(f"No {cls.__name__} with that id.")
        return list(rows)


def decode_id(value: relay.GlobalID, node_type: type[ModelNode], field: str = "id") -> int:
    """The primary key inside a global id, refusing ids of another type."""
    from openitsm.kernel.errors import BadUserInput

    expected = node_type.__strawberry_definition__.name  # type: ignore[attr-defined]
    key = parse_id(value.node_id)
    if value.type_name != expected or key is None:
        raise BadUserInput(f"{field} must be the id of a {expected}.", field=field)
    return key


def input_values(
    input: Any,
    plain: Iterable[str],
    links: Iterable[tuple[str, str, type[ModelNode]]] = (),
) -> dict[str, Any]:
    """A service's arguments from a mutation input: fields left out (UNSET) are not passed,
    so an edit changes only what the client sent. `plain` fields pass as they are; each
    `(input field, service argument, node type)` of `links` passes its decoded primary key
    (None when the client sent null)."""
    import strawberry

    values: dict[str, Any] = {}
    for name in plain:
        value = getattr(input, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            values[name] = value
    for name, argument, node_type in links:
        value = getattr(input, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            values[argument] = None if value is None else decode_id(value, node_type, name)
    return values
