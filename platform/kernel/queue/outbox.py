"""The transactional outbox: events are rows written by the transaction that caused them,
and a relay hands them to their listeners after commit.

A step of a process (or any other work) calls `write(session, topic, payloads)`; the rows
commit or roll back with the work, so listeners never hear of something undone, and an event
survives a process that dies right after its commit. Who hears of a topic is registered with
`on_topic`. The relay runs

- inline, right after the commit, when the queue is immediate (tests, a single process);
- otherwise in every `openitsm worker`, which polls the outbox (`relay_forever`); the web
  request pays one INSERT, not a hand-off to the queue.

Several workers relay safely: each leases a batch in a short transaction (PostgreSQL hands
each row to one of them with `FOR UPDATE SKIP LOCKED`, SQLite runs one writer at a time),
tells the listeners with no transaction open, then deletes the batch. A relay that dies
after telling listeners but before deleting tells them again once the lease ends: listeners
key their queued work by the event's id (`event_key`), so the queue runs it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import after_commit, begin_write
from openitsm.kernel.queue.models import OutboxEvent

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

log = logging.getLogger("openitsm.outbox")

Listener = Callable[["Kernel", int, Mapping[str, Any]], None]
_LISTENERS: dict[str, Listener] = {}
BATCH = 200
MAX_ATTEMPTS = 20
LEASE = dt.timedelta(minutes=1)
IDLE_DELAY = 0.5


def on_topic(topic: str) -> Callable[[Listener], Listener]:
    """Register the function told each event of `topic` as `(kernel, event_id, payload)`."""

    def register(listener: Listener) -> Listener:
        _LISTENERS[topic] = listener
        return listener

    return register


def event_key(topic: str, event_id: int) -> str:
    """The idempotency key of work queued for one event: the same on a repeated relay."""
    return f"{topic}-event-{event_id}"


_INSERT_EVENTS = insert(OutboxEvent.__table__)  # built once: every process step writes


def write(session: Session, topic: str, payloads: Iterable[Mapping[str, Any]]) -> None:
    """Add events to the session's transaction (one INSERT); they are relayed after commit."""
    rows = [{"topic": topic, "payload": dict(payload)} for payload in payloads]
    if not rows:
        return
    session.connection().execute(_INSERT_EVENTS, rows)
    kernel = session.info.get("kernel")
    if (
        kernel is not None
        and kernel.settings.queue.immediate
        and not session.info.get("outbox_relay_pending")
    ):
        session.info["outbox_relay_pending"] = True

        def relay_now() -> None:
            session.info.pop("outbox_relay_pending", None)
            relay(kernel)

        after_commit(session, relay_now)


def waiting(kernel: Kernel) -> bool:
    """Whether an event is ready: a read, so an idle poll never takes SQLite's write lock."""
    ready = select(OutboxEvent.id).where(OutboxEvent.available_at <= utcnow()).limit(1)
    with kernel.engine.connect() as connection:
        return connection.execute(ready).first() is not None


def claim(kernel: Kernel, limit: int) -> list[tuple[int, str, dict[str, Any], int]]:
    """Lease up to `limit` ready events, oldest first, in a short transaction of their own:
    no lock is held while listeners run (they may write, or run queued work inline)."""
    now = utcnow()
    with kernel.session() as session:
        begin_write(session)
        query = (
            select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.payload, OutboxEvent.attempts)
            .where(OutboxEvent.available_at <= now)
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = [tuple(row) for row in session.execute(query)]
        if rows:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([row[0] for row in rows]))
                .values(available_at=now + LEASE)
            )
    return rows  # type: ignore[return-value]


def relay(kernel: Kernel, limit: int = BATCH) -> int:
    """Tell the listeners of up to `limit` ready events, oldest first, then delete them;
    returns how many were relayed.

    An event whose listener fails waits and is told again, up to `MAX_ATTEMPTS` times, so a
    queue that is down for a moment loses nothing and one broken event holds back no other.
    A relay that dies mid-way leaves its events leased for `LEASE`, then another tells them.
    """
    if not waiting(kernel):
        return 0
    rows = claim(kernel, limit)
    done: list[int] = []
    failed: list[tuple[int, int]] = []
    for event_id, topic, payload, attempts in rows:
        listener = _LISTENERS.get(topic)
        try:
            if listener is None:
                raise LookupError(f"no listener for the outbox topic {topic!r}")
            listener(kernel, event_id, payload)
        except Exception:
            if attempts + 1 >= MAX_ATTEMPTS:
                log.exception("outbox event %d (%s) dropped after %d tries", event_id, topic,
                              MAX_ATTEMPTS)  # fmt: skip
                done.append(event_id)
            else:
                log.exception("outbox event %d (%s) failed; it will be told again", event_id,
                              topic)  # fmt: skip
                failed.append((event_id, attempts + 1))
        else:
            done.append(event_id)
    if done or failed:
        with kernel.session() as session:
            if done:
                session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(done)))
            for event_id, tries in failed:
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id == event_id)
                    .values(attempts=tries, available_at=utcnow() + retry_delay(tries))
                )
    return len(done)


def retry_delay(attempts: int) -> dt.timedelta:
    """Back-off before an event is told again: 1 s, 2 s, 4 s … at most 5 minutes."""
    return dt.timedelta(seconds=min(2 ** (attempts - 1), 300))


def relay_forever(kernel: Kernel, stop: threading.Event, idle_delay: float = IDLE_DELAY) -> None:
    """Relay until `stop` is set: at once while events wait, every `idle_delay` s otherwise."""
    while not stop.is_set():
        try:
            relayed = relay(kernel)
        except Exception:
            log.exception("outbox relay failed; retrying")
            relayed = 0
        if relayed < BATCH:
            stop.wait(idle_delay)  # nothing more waiting, or only events being retried


def start_relay(kernel: Kernel) -> Callable[[], None]:
    """Run `relay_forever` in a daemon thread; returns the function that stops it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=relay_forever, args=(kernel, stop), name="outbox-relay", daemon=True
    )
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=10)

    return halt
