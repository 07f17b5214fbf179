"""Shared pieces of the benchmarks: a throw-away site, server processes, load and reports.

Every benchmark runs against loopback only, in a temporary data dir with SQLite, and kills
whatever it started before it returns.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
BENCH_LOGIN = "bench"


@dataclass
class Site:
    """A temporary data dir with its own openitsm.toml, and the environment that selects it."""

    root: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.root / "openitsm.toml"


@contextlib.contextmanager
def temporary_site() -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="openitsm-bench-"))
    try:
        data_dir = root / "var"
        data_dir.mkdir()
        (root / "openitsm.toml").write_text(f'data_dir = "{data_dir}"\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENITSM_")}
        env["OPENITSM_CONFIG"] = str(root / "openitsm.toml")
        env["PYTHONUNBUFFERED"] = "1"
        yield Site(root, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def prepare_site(site: Site) -> str:
    """Migrate the site's database, create a user and return a session token for it."""
    from openitsm.kernel import Kernel, migrations
    from openitsm.kernel.identity.service import create_user, open_session
    from openitsm.kernel.settings import load_settings

    kernel = Kernel(load_settings(site.config, environ=site.env))
    try:
        migrations.upgrade(kernel)
        with kernel.session() as session:
            user = create_user(session, BENCH_LOGIN, "Bench User", password="bench-password")
            token = open_session(session, user, user_agent="openitsm-bench")
        return token
    finally:
        kernel.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(args: list[str], site: Site) -> subprocess.Popen[bytes]:
    """Start a server in its own process group, so stopping it also stops its children."""
    return subprocess.Popen(
        args,
        env=site.env,
        cwd=site.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_until_up(process: subprocess.Popen[bytes], port: int, timeout: float = 60) -> float:
    """Poll /healthz until it answers; return the seconds it took. Fail with the server's log."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        with contextlib.suppress(OSError):
            status, _ = request(port, "GET", "/healthz")
            if status == 200:
                return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer /healthz within {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def graphql(port: int, query: str, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, body = request(port, "POST", "/graphql", json.dumps({"query": query}).encode(), headers)
    if status != 200:
        raise RuntimeError(f"/graphql answered {status}: {body[:300]!r}")
    return json.loads(body)


# --- load --------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    path: str
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    tool: str


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    port: int, target: Target, seconds: float, connections: int, threads: int
) -> LoadResult:
    if wrk_available():
        return _run_wrk(port, target, seconds, connections, threads)
    return _run_python_load(port, target, seconds, connections)


def _lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run_wrk(
    port: int, target: Target, seconds: float, connections: int, threads: int
) -> LoadResult:
    lines = [f"wrk.method = {_lua_string(target.method)}"]
    if target.body is not None:
        lines.append(f"wrk.body = {_lua_string(target.body)}")
    for name, value in target.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        completed = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                f"http://{HOST}:{port}{target.path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    finally:
        os.unlink(script.name)
    return _parse_wrk(completed.stdout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_latency(text: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else None


def _parse_wrk(text: str) -> LoadResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rate is None:
        raise RuntimeError(f"could not read wrk's output:\n{text}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(
        float(rate.group(1)), _wrk_latency(text, "50"), _wrk_latency(text, "99"), errors, "wrk"
    )


def _run_python_load(port: int, target: Target, seconds: float, connections: int) -> LoadResult:
    """A keep-alive client per thread; it shares the CPU (and the GIL) with itself, so it
    understates fast endpoints more than slow ones. Used only when wrk is not installed."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    body = target.body.encode() if target.body is not None else None

    def worker() -> None:
        mine: list[float] = []
        failed = 0
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                connection.request(target.method, target.path, body=body, headers=target.headers)
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=10)
            mine.append(time.perf_counter() - began)
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    began = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    rate = len(latencies) / elapsed
    return LoadResult(rate, percentile(0.5), percentile(0.99), errors[0], "python")


# --- reporting -------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    python = ".".join(str(n) for n in sys.version_info[:3])
    return f"{len(os.sched_getaffinity(0))} CPUs ({cpu}), {memory} RAM, Python {python}"


def busy_note() -> str | None:
    """A warning when other work is using the CPUs: every number here is then pessimistic."""
    one_minute = os.getloadavg()[0]
    cpus = len(os.sched_getaffinity(0))
    if one_minute < 0.5 * cpus:
        return None
    return (
        f"warning: load average {one_minute:.1f} on {cpus} CPUs before starting; other "
        "processes compete with the benchmark, so results are lower and noisier than on an "
        "idle machine"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
