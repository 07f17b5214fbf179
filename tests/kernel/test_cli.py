"""The `openitsm` command line and the health endpoints operators script against."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient

from openitsm.kernel.cli import cli
from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import User
from openitsm.kernel.testing import build_kernel


@pytest.fixture
def run(tmp_path, database_url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "OPENITSM_DATA_DIR": str(tmp_path / "var"),
        "OPENITSM_DATABASE_URL": database_url,
        "OPENITSM_MODULES": "",
        "OPENITSM_CONFIG": "",
    }

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


def test_check_reports_pending_migrations_then_passes(run):
    before = run("check")
    assert before.exit_code == 1
    assert "migrations: pending: kernel@" in before.output
    migrated = run("migrate")
    assert migrated.exit_code == 0, migrated.output
    assert "dictionary rows added" in migrated.output
    after = run("check")
    assert after.exit_code == 0, after.output
    for line in (
        "settings: ok",
        "database: ok",
        "migrations: ok",
        "queue: ok",
        "graphql schema: ok",
    ):
        assert line in after.output


def test_demo_loads_users_and_can_run_again(run, tmp_path, database_url):
    first = run("demo", "--password", "pw-one")
    assert first.exit_code == 0, first.output
    assert "admin, agent, engineer, manager, enduser" in first.output
    assert run("demo", "--password", "pw-two").exit_code == 0
    kernel = build_kernel(tmp_path / "k", database_url, migrate=False)
    with kernel.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 5
        admin = session.scalar(select(User).where(User.login == "admin"))
        assert admin.is_superuser
        assert service.authenticate(session, "agent", "pw-two") is not None
        assert service.authenticate(session, "agent", "pw-one") is None
    kernel.close()


def test_createsuperuser(run, tmp_path, database_url):
    run("migrate")
    result = run(
        "createsuperuser", "--login", "boss", "--name", "The Boss", input="pw-boss\npw-boss\n"
    )
    assert result.exit_code == 0, result.output
    kernel = build_kernel(tmp_path / "k", database_url, migrate=False)
    with kernel.session() as session:
        user = service.authenticate(session, "boss", "pw-boss")
        assert user is not None and user.is_superuser and user.name == "The Boss"
    kernel.close()
    again = run("createsuperuser", "--login", "boss", input="pw-boss\npw-boss\n")
    assert again.exit_code == 2 and "taken" in again.output


def test_bad_settings_stop_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "openitsm.toml").write_text("[graphql]\nmax_dept = 3\n")
    result = CliRunner().invoke(cli, ["check"], env={"OPENITSM_CONFIG": ""})
    assert result.exit_code == 2
    assert "max_dept" in result.output and "did you mean 'max_depth'" in result.output
    (tmp_path / "openitsm.toml").unlink()
    unknown = CliRunner().invoke(
        cli, ["check"], env={"OPENITSM_MODULES": "nosuchmodule", "OPENITSM_DATA_DIR": str(tmp_path)}
    )
    assert unknown.exit_code == 2
    assert "'nosuchmodule'" in unknown.output and "not installed" in unknown.output


def test_bench_names_the_known_benchmarks(run):
    result = run("bench", "no-such-benchmark")
    assert result.exit_code == 2 and "no benchmark 'no-such-benchmark'" in result.output


def test_health_and_readiness(tmp_path, database_url):
    kernel = build_kernel(tmp_path, database_url, migrate=False)
    with TestClient(kernel.asgi()) as client:
        assert client.get("/healthz").text == "ok"
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["migrations"].startswith("pending")
        from openitsm.kernel import migrations

        migrations.upgrade(kernel)
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"database": "ok", "migrations": "ok", "queue": "ok"}
    kernel.close()
