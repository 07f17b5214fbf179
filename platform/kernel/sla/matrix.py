"""The SLA level matrix: which level a record gets from its category, impact, urgency, service
unit and CI importance.

Each rule names a level and, per dimension, the value it applies to or a wildcard (None, or
`"*"`). The most specific matching rule wins: the one that fixes the most dimensions; among
those, the one whose category (or any tree-shaped value) is nearest to the record's own; then
the first in rule order. So a site writes a broad default (`impact=1 → P1`) and narrower
exceptions (`impact=1, service_unit=bank → P1-gold`) in any order it likes.

Tree-shaped facts (a category and its parents) are given most specific first, so a rule on
`hardware` applies to a record filed under `hardware/printer` unless a rule on
`hardware/printer` itself matches as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DIMENSIONS = ("category", "impact", "urgency", "service_unit", "ci_importance")
ANY = "*"
Fact = str | Sequence[str] | None


@dataclass(frozen=True, slots=True)
class LevelRule:
    level: str
    category: str | None = None
    impact: str | None = None
    urgency: str | None = None
    service_unit: str | None = None
    ci_importance: str | None = None


def pick_level(rules: Sequence[LevelRule], facts: Mapping[str, Fact]) -> str | None:
    """The level of the most specific rule matching `facts` (dimension → value, or the value
    and its parents, most specific first), or None when no rule matches. A dimension missing
    from `facts` matches only wildcards."""
    unknown = sorted(set(facts) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"unknown SLA dimensions {unknown}; known: {', '.join(DIMENSIONS)}")
    chains = {name: _chain(facts.get(name)) for name in DIMENSIONS}
    best: LevelRule | None = None
    best_rank = (-1, 0)
    for rule in rules:
        fixed = distance = 0
        for name in DIMENSIONS:
            wanted = getattr(rule, name)
            if wanted is None or wanted == ANY:
                continue
            chain = chains[name]
            if wanted not in chain:
                break
            fixed += 1
            distance += chain.index(wanted)
        else:
            rank = (fixed, -distance)
            if rank > best_rank:  # strictly: an equal rank keeps the earlier rule
                best, best_rank = rule, rank
    return None if best is None else best.level


def _chain(fact: Fact) -> tuple[str, ...]:
    if fact is None:
        return ()
    if isinstance(fact, str):
        return (fact,)
    return tuple(fact)
