"""Assemble one schema from the kernel's and every enabled plugin's contributions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import DocumentNode, ExecutionResult, GraphQLError, specified_rules
from graphql import execute as execute_document
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache
from strawberry.schema.schema import optimized_is_awaitable
from strawberry.types.base import has_object_definition

from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.guards import FieldGuards
from openitsm.kernel.graphql.nodes import resolve_links_directly

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.references import RecordKinds
    from openitsm.kernel.settings import GraphQLSettings

# Parsing and validating the same query text again costs more than executing it.
DOCUMENT_CACHE_SIZE = 512


def merge_root(name: str, parts: Iterable[tuple[str, type]]) -> type | None:
    """One root type from many; a field contributed twice is an error naming both owners."""
    owners: dict[str, str] = {}
    bases: list[type] = []
    for owner, part in parts:
        if not has_object_definition(part):
            raise ConfigurationError(f"plugin '{owner}': {part!r} is not a strawberry type")
        for field in part.__strawberry_definition__.fields:
            if field.name in owners:
                raise ConfigurationError(
                    f"GraphQL {name} field '{field.name}' is contributed by both "
                    f"'{owners[field.name]}' and '{owner}'; rename one of them"
                )
            owners[field.name] = owner
        bases.append(part)
    if not bases:
        return None
    return strawberry.type(type(name, tuple(bases), {}))


class KernelSchema(strawberry.Schema):
    """Strawberry's schema, executed by the endpoint straight on graphql-core.

    Strawberry's own `execute` wraps each operation in extension and execution-context
    bookkeeping that costs ~50 µs — more than executing a small query — and offers us
    nothing we use: parsing, limits and validation are cached here, errors are formatted
    and logged by the endpoint.
    """

    max_tokens: int = 4000
    rules: tuple[Any, ...] = ()
    field_guards: FieldGuards | None = None

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None

    def prepare(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """The parsed document and its limit and validation errors, cached by its text.

        Keyed by the text alone: hashing a parsed document for a validation cache key walks
        every node of it on each request.
        """
        return self._prepared(query)

    @cached_property
    def _prepared(self) -> Callable[[str], tuple[DocumentNode | None, list[GraphQLError]]]:
        @lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
        def prepare(query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
            try:
                document = _get_parse_cache(DOCUMENT_CACHE_SIZE)(query, max_tokens=self.max_tokens)
            except GraphQLError as error:
                return None, [error]
            errors = _get_validate_cache(DOCUMENT_CACHE_SIZE)(
                self._schema, document, (*specified_rules, *self.rules)
            )
            return document, list(errors)

        return prepare

    async def run(
        self,
        document: DocumentNode,
        context: Any,
        variables: dict[str, Any] | None,
        operation: str | None,
    ) -> ExecutionResult:
        if self.field_guards is not None:
            refused = self.field_guards.refusal(document, context.actor)
            if refused is not None:
                return ExecutionResult(data=None, errors=[refused])
        result = execute_document(
            self._schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation,
            executor_class=self.execution_context_class,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        )
        if isinstance(result, ExecutionResult):
            return result
        return await result  # type: ignore[misc, no-any-return]


def build_schema(
    contributions: list[tuple[str, GraphQLContribution]],
    limits: GraphQLSettings,
    kinds: RecordKinds | None = None,
) -> KernelSchema:
    query = merge_root("Query", ((o, c.query) for o, c in contributions if c.query))
    if query is None:
        raise ConfigurationError("no plugin contributes a GraphQL Query")
    mutation = merge_root("Mutation", ((o, c.mutation) for o, c in contributions if c.mutation))
    subscription = merge_root(
        "Subscription", ((o, c.subscription) for o, c in contributions if c.subscription)
    )
    types = [t for _, c in contributions for t in c.types]
    # The limiters build their rule classes in __init__; building them once keeps the
    # validation cache's key (schema, document, rules) stable across requests.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    schema = KernelSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=types,
        extensions=[lambda: DocumentGuards(limits.max_tokens, tuple(rules))],
    )
    schema.max_tokens = limits.max_tokens
    schema.rules = tuple(rules)
    resolve_links_directly(schema._schema)
    if kinds is not None:
        schema.field_guards = FieldGuards(schema, kinds)
    return schema


class DocumentGuards(SchemaExtension):
    """The token limit, cached parsing and cached validation (with the depth and alias
    rules) as one extension: strawberry's four separate ones cost more per request in
    extension bookkeeping than executing a small query. The caches are strawberry's
    own, shared across requests and bounded."""

    def __init__(self, max_tokens: int, rules: tuple[Any, ...]) -> None:
        self.max_tokens = max_tokens
        self.rules = rules
        self.parse = _get_parse_cache(DOCUMENT_CACHE_SIZE)
        self.validate = _get_validate_cache(DOCUMENT_CACHE_SIZE)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.rules
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.graphql_document = self.parse(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = self.validate(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield


def print_schema(kernel: Kernel) -> str:
    """The kernel's schema as SDL, as checked in at `schema.graphql` for review of API changes."""
    return str(kernel.schema).rstrip("\n") + "\n"
