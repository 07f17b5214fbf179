"""Find, enable and register plugins.

Built-in modules and adapters are installed under the same entry-point group as any
third party's (`openitsm.plugins`), so ours get no private door. The kernel's own
services are plugins too (`KERNEL_PLUGINS`), always enabled. A plugin module may declare:

- `requires = ["cmdb"]` — plugins that must be enabled with it;
- `class Settings(PluginSettings)` — the schema of its `[plugins.<name>]` table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from openitsm.kernel import hookspecs
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.settings import (
    PluginSettings,
    Settings,
    plugin_values,
    unclaimed_plugin_settings,
    validate_plugin_settings,
)
from pydantic import BaseModel

ENTRY_POINT_GROUP = "openitsm.plugins"
PROJECT_NAME = "openitsm"

KERNEL_PLUGINS: tuple[str, ...] = (
    "openitsm.kernel.core",
    "openitsm.kernel.audit.plugin",
    "openitsm.kernel.dictionaries.plugin",
    "openitsm.kernel.identity.plugin",
    "openitsm.kernel.queue.plugin",
)


@dataclass
class PluginInfo:
    name: str
    module: ModuleType | None
    version: str
    distribution: str
    builtin: bool
    enabled: bool
    requires: tuple[str, ...] = ()
    settings: BaseModel | None = None
    error: str | None = None

    def hooks(self, pm: pluggy.PluginManager) -> list[str]:
        if self.module is None or not pm.is_registered(self.module):
            return []
        return sorted(caller.name for caller in pm.get_hookcallers(self.module) or [])


@dataclass
class PluginSet:
    """The plugin manager and what was found: enabled plugins in registration order."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def enabled(self) -> list[PluginInfo]:
        return [info for info in self.plugins.values() if info.enabled]

    def owner_of(self, implementation: object) -> str:
        """The name of the plugin whose module an object was defined in."""
        module = getattr(implementation, "__module__", "") or ""
        for info in self.plugins.values():
            if info.module is not None and (
                module == info.module.__name__
                or module.startswith(info.module.__name__.rpartition(".")[0] + ".")
            ):
                return info.name
        return module

    def settings_of(self, name: str) -> Any:
        return self.plugins[name].settings


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("openitsm")
    pm.add_hookspecs(hookspecs)
    return pm


def installed_entry_points() -> dict[str, metadata.EntryPoint]:
    points: dict[str, metadata.EntryPoint] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name in points and points[point.name].value != point.value:
            raise ConfigurationError(
                f"two installed packages both provide the plugin '{point.name}': "
                f"{points[point.name].value} and {point.value}; uninstall one of them"
            )
        points[point.name] = point
    return points


def load_plugins(
    settings: Settings,
    extra: dict[str, ModuleType | object] | None = None,
) -> PluginSet:
    """Register the kernel plugins and the enabled installed ones, or explain what is wrong.

    `extra` maps names to plugin objects registered as if installed (tests, embedding).
    """
    pm = new_plugin_manager()
    pm.hook.add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
    found = PluginSet(pm)
    for module_name in KERNEL_PLUGINS:
        module = importlib.import_module(module_name)
        name = "kernel." + module_name.split(".")[2]
        found.plugins[name] = PluginInfo(
            name, module, _version(PROJECT_NAME), PROJECT_NAME, builtin=True, enabled=True
        )
        pm.register(module, name=name)

    points = installed_entry_points()
    candidates: dict[str, Any] = dict(points)
    candidates.update(extra or {})
    reserved = [name for name in candidates if name.startswith("kernel")]
    if reserved:
        raise ConfigurationError(f"plugin names starting with 'kernel' are reserved: {reserved}")
    wanted = list(candidates) if settings.modules is None else list(settings.modules)
    unknown = [name for name in wanted if name not in candidates]
    if unknown:
        available = ", ".join(sorted(candidates)) or "none"
        raise ConfigurationError(
            f"modules names {', '.join(repr(n) for n in unknown)}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not installed; installed modules: "
            f"{available}. Fix `modules` in openitsm.toml or OPENITSM_MODULES, "
            "or pip install the package that provides it"
        )

    for name in sorted(candidates):
        source = candidates[name]
        enabled = name in wanted
        if isinstance(source, metadata.EntryPoint):
            distribution = source.dist.name if source.dist else "?"
            version = source.dist.version if source.dist else "?"
            module = _load_entry_point(name, source) if enabled else None
        else:
            module = source
            distribution, version = "(registered in process)", "-"
        found.plugins[name] = PluginInfo(
            name,
            module,
            version,
            distribution,
            builtin=distribution == PROJECT_NAME,
            enabled=enabled,
            requires=tuple(getattr(module, "requires", ()) or ()),
        )

    _check_requirements(found)
    _bind_settings(found, settings)
    for info in found.enabled():
        if not info.name.startswith("kernel."):
            pm.register(info.module, name=info.name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigurationError(
            f"plugin '{found.owner_of(exc.plugin)}' implements a hook that does not exist: {exc}. "
            "Check the spelling against docs/plugin-hooks.md"
        ) from None
    return found


def _load_entry_point(name: str, point: metadata.EntryPoint) -> ModuleType:
    try:
        return point.load()
    except Exception as exc:
        raise ConfigurationError(
            f"plugin '{name}' ({point.value}) failed to import: {type(exc).__name__}: {exc}. "
            f"Reinstall it, or remove '{name}' from modules"
        ) from exc


def _check_requirements(found: PluginSet) -> None:
    for info in found.enabled():
        for needed in info.requires:
            if needed not in found.plugins:
                raise ConfigurationError(
                    f"plugin '{info.name}' needs the plugin '{needed}', which is not installed"
                )
            if not found.plugins[needed].enabled:
                raise ConfigurationError(
                    f"plugin '{info.name}' needs the plugin '{needed}'; add '{needed}' to modules "
                    f"in openitsm.toml (or OPENITSM_MODULES), or remove '{info.name}'"
                )


def _bind_settings(found: PluginSet, settings: Settings) -> None:
    declared: dict[str, list[str]] = {}
    for info in found.enabled():
        model = getattr(info.module, "Settings", None)
        if model is None:
            declared[info.name] = []
            continue
        if not (isinstance(model, type) and issubclass(model, PluginSettings)):
            raise ConfigurationError(
                f"plugin '{info.name}': its Settings must subclass openitsm.kernel.PluginSettings"
            )
        fields = list(model.model_fields)
        declared[info.name] = fields
        info.settings = validate_plugin_settings(
            info.name, model, plugin_values(settings, info.name, fields)
        )
    problems = unclaimed_plugin_settings(settings, declared)
    if problems:
        raise ConfigurationError(
            "settings name plugins or keys that do not exist:\n  "
            + "\n  ".join(problems)
            + "\nRemove them, fix the spelling, or enable the plugin in modules"
        )


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"
