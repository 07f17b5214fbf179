"""Find, enable, order and register plugins.

Built-in modules and adapters are installed under the same entry-point group as any
third party's (`openitsm.plugins`), so ours get no private door. The kernel's own
services are plugins too (`KERNEL_PLUGINS`), always enabled and registered first. A plugin
module may declare:

- `requires = ["cmdb"]` — plugins that must be enabled with it; they are registered
  before it, so their `add_hookspecs` and contributions come first;
- `class Settings(PluginSettings)` — the schema of its `[plugins.<name>]` table.

Enabled plugins are registered in dependency order, otherwise alphabetically, which makes
the order of every `register_*` result the same on every start.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from openitsm.kernel import hookspecs
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.settings import (
    PluginSettings,
    Settings,
    plugin_values,
    unclaimed_plugin_settings,
    validate_plugin_settings,
)
from openitsm.kernel.sitesettings.store import SiteValues, chosen_modules, merged_values

ENTRY_POINT_GROUP = "openitsm.plugins"
PROJECT_NAME = "openitsm"
IN_PROCESS = "(registered in process)"

KERNEL_PLUGINS: tuple[str, ...] = (
    "openitsm.kernel.core",
    "openitsm.kernel.audit.plugin",
    "openitsm.kernel.dictionaries.plugin",
    "openitsm.kernel.attachments.plugin",
    "openitsm.kernel.identity.plugin",
    "openitsm.kernel.organisation.plugin",
    "openitsm.kernel.customfields.plugin",
    "openitsm.kernel.calendar.plugin",
    "openitsm.kernel.sla.plugin",
    "openitsm.kernel.workflow.plugin",
    "openitsm.kernel.comments.plugin",
    "openitsm.kernel.links.plugin",
    "openitsm.kernel.notifications.plugin",
    "openitsm.kernel.graphql.plugin",
    "openitsm.kernel.sitesettings.plugin",
    "openitsm.kernel.queue.plugin",
    "openitsm.web.plugin",
)


@dataclass
class PluginInfo:
    name: str
    module: ModuleType | Any | None
    version: str
    distribution: str
    builtin: bool
    enabled: bool
    requires: tuple[str, ...] = ()
    settings: BaseModel | None = None

    def hooks(self, pm: pluggy.PluginManager) -> list[str]:
        """The hooks this plugin implements (empty when it is not enabled)."""
        if self.module is None or not pm.is_registered(self.module):
            return []
        return sorted(caller.name for caller in pm.get_hookcallers(self.module) or [])


@dataclass
class PluginSet:
    """The plugin manager and what was found: kernel plugins, then enabled ones in order."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def enabled(self) -> list[PluginInfo]:
        return [info for info in self.plugins.values() if info.enabled]

    def owner_of(self, implementation: object) -> str:
        """The name of the plugin an object belongs to: it, or the package it was defined in."""
        for info in self.plugins.values():
            if info.module is implementation:
                return info.name
        module = getattr(implementation, "__module__", "") or ""
        for info in self.plugins.values():
            package = _package_of(info.module)
            if package and (module == package or module.startswith(package + ".")):
                return info.name
        return module or repr(implementation)

    def settings_of(self, name: str) -> Any:
        return self.plugins[name].settings


