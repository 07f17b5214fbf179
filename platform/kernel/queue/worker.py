"""`openitsm worker`: a huey consumer running every enabled plugin's tasks, and the relay
of the event outbox."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from openitsm.kernel.db.checkpoint import WalCheckpointer
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.queue.outbox import start_relay

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

# An idle SQLite queue is polled at least this often (Redis blocks on the queue instead).
MAX_POLL_DELAY = 1.0


def run_worker(kernel: Kernel, workers: int | None = None) -> None:
    """Consume the queue and run periodic tasks until SIGTERM or Ctrl-C."""
    if kernel.settings.queue.immediate:
        raise ConfigurationError(
            "[queue] immediate is on, so tasks run inline where they are enqueued and a worker "
            "has nothing to do; set immediate = false (OPENITSM_QUEUE_IMMEDIATE=false)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    tasks = kernel.tasks
    logging.getLogger("openitsm.queue").info(
        "worker on %s (queue %r) with %d tasks: %s",
        kernel.settings.queue_url.split("@")[-1],
        kernel.settings.queue.name,
        len(tasks),
        ", ".join(sorted(tasks)),
    )
    consumer = kernel.huey.create_consumer(
        workers=workers or kernel.settings.queue.workers,
        worker_type="thread",
        periodic=True,
        check_worker_health=True,
        max_delay=MAX_POLL_DELAY,
    )
    kernel.hook.on_startup(kernel=kernel)
    stop_relay = start_relay(kernel)  # events the web processes' transactions wrote
    checkpointer = WalCheckpointer(kernel.engine).start()
    try:
        consumer.run()
    finally:
        checkpointer.stop()
        stop_relay()
        kernel.hook.on_shutdown(kernel=kernel)
