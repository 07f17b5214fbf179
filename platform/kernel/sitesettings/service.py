"""Read and change what /admin/site and GraphQL show: each plugin's settings and the modules.

A value fixed by openitsm.toml or an `OPENITSM_*` variable cannot be changed here: the
operator's file wins, and a page that pretended otherwise would be lying. Values are checked
with the plugin's own schema before they are stored, and take effect in new processes.
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, _t
from openitsm.kernel.plugins import PluginInfo, installed_entry_points
from openitsm.kernel.settings import (
    PluginSettings,
    Settings,
    env_name,
    env_value,
    is_secret,
    plugin_values,
)
from openitsm.kernel.sitesettings.crypto import UnreadableSecret, decrypt, encrypt
from openitsm.kernel.sitesettings.models import MODULES, SiteSetting
from openitsm.kernel.sitesettings.store import NO_VALUES, SiteValues

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

ENV = "env"
FILE = "file"
UI = "ui"
DEFAULT = "default"


class SettingRejected(BadUserInput):
    """The plugin's schema refused a value; `errors` are pydantic's, for a page to word."""

    def __init__(self, key: str, errors: list[dict[str, Any]]) -> None:
        text = "; ".join(str(error.get("msg", "")) for error in errors) or "invalid value"
        super().__init__(_t("{key}: {reason}"), field=key, params={"key": key, "reason": text})
        self.errors = errors


@dataclass
class SettingView:
    """One setting as a new process would get it; `value` is None for secrets."""

    plugin: str
    key: str
    description: str
    kind: str  # text, bool, choice, list, json or secret
    choices: tuple[str, ...]
    source: str  # env, file, ui or default
    fixed_by: str  # the variable or file that fixes it
    value: Any
    is_set: bool
    version: int
    pending: bool
    unreadable: bool = False

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    @property
    def editable(self) -> bool:
        return self.source in (UI, DEFAULT)

    @property
    def text(self) -> str:
        """The value as the form's input shows it: JSON for lists and tables."""
        if self.secret or self.value is None:
            return ""
        if isinstance(self.value, (list, dict)):
            return json.dumps(self.value, ensure_ascii=False)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)


@dataclass
class PluginView:
    name: str
    settings: list[SettingView] = field(default_factory=list)


@dataclass
class ModuleView:
    name: str
    requires: tuple[str, ...]
    required_by: tuple[str, ...]
    running: bool
    chosen: bool


@dataclass
class ModulesView:
    """Installed modules, which a new process enables, and whether the UI may choose."""

    modules: list[ModuleView]
    source: str
    fixed_by: str
    version: int
    pending: bool


# --- where a value comes from -----------------------------------------------------------


def file_name(settings: Settings) -> str:
    return Path(settings.source).name if settings.source.endswith(".toml") else "openitsm.toml"


def plugin_source(settings: Settings, plugin: str, key: str) -> tuple[str, str]:
    """(env or file, the variable or file name) when the file or environment fixes it."""
    env = settings.plugins.get("__env__", {})
    if plugin.upper().replace("-", "_") + "_" + key.upper() in env:
        return ENV, env_name("plugins", plugin, key)
    if key in (settings.plugins.get(plugin) or {}):
        return FILE, file_name(settings)
    return "", ""


def modules_source(settings: Settings) -> tuple[str, str]:
    if settings.modules is None:
        return "", ""
    if env_name("modules") in os.environ:
        return ENV, env_name("modules")
    return FILE, file_name(settings)


def _site_values(kernel: Kernel) -> SiteValues:
    return getattr(kernel, "site_values", NO_VALUES)


# --- plugin settings --------------------------------------------------------------------


def schema_of(kernel: Kernel, plugin: str) -> type[PluginSettings]:
    """The Settings schema of an enabled plugin, or NotFound."""
    info = kernel.plugins.plugins.get(plugin)
    model = getattr(info.module, "Settings", None) if info and info.enabled else None
    if info is None or plugin.startswith("kernel.") or not isinstance(model, type):
        raise NotFound(
            _t("No enabled module '{plugin}' with settings; enable it and restart first."),
            params={"plugin": plugin},
        )
    return typing.cast(type[PluginSettings], model)


