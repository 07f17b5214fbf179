"""What the UI set, read once at start-up, and how it ranks below the file and environment.

Precedence, highest first: `OPENITSM_*` environment variables, openitsm.toml, the values set
on /admin/site, the defaults of each schema. The kernel reads the table before it loads
plugins, so the modules chosen in the UI decide what is registered (and migrated); a
database without the table (not migrated yet) has no UI values.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Engine

from openitsm.kernel.db.engine import is_sqlite
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.settings import Settings

log = logging.getLogger("openitsm.sitesettings")

TABLE = sa.table(
    "site_setting",
    sa.column("plugin", sa.String),
    sa.column("key", sa.String),
    sa.column("value", sa.JSON),
    sa.column("secret", sa.Boolean),
    sa.column("encrypted", sa.Text),
    sa.column("version", sa.Integer),
)
MODULES = ("kernel", "modules")


@dataclass(frozen=True)
class SiteValues:
    """The UI's values as a process read them: `versions` tells later what changed since."""

    modules: list[str] | None = None
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    versions: Mapping[tuple[str, str], int] = field(default_factory=dict)
    unreadable: frozenset[tuple[str, str]] = frozenset()


NO_VALUES = SiteValues()


def read_site_values(engine: Engine, settings: Settings) -> SiteValues:
    """The stored UI values, or none on a database that has no such table yet."""
    if is_sqlite(engine):
        database = engine.url.database
        if not database or database == ":memory:" or not Path(database).exists():
            return NO_VALUES
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("site_setting"):
                return NO_VALUES
            rows = connection.execute(sa.select(TABLE)).mappings().all()
    except sa.exc.OperationalError as exc:
        raise ConfigurationError(
            "the database cannot be reached, so the modules and settings chosen on "
            f"/admin/site cannot be read ({type(exc.orig).__name__}: {exc.orig}); "
            "check [database] url in openitsm.toml or OPENITSM_DATABASE_URL"
        ) from None
    return values_from_rows(rows, settings)


def values_from_rows(rows: Sequence[Mapping[Any, Any]], settings: Settings) -> SiteValues:
    from openitsm.kernel.sitesettings.crypto import UnreadableSecret, decrypt

    modules: list[str] | None = None
    plugins: dict[str, dict[str, Any]] = {}
    versions: dict[tuple[str, str], int] = {}
    unreadable: set[tuple[str, str]] = set()
    key = settings.secret() if any(row["secret"] for row in rows) else ""
    for row in rows:
        where = (row["plugin"], row["key"])
        versions[where] = row["version"]
        if where == MODULES:
            modules = [str(name) for name in row["value"] or []]
            continue
        value = row["value"]
        if row["secret"]:
            try:
                value = decrypt(key, row["encrypted"] or "")
            except UnreadableSecret:
                log.warning(
                    "the secret %s.%s set on /admin/site was encrypted under another secret "
                    "key and is ignored; set it again",
                    *where,
                )
                unreadable.add(where)
                continue
        plugins.setdefault(row["plugin"], {})[row["key"]] = value
    return SiteValues(modules, plugins, versions, frozenset(unreadable))


def chosen_modules(
    settings: Settings, site: SiteValues | None, installed: Collection[str]
) -> list[str] | None:
    """`modules` of the file or environment; else the UI's choice; else None (all installed).

    A module chosen in the UI and uninstalled since is left out, not fatal: the file or
    environment is where a missing module should stop a start.
    """
    if settings.modules is not None or site is None or site.modules is None:
        return settings.modules
    missing = [name for name in site.modules if name not in installed]
    if missing:
        log.warning("modules chosen on /admin/site are not installed: %s", ", ".join(missing))
    return [name for name in site.modules if name in installed]


def merged_values(
    fixed: Mapping[str, Any], site: SiteValues | None, plugin: str, model: type[BaseModel]
) -> dict[str, Any]:
    """A plugin's values: the UI's below those fixed by the file or environment."""
    chosen = site.plugins.get(plugin, {}) if site is not None else {}
    return {**{k: v for k, v in chosen.items() if k in model.model_fields}, **fixed}
