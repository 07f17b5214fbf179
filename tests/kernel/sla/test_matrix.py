"""The SLA level matrix: the most specific matching rule wins, ties go to the first rule."""

from __future__ import annotations

import pytest

from openitsm.kernel.sla import ANY, LevelRule, pick_level

RULES = [
    LevelRule("P4"),  # the catch-all
    LevelRule("P3", urgency="high"),
    LevelRule("P2", impact="high"),
    LevelRule("P1", impact="high", urgency="high"),
    LevelRule("gold-P1", impact="high", urgency="high", service_unit="bank"),
    LevelRule("P2-ci", impact=ANY, ci_importance="critical"),
    LevelRule("hw", category="hardware"),
    LevelRule("printer", category="hardware/printer"),
    LevelRule("hw-high", category="hardware", impact="high"),
]


@pytest.mark.parametrize(
    ("facts", "level"),
    [
        ({}, "P4"),
        ({"impact": "low", "urgency": "low"}, "P4"),
        ({"urgency": "high"}, "P3"),
        ({"impact": "high", "urgency": "low"}, "P2"),
        ({"impact": "high", "urgency": "high"}, "P1"),
        ({"impact": "high", "urgency": "high", "service_unit": "bank"}, "gold-P1"),
        ({"impact": "high", "urgency": "high", "service_unit": "shop"}, "P1"),
        ({"impact": "low", "ci_importance": "critical"}, "P2-ci"),  # "*" is a wildcard
        # one fixed dimension each: P3 and P2-ci tie, the earlier rule wins
        ({"urgency": "high", "ci_importance": "critical"}, "P3"),
        ({"category": ["hardware/printer", "hardware"]}, "printer"),  # the nearer category
        ({"category": ["hardware/disk", "hardware"]}, "hw"),  # a parent's rule applies
        ({"category": "hardware"}, "hw"),
        ({"category": ["hardware/printer", "hardware"], "impact": "high"}, "hw-high"),
        ({"impact": None, "urgency": "high"}, "P3"),  # a missing fact matches wildcards only
    ],
)
def test_the_most_specific_matching_rule_wins(facts: dict, level: str) -> None:
    assert pick_level(RULES, facts) == level


def test_rule_order_breaks_ties_and_no_match_is_none() -> None:
    first, second = LevelRule("A", impact="high"), LevelRule("B", urgency="high")
    facts = {"impact": "high", "urgency": "high"}
    assert pick_level([first, second], facts) == "A"
    assert pick_level([second, first], facts) == "B"
    assert pick_level([first], {"impact": "low"}) is None
    assert pick_level([], {}) is None


def test_more_fixed_dimensions_beat_a_nearer_category() -> None:
    rules = [
        LevelRule("printer", category="hardware/printer"),
        LevelRule("hw-bank", category="hardware", service_unit="bank"),
    ]
    facts = {"category": ["hardware/printer", "hardware"], "service_unit": "bank"}
    assert pick_level(rules, facts) == "hw-bank"


def test_an_unknown_dimension_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="priority"):
        pick_level(RULES, {"priority": "high"})
