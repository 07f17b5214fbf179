"""What a plugin hands to the schema builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GraphQLContribution:
    """Strawberry types whose fields are merged into the root types, plus extra types.

    `types` lists types only reachable through interfaces (for example a `Node`
    implementation no field returns directly) so they still appear in the schema.
    """

    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    types: Sequence[type] = field(default_factory=tuple)
