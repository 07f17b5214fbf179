"""Assemble one schema from the kernel's and every enabled plugin's contributions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import strawberry
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.graphql.contribution import GraphQLContribution
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types.base import has_object_definition

if TYPE_CHECKING:
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
    """Leaves error logging to the endpoint, which logs internal errors with a request id
    and does not log the expected ones (bad input, conflicts) as if they were faults."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None


def build_schema(
    contributions: list[tuple[str, GraphQLContribution]], limits: GraphQLSettings
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
    return KernelSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=types,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: AddValidationRules(rules),
        ],
    )
