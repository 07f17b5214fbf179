"""Settings and modules chosen in the UI: stored, checked, encrypted, and below the file."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import openitsm.adapters.ad.plugin as ad_plugin
from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.app import Kernel
from openitsm.kernel.errors import BadUserInput, Conflict
from openitsm.kernel.sitesettings import service
from openitsm.kernel.sitesettings.store import NO_VALUES
from openitsm.kernel.testing import build_kernel

BIND_SECRET = "ui-bind-secret-7f3a"


def _ad_kernel(tmp_path: Path, database_url: str, **tables: Any) -> Kernel:
    return build_kernel(
        tmp_path, database_url, plugins={"ad": ad_plugin}, plugin_settings=tables or None
    )


def _set(kernel: Kernel, key: str, value: Any, version: int = 0, plugin: str = "ad") -> int:
    with kernel.session() as session:
        return service.set_value(session, kernel, SYSTEM, plugin, key, value, version)


def test_ui_values_reach_the_next_kernel_and_secrets_stay_encrypted(
    tmp_path: Path, database_url: str
) -> None:
    first = _ad_kernel(tmp_path, database_url)
    try:
        assert first.plugin_settings("ad").server is None
        _set(first, "server", "ldap://directory.example:389")
        _set(first, "login_attributes", ["uid", "mail"])
        _set(first, "bind_password", BIND_SECRET)
        # The running process keeps what it started with.
        assert first.plugin_settings("ad").server is None
        with first.session() as session:
            raw = session.execute(sa.text("SELECT * FROM site_setting")).mappings().all()
            history = session.execute(sa.text("SELECT * FROM audit_change")).mappings().all()
            views = service.describe_plugins(first, session)
        assert all(BIND_SECRET not in json.dumps(dict(row), default=str) for row in raw)
        assert any(row["encrypted"] for row in raw)
        assert all(BIND_SECRET not in json.dumps(dict(row), default=str) for row in history)
        assert any(row["field"] == "encrypted" for row in history)
        password = next(v for v in views[0].settings if v.key == "bind_password")
        assert password.is_set and password.value is None and password.pending
    finally:
        first.close()
    second = _ad_kernel(tmp_path, database_url)
    try:
        settings = second.plugin_settings("ad")
        assert settings.server == "ldap://directory.example:389"
        assert settings.login_attributes == ["uid", "mail"]
        assert settings.bind_password.get_secret_value() == BIND_SECRET
        with second.session() as session:
            views = service.describe_plugins(second, session)
        assert not any(v.pending for v in views[0].settings)
    finally:
        second.close()


def test_file_and_environment_win_and_cannot_be_changed(tmp_path: Path, database_url: str) -> None:
    first = _ad_kernel(tmp_path, database_url)
    try:
        _set(first, "timeout", 9)
    finally:
        first.close()
    second = _ad_kernel(
        tmp_path,
        database_url,
        ad={"timeout": 5},
        __env__={"AD_BIND_PASSWORD": "from-the-environment"},
    )
    try:
        assert second.plugin_settings("ad").timeout == 5
        with pytest.raises(BadUserInput, match=r"ad\.timeout is set by openitsm\.toml"):
            _set(second, "timeout", 7, version=1)
        with pytest.raises(BadUserInput, match="OPENITSM_PLUGINS_AD_BIND_PASSWORD"):
            _set(second, "bind_password", "other")
        with second.session() as session:
            views = {v.key: v for v in service.describe_plugins(second, session)[0].settings}
        assert (views["timeout"].source, views["timeout"].value) == ("file", 5)
        assert views["bind_password"].source == "env" and not views["bind_password"].editable
    finally:
        second.close()


def test_values_are_checked_by_the_plugin_schema(tmp_path: Path, database_url: str) -> None:
    kernel = _ad_kernel(tmp_path, database_url)
    try:
        with pytest.raises(service.SettingRejected) as refused:
            _set(kernel, "timeout", "soon")
        assert refused.value.extensions["field"] == "timeout"
        with pytest.raises(service.SettingRejected, match="ldap://"):
            _set(kernel, "server", "http://not-ldap")
        version = _set(kernel, "timeout", "12")
        with kernel.session() as session:
            stored = session.execute(sa.text("SELECT value FROM site_setting")).scalar_one()
        assert json.loads(stored) == 12 if isinstance(stored, str) else stored == 12
        with pytest.raises(Conflict):
            _set(kernel, "timeout", 13, version=version - 1)
        assert _set(kernel, "timeout", None, version=version) == 0
    finally:
        kernel.close()


def test_a_fresh_database_has_no_ui_values(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(tmp_path, database_url, migrate=False)
    try:
        assert kernel.site_values == NO_VALUES
    finally:
        kernel.close()


def _module(name: str, requires: tuple[str, ...] = ()) -> types.ModuleType:
    module = types.ModuleType(name)
    module.requires = list(requires)  # type: ignore[attr-defined]
    return module


def _modules_kernel(tmp_path: Path, database_url: str) -> Kernel:
    plugins = {
        "alpha": _module("alpha", ("beta",)),
        "beta": _module("beta"),
        "gamma": _module("gamma"),
    }
    return build_kernel(tmp_path, database_url, plugins=plugins, modules=None)


# Installed modules with tables once migrated ("ad" first): they cannot be disabled here.
TABLED = ["ad", "complaint", "incident", "mail"]


def _choose(kernel: Kernel, names: list[str]) -> tuple[list[str], list[str]]:
    with kernel.session() as session:
        return service.set_modules(session, kernel, SYSTEM, names, None)


def test_modules_chosen_in_the_ui_follow_requirements(tmp_path: Path, database_url: str) -> None:
    kernel = _modules_kernel(tmp_path, database_url)
    try:
        assert {"alpha", "beta", "gamma"} <= {info.name for info in kernel.plugins.enabled()}
        with pytest.raises(BadUserInput, match="beta cannot be disabled: alpha requires it"):
            _choose(kernel, ["alpha", "gamma"])
        with pytest.raises(BadUserInput, match="kernel plugins are always enabled"):
            _choose(kernel, ["gamma", "kernel.web"])
        with pytest.raises(BadUserInput, match="ad has tables in the database"):
            _choose(kernel, ["gamma", *TABLED[1:]])
        assert _choose(kernel, [*TABLED, "gamma"]) == (sorted([*TABLED, "gamma"]), [])
    finally:
        kernel.close()
    kernel = _modules_kernel(tmp_path, database_url)
    try:
        enabled = {info.name for info in kernel.plugins.enabled()}
        assert {"ad", "gamma"} <= enabled and not {"alpha", "beta"} & enabled
        assert {"kernel.web", "kernel.sitesettings"} <= enabled
        chosen = _choose(kernel, [*TABLED, "alpha", "gamma"])
        assert chosen == (sorted([*TABLED, "alpha", "beta", "gamma"]), ["beta"])
    finally:
        kernel.close()
    kernel = _modules_kernel(tmp_path, database_url)
    try:
        assert {"alpha", "beta", "gamma"} <= {info.name for info in kernel.plugins.enabled()}
    finally:
        kernel.close()


def test_modules_fixed_by_the_file_cannot_be_chosen(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"gamma": _module("gamma")})
    try:
        with pytest.raises(BadUserInput, match=r"set by openitsm\.toml"):
            _choose(kernel, [])
        with kernel.session() as session:
            assert service.describe_modules(kernel, session).source == "file"
    finally:
        kernel.close()