def _package_of(plugin: object) -> str | None:
    """The package a plugin module lives in (itself when it is a package)."""
    if not isinstance(plugin, ModuleType):
        return None
    if hasattr(plugin, "__path__"):
        return plugin.__name__
    return plugin.__name__.rpartition(".")[0] or plugin.__name__


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
    site: SiteValues | None = None,
) -> PluginSet:
    """Register the kernel plugins and the enabled installed ones, or explain what is wrong.

    `extra` maps names to plugin objects registered as if installed (tests, embedding);
    `site` holds the modules and settings chosen on /admin/site, below the file's.
    """
    pm = new_plugin_manager()
    pm.hook.add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
    found = PluginSet(pm)
    for module_name in KERNEL_PLUGINS:
        module = importlib.import_module(module_name)
        # openitsm.kernel.audit.plugin -> kernel.audit; openitsm.web.plugin -> kernel.web
        part = next(p for p in module_name.split(".")[1:] if p not in ("kernel", "plugin"))
        name = f"kernel.{part}"
        found.plugins[name] = PluginInfo(
            name, module, _version(PROJECT_NAME), PROJECT_NAME, builtin=True, enabled=True
        )
        pm.register(module, name=name)

    candidates: dict[str, Any] = dict(installed_entry_points())
    candidates.update(extra or {})
    reserved = sorted(name for name in candidates if name.startswith("kernel"))
    if reserved:
        raise ConfigurationError(
            f"plugin names starting with 'kernel' are reserved for the kernel: {reserved}; "
            "rename the plugin's entry point"
        )
    modules = chosen_modules(settings, site, candidates)
    wanted = list(candidates) if modules is None else list(modules)
    _check_wanted(wanted, candidates)

    discovered = [_describe(name, candidates[name], name in wanted) for name in sorted(candidates)]
    by_name = {info.name: info for info in discovered}
    _check_requirements(by_name)
    for info in _dependency_order([info for info in discovered if info.enabled], by_name):
        found.plugins[info.name] = info
    for info in discovered:
        found.plugins.setdefault(info.name, info)

    _bind_settings(found, settings, site)
    for info in found.enabled():
        if not info.name.startswith("kernel."):
            _register(pm, info)
    _check_pending(found)
    return found


def _describe(name: str, source: Any, enabled: bool) -> PluginInfo:
    if isinstance(source, metadata.EntryPoint):
        distribution = source.dist.name if source.dist else "?"
        version = source.dist.version if source.dist else "?"
        module = _load_entry_point(name, source) if enabled else None
    else:
        module, distribution, version = source, IN_PROCESS, "-"
    return PluginInfo(
        name,
        module,
        version,
        distribution,
        builtin=distribution == PROJECT_NAME,
        enabled=enabled,
        requires=_requirements(name, module),
    )


def _requirements(name: str, module: Any) -> tuple[str, ...]:
    declared = getattr(module, "requires", None) or ()
    if isinstance(declared, str):
        declared = (declared,)
    if not all(isinstance(item, str) for item in declared):
        raise ConfigurationError(
            f"plugin '{name}': `requires` must be a list of plugin names, got {declared!r}"
        )
    return tuple(declared)


def _check_wanted(wanted: list[str], candidates: dict[str, Any]) -> None:
    unknown = [name for name in wanted if name not in candidates]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(candidates), n=1)
        if close:
            hints.append(f"'{name}': did you mean '{close[0]}'?")
    available = ", ".join(sorted(candidates)) or "none"
    raise ConfigurationError(
        f"modules names {', '.join(repr(n) for n in unknown)}, which "
        f"{'is' if len(unknown) == 1 else 'are'} not installed"
        + (f" ({' '.join(hints)})" if hints else "")
        + f"; installed modules: {available}. Fix `modules` in openitsm.toml or "
        "OPENITSM_MODULES, or pip install the package that provides it"
    )


def _load_entry_point(name: str, point: metadata.EntryPoint) -> Any:
    try:
        return point.load()
    except Exception as exc:
        raise ConfigurationError(
            f"plugin '{name}' ({point.value}) failed to import: {type(exc).__name__}: {exc}. "
            f"Reinstall it, or remove '{name}' from modules"
        ) from exc


