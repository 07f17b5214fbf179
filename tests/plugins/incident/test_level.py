"""An incident's level from the SLA matrix of kind `incident` (category × impact × urgency ×
service unit), or the module's impact × urgency table where no rule matches."""

from __future__ import annotations

from typing import Any

import pytest

from openitsm.kernel import SYSTEM, BadUserInput
from openitsm.kernel.sla import service as sla
from openitsm.plugins.incident import service

from .conftest import World


def rule(world: World, level: str, **dimensions: Any) -> None:
    with world.kernel.session() as session:
        sla.create_rule(session, SYSTEM, "incident", level=level, **dimensions)


def update(world: World, incident_id: int, **changes: Any) -> Any:
    with world.kernel.session(world.actor("agent")) as session:
        found = service.get_incident(session, incident_id)
        return service.update_incident(session, incident_id, found.version, changes)


def test_without_matrix_rules_the_table_gives_the_level(world: World) -> None:
    assert world.create(impact="extensive", urgency="critical").level == "p1"
    assert world.create(impact="minor", urgency="high", category="printer").level == "p3"
    assert world.create(impact="minor").level is None
    assert service.table_level("moderate", "medium") == "p3"


def test_a_matching_matrix_rule_wins_over_the_table(world: World) -> None:
    rule(world, "p2", category="hardware", urgency="high")  # printer is under hardware
    rule(world, "p1", impact="minor", service_unit="acme", urgency="high")
    rule(world, "p4", category="printer", impact="minor", urgency="high", service_unit="globex")
    # The caller belongs to acme: the rule fixing three dimensions there beats the two-
    # dimension rule on the category's parent.
    acme = world.create(impact="minor", urgency="high", category="printer")
    assert acme.service_unit_id == world.units["acme"] and acme.level == "p1"
    globex = world.create(
        impact="minor", urgency="high", category="printer", service_unit_id=world.units["globex"]
    )
    assert globex.level == "p4"
    laptop = world.create(
        impact="moderate", urgency="high", category="laptop", service_unit_id=world.units["globex"]
    )
    assert laptop.level == "p2"  # only the rule on the parent category matches
    # No rule matches software: the table's answer.
    software = world.create(impact="extensive", urgency="low", category="software")
    assert software.level == service.table_level("extensive", "low") == "p2"


def test_a_dimension_change_recomputes_and_overriding_needs_a_reason(world: World) -> None:
    rule(world, "p1", category="hardware")
    incident = world.create(impact="minor", urgency="low", category="software")
    assert incident.level == "p4"
    assert update(world, incident.id, category="printer").level == "p1"
    with pytest.raises(BadUserInput) as refused:
        update(world, incident.id, level="p3")
    assert refused.value.extensions["field"] == "levelReason"
    assert update(world, incident.id, level="p1").level == "p1"  # the matrix's own: no reason
    kept = update(world, incident.id, level="p3", level_reason="Caller is not blocked")
    assert (kept.level, kept.level_reason) == ("p3", "Caller is not blocked")
    assert update(world, incident.id, title="Printer still jams").level == "p3"
    moved = update(world, incident.id, category="software")
    assert (moved.level, moved.level_reason) == ("p4", None)
    with pytest.raises(BadUserInput):
        world.create(impact="minor", urgency="low", category="printer", level="p4")
