"""The wheel ships `platform/`, `plugins/` and `adapters/` as `openitsm`, and nothing else.

A top-level package named `platform` would shadow the standard library's `platform` module
(which SQLAlchemy, uuid and others use), so the source folders have no `__init__.py` and are
mapped explicitly in pyproject.toml.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"platform": "openitsm", "plugins": "openitsm.plugins", "adapters": "openitsm.adapters"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def source_files() -> list[tuple[Path, str]]:
    """(file, path inside the wheel) for every file the wheel must contain."""
    found = []
    for folder, package in SOURCES.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if path.is_dir() or "__pycache__" in relative.parts or path.suffix == ".pyc":
                continue
            if path.suffix == ".md":  # notes for readers of the source tree
                continue
            found.append((path, "/".join([*package.split("."), *relative.parts])))
    return found


def test_source_folders_are_not_packages() -> None:
    for folder in SOURCES:
        assert (ROOT / folder).is_dir()
        assert not (ROOT / folder / "__init__.py").exists(), f"{folder}/ must stay unimportable"


def test_package_dir_maps_the_source_folders() -> None:
    assert pyproject()["tool"]["setuptools"]["package-dir"] == {
        package: folder for folder, package in SOURCES.items()
    }


def test_packages_list_covers_every_folder_with_python_files() -> None:
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    needed = set(SOURCES.values())
    for folder, package in SOURCES.items():
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.parent.relative_to(ROOT / folder)
            if "__pycache__" not in relative.parts:
                needed.add(".".join([package, *relative.parts]))
    assert sorted(needed - listed) == [], "add these to [tool.setuptools] packages"
    assert sorted(listed - needed) == [], "these listed packages have no folder"


@pytest.mark.slow
def test_wheel_puts_every_module_under_openitsm(tmp_path: Path) -> None:
    # Build from a copy, so the checkout gets no build/ or egg-info litter.
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    for name in ("README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source)
    for folder in SOURCES:
        shutil.copytree(ROOT / folder, source / folder, ignore=IGNORED)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = dist.glob("openitsm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()

    outside = [n for n in names if not n.startswith(("openitsm/", "openitsm-"))]
    assert outside == []
    assert not any(n.startswith(("platform/", "plugins/", "adapters/")) for n in names)
    missing = [inside for _, inside in source_files() if inside not in names]
    assert missing == [], "files left out of the wheel (packages or package-data)"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "openitsm = openitsm.kernel.cli:main" in archive.read(entry_points).decode()

    # The unpacked wheel alone (no editable install) imports, and `platform` is still the
    # standard library's, in one process.
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    probe = (
        "import openitsm.kernel, openitsm.kernel.cli, platform, sqlalchemy, uuid\n"
        "assert openitsm.kernel.__file__.startswith({!r}), openitsm.kernel.__file__\n"
        "assert platform.python_implementation()\n"
        "assert platform.__file__.startswith({!r}), platform.__file__\n"
        "print(uuid.uuid4())\n"
    ).format(str(unpacked), sysconfig.get_paths()["stdlib"])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(unpacked), sysconfig.get_paths()["purelib"]]),
    }
    subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env, check=True, timeout=60
    )


def test_standard_platform_module_works_beside_openitsm() -> None:
    import sqlalchemy

    import openitsm.kernel

    assert Path(platform.__file__).parent == Path(sysconfig.get_paths()["stdlib"])
    assert platform.system()
    assert platform.python_version().startswith(f"{sys.version_info.major}.")
    assert "platform" in openitsm.kernel.__file__  # the source folder, imported as openitsm
    assert sqlalchemy.__version__