def _check_requirements(plugins: dict[str, PluginInfo]) -> None:
    for info in plugins.values():
        if not info.enabled:
            continue
        for needed in info.requires:
            if needed not in plugins:
                raise ConfigurationError(
                    f"plugin '{info.name}' needs the plugin '{needed}', which is not installed; "
                    f"pip install the package that provides '{needed}', or remove '{info.name}' "
                    "from modules"
                )
            if not plugins[needed].enabled:
                raise ConfigurationError(
                    f"plugin '{info.name}' needs the plugin '{needed}'; add '{needed}' to modules "
                    f"in openitsm.toml (or OPENITSM_MODULES), or remove '{info.name}'"
                )


def _dependency_order(
    enabled: list[PluginInfo], plugins: dict[str, PluginInfo]
) -> list[PluginInfo]:
    """Requirements before the plugins that need them; otherwise alphabetical."""
    ordered: list[PluginInfo] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(info: PluginInfo) -> None:
        if info.name in done:
            return
        if info.name in visiting:
            cycle = [*visiting[visiting.index(info.name) :], info.name]
            raise ConfigurationError(
                f"plugins require each other in a circle: {' -> '.join(cycle)}; "
                "one of them must drop its `requires`"
            )
        visiting.append(info.name)
        for needed in sorted(info.requires):
            visit(plugins[needed])
        visiting.pop()
        done.add(info.name)
        ordered.append(info)

    for info in sorted(enabled, key=lambda item: item.name):
        visit(info)
    return ordered


def _bind_settings(found: PluginSet, settings: Settings, site: SiteValues | None) -> None:
    declared: dict[str, list[str]] = {}
    for info in found.enabled():
        if info.name.startswith("kernel."):
            continue
        model = getattr(info.module, "Settings", None)
        if model is None:
            declared[info.name] = []
            continue
        if not (isinstance(model, type) and issubclass(model, PluginSettings)):
            raise ConfigurationError(
                f"plugin '{info.name}': its Settings must subclass openitsm.kernel.PluginSettings"
            )
        declared[info.name] = list(model.model_fields)  # type: ignore[attr-defined]
        values = merged_values(plugin_values(settings, info.name, model), site, info.name, model)
        info.settings = validate_plugin_settings(info.name, model, values, settings.source)
    disabled = [info.name for info in found.plugins.values() if not info.enabled]
    problems = unclaimed_plugin_settings(settings, declared, disabled)
    if problems:
        raise ConfigurationError(
            "settings name plugins or keys that do not exist:\n  "
            + "\n  ".join(problems)
            + "\nRemove them, fix the spelling, or enable the plugin in modules"
        )


def _register(pm: pluggy.PluginManager, info: PluginInfo) -> None:
    try:
        pm.register(info.module, name=info.name)
    except pluggy.PluginValidationError as exc:
        raise ConfigurationError(
            f"plugin '{info.name}' has a hook implementation that does not fit its spec: {exc}. "
            "See docs/plugin-hooks.md for each hook's arguments"
        ) from None
    except ValueError as exc:
        raise ConfigurationError(f"plugin '{info.name}' cannot be registered: {exc}") from None


def _check_pending(found: PluginSet) -> None:
    """Turn a hook implementation that matches no spec into an error naming plugin and hook."""
    pm = found.pm
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        owner = pm.get_name(exc.plugin) or found.owner_of(exc.plugin)
        known = [
            name
            for name in dir(pm.hook)
            if not name.startswith("_") and getattr(pm.hook, name).has_spec()
        ]
        unknown = [
            caller.name
            for caller in pm.get_hookcallers(exc.plugin) or []
            if not caller.has_spec()
            and any(
                not impl.optionalhook
                for impl in caller.get_hookimpls()
                if impl.plugin is exc.plugin
            )
        ]
        details = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            details.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise ConfigurationError(
            f"plugin '{owner}' implements "
            + (", ".join(details) if details else "a hook")
            + ", which no enabled plugin declares. Check the spelling against "
            "docs/plugin-hooks.md; a hook another plugin declares needs that plugin enabled "
            "(add it to `requires`), or mark the implementation @hookimpl(optionalhook=True)"
        ) from None


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"
