"""The task queue: real worker processes on the SQLite and Redis queues, idempotent runs.

The tasks come from the `queue_demo` plugin in tests/kernel/fixtures, which worker
processes import by name; each task leaves a countable mark in `queue_demo_mark`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from huey import RedisHuey, SqliteHuey

from openitsm.kernel import Base, ConfigurationError, Kernel, crontab, hookimpl, periodic_task, task
from openitsm.kernel.queue import make_huey, queue_reachable
from openitsm.kernel.queue.models import TaskReceipt
from openitsm.kernel.queue.tasks import slot_key
from openitsm.kernel.settings import Settings
from openitsm.kernel.testing import build_kernel, make_settings, postgres_schema

FIXTURES = Path(__file__).parent / "fixtures"
WAIT_SECONDS = 15
RUN_WORKER = """\
import json, os, signal, sys, threading, time
from pathlib import Path

import queue_demo
from openitsm.kernel import Kernel
from openitsm.kernel.queue.worker import run_worker
from openitsm.kernel.settings import Settings

def stop_when_orphaned(parent=os.getppid()):
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


threading.Thread(target=stop_when_orphaned, daemon=True).start()
settings = Settings.model_validate(json.loads(Path(sys.argv[1]).read_text()))
run_worker(Kernel(settings, extra_plugins={"queue_demo": queue_demo}), workers=1)
"""


# --- helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    """The demo plugin, imported under the same name the worker processes use."""
    if "queue_demo" in sys.modules:
        return sys.modules["queue_demo"]
    init = FIXTURES / "queue_demo" / "__init__.py"
    spec = importlib.util.spec_from_file_location("queue_demo", init)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["queue_demo"] = module
    spec.loader.exec_module(module)
    return module


def demo_kernel(tmp: Path, database_url: str, demo: ModuleType, **overrides: object) -> Kernel:
    """A migrated kernel with the demo plugin; its table has no migration, so it is created."""
    kernel = build_kernel(tmp, database_url, plugins={"queue_demo": demo}, **overrides)
    Base.metadata.create_all(kernel.engine, tables=[demo.QueueDemoMark.__table__])
    return kernel


def marks(kernel: Kernel, demo: ModuleType, name: str) -> int:
    with kernel.engine.connect() as connection:
        table = demo.QueueDemoMark.__table__
        count = connection.scalar(sa.select(table.c.count).where(table.c.name == name))
    return count or 0


def receipts(kernel: Kernel, task_name: str) -> list[str]:
    with kernel.engine.connect() as connection:
        return list(
            connection.scalars(sa.select(TaskReceipt.key).where(TaskReceipt.task == task_name))
        )


def unique_queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def forget_redis_queue(redis_url: str, name: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"huey.*{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass
class Site:
    """One installation: a database, a queue, an enqueuing kernel and worker processes."""

    tmp: Path
    kernel: Kernel
    demo: ModuleType
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> None:
        settings_file = self.tmp / "settings.json"
        settings_file.write_text(json.dumps(self.kernel.settings.model_dump(mode="json")))
        runner = self.tmp / "run_worker.py"
        runner.write_text(RUN_WORKER)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FIXTURES), env.get("PYTHONPATH")]))
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        self.workers.append(
            subprocess.Popen(
                [sys.executable, str(runner), str(settings_file)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
            )
        )
        log.close()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    def marks(self, name: str) -> int:
        return marks(self.kernel, self.demo, name)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if condition():
                return
            for worker in self.workers:
                assert worker.poll() is None, f"worker exited early:\n{self.worker_logs()}"
            time.sleep(0.05)
        pytest.fail(f"after {WAIT_SECONDS}s still waiting for {what}\n{self.worker_logs()}")

    def worker_logs(self) -> str:
        logs = sorted(self.tmp.glob("worker-*.log"))
        return "\n".join(log.read_text(errors="replace")[-4000:] for log in logs)


SITES = [
    pytest.param(("sqlite", "sqlite"), id="sqlite-queue-sqlite-db"),
    pytest.param(("redis", "sqlite"), id="redis-queue-sqlite-db", marks=pytest.mark.redis),
    pytest.param(("sqlite", "postgresql"), id="sqlite-queue-pg-db", marks=pytest.mark.postgres),
    pytest.param(
        ("redis", "postgresql"),
        id="redis-queue-pg-db",
        marks=[pytest.mark.redis, pytest.mark.postgres],
    ),
]


@pytest.fixture(scope="module", params=SITES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo: ModuleType
) -> Iterator[Site]:
    """A site with one single-threaded worker process, shared by the tests of one backend pair.

    One worker thread takes tasks in the order they were enqueued, so a task enqueued last
    having run means every earlier one has run too.
    """
    queue_backend, database_backend = request.param
    tmp = tmp_path_factory.mktemp(f"{queue_backend}-{database_backend}")
    with contextlib.ExitStack() as stack:
        if database_backend == "sqlite":
            database_url = f"sqlite:///{tmp / 'openitsm.db'}"
        else:
            postgres_url = request.getfixturevalue("postgres_url")
            database_url = stack.enter_context(postgres_schema(postgres_url))
        name = unique_queue_name()
        if queue_backend == "sqlite":
            queue_url = f"sqlite:///{tmp / 'queue.db'}"
        else:
            queue_url = request.getfixturevalue("redis_url")
            stack.callback(forget_redis_queue, queue_url, name)
        kernel = demo_kernel(
            tmp, database_url, demo, queue={"url": queue_url, "name": name, "immediate": False}
        )
        stack.callback(kernel.close)
        built = Site(tmp, kernel, demo)
        stack.callback(built.stop_workers)
        built.start_worker()
        yield built


# --- a real worker process, on every backend pair --------------------------------------


def test_worker_runs_an_enqueued_task_and_the_periodic_ones(site: Site) -> None:
    bump = site.kernel.tasks["queue_demo.bump"]
    bump.enqueue("ran")
    site.wait_until(lambda: site.marks("ran") == 1, "the worker to run bump('ran')")
    # The scheduler enqueues every due periodic task when the worker starts.
    site.wait_until(lambda: site.marks("tick") == 1, "the worker to run the periodic tick")
    assert len(receipts(site.kernel, "queue_demo.tick")) == 1


def test_same_key_enqueued_twice_takes_effect_once(site: Site) -> None:
    bump = site.kernel.tasks["queue_demo.bump"]
    bump.enqueue("keyed", key="order-1")
    bump.enqueue("keyed", key="order-1")
    bump.enqueue("unkeyed")
    bump.enqueue("unkeyed")
    site.wait_until(lambda: site.marks("unkeyed") == 2, "both unkeyed runs")
    assert site.marks("keyed") == 1
    assert receipts(site.kernel, "queue_demo.bump") == ["order-1"]


def test_failed_run_rolls_back_and_its_retry_takes_effect_once(site: Site) -> None:
    attempts = site.tmp / f"attempts-{uuid.uuid4().hex}"
    flaky = site.kernel.tasks["queue_demo.bump_then_fail_once"]
    flaky.enqueue("flaky", str(attempts), key="flaky-1")

    def retried_and_done() -> bool:
        return attempts.exists() and receipts(site.kernel, flaky.name or "") == ["flaky-1"]

    site.wait_until(retried_and_done, "the retry after the first, failed attempt")
    site.kernel.tasks["queue_demo.bump"].enqueue("after-flaky")
    site.wait_until(lambda: site.marks("after-flaky") == 1, "a task enqueued after the retry")
    assert attempts.read_text().splitlines() == ["attempt", "attempt"]
    assert site.marks("flaky") == 1


# --- in-process behaviour, on both databases ------------------------------------------


def test_immediate_mode_runs_tasks_inline_with_the_same_guarantees(
    tmp_path: Path, database_url: str, demo: ModuleType
) -> None:
    kernel = demo_kernel(tmp_path, database_url, demo)
    try:
        assert kernel.settings.queue.immediate
        assert kernel.tasks["queue_demo.bump"]("inline").get() == "inline"
        assert marks(kernel, demo, "inline") == 1

        bump = kernel.tasks["queue_demo.bump"]
        bump.enqueue("keyed", key="k")
        bump.enqueue("keyed", key="k")
        bump.run("keyed", key="k")
        assert marks(kernel, demo, "keyed") == 1

        attempts = tmp_path / "attempts"
        kernel.tasks["queue_demo.bump_then_fail_once"].enqueue("flaky", str(attempts), key="f")
        assert attempts.read_text().splitlines() == ["attempt", "attempt"]
        assert marks(kernel, demo, "flaky") == 1
    finally:
        kernel.close()


def test_declared_task_uses_the_current_kernel(
    tmp_path: Path, database_url: str, demo: ModuleType
) -> None:
    kernel = demo_kernel(tmp_path, database_url, demo)
    try:
        assert demo.bump.name is None  # the declaration itself stays unbound
        demo.bump("declared")  # how plugin code calls its own task
        demo.bump.run("declared")
        assert marks(kernel, demo, "declared") == 2
    finally:
        kernel.close()


def test_a_failing_task_without_retries_leaves_nothing_behind(
    tmp_path: Path, database_url: str, demo: ModuleType
) -> None:
    kernel = demo_kernel(tmp_path, database_url, demo)
    try:
        flaky = kernel.tasks["queue_demo.bump_then_fail_once"]
        with pytest.raises(RuntimeError, match="first attempt fails"):
            flaky.run("flaky", str(tmp_path / "attempts"), key="once")
        assert marks(kernel, demo, "flaky") == 0
        assert receipts(kernel, "queue_demo.bump_then_fail_once") == []
        flaky.run("flaky", str(tmp_path / "attempts"), key="once")
        assert marks(kernel, demo, "flaky") == 1
        assert receipts(kernel, "queue_demo.bump_then_fail_once") == ["once"]
    finally:
        kernel.close()


def test_periodic_task_runs_once_per_slot_however_many_schedulers(
    tmp_path: Path, database_url: str, demo: ModuleType
) -> None:
    kernel = demo_kernel(tmp_path, database_url, demo)
    try:
        assert kernel.tasks["queue_demo.tick"].periodic  # binding registers it with huey
        huey = kernel.huey
        three_oh_four = dt.datetime(2030, 1, 2, 3, 4, 5)
        # Two workers' schedulers wake up in the same minute and both enqueue the tick.
        for wake_up in (three_oh_four, three_oh_four + dt.timedelta(seconds=40)):
            for due in huey.read_periodic(wake_up):
                huey.enqueue(due)
        assert marks(kernel, demo, "tick") == 1
        for due in huey.read_periodic(three_oh_four + dt.timedelta(minutes=1)):
            huey.enqueue(due)
        assert marks(kernel, demo, "tick") == 2
        assert receipts(kernel, "queue_demo.tick") == [
            "slot:2030-01-02T03:04",
            "slot:2030-01-02T03:05",
        ]
    finally:
        kernel.close()


def test_periodic_task_run_by_hand_twice_in_a_minute_takes_effect_once(
    tmp_path: Path, database_url: str, demo: ModuleType
) -> None:
    kernel = demo_kernel(tmp_path, database_url, demo)
    try:
        tick = kernel.tasks["queue_demo.tick"]
        for _ in range(3):  # a minute may turn between the two runs; then try again
            before, minute = marks(kernel, demo, "tick"), slot_key(dt.datetime.now(dt.UTC))
            tick.run()
            tick.run()
            if slot_key(dt.datetime.now(dt.UTC)) == minute:
                assert marks(kernel, demo, "tick") == before + 1
                return
        pytest.fail("the minute kept turning")
    finally:
        kernel.close()


# --- binding ------------------------------------------------------------------------


def test_unbound_task_says_how_to_bind_it(tmp_path: Path) -> None:
    @task()
    def orphan(x: int) -> int:
        return x

    bare_kernel(tmp_path, {})  # a kernel exists, but no plugin registered the task
    with pytest.raises(RuntimeError, match=r"not bound.*register_tasks"):
        orphan(1)
    with pytest.raises(RuntimeError, match="not bound"):
        orphan.run(1)


def plugin_with_tasks(*declared: object) -> object:
    class Plugin:
        @hookimpl
        def register_tasks(self) -> list[object]:
            return list(declared)

    return Plugin()


def bare_kernel(tmp_path: Path, plugins: dict[str, object], **overrides: object) -> Kernel:
    return build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'openitsm.db'}",
        plugins=plugins,
        migrate=False,
        **overrides,
    )


def test_register_tasks_returning_a_plain_function_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    def not_a_task() -> None: ...

    kernel = bare_kernel(tmp_path, {"sloppy": plugin_with_tasks(not_a_task)})
    with pytest.raises(ConfigurationError, match=r"plugin 'sloppy' returned .*not_a_task"):
        _ = kernel.tasks


def test_register_tasks_returning_a_single_task_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    @task()
    def lonely() -> None: ...

    class Plugin:
        @hookimpl
        def register_tasks(self) -> object:
            return lonely

    kernel = bare_kernel(tmp_path, {"single": Plugin()})
    with pytest.raises(ConfigurationError, match="must return a list of tasks"):
        _ = kernel.tasks


def test_task_parameter_named_key_is_a_configuration_error(tmp_path: Path) -> None:
    @task()
    def lookup(key: str) -> str:
        return key

    kernel = bare_kernel(tmp_path, {"clash": plugin_with_tasks(lookup)})
    with pytest.raises(ConfigurationError, match=r"'key'.*reserved"):
        _ = kernel.tasks


def test_tasks_are_named_after_their_plugin_and_function(tmp_path: Path) -> None:
    def declare(answer: str) -> object:
        @task()
        def sync() -> str:
            return answer

        return sync

    @periodic_task(crontab(minute="0"))
    def hourly() -> None: ...

    kernel = bare_kernel(
        tmp_path,
        {"alpha": plugin_with_tasks(declare("a")), "beta": plugin_with_tasks(declare("b"), hourly)},
    )
    assert {"alpha.sync", "beta.sync", "beta.hourly", "kernel.queue.purge_task_receipts"} <= set(
        kernel.tasks
    )
    assert kernel.tasks["alpha.sync"]().get() == "a"
    assert kernel.tasks["beta.sync"]().get() == "b"
    assert kernel.tasks["beta.hourly"].periodic
    assert not kernel.tasks["alpha.sync"].periodic


# --- queue settings and reachability ---------------------------------------------------


def test_unsupported_queue_url_is_a_configuration_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", queue={"url": "amqp://127.0.0.1/"})
    with pytest.raises(ConfigurationError, match="redis://"):
        make_huey(settings)


def test_queue_name_is_checked() -> None:
    with pytest.raises(ValueError, match="name"):
        Settings.model_validate({"queue": {"name": "two words"}})
    assert Settings().queue.name == "openitsm"


def test_sqlite_queue_is_reachable(tmp_path: Path) -> None:
    kernel = bare_kernel(tmp_path, {}, queue={"immediate": False})
    assert isinstance(kernel.huey, SqliteHuey)
    assert queue_reachable(kernel) == "ok"
    assert kernel.readiness()["queue"] == "ok"
    assert (tmp_path / "queue.db").exists()


def test_sqlite_queue_is_as_durable_as_the_database_and_no_more(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL, like the site's database: an enqueue after a commit does
    not wait for the disk that the commit itself did not wait for."""
    kernel = bare_kernel(tmp_path, {}, queue={"immediate": False})
    queue = kernel.huey.storage.conn
    assert queue.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert queue.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with kernel.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1


