"""Task declarations, their binding to huey, and idempotent execution."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey, SqliteHuey
from huey import crontab as huey_crontab
from huey.api import Result, TaskWrapper
from openitsm.kernel.errors import ConfigurationError
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.settings import Settings

log = logging.getLogger("openitsm.queue")
crontab = huey_crontab
KEY_ARGUMENT = "_openitsm_key"


@dataclass(eq=False)
class Task:
    """A task declared by a plugin; callable to enqueue once the kernel has bound it."""

    fn: Callable[..., Any]
    retries: int = 0
    retry_delay: int = 10
    schedule: Callable[[dt.datetime], bool] | None = None
    name: str | None = None
    wrapper: TaskWrapper | None = field(default=None, repr=False)
    kernel: Kernel | None = field(default=None, repr=False)

    @property
    def periodic(self) -> bool:
        return self.schedule is not None

    @property
    def wants_session(self) -> bool:
        parameters = list(inspect.signature(self.fn).parameters)
        return bool(parameters) and parameters[0] == "session"

    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        return self.enqueue(*args, **kwargs)

    def enqueue(self, *args: Any, key: str | None = None, **kwargs: Any) -> Result:
        if self.wrapper is None:
            raise RuntimeError(
                f"task {self.fn.__qualname__} is not bound; return it from register_tasks"
            )
        if key is not None:
            kwargs[KEY_ARGUMENT] = key
        return self.wrapper(*args, **kwargs)

    def run(self, *args: Any, key: str | None = None, **kwargs: Any) -> Any:
        """Execute in this process now, with the same unit of work and idempotency."""
        assert self.kernel is not None and self.name is not None
        return _execute(self.kernel, self, args, kwargs, key)


def task(*, retries: int = 0, retry_delay: int = 10) -> Callable[[Callable[..., Any]], Task]:
    def declare(fn: Callable[..., Any]) -> Task:
        return Task(fn, retries=retries, retry_delay=retry_delay)

    return declare


def periodic_task(schedule: Callable[[dt.datetime], bool]) -> Callable[[Callable[..., Any]], Task]:
    """A task the workers run on `schedule` (a `crontab(...)`), once per slot across all workers."""

    def declare(fn: Callable[..., Any]) -> Task:
        return Task(fn, schedule=schedule)

    return declare


def make_huey(settings: Settings) -> Huey:
    url = settings.queue_url
    immediate = settings.queue.immediate
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("openitsm", url=url, immediate=immediate, utc=True)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("openitsm", filename=path, immediate=immediate, utc=True)
    raise ConfigurationError(
        f"[queue] url {url!r} is not supported; use redis://host:6379/0 or sqlite:///path/queue.db"
    )


def bind_tasks(kernel: Kernel) -> dict[str, Task]:
    huey = kernel.huey
    bound: dict[str, Task] = {}
    for impl in reversed(kernel.hook.register_tasks.get_hookimpls()):
        owner = impl.plugin_name
        for declared in impl.function() or ():
            if not isinstance(declared, Task):
                raise ConfigurationError(
                    f"plugin '{owner}' returned {declared!r} from register_tasks; "
                    "declare tasks with openitsm.kernel.task or periodic_task"
                )
            name = f"{owner}.{declared.fn.__name__}"
            if name in bound:
                raise ConfigurationError(f"task {name} is registered twice")
            declared.name, declared.kernel = name, kernel
            runner = _runner(kernel, declared)
            if declared.schedule is not None:
                declared.wrapper = huey.periodic_task(declared.schedule, name=name)(runner)
            else:
                declared.wrapper = huey.task(
                    retries=declared.retries, retry_delay=declared.retry_delay, name=name
                )(runner)
            bound[name] = declared
    return bound


def _runner(kernel: Kernel, declared: Task) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        key = kwargs.pop(KEY_ARGUMENT, None)
        if declared.periodic and key is None:
            # Every worker's scheduler enqueues the periodic task; one run per minute slot wins.
            slot = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
            key = slot.isoformat()
        return _execute(kernel, declared, args, kwargs, key)

    run.__name__ = declared.fn.__name__
    return run


def _execute(
    kernel: Kernel, declared: Task, args: Any, kwargs: dict[str, Any], key: str | None
) -> Any:
    if not declared.wants_session and key is None:
        return declared.fn(*args, **kwargs)
    with kernel.session() as session:
        if key is not None and not _claim(session, declared.name or "", key):
            log.info("task %s with key %s already ran; skipped", declared.name, key)
            return None
        if declared.wants_session:
            return declared.fn(session, *args, **kwargs)
        return declared.fn(*args, **kwargs)


def _claim(session: Session, name: str, key: str) -> bool:
    from openitsm.kernel.queue.models import TaskReceipt

    try:
        with session.begin_nested():
            session.execute(insert(TaskReceipt).values(task=name, key=key))
    except IntegrityError:
        return False
    return True


def queue_reachable(kernel: Kernel) -> str:
    try:
        storage = kernel.huey.storage
        if hasattr(storage, "conn") and hasattr(storage.conn, "ping"):
            storage.conn.ping()
        else:
            storage.queue_size()
        return "ok"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"
