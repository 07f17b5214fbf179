"""The record-change broker behind GraphQL subscriptions, and the Subscription root type
merged from plugins' contributions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import strawberry

from openitsm.kernel import Kernel
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.subscriptions import (
    MAX_PENDING,
    RecordChange,
    RecordChangeBroker,
    broker_of,
)
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.testing import build_kernel, run_coroutine
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables


def change(record_id: int, kind: str = "ticket", action: str = "update") -> RecordChange:
    return RecordChange(kind, record_id, action, record_id, ("title",))


async def next_change(subscriber: object, seconds: float = 5) -> RecordChange:
    return await asyncio.wait_for(subscriber.next(), seconds)  # type: ignore[attr-defined]


async def nothing_within(subscriber: object, seconds: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(subscriber.next(), seconds)  # type: ignore[attr-defined]
    except TimeoutError:
        return True
    return False


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", migrate=False)
    yield kernel
    kernel.close()


def test_a_change_reaches_the_subscribers_that_want_it_once(offline: Kernel) -> None:
    broker = broker_of(offline)
    assert broker is broker_of(offline) and broker.redis_url is None

    async def scenario() -> None:
        async with (
            broker.subscribe(lambda c: c.record_id == 1) as one,
            broker.subscribe(lambda c: True) as every,
        ):
            assert broker.subscriber_count == 2
            broker.publish(change(2))
            broker.publish(change(1))
            broker.publish(change(1))  # still waiting: not queued twice
            assert await next_change(one) == change(1)
            assert await nothing_within(one)
            assert [await next_change(every), await next_change(every)] == [change(2), change(1)]
            assert await nothing_within(every)
        assert broker.subscriber_count == 0
        broker.publish(change(1))  # nobody listens: nothing happens

    run_coroutine(scenario())


def test_changes_from_another_thread_arrive_and_a_slow_subscriber_loses_the_excess(
    offline: Kernel,
) -> None:
    broker = broker_of(offline)

    async def scenario() -> None:
        async with broker.subscribe(lambda c: True) as subscriber:
            await asyncio.to_thread(
                lambda: [broker.publish(change(i)) for i in range(1, MAX_PENDING + 11)]
            )
            await asyncio.sleep(0.2)  # the hand-offs to this loop run
            received = []
            while not await nothing_within(subscriber, 0.05):
                received.append(True)
            # `nothing_within` took one of them each time it found one
            assert len(received) == MAX_PENDING

    run_coroutine(scenario())


def test_a_change_round_trips_through_its_encoding() -> None:
    original = RecordChange("incident", 7, "update", 42, ("status", "assignee_id"))
    assert RecordChange.decode(original.encode()) == original
    assert RecordChange.decode(original.encode().encode()) == original


def test_committed_changes_are_published_and_rolled_back_ones_are_not(
    tmp_path: Path, database_url: str
) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    broker = broker_of(kernel)
    try:

        async def scenario() -> None:
            async with broker.subscribe(lambda c: c.kind == "ticket") as subscriber:

                def write() -> int:
                    with kernel.session() as session:
                        ticket = Ticket(title="Printer jam")
                        session.add(ticket)
                        session.flush()
                        created = ticket.id
                    try:
                        with kernel.session() as session:
                            found = session.get(Ticket, created)
                            assert found is not None
                            found.title = "Never saved"
                            session.flush()
                            raise RuntimeError("roll back")
                    except RuntimeError:
                        pass
                    return created

                created = await asyncio.to_thread(write)
                first = await next_change(subscriber)
                assert (first.kind, first.record_id, first.action) == ("ticket", created, "create")
                assert "title" in first.fields
                assert await nothing_within(subscriber)

        run_coroutine(scenario())
    finally:
        drop_tables(kernel.engine)
        kernel.close()


@pytest.mark.redis
def test_redis_carries_changes_between_processes(tmp_path: Path, redis_url: str) -> None:
    """Two kernels with the same Redis and queue name stand for two processes."""
    name = f"rc{time.monotonic_ns()}"
    settings = {"url": redis_url, "name": name, "immediate": True}
    kernels = [
        build_kernel(tmp_path, f"sqlite:///{tmp_path / f'p{i}.db'}", migrate=False, queue=settings)
        for i in (1, 2)
    ]
    web, worker = (RecordChangeBroker(kernel) for kernel in kernels)
    assert web.redis_url == redis_url and web.channel == f"{name}:record-changes"

    async def scenario() -> None:
        async with web.subscribe(lambda c: True) as subscriber:
            worker.publish(change(5))  # from the other process, through Redis
            assert await next_change(subscriber) == change(5)
            web.publish(change(6))  # its own changes come back through Redis, once
            assert await next_change(subscriber) == change(6)
            assert await nothing_within(subscriber)

    try:
        run_coroutine(scenario())
    finally:
        for broker in (web, worker):
            broker.close()
        for kernel in kernels:
            kernel.close()


def test_without_redis_a_process_still_hears_its_own_changes(tmp_path: Path) -> None:
    """An unreachable Redis: publishing falls back to this process's subscribers."""
    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        migrate=False,
        queue={"url": "redis://127.0.0.1:1/0", "immediate": True},
    )
    broker = RecordChangeBroker(kernel)

    async def scenario() -> None:
        async with broker.subscribe(lambda c: True) as subscriber:
            broker.publish(change(3))
            assert await next_change(subscriber, 15) == change(3)

    try:
        run_coroutine(scenario())
    finally:
        broker.close()
        kernel.close()


# --- the Subscription root type -------------------------------------------------------


def plugin_with_subscription(field_name: str) -> ModuleType:
    async def ticks(self: object) -> AsyncGenerator[int, None]:
        yield 1

    subscription = strawberry.type(
        type(
            f"Twin{field_name.title()}Subscription",
            (),
            {field_name: strawberry.subscription(ticks)},
        )
    )
    module = ModuleType(f"openitsm_twin_subscription_{field_name}")

    @hookimpl
    def register_graphql() -> GraphQLContribution:
        return GraphQLContribution(subscription=subscription)

    module.register_graphql = register_graphql  # type: ignore[attr-defined]
    return module


def test_subscription_fields_merge_and_a_duplicate_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'unused.db'}"
    merged = build_kernel(
        tmp_path / "merged",
        url,
        migrate=False,
        plugins={
            "alpha": plugin_with_subscription("left"),
            "beta": plugin_with_subscription("right"),
        },
    )
    fields = {field.name for field in merged.schema.get_type_by_name("Subscription").fields}
    assert fields == {"left", "right"}
    twins = build_kernel(
        tmp_path / "twins",
        url,
        migrate=False,
        plugins={
            "alpha": plugin_with_subscription("twin"),
            "beta": plugin_with_subscription("twin"),
        },
    )
    with pytest.raises(ConfigurationError) as caught:
        _ = twins.schema
    message = str(caught.value)
    assert "Subscription field 'twin'" in message
    assert "'alpha'" in message and "'beta'" in message
