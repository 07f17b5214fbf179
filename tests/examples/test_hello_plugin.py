"""The example plugin, installed as a real distribution into a fresh virtual environment.

This is the integrator's path end to end: `pip install` the package, let the entry point
announce it, migrate, and use its GraphQL API over HTTP with a session token. The new
environment sees this environment's packages through a `.pth` file, so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-plugin"
MIGRATION = "openitsm_hello/migrations/versions/eb95576ed6f0_hello_greeting.py"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from openitsm.kernel import Kernel, migrations
    from openitsm.kernel.identity import service
    from starlette.testclient import TestClient

    kernel = Kernel()  # settings from ./openitsm.toml and OPENITSM_*; plugins from entry points
    migrations.upgrade(kernel)
    with kernel.session() as session:
        user = service.create_user(session, "greeter", "Greeter", password="pw-greeter")
        token = service.open_session(session, user)

    results = {"enabled": [p.name for p in kernel.plugins.enabled()]}
    with TestClient(kernel.asgi()) as client:
        def call(name, query, variables=None, token=token):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
            results[name] = {"status": response.status_code, **response.json()}
            return results[name]

        created = call(
            "create",
            "mutation($input: CreateGreetingInput!) { createGreeting(input: $input) "
            "{ greeting { id name message version timesGreeted } } }",
            {"input": {"name": "morning", "message": "早上好"}},
        )
        greeting_id = created["data"]["createGreeting"]["greeting"]["id"]
        call(
            "create_duplicate",
            "mutation { createGreeting(input: {name: \\"morning\\", message: \\"again\\"}) "
            "{ greeting { id } } }",
        )
        call("anonymous", "{ greetings { nodes { name } } }", token=None)
        call(
            "update",
            "mutation($id: ID!) { updateGreeting(id: $id, version: 1, input: {message: \\"早\\"}) "
            "{ greeting { message version } } }",
            {"id": greeting_id},
        )
        call(
            "update_stale",
            "mutation($id: ID!) { updateGreeting(id: $id, version: 1, input: {message: \\"x\\"}) "
            "{ greeting { version } } }",
            {"id": greeting_id},
        )
        call(
            "send",
            "mutation($id: ID!) { sendGreeting(id: $id) { queued } }",
            {"id": greeting_id},
        )
        daily = kernel.tasks["hello.greeting_of_the_day"]
        results["daily_runs"] = [daily.run(key="slot-a"), daily.run(key="slot-a"),
                                 daily.run(key="slot-b")]
        call(
            "list",
            "{ greetings(first: 10) { totalCount { value } "
            "nodes { name message version timesGreeted } } }",
        )
        call(
            "references",
            "query($refs: [RecordReferenceInput!]!) { records(refs: $refs) { title exists } }",
            {"refs": [{"kind": "hello_greeting", "recordId": 1}]},
        )
    print(json.dumps(results))
    """
)


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENITSM_", "PYTHON")) and key != "VIRTUAL_ENV"
    }
    env.update(extra)
    return env


