"""Finding, enabling, ordering and listing plugins."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from click.testing import CliRunner

from openitsm.kernel import ConfigurationError, hookimpl
from openitsm.kernel.cli import cli
from openitsm.kernel.plugins import KERNEL_PLUGINS, load_plugins
from openitsm.kernel.settings import load_settings
from openitsm.kernel.testing import make_settings


def settings(tmp_path: Path, **overrides: object):
    return make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", **overrides)


def test_installed_plugin_is_found_through_the_entry_point_group(
    installed_dummy: ModuleType,
) -> None:
    found = load_plugins(load_settings())
    dummy = found.plugins["dummy"]
    assert dummy.module is installed_dummy
    assert (dummy.distribution, dummy.version, dummy.enabled) == ("openitsm-dummy", "1.2.3", True)
    assert found.pm.is_registered(installed_dummy)
    assert "register_routes" in dummy.hooks(found.pm)


def test_kernel_plugins_come_first_and_are_always_enabled(installed_dummy: ModuleType) -> None:
    found = load_plugins(load_settings({}, {"OPENITSM_MODULES": ""}))
    kernel_names = [name for name in found.plugins if name.startswith("kernel.")]
    assert len(kernel_names) == len(KERNEL_PLUGINS)
    assert list(found.plugins)[: len(kernel_names)] == kernel_names
    assert all(found.plugins[name].enabled for name in kernel_names)


def test_modules_env_enables_a_subset(installed_dummy: ModuleType) -> None:
    found = load_plugins(load_settings(environ={"OPENITSM_MODULES": ""}))
    assert found.plugins["dummy"].enabled is False
    assert not found.pm.is_registered(installed_dummy)
    assert found.plugins["dummy"].hooks(found.pm) == []

    found = load_plugins(load_settings(environ={"OPENITSM_MODULES": " dummy , "}))
    assert found.plugins["dummy"].enabled is True


def test_modules_in_the_file_enable_a_subset(installed_dummy: ModuleType) -> None:
    Path("openitsm.toml").write_text("modules = []\n")
    found = load_plugins(load_settings(environ={}))
    assert found.plugins["dummy"].enabled is False


def test_unknown_module_is_a_startup_error_with_a_hint(installed_dummy: ModuleType) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_plugins(load_settings(environ={"OPENITSM_MODULES": "dumy"}))
    message = str(raised.value)
    assert "'dumy'" in message
    assert "did you mean 'dummy'" in message
    assert "OPENITSM_MODULES" in message


def test_entry_point_that_fails_to_import_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    dist_info = site / "broken_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[openitsm.plugins]\nbroken = no_such_module_here\n"
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ConfigurationError, match=r"plugin 'broken' \(no_such_module_here\) failed"):
        load_plugins(settings(tmp_path, modules=None))
    # Disabled, it is not even imported.
    found = load_plugins(settings(tmp_path, modules=[]))
    assert found.plugins["broken"].enabled is False


def test_plugin_that_needs_a_disabled_plugin_is_a_startup_error(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    needy = SimpleNamespace(requires=["dummy"])
    with pytest.raises(ConfigurationError) as raised:
        load_plugins(settings(tmp_path, modules=["needy"]), {"dummy": dummy_plugin, "needy": needy})
    message = str(raised.value)
    assert "'needy' needs the plugin 'dummy'" in message
    assert "add 'dummy' to modules" in message


def test_plugin_that_needs_a_missing_plugin_is_a_startup_error(tmp_path: Path) -> None:
    needy = SimpleNamespace(requires=["cmdb"])
    with pytest.raises(ConfigurationError, match=r"'needy' needs the plugin 'cmdb', which is not"):
        load_plugins(settings(tmp_path, modules=["needy"]), {"needy": needy})


def test_requirements_are_registered_first(tmp_path: Path) -> None:
    order: list[str] = []

    def plugin(name: str, requires: list[str]) -> object:
        class Plugin:
            @hookimpl
            def register_models(self) -> list[type]:
                order.append(name)
                return []

        instance = Plugin()
        instance.requires = requires  # type: ignore[attr-defined]
        return instance

    plugins = {
        "alpha": plugin("alpha", ["zulu"]),
        "mike": plugin("mike", []),
        "zulu": plugin("zulu", []),
    }
    found = load_plugins(settings(tmp_path, modules=list(plugins)), plugins)
    assert [info.name for info in found.enabled() if not info.name.startswith("kernel.")] == [
        "zulu",
        "alpha",
        "mike",
    ]
    assert [impl.plugin_name for impl in found.hook.register_models.get_hookimpls()][-3:] == [
        "zulu",
        "alpha",
        "mike",
    ]


def test_plugins_requiring_each_other_in_a_circle_is_an_error(tmp_path: Path) -> None:
    plugins = {"a": SimpleNamespace(requires=["b"]), "b": SimpleNamespace(requires="a")}
    with pytest.raises(ConfigurationError, match=r"circle: a -> b -> a"):
        load_plugins(settings(tmp_path, modules=["a", "b"]), plugins)


def test_plugin_names_starting_with_kernel_are_reserved(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="reserved"):
        load_plugins(settings(tmp_path, modules=[]), {"kernelish": SimpleNamespace()})


def test_misspelt_kernel_hook_is_a_startup_error(tmp_path: Path) -> None:
    class Typo:
        @hookimpl
        def register_modles(self) -> list[type]:
            return []

    with pytest.raises(ConfigurationError) as raised:
        load_plugins(settings(tmp_path, modules=["typo"]), {"typo": Typo()})
    message = str(raised.value)
    assert "plugin 'typo' implements 'register_modles'" in message
    assert "did you mean 'register_models'" in message


def test_hookimpl_with_an_argument_the_spec_lacks_is_a_startup_error(tmp_path: Path) -> None:
    class WrongArguments:
        @hookimpl
        def on_startup(self, kernel: object, colour: str) -> None:
            pass

    with pytest.raises(ConfigurationError, match=r"(?s)'wrong'.*colour"):
        load_plugins(settings(tmp_path, modules=["wrong"]), {"wrong": WrongArguments()})


def test_plugin_settings_must_subclass_plugin_settings(tmp_path: Path) -> None:
    class Settings:
        greeting = "hi"

    plugin = SimpleNamespace(Settings=Settings)
    with pytest.raises(ConfigurationError, match=r"'odd'.*PluginSettings"):
        load_plugins(settings(tmp_path, modules=["odd"]), {"odd": plugin})


def test_owner_of_names_the_plugin_a_function_belongs_to(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    found = load_plugins(settings(tmp_path, modules=["dummy"]), {"dummy": dummy_plugin})
    assert found.owner_of(dummy_plugin) == "dummy"
    assert found.owner_of(dummy_plugin.DummyNote) == "dummy"  # defined in the package's models
    assert found.owner_of(dummy_plugin.hello_command.callback) == "dummy"


def test_plugins_command_lists_name_version_state_and_hooks(installed_dummy: ModuleType) -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "ENABLED", "HOOKS"]
    [dummy] = [line for line in lines if line.startswith("dummy ")]
    name, version, enabled, hooks = dummy.split(maxsplit=3)
    assert (name, version, enabled) == ("dummy", "1.2.3", "yes")
    assert {"add_hookspecs", "register_routes", "on_record_changed"} <= set(hooks.split(", "))
    assert any(line.startswith("kernel.core ") and "built in" in line for line in lines)


def test_plugins_command_shows_disabled_plugins(installed_dummy: ModuleType) -> None:
    result = CliRunner().invoke(cli, ["plugins"], env={"OPENITSM_MODULES": ""})
    assert result.exit_code == 0, result.output
    [dummy] = [line for line in result.output.splitlines() if line.startswith("dummy ")]
    assert dummy.split() == ["dummy", "1.2.3", "no", "-"]


def test_plugins_command_explains_a_bad_configuration(installed_dummy: ModuleType) -> None:
    result = CliRunner().invoke(cli, ["plugins"], env={"OPENITSM_MODULES": "nope"})
    assert result.exit_code == 2
    assert "'nope'" in result.output
    assert "Traceback" not in result.output
