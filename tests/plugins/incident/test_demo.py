"""`openitsm demo` with the incident module: the module's samples are made after the
kernel's demo organisation, so they carry the caller's service unit and the desk sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from openitsm.kernel.cli import cli
from openitsm.kernel.identity.models import User
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.plugins.incident import plugin
from openitsm.plugins.incident.models import Incident
from openitsm.plugins.incident.schema import filtered


def test_the_demo_desk_agent_sees_the_demo_incidents(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "OPENITSM_DATA_DIR": str(tmp_path / "var"),
        "OPENITSM_DATABASE_URL": database_url,
        "OPENITSM_MODULES": "incident",
        "OPENITSM_CONFIG": "",
    }
    result = CliRunner().invoke(cli, ["demo", "--password", "demo-pw"], env=env)
    assert result.exit_code == 0, result.output
    kernel = build_kernel(tmp_path / "k", database_url, plugins={"incident": plugin}, migrate=False)
    try:
        with kernel.session() as session:
            incidents = session.scalars(select(Incident)).all()
            assert incidents and all(i.service_unit_id is not None for i in incidents)
            agent_id = session.scalar(select(User.id).where(User.login == "agent"))
            agent = actor_of(kernel, agent_id)
            seen = session.scalars(filtered(agent, None)).all()
            assert {i.id for i in seen} == {i.id for i in incidents}
    finally:
        kernel.close()


def test_a_trylast_demo_comes_after_every_other_module(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The complaint samples (trylast) find the incident samples and link a cause to one."""
    from openitsm.kernel.links.models import RecordLink

    monkeypatch.chdir(tmp_path)
    env = {
        "OPENITSM_DATA_DIR": str(tmp_path / "var"),
        "OPENITSM_DATABASE_URL": database_url,
        "OPENITSM_MODULES": "complaint,incident",
        "OPENITSM_CONFIG": "",
    }
    result = CliRunner().invoke(cli, ["demo", "--password", "demo-pw"], env=env)
    assert result.exit_code == 0, result.output
    kernel = build_kernel(tmp_path / "k", database_url, plugins={"incident": plugin}, migrate=False)
    try:
        with kernel.session() as session:
            causes = session.scalars(
                select(RecordLink).where(RecordLink.relation == "caused_by")
            ).all()
            assert [(c.source_kind, c.target_kind) for c in causes] == [("complaint", "incident")]
    finally:
        kernel.close()
