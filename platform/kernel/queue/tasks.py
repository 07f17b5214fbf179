"""Task declarations, their binding to huey, and idempotent execution."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey, SqliteHuey
from huey import crontab as huey_crontab
from huey.api import Result, TaskWrapper
from huey.storage import SqliteStorage
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openitsm.kernel.errors import ConfigurationError

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.settings import Settings

log = logging.getLogger("openitsm.queue")
crontab = huey_crontab
KEY_ARGUMENT = "_openitsm_key"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_CONNECT_TIMEOUT = 5
RECEIPT_KEY_LENGTH = 200


@dataclasses.dataclass(eq=False)
class Task:
    """A task declared by a plugin; callable to enqueue once a kernel has bound it.

    Each kernel binds its own copy (`kernel.tasks[name]`); calling the declared object,
    as plugin code does (`my_task(...)`), uses the copy of the process's current kernel.
    """

    fn: Callable[..., Any]
    retries: int = 0
    retry_delay: int = 10
    schedule: Callable[[dt.datetime], bool] | None = None
    name: str | None = None
    wrapper: TaskWrapper | None = dataclasses.field(default=None, repr=False)
    kernel: Kernel | None = dataclasses.field(default=None, repr=False)
    declared: Task | None = dataclasses.field(default=None, repr=False)

    @property
    def periodic(self) -> bool:
        return self.schedule is not None

    @functools.cached_property
    def wants_session(self) -> bool:
        parameters = list(inspect.signature(self.fn).parameters)
        return bool(parameters) and parameters[0] == "session"

    def __call__(self, *args: Any, **kwargs: Any) -> Result | None:
        return self.enqueue(*args, **kwargs)

    def enqueue(self, *args: Any, key: str | None = None, **kwargs: Any) -> Result | None:
        """Queue a run; with `key`, every run after the first successful one is a no-op."""
        wrapper = self._bound().wrapper
        assert wrapper is not None
        if key is not None:
            kwargs[KEY_ARGUMENT] = key
        return wrapper(*args, **kwargs)

    def run(self, *args: Any, key: str | None = None, **kwargs: Any) -> Any:
        """Execute in this process now, with the same unit of work and idempotency."""
        bound = self._bound()
        assert bound.kernel is not None
        return _execute(bound.kernel, bound, args, kwargs, key)

    def _bound(self) -> Task:
        if self.kernel is not None:
            return self
        from openitsm.kernel.app import current_kernel

        try:
            kernel = current_kernel()
        except RuntimeError:
            kernel = None
        for bound in kernel.tasks.values() if kernel is not None else ():
            if bound.declared is self:
                return bound
        raise RuntimeError(
            f"task {self.fn.__module__}.{self.fn.__qualname__} is not bound to a kernel: "
            "return it from its plugin's register_tasks hook and enable the plugin"
        )


def task(*, retries: int = 0, retry_delay: int = 10) -> Callable[[Callable[..., Any]], Task]:
    """Declare a queue task; a failed run is retried `retries` times, `retry_delay` s apart."""

    def declare(fn: Callable[..., Any]) -> Task:
        return Task(fn, retries=retries, retry_delay=retry_delay)

    return declare


def periodic_task(
    schedule: Callable[[dt.datetime], bool], *, retries: int = 0, retry_delay: int = 10
) -> Callable[[Callable[..., Any]], Task]:
    """A task the workers run on `schedule` (a `crontab(...)` in UTC), once per slot.

    Every worker's scheduler enqueues it; the run is keyed by its minute slot, so however
    many workers there are, one run per slot takes effect.
    """

    def declare(fn: Callable[..., Any]) -> Task:
        return Task(fn, retries=retries, retry_delay=retry_delay, schedule=schedule)

    return declare


def slot_key(timestamp: dt.datetime) -> str:
    """The minute a periodic run belongs to (naive UTC, as huey's scheduler uses)."""
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(dt.UTC).replace(tzinfo=None)
    return "slot:" + timestamp.strftime("%Y-%m-%dT%H:%M")


class _SlotKeyedPeriodic(Huey):
    """Stamps each scheduled periodic run with the slot it was scheduled for.

    A run that waits in a busy queue past the minute still carries its own slot, so two
    workers' copies of the same slot keep the same receipt key.
    """

    def read_periodic(self, timestamp: dt.datetime | None = None) -> list[Any]:
        timestamp = timestamp or self._get_timestamp()
        due = super().read_periodic(timestamp)
        for scheduled in due:
            scheduled.kwargs = {**(scheduled.kwargs or {}), KEY_ARGUMENT: slot_key(timestamp)}
        return due


class KernelSqliteStorage(SqliteStorage):
    """huey's SQLite storage, as durable as the site's database: WAL with
    `synchronous=NORMAL`, like the engine's own connections. SQLite's default (FULL)
    waits for the disk on every enqueue, a few milliseconds that every request queueing
    work paid after its own commit had not waited for the disk at all."""

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection


class KernelSqliteHuey(_SlotKeyedPeriodic, SqliteHuey):
    storage_class = KernelSqliteStorage


class KernelRedisHuey(_SlotKeyedPeriodic, RedisHuey):
    pass


def make_huey(settings: Settings) -> Huey:
    """SQLite queue by default; Redis when `[queue] url` says redis://."""
    url = settings.queue_url
    name = settings.queue.name
    immediate = settings.queue.immediate
    if url.startswith(REDIS_SCHEMES):
        from redis import ConnectionPool

        pool = ConnectionPool.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT)
        return KernelRedisHuey(name, connection_pool=pool, immediate=immediate, utc=True)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return KernelSqliteHuey(name, filename=str(path), immediate=immediate, utc=True)
    raise ConfigurationError(
        f"[queue] url {url!r} is not supported; "
        "use redis://host:6379/0 or sqlite:///path/queue.db (OPENITSM_QUEUE_URL)"
    )


