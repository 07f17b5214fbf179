"""The task queue: huey on SQLite by default, on Redis at scale.

Plugins declare tasks with `@task()` and `@periodic_task(crontab(...))` and return them
from `register_tasks`; the kernel binds them to its queue under `<plugin>.<function>`.
A task whose first parameter is named `session` runs inside its own unit of work.
Enqueue with `my_task(args)`, or `my_task.enqueue(args, key=...)` to make it idempotent:
the key is recorded in the same transaction as the task's work, so a task retried after
a crash, or enqueued twice, takes effect once; a failed run leaves no key, so its retry runs.
Periodic runs are keyed by their minute slot, so several workers run each slot once.
`openitsm worker` consumes the queue; sites sharing one Redis set distinct `[queue] name`s.
"""

from openitsm.kernel.queue.tasks import (
    Task,
    bind_tasks,
    crontab,
    make_huey,
    periodic_task,
    queue_reachable,
    task,
)

__all__ = [
    "Task",
    "bind_tasks",
    "crontab",
    "make_huey",
    "periodic_task",
    "queue_reachable",
    "task",
]
