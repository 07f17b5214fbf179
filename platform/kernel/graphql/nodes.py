"""Resource types backed by models: Relay `Node`s loaded in batches, one query per type."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
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


def loaded(loader: Any, key: Any) -> Any:
    """The value `loader` holds for `key` already, else an awaitable of it.

    A resolver returning a plain value costs graphql-core no task on the event loop; a list
    whose links were prefetched (`prefetch`) resolves without awaiting anything.
    """
    future = loader.cache_map.get(key)
    if future is not None and future.done() and future.exception() is None:
        return future.result()
    return loader.load(key)


def then(value: Any, convert: Callable[[Any], Any]) -> Any:
    """`convert(value)`, or an awaitable of it when `value` is still to be awaited."""
    if not inspect.isawaitable(value):
        return convert(value)

    async def converted() -> Any:
        return convert(await value)

    return converted()


def linked(context: Context, model: type[Any], key: int | None) -> Any:
    """The row a link column points at (or an awaitable of it), batched with the request's
    other look-ups."""
    if key is None:
        return None
    return loaded(by_id_loader(context, model), key)


LINK = "openitsm.link"  # a field's metadata key: (model, link column)


def link(model: type[Any], column: str, description: str | None = None) -> Any:
    """A field showing the row `column` points at, through the request's by-id loader.

    Declared this way, the link is known to `prefetch`, which loads it for a whole page of
    rows in one query before any row is resolved.
    """
    import strawberry

    def resolve(root: Any, info: Info) -> Any:
        return linked(info.context, model, getattr(root, column))

    return strawberry.field(
        resolver=resolve, description=description, metadata={LINK: (model, column)}
    )


def resolve_links_directly(schema: GraphQLSchema) -> None:
    """Resolve each declared link field with one plain function instead of strawberry's
    generic resolver chain (info object, argument parsing, extensions): a page of rows
    resolves hundreds of links, and they take no arguments and have no extensions."""
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            field = graphql_field.extensions.get("strawberry-definition")
            declared = getattr(field, "metadata", None) or {}
            if LINK in declared and not field.extensions and not graphql_field.args:
                graphql_field.resolve = _link_resolver(*declared[LINK])


def _link_resolver(model: type[Any], column: str) -> Callable[..., Any]:
    def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
        key = getattr(source, column)
        if key is None:
            return None
        return loaded(by_id_loader(info.context, model), key)

    return resolve


def selected_node_fields(info: Info) -> set[str]:
    """The GraphQL names of the fields asked of the nodes of the connection being resolved
    (under `edges { node }` and `nodes`, through fragments)."""
    from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

    def flatten(selections: Iterable[Any]) -> Iterable[SelectedField]:
        for selection in selections:
            if isinstance(selection, (FragmentSpread, InlineFragment)):
                yield from flatten(selection.selections)
            elif isinstance(selection, SelectedField):
                yield selection

    names: set[str] = set()
    for field in flatten(info.selected_fields):
        for part in flatten(field.selections):
            if part.name == "nodes":
                names.update(child.name for child in flatten(part.selections))
            elif part.name == "edges":
                for edge_part in flatten(part.selections):
                    if edge_part.name == "node":
                        names.update(child.name for child in flatten(edge_part.selections))
    return names


def prefetched(info: Info, node_type: type[ModelNode], page: Any) -> Any:
    """`page`, a connection of `node_type` rows, with what the request asks of them
    loaded in batches (`prefetch`)."""
    prefetch(info, node_type, [edge.node for edge in page.edges])
    return page


def prefetch(info: Info, node_type: type[ModelNode], rows: Sequence[Any]) -> None:
    """Load, in one query per model, the links of `rows` the request asks for, and let
    the type load the rest of what it shows in batches (`ModelNode.prefetch`)."""
    if not rows:
        return
    selected = selected_node_fields(info)
    context: Context = info.context
    names = info.schema.config.name_converter
    wanted: dict[type[Any], set[int]] = {}
    for field in node_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        declared = field.metadata.get(LINK)
        if declared is None or names.get_graphql_name(field) not in selected:
            continue
        model, column = declared
        keys = wanted.setdefault(model, set())
        keys.update(key for row in rows if (key := getattr(row, column)) is not None)
    for model, keys in wanted.items():
        by_id_loader(context, model).prime_keys(keys)
    node_type.prefetch(context, rows, selected)


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
    def prefetch(cls, context: Context, rows: Sequence[Any], selected: set[str]) -> None:
        """Prime the request's loaders with what the `selected` fields of `rows` show,
        beyond the declared links (which `prefetch` loads itself)."""

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
