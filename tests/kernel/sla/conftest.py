"""A kernel whose sample tickets run on the SLA, and a clock the tests set.

Tickets (`openitsm.kernel.testing.tickets`) carry a status, a priority (the SLA level's key)
and a service unit; `TicketSla` declares their SLA the way a module does and records what
`on_sla_event` is told. History is written at the instants the test's clock says, so a
record's events fall where the test wants them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openitsm.kernel import Kernel
from openitsm.kernel.audit import capture
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.sla import SlaEvent, SlaSubject, clocks
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFF_NOTE = "SLA off: waiting for the vendor's contract"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """An instant of March 2027 in Shanghai, as UTC (1 March 2027 is a Monday)."""
    return dt.datetime(2027, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


class TicketSla:
    """Tickets on the SLA: `waiting` pauses, `in_progress` is the response, `resolved` and
    `closed` stop it; the internal note stands in for an "SLA off" flag (set: off)."""

    def __init__(self) -> None:
        self.told: list[SlaEvent] = []

    @hookimpl
    def register_sla_subjects(self) -> list[SlaSubject]:
        return [
            SlaSubject(
                "ticket",
                level_field="priority",
                status_field="status",
                service_unit_field="service_unit_id",
                pause_statuses=frozenset({"waiting"}),
                resolved_statuses=frozenset({"resolved"}),
                closed_statuses=frozenset({"closed"}),
                responded_statuses=frozenset({"in_progress"}),
                off_field="internal_note",
                fact_fields={"category": "category", "impact": "impact", "urgency": "urgency"},
            )
        ]

    @hookimpl
    def on_sla_event(self, event: SlaEvent) -> None:
        self.told.append(event)


@dataclass
class Clockwork:
    """The instant history is written at and clocks are computed for."""

    now: dt.datetime = field(default_factory=lambda: local(1, 9))

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Desk:
    kernel: Kernel
    sla: TicketSla
    time: Clockwork

    def at(self, moment: dt.datetime) -> None:
        self.time.now = moment

    def open(self, **values: Any) -> int:
        with self.kernel.session() as session:
            ticket = Ticket(title=values.pop("title", "Printer jam"), **values)
            session.add(ticket)
            session.flush()
            return ticket.id

    def change(self, ticket_id: int, **values: Any) -> None:
        with self.kernel.session() as session:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            for name, value in values.items():
                setattr(ticket, name, value)

    def clock(self, ticket_id: int) -> Any:
        from sqlalchemy import select

        from openitsm.kernel.sla.models import SlaClock

        with self.kernel.session() as session:
            row = session.scalar(
                select(SlaClock).where(
                    SlaClock.record_kind == "ticket", SlaClock.record_id == ticket_id
                )
            )
            if row is not None:
                session.expunge(row)
            return row

    def recompute(self, ticket_id: int) -> Any:
        with self.kernel.session() as session:
            return clocks.recompute(session, "ticket", ticket_id)

    def scan(self, moment: dt.datetime | None = None) -> list[SlaEvent]:
        with self.kernel.session() as session:
            return clocks.scan(session, self.kernel, moment or self.time.now)


@pytest.fixture
def desk(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    time = Clockwork()
    monkeypatch.setattr(capture, "utcnow", time)
    monkeypatch.setattr(clocks, "utcnow", time)
    sla = TicketSla()
    kernel = build_kernel(
        tmp_path, database_url, plugins={"tickets": TicketPlugin(), "ticket_sla": sla}
    )
    create_tables(kernel.engine)
    try:
        yield Desk(kernel, sla, time)
    finally:
        drop_tables(kernel.engine)
        kernel.close()
