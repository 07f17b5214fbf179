"""Resource types backed by models: Relay `Node`s loaded in batches, one query per type."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.graphql.context import Context

# The largest primary key a 64-bit column holds; larger ids cannot exist.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """The primary key in a global id's node part, or None when it cannot be one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def rows_by_id(context: Context, model: type[Any], ids: Sequence[int]) -> list[Any]:
    found = {row.id: row for row in context.session.scalars(select(model).where(model.id.in_(ids)))}
    return [found.get(i) for i in ids]


def by_id_loader(context: Context, model: type[Any]) -> Any:
    """The request's loader of `model` rows by primary key; missing ids load as None."""
    return context.loader(("by-id", model), lambda ids: rows_by_id(context, model, ids))


def children_loader(
    context: Context, model: type[Any], parent_column: str, order_by: Any = None
) -> Any:
    """The request's loader of `model` rows grouped by `parent_column` (one IN query per tick)."""
    column = getattr(model, parent_column)

    def load(keys: Sequence[Any]) -> list[list[Any]]:
        statement = select(model).where(column.in_(keys))
        if order_by is not None:
            statement = statement.order_by(*order_by)
        grouped: dict[Any, list[Any]] = {key: [] for key in keys}
        for row in context.session.scalars(statement):
            grouped[getattr(row, parent_column)].append(row)
        return [grouped[key] for key in keys]

    return context.loader(("children", model, parent_column), load)


class ModelNode(relay.Node):
    """Base for a GraphQL type whose objects are rows of `__model__`.

    Resolvers may return model rows directly; `node(id:)` and `nodes(ids:)` resolve
    through the request's by-id loader, so asking for 50 nodes costs one query.
    """

    __model__: ClassVar[type[Any]]

    @classmethod
    def resolve_id(cls, root: Any, *, info: Info) -> str:
        return str(root.id)

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, (cls, cls.__model__))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        ids = [parse_id(node_id) for node_id in node_ids]
        loader = by_id_loader(info.context, cls.__model__)
        rows = await loader.load_many([i for i in ids if i is not None])
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
