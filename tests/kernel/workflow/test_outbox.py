"""A step's events go through the outbox (immediate queues relay right after the commit:
the rest of the workflow tests hear events that way): written in the step's transaction, relayed to
`on_workflow_event` once committed, never for a step that rolled back, once per event even
when relays race or repeat."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel import Kernel
from openitsm.kernel.db import utcnow
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.queue import outbox
from openitsm.kernel.queue.models import OutboxEvent, TaskReceipt
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.workflow import runtime

from .conftest import Org


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """A kernel with a real queue, as on a site: nothing is relayed until a relay runs."""
    built = build_kernel(tmp_path, database_url, queue={"immediate": False})
    yield built
    built.close()


class Listener:
    def __init__(self) -> None:
        self.heard: list[Any] = []

    @hookimpl
    def on_workflow_event(self, event: Any) -> None:
        self.heard.append(event)


def listen(kernel: Kernel) -> Listener:
    listener = Listener()
    kernel.plugins.pm.register(listener, name=f"listener-{id(listener)}")
    return listener


def waiting(kernel: Kernel) -> int:
    with kernel.session() as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent)) or 0


def start(people: Org, login: str = "rita") -> int:
    with people.kernel.session() as session:
        return runtime.start_process(
            session, people.kernel, people.actor(login), "two_level_approval"
        ).id


def test_events_wait_in_the_outbox_until_relayed(people: Org) -> None:
    kernel = people.kernel
    listener = listen(kernel)
    instance = start(people)
    written = waiting(kernel)
    assert listener.heard == [] and written >= 1
    relayed = outbox.relay(kernel)
    assert relayed == written and waiting(kernel) == 0
    assigned = [e for e in listener.heard if e.kind == "assigned"]
    assert [e.instance_id for e in assigned] == [instance]
    assert assigned[0].event_id is not None and isinstance(assigned[0].user_ids, tuple)
    assert outbox.relay(kernel) == 0 and len(listener.heard) == relayed


def test_a_step_that_rolls_back_announces_nothing(people: Org) -> None:
    kernel = people.kernel
    listener = listen(kernel)
    with pytest.raises(RuntimeError), kernel.session() as session:
        runtime.start_process(session, kernel, people.actor("rita"), "two_level_approval")
        raise RuntimeError("the request failed after the step")
    assert waiting(kernel) == 0
    outbox.relay(kernel)
    assert listener.heard == []


def test_a_failing_listener_keeps_the_event_for_the_next_relay(people: Org) -> None:
    kernel = people.kernel
    calls: list[Any] = []

    class Flaky:
        @hookimpl
        def on_workflow_event(self, event: Any) -> None:
            calls.append(event)
            if len(calls) == 1:
                raise ConnectionError("queue down")

    kernel.plugins.pm.register(Flaky(), name="flaky")
    start(people)
    before = waiting(kernel)
    assert outbox.relay(kernel) == before - 1  # the failed event stays
    assert waiting(kernel) == 1
    assert outbox.relay(kernel) == 0  # backing off
    with kernel.session() as session:
        row = session.scalars(select(OutboxEvent)).one()
        assert row.attempts == 1 and row.available_at > utcnow()
        row.available_at = utcnow()
    assert outbox.relay(kernel) == 1 and waiting(kernel) == 0
    assert calls[0] == calls[-1]  # told again, with the same event id


def test_notifications_are_queued_once_per_event_even_when_relayed_twice(people: Org) -> None:
    """The notification listener keys its queued task by the event: telling it the same
    event twice (a relay that died before deleting) queues work that runs once."""
    kernel = people.kernel
    start(people)
    with kernel.session() as session:
        rows = session.execute(select(OutboxEvent.id, OutboxEvent.payload)).all()
    tell = outbox._LISTENERS["workflow"]
    for _ in range(2):
        for event_id, payload in rows:
            tell(kernel, event_id, payload)
    ran = 0
    while (task := kernel.huey.dequeue()) is not None:
        kernel.huey.execute(task)
        ran += 1
    assert ran == 2 * len(rows)
    with kernel.session() as session:
        receipts = session.scalar(
            select(func.count())
            .select_from(TaskReceipt)
            .where(TaskReceipt.task == "kernel.notifications.tell_workflow_event")
        )
    assert receipts == len(rows)


def test_relays_racing_tell_each_event_once(people: Org) -> None:
    kernel = people.kernel
    listener = listen(kernel)
    instances = [start(people) for _ in range(6)]
    expected = waiting(kernel)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def relay() -> None:
        barrier.wait()
        try:
            while outbox.relay(kernel, limit=2):
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while outbox.relay(kernel):  # a relay refused as busy leaves its batch for the next
        pass
    assert all("busy" in str(error).lower() for error in errors), errors
    ids = [e.event_id for e in listener.heard]
    assert len(ids) == expected and len(set(ids)) == expected
    assert {e.instance_id for e in listener.heard if e.kind == "assigned"} == set(instances)


def test_event_ids_are_never_reused(people: Org) -> None:
    """Queued work is keyed by the event's id: a deleted row's id must not come back."""
    kernel = people.kernel
    start(people)
    with kernel.session() as session:
        first = session.scalar(select(func.max(OutboxEvent.id)))
    outbox.relay(kernel)
    start(people)
    with kernel.session() as session:
        assert session.scalar(select(func.min(OutboxEvent.id))) > first


def test_a_relay_that_died_leaves_its_lease_to_another(people: Org) -> None:
    kernel = people.kernel
    listener = listen(kernel)
    start(people)
    leased = outbox.claim(kernel, 100)  # ... and the relay holding them dies here
    assert leased and outbox.relay(kernel) == 0 and listener.heard == []
    with kernel.session() as session:
        for row in session.scalars(select(OutboxEvent)):
            row.available_at = utcnow()  # the lease ran out
    assert outbox.relay(kernel) == len(leased)
    assert sorted(e.event_id for e in listener.heard) == sorted(row[0] for row in leased)


def test_the_worker_relay_thread_tells_listeners_within_a_second(people: Org) -> None:
    kernel = people.kernel
    listener = listen(kernel)
    stop_relay = outbox.start_relay(kernel)
    try:
        start(people)
        for _ in range(50):
            if listener.heard and waiting(kernel) == 0:
                break
            threading.Event().wait(0.05)
    finally:
        stop_relay()
    assert any(e.kind == "assigned" for e in listener.heard)
    assert waiting(kernel) == 0
