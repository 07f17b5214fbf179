"""`openitsm worker`: a huey consumer running every enabled plugin's tasks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel


def run_worker(kernel: Kernel, workers: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    tasks = kernel.tasks
    logging.getLogger("openitsm.queue").info(
        "worker on %s with %d tasks: %s",
        kernel.settings.queue_url.split("@")[-1],
        len(tasks),
        ", ".join(sorted(tasks)),
    )
    consumer = kernel.huey.create_consumer(
        workers=workers or kernel.settings.queue.workers,
        worker_type="thread",
        periodic=True,
        check_worker_health=True,
    )
    kernel.hook.on_startup(kernel=kernel)
    try:
        consumer.run()
    finally:
        kernel.hook.on_shutdown(kernel=kernel)
