"""Fixtures for kernel tests: the dummy plugin that implements every hook."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

DUMMY_PACKAGE = "openitsm_test_dummy"
DUMMY_FOLDER = Path(__file__).parent / "dummy_plugin"
DUMMY_VERSION = "1.2.3"


def load_dummy_plugin() -> ModuleType:
    """Import tests/kernel/dummy_plugin once per process (its model may be declared once)."""
    if DUMMY_PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            DUMMY_PACKAGE,
            DUMMY_FOLDER / "__init__.py",
            submodule_search_locations=[str(DUMMY_FOLDER)],
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[DUMMY_PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{DUMMY_PACKAGE}.plugin")


@pytest.fixture
def dummy_plugin() -> Iterator[ModuleType]:
    """The dummy plugin module (pass it as `plugins={"dummy": dummy_plugin}`), traces cleared."""
    plugin = load_dummy_plugin()
    plugin.events.clear()
    plugin.lifecycle.clear()
    yield plugin
    plugin.events.clear()
    plugin.lifecycle.clear()


@pytest.fixture
def installed_dummy(
    dummy_plugin: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """Install the dummy plugin as a distribution with an `openitsm.plugins` entry point.

    The kernel then finds it exactly as it finds a pip-installed plugin; the working directory
    and data dir point at `tmp_path` so no openitsm.toml of the checkout is read.
    """
    site = tmp_path / "site"
    dist_info = site / f"openitsm_dummy-{DUMMY_VERSION}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: openitsm-dummy\nVersion: {DUMMY_VERSION}\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[openitsm.plugins]\ndummy = {dummy_plugin.__name__}\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    for name in ("OPENITSM_CONFIG", "OPENITSM_MODULES", "OPENITSM_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENITSM_DATA_DIR", str(tmp_path / "var"))
    return dummy_plugin
