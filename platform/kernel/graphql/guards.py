"""Field rules on GraphQL: every field of every resource type reads a named resource field.

A resource type is a `ModelNode` whose model is a registered record kind. When the schema
is built, each of its fields is mapped to the resource field it shows: the field of the same
name, or `<name>_id` for a link (`department` shows `department_id`), or what the type's
`__fields__` says (`{"label": "labels", "members": None}`; None marks a field that shows
nothing of the record itself, such as the id or a list of other records that are guarded by
their own type). A field the kernel cannot map stops start-up, so a new field can never
slip through unguarded.

Two checks use the map. Before execution, the fields a document selects (through
aliases, fragments and interfaces alike, worked out once per document) are compared with
the actor's hidden fields: asking for one refuses the operation with FORBIDDEN before
anything is read. And the resolver of every mapped field is wrapped with the same test, so
a hidden value is never returned even on a path the first check did not foresee.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    default_field_resolver,
    is_abstract_type,
    visit,
)

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import ConfigurationError, Forbidden, _t
from openitsm.kernel.graphql.nodes import ModelNode

if TYPE_CHECKING:
    from strawberry import Schema
    from strawberry.schema.name_converter import NameConverter

    from openitsm.kernel.references import RecordKinds

# Graphql-core's parsed documents cannot be weakly referenced; the cache holds them alive.
MAX_CACHED_DOCUMENTS = 1024


@dataclass(frozen=True)
class FieldRead:
    """A GraphQL field showing a field of a resource (and sometimes more: `also`)."""

    resource: str
    field: str
    graphql: str  # "User.phone", for messages
    also: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field, *self.also)

    def hidden_in(self, hidden: frozenset[str]) -> str | None:
        """The first of its fields in `hidden`, if any."""
        if self.field in hidden:
            return self.field
        return next((name for name in self.also if name in hidden), None)


def _resource_fields(
    node_type: type[ModelNode], resource: str, known: frozenset[str], names: NameConverter
) -> dict[str, tuple[str, ...] | None]:
    """{GraphQL field name: the resource fields it shows, or None}."""
    overrides = {
        name: (target,) if isinstance(target, str) else target
        for name, target in getattr(node_type, "__fields__", {}).items()
    }
    mapped: dict[str, tuple[str, ...] | None] = {}
    unmapped: list[str] = []
    definition = node_type.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        name = field.python_name
        graphql_name = names.get_graphql_name(field)
        if name in overrides:
            target = overrides[name]
            for shown in target or ():
                if shown not in known:
                    raise ConfigurationError(
                        f"{node_type.__name__}.__fields__ maps '{name}' to '{shown}', which "
                        f"is not a field of '{resource}'"
                    )
        elif graphql_name == "id":
            target = None
        elif name in known:
            target = (name,)
        elif f"{name}_id" in known:
            target = (f"{name}_id",)
        else:
            unmapped.append(name)
            continue
        mapped[graphql_name] = target
    if unmapped:
        raise ConfigurationError(
            f"GraphQL type {definition.name} shows fields of the resource '{resource}' that "
            f"the kernel cannot guard: {', '.join(unmapped)}; name the resource field each "
            f"shows (or None) in {node_type.__name__}.__fields__"
        )
    return mapped


def _guarded(
    resolve: Callable[..., Any], read: FieldRead, attribute: str | None = None
) -> Callable[..., Any]:
    """`resolve` behind the field rule of `read`; a plain attribute (`attribute`) is read
    directly, without the layers of a generic resolver, since a page has hundreds."""
    resource, only = read.resource, read.field if not read.also else None

    def refuse(field: str) -> Forbidden:
        return _refusal(read, field)

    # Runs once per field and row: the common case (one field, nothing hidden) costs a
    # truth test and a dictionary look-up.
    def check(context: Any) -> None:
        if context.actor.field_rules:
            hidden = context.hidden_fields.get(resource)
            if hidden is None:
                hidden = context.hidden(resource)
            if hidden:
                field = only if only in hidden else read.hidden_in(hidden)
                if field is not None:
                    raise refuse(field)

    def guarded(source: Any, info: Any, **arguments: Any) -> Any:
        check(info.context)
        return resolve(source, info, **arguments)

    def guarded_attribute(source: Any, info: Any) -> Any:
        check(info.context)
        return getattr(source, attribute)  # type: ignore[arg-type]

    return guarded if attribute is None else guarded_attribute


def _refusal(read: FieldRead, field: str) -> Forbidden:
    return Forbidden(
        _t("Your roles do not allow reading {graphql} ({resource} field '{field}')."),
        field=field,
        resource=read.resource,
        params={"graphql": read.graphql},
    )


class FieldGuards:
    """The resource-field map of one schema, and the checks built on it."""

    def __init__(self, strawberry_schema: Schema, kinds: RecordKinds) -> None:
        schema: GraphQLSchema = strawberry_schema._schema
        names = strawberry_schema.config.name_converter
        self.schema = schema
        self.reads: dict[tuple[str, str], FieldRead] = {}
        self._documents: dict[int, tuple[DocumentNode, tuple[FieldRead, ...]]] = {}
        for graphql_type in schema.type_map.values():
            if not isinstance(graphql_type, GraphQLObjectType):
                continue
            origin = getattr(graphql_type.extensions.get("strawberry-definition"), "origin", None)
            model = getattr(origin, "__model__", None) if isinstance(origin, type) else None
            kind = kinds.by_model.get(model) if model is not None else None
            if kind is None or not issubclass(origin, ModelNode):  # type: ignore[arg-type]
                continue
            mapped = _resource_fields(origin, kind.name, kind.fields, names)  # type: ignore[arg-type]
            for name, graphql_field in graphql_type.fields.items():
                target = mapped.get(name)
                if target is None:
                    continue
                read = FieldRead(
                    kind.name, target[0], f"{graphql_type.name}.{name}", also=target[1:]
                )
                self.reads[(graphql_type.name, name)] = read
                strawberry_field = graphql_field.extensions.get("strawberry-definition")
                basic = getattr(strawberry_field, "is_basic_field", False)
                graphql_field.resolve = _guarded(
                    graphql_field.resolve or default_field_resolver,
                    read,
                    strawberry_field.python_name if basic else None,  # type: ignore[union-attr]
                )

    @property
    def resources(self) -> dict[str, set[str]]:
        """Resource fields shown through GraphQL, by resource."""
        shown: dict[str, set[str]] = {}
        for read in self.reads.values():
            shown.setdefault(read.resource, set()).update(read.fields)
        return shown

    def selected(self, document: DocumentNode) -> tuple[FieldRead, ...]:
        """The resource fields a document may read, worked out once per document."""
        cached = self._documents.get(id(document))
        if cached is not None and cached[0] is document:
            return cached[1]
        found = tuple(dict.fromkeys(self._walk(document)))
        if len(self._documents) >= MAX_CACHED_DOCUMENTS:
            self._documents.clear()
        self._documents[id(document)] = (document, found)
        return found

    def _walk(self, document: DocumentNode) -> Iterable[FieldRead]:
        schema, reads = self.schema, self.reads
        type_info = TypeInfo(schema)
        found: list[FieldRead] = []

        class Collect(Visitor):
            def enter_field(self, node: FieldNode, *_: Any) -> None:
                parent = type_info.get_parent_type()
                if parent is None:
                    return
                possible = (
                    schema.get_possible_types(parent)  # type: ignore[arg-type]
                    if is_abstract_type(parent)
                    else [parent]
                )
                for concrete in possible:
                    read = reads.get((concrete.name, node.name.value))
                    if read is not None:
                        found.append(read)

        visit(document, TypeInfoVisitor(type_info, Collect()))
        return found

    def refusal(self, document: DocumentNode, actor: Actor) -> GraphQLError | None:
        """FORBIDDEN when the document asks for a field hidden from the actor, else None."""
        if actor.superuser or not actor.field_rules:
            return None
        for read in self.selected(document):
            field = read.hidden_in(field_access(actor, read.resource).hidden)
            if field is not None:
                refused = _refusal(read, field)
                return GraphQLError(refused.message, original_error=refused)
        return None
