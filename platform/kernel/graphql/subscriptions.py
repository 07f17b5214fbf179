"""Record changes for GraphQL subscriptions: a broker that hands each committed change to the
subscribers of this process, and to every other process through Redis pub/sub.

`on_record_changed` fires after commit, in whichever process committed: a web process, a
worker. The kernel's GraphQL plugin publishes each change here (`RecordChange`: the kind, the
id, the action and the names of the changed fields; never their values). Subscribers wait on
an asyncio queue of their own, on their event loop.

- Without Redis, a change reaches the subscribers of the process that made it.
- With `[queue] url = "redis://…"`, changes are published on the channel
  `<queue name>:record-changes` (in batches, by a thread, so a request never waits on Redis)
  and every web process with subscribers listens on it, so a change made by any web process
  or worker reaches them all. Should Redis be unreachable, a change still reaches the
  subscribers of its own process.

Delivery is a hint, not a log: subscribers re-read the record for each change (so a change
of a record already waiting in a queue is not queued twice), and a subscriber that falls
more than `MAX_PENDING` records behind loses the excess. See docs/integration.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openitsm.kernel.access.actions import require
from openitsm.kernel.references import RecordRef

if TYPE_CHECKING:
    from strawberry.types import Info

    from openitsm.kernel.app import Kernel
    from openitsm.kernel.audit import RecordEventData
    from openitsm.kernel.graphql.context import Context

log = logging.getLogger("openitsm.graphql.subscriptions")

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Distinct records a subscriber may have waiting before further changes are dropped.
MAX_PENDING = 1000
# Changes sent to Redis in one round trip.
PUBLISH_BATCH = 500
# The publishing thread ends after this long without changes (and starts again on the next).
PUBLISHER_IDLE_SECONDS = 5.0
# How long a new subscriber waits for the Redis listener before counting itself subscribed.
LISTEN_READY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class RecordChange:
    """One committed change of one record: what subscribers are told (values never travel;
    each subscriber re-reads the record as it may see it)."""

    kind: str
    record_id: int
    action: str
    event_id: int = 0
    fields: tuple[str, ...] = ()

    @classmethod
    def from_event(cls, event: RecordEventData) -> RecordChange:
        return cls(
            event.record_kind,
            event.record_id,
            event.action,
            event.id,
            tuple(change.field for change in event.changes),
        )

    def encode(self) -> str:
        return json.dumps(
            [self.kind, self.record_id, self.action, self.event_id, list(self.fields)]
        )

    @classmethod
    def decode(cls, data: str | bytes) -> RecordChange:
        kind, record_id, action, event_id, fields = json.loads(data)
        return cls(str(kind), int(record_id), str(action), int(event_id), tuple(fields))


class Subscriber:
    """One subscription's queue, read on the event loop it was made on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wants: Callable[[RecordChange], bool]):
        self.loop = loop
        self.wants = wants
        self._queue: asyncio.Queue[RecordChange] = asyncio.Queue()
        self._pending: set[tuple[str, int]] = set()
        self._warned = False

    def offer(self, change: RecordChange) -> None:
        """Queue a change (on the subscriber's loop); a record already waiting is not queued
        again, since the subscriber reads it afresh anyway."""
        key = (change.kind, change.record_id)
        if key in self._pending:
            return
        if len(self._pending) >= MAX_PENDING:
            if not self._warned:
                log.warning("a subscriber fell %d records behind; changes dropped", MAX_PENDING)
                self._warned = True
            return
        self._pending.add(key)
        self._queue.put_nowait(change)

    def offer_threadsafe(self, change: RecordChange) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
            self.loop.call_soon_threadsafe(self.offer, change)

    async def next(self) -> RecordChange:
        change = await self._queue.get()
        self._pending.discard((change.kind, change.record_id))
        self._warned = False
        return change


class _RedisListener:
    """Listens on the broker's channel for the subscribers of one event loop, while it has
    any; reconnects with back-off when Redis goes away."""

    def __init__(self, broker: RecordChangeBroker, loop: asyncio.AbstractEventLoop) -> None:
        self.broker = broker
        self.loop = loop
        self.users = 0
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def attach(self) -> None:
        self.users += 1
        if self.task is None or self.task.done():
            self.ready = asyncio.Event()
            self.task = self.loop.create_task(self._run())
        try:
            await asyncio.wait_for(self.ready.wait(), LISTEN_READY_SECONDS)
        except TimeoutError:
            log.warning("not yet listening on Redis; changes of other processes may be missed")

    async def detach(self) -> None:
        self.users -= 1
        if self.users > 0 or self.task is None:
            return
        task, self.task = self.task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _run(self) -> None:
        from redis import asyncio as aioredis

        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(
                self.broker.redis_url or "", socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.broker.channel)
                    self.ready.set()
                    delay = 0.5
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=30.0
                        )
                        if message is not None and message.get("type") == "message":
                            try:
                                change = RecordChange.decode(message["data"])
                            except (ValueError, TypeError):
                                log.warning("ignored a malformed record change from Redis")
                                continue
                            self.broker.deliver(change)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listening for record changes on Redis failed: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