def _kind(info: FieldInfo) -> tuple[str, tuple[str, ...]]:
    if is_secret(info):
        return "secret", ()
    options = [info.annotation]
    if typing.get_origin(info.annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    first = options[0] if len(options) == 1 else None
    if first is bool:
        return "bool", ()
    if typing.get_origin(first) is typing.Literal:
        return "choice", tuple(str(a) for a in typing.get_args(first))
    origin = typing.get_origin(first)
    if origin in (list, tuple, set):
        return "list", ()
    if origin is dict or first is dict:
        return "json", ()
    return "text", ()


def _rows(session: Session, plugin: str | None = None) -> dict[tuple[str, str], SiteSetting]:
    statement = select(SiteSetting)
    if plugin is not None:
        statement = statement.where(SiteSetting.plugin == plugin)
    return {(row.plugin, row.key): row for row in session.scalars(statement)}


def _running_value(info: PluginInfo, key: str) -> Any:
    if info.settings is None:
        return None
    return info.settings.model_dump(mode="json").get(key)


def describe_plugins(kernel: Kernel, session: Session) -> list[PluginView]:
    """Every enabled plugin's settings, with their source and whether a restart is due."""
    rows = _rows(session)
    snapshot = _site_values(kernel)
    views = []
    for info in kernel.plugins.enabled():
        model = getattr(info.module, "Settings", None)
        if info.name.startswith("kernel.") or not (
            isinstance(model, type) and issubclass(model, BaseModel)
        ):
            continue
        view = PluginView(info.name)
        for key, spec in model.model_fields.items():
            if spec.exclude:
                continue
            view.settings.append(_describe(kernel, info, key, spec, rows, snapshot))
        views.append(view)
    return views


def _describe(
    kernel: Kernel,
    info: PluginInfo,
    key: str,
    spec: FieldInfo,
    rows: Mapping[tuple[str, str], SiteSetting],
    snapshot: SiteValues,
) -> SettingView:
    kind, choices = _kind(spec)
    source, fixed_by = plugin_source(kernel.settings, info.name, key)
    row = rows.get((info.name, key))
    running = _running_value(info, key)
    if source:
        value, is_set = running, running is not None
    elif row is not None:
        source, value, is_set = UI, (None if row.secret else row.value), True
    else:
        default = spec.get_default(call_default_factory=True)
        source, is_set = DEFAULT, default is not None
        value = default if kind != "secret" else None
        if isinstance(value, BaseModel | Path):
            value = str(value)
    version = row.version if row is not None else 0
    pending = source in (UI, DEFAULT) and snapshot.versions.get((info.name, key), 0) != version
    return SettingView(
        plugin=info.name,
        key=key,
        description=spec.description or "",
        kind=kind,
        choices=choices,
        source=source,
        fixed_by=fixed_by,
        value=None if kind == "secret" else value,
        is_set=is_set,
        version=version,
        pending=pending,
        unreadable=(info.name, key) in snapshot.unreadable,
    )


def value_from_text(kernel: Kernel, plugin: str, key: str, text: str) -> Any:
    """A form's text as the value the schema expects: lists as JSON or `a, b`, tables as
    JSON; empty text means "back to the default"."""
    spec = schema_of(kernel, plugin).model_fields.get(key)
    if spec is None or text.strip() == "":
        return None
    kind, _ = _kind(spec)
    if kind == "list":
        return env_value(text, spec)
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            raise SettingRejected(
                key, [{"type": "json_invalid", "msg": "not valid JSON", "ctx": {}}]
            ) from None
    return text if kind == "secret" else text.strip()


def set_value(
    session: Session, kernel: Kernel, actor: Actor, plugin: str, key: str, value: Any, version: int
) -> int:
    """Store (or with None, remove) the UI's value of one setting; return its new version."""
    model = schema_of(kernel, plugin)
    spec = model.model_fields.get(key)
    if spec is None or spec.exclude:
        raise BadUserInput(
            _t("The module '{plugin}' has no setting '{key}'."),
            field="key",
            params={"plugin": plugin, "key": key},
        )
    source, fixed_by = plugin_source(kernel.settings, plugin, key)
    if source:
        raise BadUserInput(
            _t("{plugin}.{key} is set by {where}, which wins over this page; change it there."),
            field=key,
            params={"plugin": plugin, "key": key, "where": fixed_by},
        )
    rows = _rows(session, plugin)
    row = rows.get((plugin, key))
    _check_version(row, version, f"{plugin}.{key}")
    if value is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return 0
    checked = _validate(kernel, model, plugin, key, value, rows)
    if row is None:
        row = SiteSetting(plugin=plugin, key=key)
        session.add(row)
    row.secret = is_secret(spec)
    if row.secret:
        row.value, row.encrypted = None, encrypt(kernel.settings.secret(), str(value))
    else:
        row.value, row.encrypted = checked, None
    row.updated_by = actor.user_id
    session.flush()
    return row.version


def _check_version(row: SiteSetting | None, version: int, what: str) -> None:
    current = row.version if row is not None else 0
    if current != version:
        raise Conflict(
            _t(
                "{what} was changed by someone else (now version {currentVersion}, you "
                "edited version {expected}). Reload the page and apply your change again."
            ),
            currentVersion=current,
            params={"what": what, "expected": version},
        )


def _validate(
    kernel: Kernel,
    model: type[PluginSettings],
    plugin: str,
    key: str,
    value: Any,
    rows: Mapping[tuple[str, str], SiteSetting],
) -> Any:
    """Check `value` with the plugin's schema, together with every other value it will meet
    in a new process; return it as stored (JSON, typed by the schema)."""
    if is_secret(model.model_fields[key]) and not isinstance(value, str):
        raise SettingRejected(key, [{"type": "string_type", "msg": "must be text", "ctx": {}}])
    values = {**_ui_values(kernel, rows), key: value}
    values.update(plugin_values(kernel.settings, plugin, model))
    try:
        checked = model.model_validate(values)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors(include_url=False)]
        mine = [e for e in errors if e["loc"] and e["loc"][0] == key] or errors
        raise SettingRejected(key, mine) from None
    return checked.model_dump(mode="json")[key]


