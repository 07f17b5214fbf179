"""docs/examples/incident_api.py, run against a live server, so the example cannot rot: it
registers an incident with an API token, comments on it, follows it (over the subscription,
and by polling) until someone resolves it, and prints its status."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import select

from openitsm.kernel import utcnow
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.identity import tokens
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident

from .conftest import World
from .live_server import serving

SCRIPT = Path(__file__).resolve().parents[3] / "docs" / "examples" / "incident_api.py"


def load_script() -> ModuleType:
    name = "openitsm_docs_incident_api"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def desk_token(world: World) -> str:
    actor = world.actor("agent")
    with world.kernel.session() as session:
        secret, _ = tokens.create_api_token(
            session,
            actor,
            name="integration",
            expires_at=utcnow() + dt.timedelta(days=1),
            roles=["service_desk_agent"],
        )
    return secret


@pytest.mark.parametrize("follow_by", ["subscription", "polling"])
def test_the_example_registers_comments_follows_and_reports(world: World, follow_by: str) -> None:
    script = load_script()
    token = desk_token(world)
    out = io.StringIO()
    with serving(world.kernel) as url:
        # Over the subscription, changes arrive long before the next read would.
        interval = "20" if follow_by == "subscription" else "0.5"
        argv = [
            "--url",
            url,
            "--token",
            token,
            "--title",
            "Scanner offline",
            "--caller",
            "caller",
            "--impact",
            "minor",
            "--urgency",
            "high",
            "--comment",
            "Seen by the monitoring",
            "--follow",
            "60",
            "--interval",
            interval,
        ]
        if follow_by == "polling":
            argv.append("--poll")
        result: list[int] = []
        runner = threading.Thread(target=lambda: result.append(script.main(argv, out)))
        runner.start()

        # Someone resolves the incident once the script has commented on it.
        deadline = time.monotonic() + 20
        incident_id = None
        while incident_id is None:
            assert time.monotonic() < deadline, out.getvalue()
            with world.kernel.session() as session:
                incident_id = session.scalar(
                    select(Comment.target_id).where(
                        Comment.target_kind == "incident", Comment.body.contains("monitoring")
                    )
                )
            time.sleep(0.05)
        with world.kernel.session(world.actor("agent")) as session:
            service.assign(session, incident_id, assignee_id=world.users["engineer"])
        with world.kernel.session(world.actor("engineer")) as session:
            service.resolve(session, incident_id, resolution="Power cycled the scanner")
        resolved_at = time.monotonic()
        runner.join(timeout=30)
        assert not runner.is_alive(), out.getvalue()
        assert time.monotonic() - resolved_at < 10, out.getvalue()

    assert result == [0], out.getvalue()
    with world.kernel.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.title == "Scanner offline"
        assert incident.caller_id == world.users["caller"]
        assert (incident.impact, incident.urgency) == ("minor", "high")
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Created {incident.number}: Scanner offline (NEW)"
    assert lines[1] == f"Commented on {incident.number}"
    assert f"{incident.number} is now RESOLVED" in lines
    assert lines[-1] == f"{incident.number} status: RESOLVED"
    if follow_by == "subscription":
        assert not any("polling" in line for line in lines), lines


def test_the_example_explains_a_refusal(world: World) -> None:
    script = load_script()
    out = io.StringIO()
    with serving(world.kernel) as url:
        code = script.main(
            ["--url", url, "--token", desk_token(world), "--title", "x", "--impact", "galactic"],
            out,
        )
        assert code == 1
        assert "[BAD_USER_INPUT] (field impact)" in out.getvalue()
        assert script.main(["--url", url, "--token", "oit_wrong", "--title", "x"], out) == 1
        assert "[UNAUTHENTICATED]" in out.getvalue()
    assert script.main(["--title", "x", "--token", ""], io.StringIO()) == 2