def bind_tasks(kernel: Kernel) -> dict[str, Task]:
    """Register every enabled plugin's tasks with the kernel's huey as `<plugin>.<function>`."""
    huey = kernel.huey
    bound: dict[str, Task] = {}
    for impl in reversed(kernel.hook.register_tasks.get_hookimpls()):
        owner = impl.plugin_name
        returned = impl.function()
        if returned is None:
            continue
        if isinstance(returned, (Task, str)) or not isinstance(returned, Iterable):
            raise ConfigurationError(
                f"plugin '{owner}': register_tasks must return a list of tasks, got {returned!r}"
            )
        for declared in returned:
            _check_declared(owner, declared)
            name = f"{owner}.{declared.fn.__name__}"
            if name in bound:
                raise ConfigurationError(f"task {name} is registered twice by plugin '{owner}'")
            copy = dataclasses.replace(declared, name=name, kernel=kernel, declared=declared)
            runner = _runner(kernel, copy)
            if copy.periodic:
                copy.wrapper = huey.periodic_task(
                    copy.schedule, retries=copy.retries, retry_delay=copy.retry_delay, name=name
                )(runner)
            else:
                copy.wrapper = huey.task(
                    retries=copy.retries, retry_delay=copy.retry_delay, name=name
                )(runner)
            bound[name] = copy
    return bound


def _check_declared(owner: str, declared: object) -> None:
    if not isinstance(declared, Task):
        raise ConfigurationError(
            f"plugin '{owner}' returned {declared!r} from register_tasks; "
            "declare tasks with @openitsm.kernel.task() or @openitsm.kernel.periodic_task(...)"
        )
    if "key" in inspect.signature(declared.fn).parameters:
        raise ConfigurationError(
            f"task {owner}.{declared.fn.__name__} has a parameter named 'key', which is "
            "reserved for idempotency keys (my_task.enqueue(..., key=...)); rename it"
        )


def _runner(kernel: Kernel, declared: Task) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        key = kwargs.pop(KEY_ARGUMENT, None)
        return _execute(kernel, declared, args, kwargs, key)

    # huey registers tasks as `<module>.<name>`: keep its name `openitsm.<plugin>.<function>`.
    run.__module__ = "openitsm"
    run.__name__ = run.__qualname__ = declared.fn.__name__
    return run


def _execute(
    kernel: Kernel, declared: Task, args: Any, kwargs: dict[str, Any], key: str | None
) -> Any:
    """One unit of work per run: the receipt and the task's writes commit or roll back together."""
    if declared.periodic and key is None:
        key = slot_key(dt.datetime.now(dt.UTC))
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
    """Insert the receipt; a concurrent run holding the same key makes this wait, then fail."""
    from openitsm.kernel.queue.models import TaskReceipt

    try:
        with session.begin_nested():
            session.execute(insert(TaskReceipt).values(task=name, key=_receipt_key(key)))
    except IntegrityError:
        return False
    return True


def _receipt_key(key: str) -> str:
    """Keys longer than the column are stored by digest, never cut (cutting could collide)."""
    if len(key) <= RECEIPT_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def queue_reachable(kernel: Kernel) -> str:
    """'ok', or 'unreachable: …' with the reason (for `openitsm check` and /readyz)."""
    try:
        storage = kernel.huey.storage
        if hasattr(storage, "conn") and hasattr(storage.conn, "ping"):
            storage.conn.ping()
        else:
            storage.queue_size()
        return "ok"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"
