"""`openitsm bench seed`: the organisation the kernel writes, the hook, and the refusal rule.

The incident module's records are checked in tests/plugins/incident/test_bench_seed.py.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from openitsm.kernel import cli as cli_module
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.identity.models import User
from openitsm.kernel.identity.service import authenticate
from openitsm.kernel.organisation.models import Department, UserRole, UserServiceUnit
from openitsm.kernel.testing import build_kernel


def seed(*options: str) -> Result:
    return CliRunner().invoke(
        cli_module.cli, ["bench", "seed", "--agents", "20", "--callers", "50", *options]
    )


@pytest.fixture
def dummy_site(
    installed_dummy: ModuleType, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("OPENITSM_DATABASE_URL", database_url)
    monkeypatch.setenv("OPENITSM_MODULES", "dummy")
    return database_url


def test_hook_seed_bench_data(dummy_site: str, installed_dummy: ModuleType) -> None:
    result = seed("--incidents", "40", "--password", "seed-pw")
    assert result.exit_code == 0, result.output
    assert "4 dummy notes" in result.output
    assert "20 agents" in result.output and "50 callers" in result.output
    kernel = build_kernel(Path.cwd(), dummy_site, plugins={"dummy": installed_dummy}, migrate=False)
    try:
        with kernel.session() as session:
            notes = session.scalars(sa.select(installed_dummy.DummyNote.text)).all()
            assert len(notes) == 4
            caller_names = set(
                session.scalars(sa.select(User.name).where(User.login.like("user%"))).all()
            )
            assert all(note.rsplit(" for ", 1)[1] in caller_names for note in notes)
            # The organisation: a tree under `bench`, people with roles and service units.
            root = session.scalar(sa.select(Department).where(Department.code == "bench"))
            assert root is not None and root.parent_id is None
            assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 70
            assert session.scalar(sa.select(sa.func.count()).select_from(UserRole)) == 70
            units = session.scalar(sa.select(sa.func.count()).select_from(UserServiceUnit))
            assert units >= 50  # every caller in one unit, desk agents in three
            agent = session.scalar(sa.select(User).where(User.login == "agent0001"))
            assert agent is not None and agent.department_id is not None
            actor = actor_for_user(session, agent.id)
            assert actor.roles == {"service_desk_agent"} and len(actor.service_unit_ids) == 3
            # Ids written by hand: the next ordinary insert still gets a fresh one.
            session.add(User(login="after-seed", name="After", time_zone="Asia/Shanghai"))
            session.flush()
            assert authenticate(session, "agent0001", "seed-pw") is not None
        if kernel.engine.dialect.name == "sqlite":
            # The file is left in WAL mode again (bytes 18-19 of its header say so; every
            # new connection asks for WAL, so only the file itself tells).
            header = Path(sa.engine.make_url(dummy_site).database or "").read_bytes()[:20]
            assert header[18:20] == b"\x02\x02"
    finally:
        kernel.close()


def test_a_seeded_database_is_refused(dummy_site: str) -> None:
    assert seed("--incidents", "10").exit_code == 0
    again = seed("--incidents", "10", "--force")
    assert again.exit_code == 2
    assert "already holds a seeded site" in again.output


def test_a_database_with_people_needs_force(dummy_site: str, installed_dummy: ModuleType) -> None:
    kernel = build_kernel(Path.cwd(), dummy_site, plugins={"dummy": installed_dummy})
    with kernel.session() as session:
        session.add(User(login="someone", name="Someone", time_zone="Asia/Shanghai"))
    kernel.close()
    refused = seed("--incidents", "10")
    assert refused.exit_code == 2 and "pass --force" in refused.output
    forced = seed("--incidents", "10", "--force")
    assert forced.exit_code == 0, forced.output
    assert "journalled" in forced.output and "1 dummy notes" in forced.output


def test_seed_help_is_its_own() -> None:
    result = CliRunner().invoke(cli_module.cli, ["bench", "seed", "--help"])
    assert result.exit_code == 0
    assert "--open-share" in result.output and "--incidents" in result.output


def test_sqlite_timestamps_read_as_timedelta_writes_them() -> None:
    """The fast text of an instant is, to the microsecond, what `EPOCH + timedelta` gives:
    fractions rounded half to even, a fraction that rounds up to the next second, days
    across years, and instants before 1970."""
    import datetime as dt
    import random

    from openitsm.kernel.benchseed.site import EPOCH, sqlite_timestamps

    stamp = sqlite_timestamps()
    rng = random.Random(3)
    moments = [rng.uniform(0, 2.2e9) for _ in range(20_000)]
    moments += [round(moment, 6) for moment in moments[:5_000]]
    # An odd number of 128ths of a second is an odd number of half microseconds, exactly.
    moments += [1_700_000_000 + n / 128 for n in range(1, 256, 2)]
    moments += [n * 2.5e-6 for n in range(1, 2_000)]
    # Just short of the next second, and of midnight.
    moments += [1_700_000_000 - 2.0**-22 * n for n in range(1, 4)]
    moments += [86_399.9999996, 951_868_799.9999999, 0.0, 1e-7, -1.5, -0.0000004]
    for moment in moments:
        expected = (EPOCH + dt.timedelta(seconds=moment)).isoformat(" ", "microseconds")
        assert stamp(moment) == expected, moment
