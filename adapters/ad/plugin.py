"""The directory plugin: sign-in with directory credentials or Kerberos, and a periodic sync.

Enabled whenever installed, it stays inert until `[plugins.ad] server` is set: every hook
then returns None and the sync task returns at once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openitsm.adapters.ad import negotiate, signin
from openitsm.adapters.ad import sync as directory_sync
from openitsm.adapters.ad.directory import DirectoryUnavailable
from openitsm.adapters.ad.models import (
    DirectoryAccount,
    DirectoryRoleGrant,
    DirectorySyncState,
    OuDepartment,
)
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel import MigrationBranch, crontab, hookimpl, periodic_task, utcnow
from openitsm.kernel.identity.routes import SignInOption

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel import Kernel
    from openitsm.kernel.hookspecs import CredentialsCheck

__all__ = ["Settings"]

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"
log = logging.getLogger("openitsm.adapters.ad")


def settings_of(kernel: Kernel) -> Settings:
    settings: Settings = kernel.plugins.settings_of("ad")
    return settings


@periodic_task(crontab())
def sync_directory(session: Session) -> str | None:
    """Every minute, check whether `sync_interval_minutes` has passed, and sync if so."""
    kernel: Kernel = session.info["kernel"]
    settings = settings_of(kernel)
    if not settings.configured or not directory_sync.due(session, settings):
        return None
    return run_sync(session, settings)


def run_sync(session: Session, settings: Settings) -> str:
    """Sync now and record the outcome; a directory that cannot be reached changes nothing."""
    started = utcnow()
    try:
        with session.begin_nested():
            outcome = str(directory_sync.sync(session, settings))
    except DirectoryUnavailable as exc:
        outcome = f"directory unavailable: {exc}"
        log.warning("directory sync skipped: %s", exc)
    directory_sync.record(session, started, outcome)
    return outcome


@hookimpl
def register_models() -> list[type]:
    return [DirectoryAccount, DirectoryRoleGrant, OuDepartment, DirectorySyncState]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("ad", MIGRATIONS)


@hookimpl
def sign_in_options(kernel: Kernel) -> list[SignInOption]:
    settings: Settings = kernel.plugins.settings_of("ad")
    if not (settings.configured and settings.kerberos):
        return []
    labels = {"zh-CN": "使用 Windows 域账号登录", "en": "Sign in with your Windows account"}
    return [SignInOption(labels, negotiate.PATH)]


@hookimpl
def register_routes() -> list[Any]:
    """Kerberos sign-in; it answers 404 unless `kerberos = true` (read per request)."""
    return negotiate.routes


@hookimpl
def register_tasks() -> list[Any]:
    return [sync_directory]


@hookimpl
def authenticate_credentials(
    login: str, password: str, session: Session, kernel: Kernel
) -> CredentialsCheck | None:
    settings = settings_of(kernel)
    if not settings.configured:
        return None
    return signin.authenticate(session, settings, login, password)