class RecordChangeBroker:
    """Fans committed record changes out to subscribers; one per kernel (`broker_of`)."""

    def __init__(self, kernel: Kernel) -> None:
        settings = kernel.settings
        url = settings.queue_url
        self.redis_url: str | None = url if url.startswith(REDIS_SCHEMES) else None
        self.channel = f"{settings.queue.name}:record-changes"
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._listeners: dict[int, _RedisListener] = {}
        self._outgoing: queue.SimpleQueue[RecordChange] = queue.SimpleQueue()
        self._publisher: threading.Thread | None = None
        self._client: Any = None

    @property
    def subscriber_count(self) -> int:
        """Subscribers registered (and, with Redis, listening) in this process."""
        with self._lock:
            return len(self._subscribers)

    # --- publishing: any thread, after commit -------------------------------------------

    def publish(self, change: RecordChange) -> None:
        """Tell every subscriber, in this process and (with Redis) in the others."""
        if self.redis_url is None:
            self.deliver(change)
            return
        with self._lock:
            self._outgoing.put(change)
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_forever, name="openitsm-record-changes", daemon=True
                )
                self._publisher.start()

    def _publish_forever(self) -> None:
        while True:
            try:
                first = self._outgoing.get(timeout=PUBLISHER_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._outgoing.empty():
                        self._publisher = None
                        return
                continue
            batch = [first]
            while len(batch) < PUBLISH_BATCH:
                try:
                    batch.append(self._outgoing.get_nowait())
                except queue.Empty:
                    break
            try:
                pipeline = self._redis().pipeline(transaction=False)
                for change in batch:
                    pipeline.publish(self.channel, change.encode())
                pipeline.execute()
            except Exception as exc:
                log.warning("could not publish %d record changes on Redis: %s", len(batch), exc)
                for change in batch:  # this process's subscribers still hear of them
                    self.deliver(change)

    def _redis(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.redis_url or "",
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
        return self._client

    def deliver(self, change: RecordChange) -> None:
        """Hand a change to this process's subscribers that want it (thread-safe)."""
        with self._lock:
            targets = [s for s in self._subscribers if s.wants(change)]
        for subscriber in targets:
            subscriber.offer_threadsafe(change)

    # --- subscribing: on an event loop --------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, wants: Callable[[RecordChange], bool]) -> AsyncIterator[Subscriber]:
        """A subscriber for the changes `wants` accepts, registered until the block ends;
        with Redis, only once this process listens on the channel."""
        loop = asyncio.get_running_loop()
        subscriber = Subscriber(loop, wants)
        listener = None
        try:
            if self.redis_url is not None:
                with self._lock:
                    listener = self._listeners.get(id(loop))
                    if listener is None or listener.loop is not loop:
                        listener = self._listeners[id(loop)] = _RedisListener(self, loop)
                await listener.attach()
            with self._lock:
                self._subscribers.add(subscriber)
            yield subscriber
        finally:
            with self._lock:
                self._subscribers.discard(subscriber)
            if listener is not None:
                await listener.detach()
                with self._lock:
                    if listener.users <= 0 and self._listeners.get(id(loop)) is listener:
                        del self._listeners[id(loop)]

    def close(self) -> None:
        """Release the Redis connection used for publishing."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


_BROKERS: weakref.WeakKeyDictionary[Kernel, RecordChangeBroker] = weakref.WeakKeyDictionary()
_BROKERS_LOCK = threading.Lock()


def broker_of(kernel: Kernel) -> RecordChangeBroker:
    """The kernel's record-change broker, made on first use."""
    with _BROKERS_LOCK:
        found = _BROKERS.get(kernel)
        if found is None:
            found = _BROKERS[kernel] = RecordChangeBroker(kernel)
        return found


# --- what subscription resolvers yield ---------------------------------------------------


@dataclass(frozen=True)
class ReloadRecord:
    """A subscription payload read afresh for each event, by the subscriber as they are
    now: the action (if any) and the kind's data scope decide; None sends nothing."""

    ref: RecordRef
    action: str | None = None

    def load(self, context: Context) -> Any | None:
        actor = context.actor
        if self.action is not None and not actor.can(self.action):
            return None
        kinds = context.kernel.record_kinds
        return kinds.fetch(context.session, [self.ref], actor).get(self.ref)


async def record_changes(
    info: Info[Context, Any],
    kind: str,
    record_id: int | None = None,
    *,
    action: str | None = None,
) -> AsyncGenerator[ReloadRecord, None]:
    """The changes of records of `kind` (one record with `record_id`), for a subscription
    field to yield: each becomes the record as the subscriber may see it when the event is
    executed, or nothing at all when they may not see it (then, or any longer).

    `action` (`incident.read`) is required now, and checked again for every event. Deleted
    records send nothing.
    """
    context = info.context
    if action is not None:
        require(context.actor, action)
    else:
        context.require_actor()
    if kind not in context.kernel.record_kinds:
        raise LookupError(f"no record kind {kind!r}")

    def wants(change: RecordChange) -> bool:
        return (
            change.kind == kind
            and change.action != "delete"
            and (record_id is None or change.record_id == record_id)
        )

    async with broker_of(context.kernel).subscribe(wants) as subscriber:
        while True:
            change = await subscriber.next()
            yield ReloadRecord(RecordRef(kind, change.record_id), action)