@pytest.mark.redis
def test_redis_queue_is_reachable_and_isolated_by_name(tmp_path: Path, redis_url: str) -> None:
    names = [unique_queue_name(), unique_queue_name()]
    kernels = [
        bare_kernel(tmp_path, {}, queue={"url": redis_url, "name": name, "immediate": False})
        for name in names
    ]
    try:
        assert all(isinstance(kernel.huey, RedisHuey) for kernel in kernels)
        assert all(queue_reachable(kernel) == "ok" for kernel in kernels)
        first, second = kernels
        first.tasks["kernel.queue.purge_task_receipts"].enqueue()
        assert first.huey.pending_count() == 1
        assert second.huey.pending_count() == 0
    finally:
        for name in names:
            forget_redis_queue(redis_url, name)


def test_closed_redis_port_is_unreachable(tmp_path: Path) -> None:
    kernel = bare_kernel(tmp_path, {}, queue={"url": "redis://127.0.0.1:1/0", "immediate": False})
    started = time.monotonic()
    state = queue_reachable(kernel)
    assert state.startswith("unreachable: ")
    assert "127.0.0.1:1" in state
    assert time.monotonic() - started < 10
    assert kernel.readiness()["queue"] == state


def test_worker_refuses_immediate_mode(tmp_path: Path) -> None:
    from openitsm.kernel.queue.worker import run_worker

    kernel = bare_kernel(tmp_path, {})
    with pytest.raises(ConfigurationError, match="immediate"):
        run_worker(kernel)
