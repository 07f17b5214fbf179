"""GraphQL's part of the kernel that runs as a plugin: every committed record change goes to
the record-change broker, which subscriptions (`/graphql` over WebSocket) listen to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openitsm.kernel.hookspecs import hookimpl

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.audit import RecordEventData


@hookimpl
def on_record_changed(event: RecordEventData, kernel: Kernel) -> None:
    """Publish the change: to this process's subscribers, and through Redis (when the queue
    runs on it) to every other web process's."""
    from openitsm.kernel.graphql.subscriptions import RecordChange, broker_of

    broker_of(kernel).publish(RecordChange.from_event(event))


@hookimpl
def on_shutdown(kernel: Kernel) -> None:
    from openitsm.kernel.graphql.subscriptions import broker_of

    broker_of(kernel).close()