def _ui_values(kernel: Kernel, rows: Mapping[tuple[str, str], SiteSetting]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for (_, key), row in rows.items():
        if not row.secret:
            values[key] = row.value
            continue
        try:
            values[key] = decrypt(kernel.settings.secret(), row.encrypted or "")
        except UnreadableSecret:
            continue
    return values


# --- modules ----------------------------------------------------------------------------


def _requires_of(info: PluginInfo) -> tuple[str, ...]:
    """What a module requires, reading a disabled one's declaration from its entry point."""
    if info.module is not None:
        return info.requires
    point = installed_entry_points().get(info.name)
    try:
        module = point.load() if point is not None else None
    except Exception:  # a module that cannot be imported cannot be enabled either
        return ()
    declared = getattr(module, "requires", None) or ()
    return (declared,) if isinstance(declared, str) else tuple(declared)


def _installed(kernel: Kernel) -> dict[str, tuple[str, ...]]:
    return {
        info.name: _requires_of(info)
        for info in sorted(kernel.plugins.plugins.values(), key=lambda i: i.name)
        if not info.name.startswith("kernel.")
    }


def next_modules(kernel: Kernel, session: Session) -> list[str]:
    """The modules a new process enables: the file's or environment's, else the UI's, else
    every installed one."""
    installed = _installed(kernel)
    if kernel.settings.modules is not None:
        return list(kernel.settings.modules)
    row = _rows(session, MODULES[0]).get(MODULES)
    if row is None:
        return list(installed)
    return [name for name in row.value or [] if name in installed]


def describe_modules(kernel: Kernel, session: Session) -> ModulesView:
    installed = _installed(kernel)
    chosen = set(next_modules(kernel, session))
    row = _rows(session, MODULES[0]).get(MODULES)
    version = row.version if row is not None else 0
    source, fixed_by = modules_source(kernel.settings)
    views = [
        ModuleView(
            name,
            requires,
            tuple(other for other, needs in installed.items() if name in needs),
            kernel.plugins.plugins[name].enabled,
            name in chosen,
        )
        for name, requires in installed.items()
    ]
    snapshot = _site_values(kernel).versions.get(MODULES, 0)
    pending = not source and snapshot != version
    return ModulesView(views, source or UI, fixed_by, version, pending)


def set_modules(
    session: Session, kernel: Kernel, actor: Actor, names: Iterable[str], version: int | None
) -> tuple[list[str], list[str]]:
    """Choose the enabled modules; return them and those added because a chosen one needs them.

    Kernel plugins are always on; a module still needed by a chosen one is not disabled.
    """
    source, fixed_by = modules_source(kernel.settings)
    if source:
        raise BadUserInput(
            _t(
                "The enabled modules are set by {where}, which wins over this page; "
                "change them there."
            ),
            field="modules",
            params={"where": fixed_by},
        )
    wanted = list(dict.fromkeys(names))
    kernel_names = [name for name in wanted if name.startswith("kernel")]
    if kernel_names:
        raise BadUserInput(
            _t("{names}: kernel plugins are always enabled and cannot be chosen."),
            field="modules",
            params={"names": ", ".join(kernel_names)},
        )
    installed = _installed(kernel)
    unknown = [name for name in wanted if name not in installed]
    if unknown:
        raise BadUserInput(
            _t("Not installed: {names}."), field="modules", params={"names": ", ".join(unknown)}
        )
    before = set(next_modules(kernel, session))
    added = _close_requirements(wanted, installed, before)
    _keep_migrated(kernel, session, before - {*wanted, *added})
    row = _rows(session, MODULES[0]).get(MODULES)
    if version is not None:
        _check_version(row, version, "modules")
    if row is None:
        row = SiteSetting(plugin=MODULES[0], key=MODULES[1], secret=False)
        session.add(row)
    chosen = sorted({*wanted, *added})
    row.value = chosen
    row.updated_by = actor.user_id
    session.flush()
    return chosen, added


def _close_requirements(
    wanted: list[str], installed: Mapping[str, tuple[str, ...]], before: set[str]
) -> list[str]:
    """Requirements of the chosen modules that were off, to be enabled with them; refuse to
    drop a module that a chosen one still needs."""
    added: list[str] = []
    chosen = set(wanted)
    stack = list(wanted)
    while stack:
        name = stack.pop()
        for needed in installed.get(name, ()):
            if needed in chosen:
                continue
            if needed in before:
                raise BadUserInput(
                    _t("{needed} cannot be disabled: {module} requires it. Disable {module} too."),
                    field="modules",
                    params={"needed": needed, "module": name},
                )
            if needed not in installed:
                raise BadUserInput(
                    _t("{module} requires {needed}, which is not installed."),
                    field="modules",
                    params={"needed": needed, "module": name},
                )
            chosen.add(needed)
            added.append(needed)
            stack.append(needed)
    return sorted(added)


def migrated_modules(kernel: Kernel, session: Session) -> set[str]:
    """Running modules whose migration branch the database has applied (it has their tables)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from openitsm.kernel.migrations import alembic_config

    owners = {branch.label: owner for owner, branch in kernel.contributions("register_migrations")}
    script = ScriptDirectory.from_config(alembic_config(kernel))
    applied = MigrationContext.configure(session.connection()).get_current_heads()
    labels: set[str] = set()
    for head in applied:
        for revision in script.iterate_revisions(head, "base"):
            labels.update(revision.branch_labels or ())
    return {owners[label] for label in labels if label in owners}


def _keep_migrated(kernel: Kernel, session: Session, dropped: set[str]) -> None:
    """Refuse to disable a module with tables: the migrations of the remaining modules would
    no longer find its revisions. Its branch is removed first, while it is still enabled."""
    blocked = sorted(dropped & migrated_modules(kernel, session))
    if blocked:
        raise BadUserInput(
            _t(
                "{module} has tables in the database; to disable it, first remove them with "
                "`openitsm migrate --downgrade {module}@base` (this deletes its data)."
            ),
            field="modules",
            params={"module": blocked[0]},
        )
