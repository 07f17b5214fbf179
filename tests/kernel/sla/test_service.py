"""The SLA service: records' clocks from their audit history, kept up to date as they change,
re-based when levels or calendars change, and warnings and breaches told exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.organisation.models import ServiceUnit
from openitsm.kernel.references import RecordRef
from openitsm.kernel.sla import SlaSubject, clocks, service, sla_subjects
from openitsm.kernel.sla.models import SlaClock, SlaLevel

from .conftest import OFF_NOTE, Desk, local


def test_default_levels_are_shipped(desk: Desk) -> None:
    with desk.kernel.session() as session:
        levels = {row.key: row for row in service.list_levels(session, SYSTEM)}
    assert list(levels) == ["p1", "p2", "p3", "p4"]
    assert (levels["p1"].response, levels["p1"].resolution) == ("PT30M", "PT4H")
    assert (levels["p4"].response, levels["p4"].resolution) == ("P1D", "P5D")
    assert levels["p2"].labels == {"zh-CN": "P2 高", "en": "P2 High"}


def test_the_clock_comes_from_the_records_history(desk: Desk) -> None:
    ticket = desk.open(priority="p2")  # Monday 09:00: response PT1H, resolution P1D (8 h)
    clock = desk.clock(ticket)
    assert clock.level == "p2"
    assert (clock.response_state, clock.response_due_at) == ("running", local(1, 10))
    assert (clock.resolution_state, clock.resolution_due_at) == ("running", local(1, 18))
    assert clock.resolution_warning_at == local(1, 16, 24)  # 80 % of 8 working hours
    assert clock.next_fire_at == local(1, 9, 48)  # the response's warning

    desk.at(local(1, 9, 30))
    desk.change(ticket, status="in_progress")  # the first response
    clock = desk.clock(ticket)
    assert clock.response_state == "met"
    assert clock.next_fire_at == local(1, 16, 24)


def test_a_pause_status_stops_the_clock_and_moves_the_due_time(desk: Desk) -> None:
    ticket = desk.open(priority="p2", status="in_progress")
    desk.at(local(1, 11))
    desk.change(ticket, status="waiting")
    clock = desk.clock(ticket)
    assert clock.resolution_state == "paused"
    assert clock.resolution_due_at is None and clock.next_fire_at is None
    assert clock.resolution_remaining == 6 * 3600

    desk.at(local(1, 18))  # the old due time passes during the pause: nothing happens
    assert desk.scan() == []
    desk.at(local(2, 14))
    desk.change(ticket, status="in_progress")
    clock = desk.clock(ticket)
    assert clock.resolution_state == "running"
    assert clock.resolution_due_at == local(3, 11)  # 6 h left: Tue 14-18, Wed 09-11


def test_a_level_change_re_bases_the_clock(desk: Desk) -> None:
    ticket = desk.open(priority="p3", status="in_progress")  # P3: resolution P3D
    desk.at(local(1, 12))
    desk.change(ticket, priority="p1")  # P1: PT4H; 3 h already counted
    clock = desk.clock(ticket)
    assert clock.level == "p1"
    assert clock.resolution_due_at == local(1, 14)
    assert clock.resolution_remaining == 3600


def test_a_service_units_calendar_with_a_holiday_moves_the_due_time(desk: Desk) -> None:
    with desk.kernel.session() as session:
        calendars.create_calendar(session, SYSTEM, key="bank", name="Bank")
        calendars.set_day(session, SYSTEM, "bank", "2027-03-02", "holiday", "Bank holiday")
        unit = ServiceUnit(code="bank", name="Bank of Somewhere")
        session.add(unit)
        session.flush()
        service.set_unit_calendar(session, SYSTEM, unit.id, "bank")
        unit_id = unit.id
    plain = desk.open(priority="p3", status="in_progress")  # P3D from Mon 09:00: Wed 18:00
    banked = desk.open(priority="p3", status="in_progress", service_unit_id=unit_id)
    assert desk.clock(plain).resolution_due_at == local(3, 18)
    assert desk.clock(banked).resolution_due_at == local(4, 18)  # Tuesday is a holiday

    desk.at(local(1, 10))
    with desk.kernel.session() as session:  # a holiday added later re-bases running clocks
        calendars.set_day(session, SYSTEM, "bank", "2027-03-03", "holiday", "Another one")
    assert desk.clock(banked).resolution_due_at == local(5, 18)
    assert desk.clock(plain).resolution_due_at == local(3, 18)


def test_a_levels_new_target_re_bases_every_running_clock(desk: Desk) -> None:
    running = desk.open(priority="p2", status="in_progress")
    done = desk.open(priority="p2", status="in_progress")
    desk.at(local(1, 10))
    desk.change(done, status="resolved")
    assert desk.clock(running).resolution_due_at == local(1, 18)
    with desk.kernel.session() as session:
        level = session.scalar(select(SlaLevel).where(SlaLevel.key == "p2"))
        assert level is not None
        service.update_level(
            session,
            SYSTEM,
            "p2",
            level.version,
            labels=level.labels,
            response=level.response,
            resolution="PT4H",
            warning_share=level.warning_share,
            warning_lead=None,
        )
    # recompute_all ran in the queue (immediate in tests) after the commit
    assert desk.clock(running).resolution_due_at == local(1, 14)
    finished = desk.clock(done)
    assert finished.resolution_state == "met"
    assert finished.resolution_due_at == local(1, 18)  # a settled clock keeps its history


def race(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # the outcome under test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_hook_on_sla_event(desk: Desk) -> None:
    """Two scans racing tell a warning, then a breach, each exactly once."""
    ticket = desk.open(priority="p1", status="in_progress")  # resolution PT4H: Mon 14:00
    assert desk.scan(local(1, 13)) == []  # the warning falls at 13:12
    assert desk.sla.told == []

    results = race(lambda: desk.scan(local(1, 13, 15)), lambda: desk.scan(local(1, 13, 15)))
    assert all(isinstance(result, list) for result in results), results
    [warning] = desk.sla.told
    assert (warning.kind, warning.record, warning.target) == (
        "warning",
        RecordRef("ticket", ticket),
        "resolution",
    )
    assert (warning.at, warning.due_at, warning.level) == (local(1, 13, 12), local(1, 14), "p1")

    results = race(lambda: desk.scan(local(1, 14, 1)), lambda: desk.scan(local(1, 14, 1)))
    assert all(isinstance(result, list) for result in results), results
    assert [(e.kind, e.at) for e in desk.sla.told] == [
        ("warning", local(1, 13, 12)),
        ("breach", local(1, 14)),
    ]
    desk.at(local(1, 15))
    desk.change(ticket, title="Printer jam, second floor")  # not an SLA field
    assert desk.scan(local(1, 16)) == []
    assert len(desk.sla.told) == 2
    clock = desk.clock(ticket)
    assert clock.resolution_state == "breached"
    assert clock.resolution_breach_sent and clock.resolution_warning_sent
    assert clock.next_fire_at is None


def test_a_breach_recomputed_before_the_scan_is_still_told_once(desk: Desk) -> None:
    ticket = desk.open(priority="p1", status="in_progress")
    desk.at(local(1, 15))
    desk.change(ticket, category="printers")  # not tracked: no recompute
    desk.recompute(ticket)  # the breach at 14:00 is now in the stored clock
    clock = desk.clock(ticket)
    assert clock.resolution_breached_at == local(1, 14)
    assert clock.next_fire_at == local(1, 14)  # still to be told
    told = desk.scan(local(1, 15))
    assert [(e.kind, e.target) for e in told] == [("breach", "resolution")]
    assert desk.scan(local(1, 15, 1)) == []


def test_a_clock_switched_off_never_fires(desk: Desk) -> None:
    ticket = desk.open(priority="p1", status="in_progress")
    desk.at(local(1, 12))
    desk.change(ticket, internal_note=OFF_NOTE)
    clock = desk.clock(ticket)
    assert (clock.response_state, clock.resolution_state) == ("off", "off")
    assert clock.next_fire_at is None
    for hour in (13, 14, 18):
        assert desk.scan(local(1, hour)) == []
    desk.at(local(2, 9))  # switched on again: time while off did not count
    desk.change(ticket, internal_note=None)
    assert desk.clock(ticket).resolution_due_at == local(2, 10)
    assert desk.sla.told == []


def test_a_met_clock_never_fires(desk: Desk) -> None:
    ticket = desk.open(priority="p1", status="in_progress")
    desk.at(local(1, 10))
    desk.change(ticket, status="resolved")
    assert desk.clock(ticket).next_fire_at is None
    assert desk.scan(local(1, 18)) == []
    desk.at(local(1, 11))
    desk.change(ticket, status="in_progress")  # reopened: counts on from 1 h
    assert desk.clock(ticket).resolution_due_at == local(1, 15)


def test_hook_register_sla_subjects(desk: Desk) -> None:
    subjects = sla_subjects(desk.kernel)
    assert list(subjects) == ["ticket"]
    assert subjects["ticket"].tracked_fields == (
        "status",
        "priority",
        "service_unit_id",
        "internal_note",
    )


def test_a_subject_for_an_unknown_kind_or_field_stops_start_up(desk: Desk) -> None:
    from openitsm.kernel.errors import ConfigurationError
    from openitsm.kernel.sla import subjects as registry

    class Declares:
        def __init__(self, subject: SlaSubject) -> None:
            self.subject = subject

        @hookimpl
        def register_sla_subjects(self) -> list[SlaSubject]:
            return [self.subject]

    pm = desk.kernel.plugins.pm
    for subject, problem in (
        (SlaSubject("ticket", level_field="priority"), "declared by both"),
        (SlaSubject("nothing", level_field="priority"), "no enabled plugin registers"),
        (SlaSubject("dummy", level_field="no_such_field"), "no enabled plugin registers"),
    ):
        plugin = Declares(subject)
        pm.register(plugin, name="wrong")
        registry._SUBJECTS.pop(desk.kernel, None)
        with pytest.raises(ConfigurationError, match=problem):
            sla_subjects(desk.kernel)
        pm.unregister(plugin)
    pm.unregister(name="ticket_sla")
    plugin = Declares(SlaSubject("ticket", level_field="no_such_field"))
    pm.register(plugin, name="wrong")
    registry._SUBJECTS.pop(desk.kernel, None)
    with pytest.raises(ConfigurationError, match="lacks"):
        sla_subjects(desk.kernel)
    registry._SUBJECTS.pop(desk.kernel, None)


def test_determine_level_goes_through_the_matrix(desk: Desk) -> None:
    with desk.kernel.session() as session:
        service.create_rule(session, SYSTEM, "ticket", level="p3")
        service.create_rule(session, SYSTEM, "ticket", level="p1", impact="high")
        service.create_rule(
            session, SYSTEM, "ticket", level="p2", impact="high", category="printers"
        )
    with desk.kernel.session() as session:
        assert service.determine_level(session, "ticket", {"impact": "low"}) == "p3"
        assert service.determine_level(session, "ticket", {"impact": "high"}) == "p1"
        assert (
            service.determine_level(
                session, "ticket", {"impact": "high", "category": ["printers", "hardware"]}
            )
            == "p2"
        )
        subject = sla_subjects(desk.kernel)["ticket"]
        facts = service.facts_of(session, subject, type("Row", (), {"impact": "high"})())
        assert service.determine_level(session, "ticket", facts) == "p1"


def test_a_deleted_record_loses_its_clock(desk: Desk) -> None:
    from openitsm.kernel.testing.tickets import Ticket

    ticket = desk.open(priority="p2")
    assert desk.clock(ticket) is not None
    with desk.kernel.session() as session:
        session.delete(session.get(Ticket, ticket))
    assert desk.clock(ticket) is None


def test_recompute_all_reads_history_in_batches(desk: Desk) -> None:
    from openitsm.kernel.db.session import count_statements

    ids = [desk.open(priority="p2", status="in_progress") for _ in range(12)]
    with desk.kernel.session() as session:
        session.execute(SlaClock.__table__.delete())
    with desk.kernel.session() as session, count_statements(desk.kernel.engine) as log:
        assert clocks.recompute_chunk(session, "ticket", batch=5) is None
    history = [s for s in log.selects() if "audit_event" in s]
    assert len(history) == 3  # 12 records, 5 per query
    with desk.kernel.session() as session:
        count = session.scalar(select(func.count()).select_from(SlaClock))
    assert count == len(ids)


# --- GraphQL and permissions ----------------------------------------------------------


def test_graphql_levels_rules_and_clock_with_permissions(desk: Desk) -> None:
    from openitsm.kernel.actors import Actor
    from openitsm.kernel.identity import service as identity
    from openitsm.kernel.testing import error_codes, gql

    with desk.kernel.session() as session:
        ids = [identity.create_user(session, login, login).id for login in ("boss", "peer", "out")]
    boss = Actor(user_id=ids[0], label="boss", actions=frozenset({"sla.manage"}))
    peer = Actor(user_id=ids[1], label="peer", scopes=frozenset({("ticket", "all")}))
    outsider = Actor(user_id=ids[2], label="out", scopes=frozenset({("ticket", "own")}))
    ticket = desk.open(priority="p2", reporter_id=ids[1])

    levels = gql(desk.kernel, "{ slaLevels { key label resolution } }", actor=peer)
    assert levels["data"]["slaLevels"][1] == {"key": "p2", "label": "P2 高", "resolution": "P1D"}

    create = """mutation($i: SlaLevelInput!) { createSlaLevel(input: $i) { key version } }"""
    level = {"key": "VIP", "labels": {"zh-CN": "贵宾", "en": "VIP"}, "resolution": "PT2H"}
    assert error_codes(gql(desk.kernel, create, {"i": level}, peer)) == ["FORBIDDEN"]
    assert gql(desk.kernel, create, {"i": level}, boss)["data"]["createSlaLevel"] == {
        "key": "VIP",
        "version": 1,
    }
    bad = gql(desk.kernel, create, {"i": {**level, "key": "V2", "resolution": "soon"}}, boss)
    assert bad["errors"][0]["extensions"]["field"] == "resolution"

    rule = """mutation($i: SlaRuleInput!) { createSlaRule(input: $i) { id level impact } }"""
    made = gql(
        desk.kernel, rule, {"i": {"recordKind": "ticket", "level": "VIP", "impact": "high"}}, boss
    )
    assert made["data"]["createSlaRule"]["impact"] == "high"
    unknown = gql(desk.kernel, rule, {"i": {"recordKind": "nothing", "level": "VIP"}}, boss)
    assert unknown["errors"][0]["extensions"]["field"] == "recordKind"
    rules = gql(desk.kernel, '{ slaRules(kind: "ticket") { level impact } }', actor=peer)
    assert rules["data"]["slaRules"] == [{"level": "VIP", "impact": "high"}]

    query = """query($r: RecordReferenceInput!) { slaClock(record: $r) {
        level resolution { state dueAt remainingSeconds } } }"""
    ref = {"r": {"kind": "ticket", "recordId": ticket}}
    seen = gql(desk.kernel, query, ref, peer)["data"]["slaClock"]
    assert seen["level"] == "p2"
    assert seen["resolution"] == {
        "state": "running",
        "dueAt": local(1, 18).isoformat(),
        "remainingSeconds": 8 * 3600,
    }
    assert error_codes(gql(desk.kernel, query, ref, outsider)) == ["NOT_FOUND"]
    assert error_codes(gql(desk.kernel, query, ref)) == ["UNAUTHENTICATED"]


def test_a_level_in_use_cannot_be_removed(desk: Desk) -> None:
    from openitsm.kernel.errors import BadUserInput

    desk.open(priority="p2")
    with desk.kernel.session() as session:
        with pytest.raises(BadUserInput) as refused:
            service.delete_level(session, SYSTEM, "p2")
        assert refused.value.extensions["field"] == "key"
        service.delete_level(session, SYSTEM, "p4")
        assert [row.key for row in service.list_levels(session, SYSTEM)] == ["p1", "p2", "p3"]