def _run(args: list[str | Path], cwd: Path, **env: str) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with openitsm-hello installed from examples/hello-plugin (not editable)."""
    root = tmp_path_factory.mktemp("hello-venv")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], root)
    python = venv / "bin" / "python"
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root
    )
    # addsitedir, not a bare path: it also runs this environment's .pth files, which is how
    # the editable install of openitsm makes `import openitsm` work.
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib.strip(), "openitsm-host.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    # Build from a copy: a setuptools build writes build/ and *.egg-info next to its sources.
    source = shutil.copytree(
        EXAMPLE,
        root / "hello-plugin",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--no-cache-dir",
            "--quiet",
            source,
        ],
        root,
    )
    return python


def test_pip_installs_a_real_copy_with_its_migrations(venv_python: Path, tmp_path: Path) -> None:
    found = json.loads(
        _run(
            [
                venv_python,
                "-c",
                "import json, importlib.metadata as m, openitsm_hello;"
                "d = m.distribution('openitsm-hello');"
                "print(json.dumps({'module': openitsm_hello.__file__, 'version': d.version,"
                "'files': [str(f) for f in d.files],"
                "'entry_points': [(e.name, e.value) for e in d.entry_points]}))",
            ],
            tmp_path,
        )
    )
    assert found["version"] == "0.1.0"
    assert Path(found["module"]).is_relative_to(venv_python.parent.parent)
    assert not Path(found["module"]).is_relative_to(EXAMPLE)
    assert MIGRATION in found["files"]
    assert found["entry_points"] == [["hello", "openitsm_hello.plugin"]]


def test_plugins_command_lists_hello_with_its_hooks(venv_python: Path, tmp_path: Path) -> None:
    out = _run(
        [venv_python, "-m", "openitsm.kernel.cli", "plugins"],
        tmp_path,
        OPENITSM_DATA_DIR=str(tmp_path),
    )
    line = next(line for line in out.splitlines() if line.split()[:1] == ["hello"])
    name, version, enabled, hooks = line.split(None, 3)
    assert (name, version, enabled) == ("hello", "0.1.0", "yes")
    assert hooks.split(", ") == [
        "load_demo_data",
        "register_graphql",
        "register_migrations",
        "register_models",
        "register_record_kinds",
        "register_tasks",
    ]


def test_graphql_over_http(venv_python: Path, tmp_path: Path, database_url: str) -> None:
    (tmp_path / "openitsm.toml").write_text('[plugins.hello]\ngreeting = "Hello from the file"\n')
    (tmp_path / "check.py").write_text(SCRIPT)
    out = _run(
        [venv_python, "check.py"],
        tmp_path,
        OPENITSM_DATA_DIR=str(tmp_path / "var"),
        OPENITSM_DATABASE_URL=database_url,
        OPENITSM_QUEUE_IMMEDIATE="true",
    )
    results: dict[str, Any] = json.loads(out.strip().splitlines()[-1])

    assert "hello" in results["enabled"]
    created = results["create"]["data"]["createGreeting"]["greeting"]
    assert (created["name"], created["message"], created["version"]) == ("morning", "早上好", 1)
    assert _codes(results["create_duplicate"]) == ["BAD_USER_INPUT"]
    assert _codes(results["anonymous"]) == ["UNAUTHENTICATED"]
    assert results["update"]["data"]["updateGreeting"]["greeting"] == {
        "message": "早",
        "version": 2,
    }
    stale = results["update_stale"]
    assert stale["status"] == 200 and stale["data"] is None
    assert _codes(stale) == ["CONFLICT"]
    assert stale["errors"][0]["extensions"]["currentVersion"] == 2
    assert results["send"]["data"]["sendGreeting"] == {"queued": True}
    assert results["daily_runs"] == [1, None, 2]

    listed = results["list"]["data"]["greetings"]
    assert listed["totalCount"]["value"] == 2
    by_name = {node["name"]: node for node in listed["nodes"]}
    morning = by_name.pop("morning")
    # Sent once through the queue (inline here); the stale update changed nothing.
    assert (morning["message"], morning["version"], morning["timesGreeted"]) == ("早", 3, 1)
    [(daily_name, daily)] = by_name.items()
    assert daily_name.startswith("daily-")
    assert (daily["message"], daily["timesGreeted"]) == ("Hello from the file", 2)
    assert results["references"]["data"]["records"] == [{"title": "morning", "exists": True}]


def test_the_examples_own_tests_pass(venv_python: Path, tmp_path: Path) -> None:
    out = _run(
        [
            venv_python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            _copy_of(venv_python) / "tests",
        ],
        tmp_path,
    )
    assert " passed" in out and "failed" not in out


def _copy_of(venv_python: Path) -> Path:
    """The copy of the example the environment was installed from (tests run there too)."""
    return venv_python.parents[2] / "hello-plugin"


def _codes(result: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in result.get("errors", [])]
