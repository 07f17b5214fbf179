"""`openitsm bench seed`: a realistic site of any size, for benchmarks and load tests.

The kernel migrates, refuses a database that holds anything but shipped data (see
`check_database`), seeds the organisation, then calls `seed_bench_data` on every enabled
plugin and prints what was written and how fast.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Connection, func, select, text

from openitsm.kernel.benchseed.organisation import ROOT, seed_organisation
from openitsm.kernel.benchseed.site import BenchScale, BenchSite, Stopwatch
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import ConfigurationError

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

# SQLite settings while an empty database is filled. Nothing else uses the file meanwhile,
# and a seed that fails half-way is thrown away, so the rollback journal stays in memory
# and nothing waits for fsync; foreign keys are not checked row by row (the ids are made
# consistent by construction, and tests/plugins/incident/test_bench_seed.py checks them).
FAST_SQLITE = (
    "PRAGMA foreign_keys=OFF",
    "PRAGMA journal_mode=MEMORY",
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-1000000",
    "PRAGMA temp_store=MEMORY",
)


@dataclass(frozen=True)
class SeedResult:
    counts: dict[str, int]
    seconds: float
    analyse_seconds: float
    fast: bool

    @property
    def incidents_per_second(self) -> float:
        return self.counts.get("incidents", 0) / self.seconds if self.seconds else 0.0


def check_database(connection: Connection, *, force: bool) -> bool:
    """Whether the database may be seeded, and whether the fast (unjournalled) path may be
    taken. The rule: a database that already holds a seeded site is always refused (a
    second seed would collide with the first); one with people in it is refused unless
    `force` (then seeded with the ordinary, journalled settings); only a freshly migrated
    database, holding nothing but shipped data (roles, dictionaries, processes), is
    seeded the fast way."""
    from openitsm.kernel.identity.models import User
    from openitsm.kernel.organisation.models import Department

    seeded = connection.scalar(select(Department.id).where(Department.code == ROOT))
    if seeded is not None:
        raise ConfigurationError(
            "this database already holds a seeded site (department 'bench'); seed a new "
            "database: another file, or another PostgreSQL database"
        )
    people = connection.scalar(select(func.count()).select_from(User)) or 0
    if people and not force:
        raise ConfigurationError(
            f"this database has {people} user(s): `bench seed` adds a whole site and is meant "
            "for a new, empty database; pass --force to add it to this one"
        )
    taken = connection.scalar(
        select(func.count()).select_from(User).where(User.login.in_(["agent0001", "user000001"]))
    )
    if taken:
        raise ConfigurationError("the logins agent0001 / user000001 are taken in this database")
    return not people


def seed(
    kernel: Kernel,
    scale: BenchScale,
    *,
    force: bool = False,
    password: str | None = "bench",
    analyse: bool = True,
    echo: Callable[[str], None] = lambda message: None,
) -> SeedResult:
    """Migrate, check, seed the organisation and every plugin's records; see the module."""
    from openitsm.kernel import migrations

    migrations.upgrade(kernel)
    migrations.sync_shipped_data(kernel)
    password_hash = None
    if password:
        from openitsm.kernel.identity.service import hash_password

        password_hash = hash_password(password)  # once: every seeded person shares it
    watch = Stopwatch()
    with kernel.engine.connect() as connection:
        fast = check_database(connection, force=force)
        connection.rollback()
        sqlite = connection.dialect.name == "sqlite"
        restore: tuple[str, ...] = ()
        if sqlite and fast:
            restore = _pragmas(connection, FAST_SQLITE)
        # Millions of tuples live a few seconds each and none of them forms a cycle: the
        # collector would walk them again and again for nothing.
        collecting = gc.isenabled()
        gc.disable()
        site: BenchSite | None = None
        try:
            # Whole hours: the same command run within the same hour writes the same site.
            now = utcnow().replace(minute=0, second=0, microsecond=0)
            site = BenchSite(
                kernel=kernel,
                scale=scale,
                connection=connection,
                rng=random.Random(scale.seed),
                now=now,
                start=now.replace(year=now.year - scale.years),
                echo=echo,
                build_indexes_at_the_end=sqlite and fast,
            )
            seed_organisation(site, password_hash)
            echo(
                f"organisation: {len(site.departments)} departments, "
                f"{sum(len(p) for p in site.agents.values()):,} agents, "
                f"{len(site.callers):,} callers, {len(site.service_units)} service units"
            )
            kernel.hook.seed_bench_data(kernel=kernel, site=site, scale=scale)
            site.finish()
        except BaseException:
            if connection.in_transaction():
                connection.rollback()
            if site is not None:
                site.build_indexes()
            raise
        finally:
            if collecting:
                gc.enable()
            if restore:
                _pragmas(connection, restore)
        seconds = watch.seconds()
        analysed = Stopwatch()
        if analyse:
            # Planner statistics, as an operator gets them from `ANALYZE` (PostgreSQL's
            # autovacuum would gather them on its own, later).
            connection.execute(text("ANALYZE"))
            connection.commit()
        if sqlite:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return SeedResult(dict(site.reported), seconds, analysed.seconds(), fast)


def _pragmas(connection: Connection, statements: tuple[str, ...]) -> tuple[str, ...]:
    """Run `statements` (`PRAGMA name=value`); returns those that set each back as it was,
    since the connection goes back to the pool afterwards."""
    if connection.in_transaction():
        connection.commit()
    raw: Any = connection.connection.driver_connection
    previous = []
    for statement in statements:
        name = statement.removeprefix("PRAGMA ").split("=", 1)[0]
        (value,) = raw.execute(f"PRAGMA {name}").fetchone()
        previous.append(f"PRAGMA {name}={value}")
        raw.execute(statement)
    return tuple(reversed(previous))


@click.command(name="seed")
@click.option("--incidents", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option("--agents", type=click.IntRange(min=10), default=2_000, show_default=True)
@click.option("--callers", type=click.IntRange(min=1), default=None, help="Default: ten per agent.")
@click.option("--years", type=click.IntRange(min=1, max=20), default=3, show_default=True)
@click.option(
    "--open-share", type=click.FloatRange(0, 1), default=0.15, show_default=True,
    help="Share of the records still open.",
)  # fmt: skip
@click.option("--seed", "seed_value", type=int, default=42, show_default=True)
@click.option(
    "--password", default="bench", show_default=True, help="Every seeded person's password."
)
@click.option("--force", is_flag=True, help="Seed a database that already has people in it.")
def seed_command(
    incidents: int,
    agents: int,
    callers: int | None,
    years: int,
    open_share: float,
    seed_value: int,
    password: str,
    force: bool,
) -> None:
    """Fill a new database with a realistic site: departments, agents in the ITSM roles,
    service units, callers, and every module's records over the years (incidents with
    their history, process steps and SLA clocks). Agents sign in as agent0001…, callers
    as user000001…"""
    from openitsm.kernel.app import Kernel

    kernel = Kernel()
    scale = BenchScale(incidents, agents, years, open_share, seed_value, callers)
    try:
        result = seed(kernel, scale, force=force, password=password, echo=click.echo)
    finally:
        kernel.close()
    written = ", ".join(f"{count:,} {what}" for what, count in result.counts.items())
    click.echo(f"seeded {written}")
    rate = result.incidents_per_second
    click.echo(
        f"{result.seconds:.1f} s"
        + (f", {rate:,.0f} incidents/s" if rate else "")
        + f"; planner statistics {result.analyse_seconds:.1f} s"
        + ("" if result.fast else " (journalled: the database was not empty)")
    )
