"""A tiny seeded site: its incidents hang together as the service would have made them."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from openitsm.kernel import Kernel
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.benchseed import BenchScale
from openitsm.kernel.benchseed.command import seed
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, Role, UserRole
from openitsm.kernel.sla import clocks
from openitsm.kernel.sla.models import SlaClock
from openitsm.kernel.sla.subjects import sla_subjects
from openitsm.kernel.testing import actor_of, build_kernel, gql
from openitsm.kernel.workflow.models import ProcessInstance, WorkItem, WorkItemCandidate
from openitsm.plugins.incident import plugin, service
from openitsm.plugins.incident.models import OPEN, Incident, IncidentCounter

INCIDENTS = 300


@pytest.fixture
def seeded(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"incident": plugin})
    result = seed(kernel, BenchScale(incidents=INCIDENTS, agents=40, callers=200), password=None)
    assert result.counts["incidents"] == INCIDENTS
    yield kernel
    kernel.close()


def numbers_of(session: sa.orm.Session) -> dict[int, str]:
    return dict(session.execute(sa.select(Incident.id, Incident.number)).all())


def count(session: sa.orm.Session, statement: sa.Select) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())))


def test_counts_statuses_and_numbers(seeded: Kernel) -> None:
    with seeded.session() as session:
        rows = session.execute(sa.select(Incident.number, Incident.status)).all()
        assert len(rows) == INCIDENTS
        statuses = collections.Counter(status for _, status in rows)
        assert sum(statuses[s] for s in OPEN) == round(INCIDENTS * 0.15)
        assert {"assigned", "in_progress", "waiting_for_customer", "closed"} <= set(statuses)
        numbers = [number for number, _ in rows]
        assert len(set(numbers)) == INCIDENTS
        per_year = collections.Counter(int(n.split("-")[1]) for n in numbers)
        highest: dict[int, int] = {}
        for number in numbers:
            year, sequence = int(number.split("-")[1]), int(number.split("-")[2])
            highest[year] = max(highest.get(year, 0), sequence)
        counters = dict(
            session.execute(sa.select(IncidentCounter.year, IncidentCounter.value)).all()
        )
        assert counters == highest == dict(per_year)  # 1..n in each year, no gaps
        finished = session.scalars(
            sa.select(Incident).where(Incident.status.in_(["resolved", "closed"]))
        ).all()
        assert all(i.resolved_at and i.responded_at and i.resolution for i in finished)
        assert all(i.opened_at <= i.responded_at <= i.resolved_at for i in finished)
        assert any(i.satisfaction for i in finished)
        # The next incident the service registers continues the year's numbers.
        desk = session.scalar(
            sa.select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Role, Role.id == UserRole.role_id)
            .where(Role.code == "service_desk_agent")
            .limit(1)
        )
    with seeded.session(actor_of(seeded, desk)) as session:
        created = service.create_incident(session, title="After the seed")
        year = int(created.number.split("-")[1])
        assert created.number == f"INC-{year}-{counters.get(year, 0) + 1:06d}"


def test_history_matches_each_incident(seeded: Kernel) -> None:
    with seeded.session() as session:
        events = collections.Counter(
            session.scalars(
                sa.select(AuditEvent.record_id).where(AuditEvent.record_kind == "incident")
            )
        )
        versions = dict(session.execute(sa.select(Incident.id, Incident.version)).all())
        assert events == collections.Counter(versions)  # one event per version
        created = dict(
            session.execute(
                sa.select(AuditEvent.record_id, AuditChange.new_value)
                .join(AuditChange, AuditChange.event_id == AuditEvent.id)
                .where(AuditEvent.action == "create", AuditChange.field == "number")
            ).all()
        )
        numbers = dict(session.execute(sa.select(Incident.id, Incident.number)).all())
        assert created == numbers
        last_status = {}
        for record_id, value in session.execute(
            sa.select(AuditEvent.record_id, AuditChange.new_value)
            .join(AuditChange, AuditChange.event_id == AuditEvent.id)
            .where(AuditEvent.record_kind == "incident", AuditChange.field == "status")
            .order_by(AuditEvent.id)
        ):
            last_status[record_id] = value
        statuses = dict(session.execute(sa.select(Incident.id, Incident.status)).all())
        assert last_status == statuses


def test_open_incidents_have_steps_and_clocks(seeded: Kernel) -> None:
    with seeded.session() as session:
        open_ids = set(session.scalars(sa.select(Incident.id).where(Incident.status.in_(OPEN))))
        running = session.execute(
            sa.select(ProcessInstance.record_id, WorkItem.assignee_id, WorkItem.id)
            .join(WorkItem, WorkItem.instance_id == ProcessInstance.id)
            .where(ProcessInstance.state == "running", WorkItem.state == "open")
        ).all()
        assert {record for record, _, _ in running} == open_ids and len(running) == len(open_ids)
        holders = dict(
            session.execute(
                sa.select(Incident.id, Incident.assignee_id).where(Incident.id.in_(open_ids))
            ).all()
        )
        assert all(holders[record] == assignee for record, assignee, _ in running)
        offered = set(session.scalars(sa.select(WorkItemCandidate.work_item_id)))
        assert offered == {item for _, assignee, item in running if assignee is None}
        stored = {
            row.record_id: row
            for row in session.scalars(
                sa.select(SlaClock).where(SlaClock.record_kind == "incident")
            )
        }
        assert set(stored) == set(numbers_of(session))  # finished ones keep their last clock
        finished = set(stored) - open_ids
        assert {stored[i].resolution_state for i in finished} <= {"met", "breached", "off"}
        assert any(stored[i].resolution_state == "breached" for i in finished)
        assert any(stored[i].resolution_state == "met" for i in finished)
        # The SLA service, reading the history back from the database, agrees with the seed.
        sample = sorted(open_ids)[:20]
        subject = sla_subjects(seeded)["incident"]
        before = {i: (stored[i].level, stored[i].resolution_state) for i in sample}
        due = {i: stored[i].resolution_due_at for i in sample}
        seeded_at = stored[sample[0]].computed_at
        recomputed = clocks.recompute_records(session, subject, sample, now=seeded_at, fresh=True)
        assert {i: (c.level, c.resolution.state) for i, c in recomputed.items()} == before
        assert {i: c.resolution.due_at for i, c in recomputed.items()} == due
        # Finished ones that never waited for the customer: the same states and due times.
        waited = {
            record
            for record, value in session.execute(
                sa.select(AuditEvent.record_id, AuditChange.new_value)
                .join(AuditChange, AuditChange.event_id == AuditEvent.id)
                .where(AuditChange.field == "status")
            )
            if value == "waiting_for_customer"
        }
        assert waited & finished  # some finished ones waited on the way
        sample = sorted(finished - waited)[:30]
        recomputed = clocks.recompute_records(session, subject, sample, now=seeded_at, fresh=True)
        for i, clock in recomputed.items():
            for target in clock.targets:
                row = stored[i]
                expected = (
                    getattr(row, f"{target.name}_state"),
                    getattr(row, f"{target.name}_due_at"),
                )
                assert (target.state, target.due_at) == expected, (i, target)


def test_a_seeded_engineer_lists_the_incidents_of_their_groups(seeded: Kernel) -> None:
    with seeded.session() as session:
        engineer, group = session.execute(
            sa.select(User.id, User.department_id)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Role, Role.id == UserRole.role_id)
            .join(Incident, Incident.group_id == User.department_id)
            .where(Role.code == "second_line_engineer")
            .limit(1)
        ).one()
        expected = count(session, sa.select(Incident.id).where(Incident.group_id == group))
        parent = session.scalar(sa.select(Department.parent_id).where(Department.id == group))
        assert parent is not None
    actor = actor_of(seeded, engineer)
    query = "{ incidents(first: 50) { totalCount { value } edges { node { id number } } } }"
    result = gql(seeded, query, actor=actor)
    assert "errors" not in result, result
    assert result["data"]["incidents"]["totalCount"]["value"] == expected > 0
    with seeded.session(actor) as session:
        first = result["data"]["incidents"]["edges"][0]["node"]["number"]
        found = session.scalar(sa.select(Incident.id).where(Incident.number == first))
        assert service.get_incident(session, found).group_id == group
    inbox = gql(seeded, "{ inbox(first: 5) { edges { node { name } } } }", actor=actor)
    assert "errors" not in inbox, inbox


def test_foreign_keys_hold(seeded: Kernel) -> None:
    if seeded.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL checks foreign keys on COPY")
    with seeded.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def test_the_same_seed_writes_the_same_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from openitsm.kernel.benchseed import command

    moment = dt.datetime(2027, 3, 1, 10, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(command, "utcnow", lambda: moment)
    sites = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        kernel = build_kernel(
            folder, f"sqlite:///{folder / 'site.db'}", plugins={"incident": plugin}
        )
        try:
            seed(kernel, BenchScale(incidents=60, agents=20, callers=40, seed=7), password=None)
            with kernel.session() as session:
                sites.append(
                    session.execute(
                        sa.select(
                            Incident.number,
                            Incident.title,
                            Incident.status,
                            Incident.opened_at,
                            User.name,
                        )
                        .join(User, User.id == Incident.caller_id)
                        .order_by(Incident.id)
                    ).all()
                )
        finally:
            kernel.close()
    assert sites[0] == sites[1] and len(sites[0]) == 60
    assert max(row.opened_at for row in sites[0]) <= moment.replace(minute=0)


def history_indexes(kernel: Kernel) -> list[tuple[str, str]]:
    with kernel.engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_event'"
            " ORDER BY name"
        ).all()


SETTINGS = ("journal_mode", "synchronous", "foreign_keys", "cache_size", "temp_store")


def test_sqlite_gets_its_history_indexes_and_settings_back(tmp_path: Path) -> None:
    """On SQLite the history table is filled without its indexes, built at the end; the
    connection goes back to the pool with the settings it had before the seed."""
    kernel = build_kernel(
        tmp_path, f"sqlite:///{tmp_path / 'site.db'}", plugins={"incident": plugin}
    )
    try:
        migrated = history_indexes(kernel)
        assert {"ix_audit_event_actor", "ix_audit_event_at"} <= {name for name, _ in migrated}
        with kernel.engine.connect() as connection:
            before = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SETTINGS]
        returned = []

        def check_in(dbapi_connection: Any, _record: Any) -> None:
            returned.append(
                [dbapi_connection.execute(f"PRAGMA {n}").fetchone()[0] for n in SETTINGS]
            )

        sa.event.listen(kernel.engine, "checkin", check_in)
        seed(kernel, BenchScale(incidents=200, agents=20, callers=40), password=None)
        sa.event.remove(kernel.engine, "checkin", check_in)
        assert returned and all(settings == before for settings in returned)
        assert history_indexes(kernel) == migrated
        with kernel.engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM audit_event WHERE actor_id = 1 ORDER BY id"
            ).all()
            assert "ix_audit_event_actor" in " ".join(str(row[-1]) for row in plan)
    finally:
        kernel.close()


def test_a_failed_seed_leaves_the_history_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openitsm.plugins.incident import bench_seed

    def fail(self: Any) -> None:
        raise RuntimeError("the counters could not be written")

    # Fails after every batch of incidents and their history was committed.
    monkeypatch.setattr(bench_seed._Writer, "counter_rows", fail)
    kernel = build_kernel(
        tmp_path, f"sqlite:///{tmp_path / 'site.db'}", plugins={"incident": plugin}
    )
    try:
        migrated = history_indexes(kernel)
        with pytest.raises(RuntimeError, match="counters"):
            seed(kernel, BenchScale(incidents=100, agents=20, callers=40), password=None)
        with kernel.session() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) > 100
        assert history_indexes(kernel) == migrated
    finally:
        kernel.close()


def test_batches_made_in_a_child_process_are_the_ones_made_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a child process makes up the incidents; made up in this process instead,
    every row of every table they fill is the same."""
    import datetime as dt

    from openitsm.kernel.benchseed import command
    from openitsm.plugins.incident import bench_seed

    moment = dt.datetime(2027, 3, 1, 10, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(command, "utcnow", lambda: moment)
    sites = []
    for name, forks in (("apart", True), ("here", False)):
        monkeypatch.setattr(bench_seed, "_forks", lambda site, forks=forks: forks)
        folder = tmp_path / name
        folder.mkdir()
        kernel = build_kernel(
            folder, f"sqlite:///{folder / 'site.db'}", plugins={"incident": plugin}
        )
        try:
            # More than one batch, and open incidents with running clocks.
            monkeypatch.setattr(bench_seed, "CHUNK", 150)
            seed(kernel, BenchScale(incidents=400, agents=20, callers=40, seed=5), password=None)
            with kernel.engine.connect() as connection:
                sites.append(
                    {
                        table: connection.exec_driver_sql(
                            f'SELECT * FROM "{table}" ORDER BY rowid'
                        ).all()
                        for table in bench_seed.TABLES
                    }
                )
        finally:
            kernel.close()
    apart, here = sites
    assert len(apart["incident"]) == 400 and len(apart["sla_clock"]) == 400
    # Open incidents, with open steps and clocks computed from their history.
    assert len(apart["wf_work_item"]) == 60
    assert apart == here
