"""Keep hooks, tests and documentation in step: a new hook without both fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

from openitsm.kernel import hookspecs
from openitsm.kernel.plugins import load_plugins, new_plugin_manager
from openitsm.kernel.testing import make_settings

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
HOOK_DOCS = ROOT / "docs" / "plugin-hooks.md"
HOOKS = hookspecs.hook_names()


def test_hookspecs_module_lists_every_spec_the_manager_knows() -> None:
    pm = new_plugin_manager()
    declared = {name for name in dir(pm.hook) if not name.startswith("_")}
    assert set(HOOKS) == declared
    assert "register_models" in HOOKS


def hook_tests() -> set[str]:
    pattern = re.compile(r"^\s*(?:async\s+)?def (test_hook_\w+)\(", re.MULTILINE)
    return {
        name
        for path in TESTS.rglob("*.py")
        for name in pattern.findall(path.read_text(encoding="utf-8"))
    }


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook: str) -> None:
    assert f"test_hook_{hook}" in hook_tests(), f"write a test named test_hook_{hook}"


def documented_hooks() -> list[str]:
    return re.findall(r"^## (\w+)\s*$", HOOK_DOCS.read_text(encoding="utf-8"), re.MULTILINE)


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook: str) -> None:
    assert hook in documented_hooks(), f"add a '## {hook}' section to docs/plugin-hooks.md"


def test_documented_hooks_exist_and_appear_once() -> None:
    documented = documented_hooks()
    assert sorted(set(documented)) == sorted(documented), "a hook is documented twice"
    assert sorted(set(documented) - set(HOOKS)) == []


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspecs_have_docstrings(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc) > 40, f"say when {hook} is called and what it returns"


def test_resolving_hooks_stop_at_the_first_answer() -> None:
    pm = new_plugin_manager()
    for hook in HOOKS:
        if "_from_" in hook:
            assert pm.hook.__dict__[hook].spec.opts["firstresult"], hook


def test_dummy_plugin_implements_every_hook(tmp_path: Path, dummy_plugin: ModuleType) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", modules=["dummy"])
    found = load_plugins(settings, {"dummy": dummy_plugin})
    implemented = set(found.plugins["dummy"].hooks(found.pm))
    assert sorted(set(HOOKS) - implemented) == []
    assert "dummy_thing_happened" in {name for name in dir(found.hook) if not name.startswith("_")}
