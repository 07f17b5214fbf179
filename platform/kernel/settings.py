"""Settings: `openitsm.toml` overlaid with `OPENITSM_*` environment variables.

Every key of the file is also an environment variable: `[graphql] max_depth` is
`OPENITSM_GRAPHQL_MAX_DEPTH`, a top-level `debug` is `OPENITSM_DEBUG`, and a plugin's
`[plugins.hello] greeting` is `OPENITSM_PLUGINS_HELLO_GREETING`. Secrets (fields typed
`SecretStr`) are never read from the file, so they never end up in a file that is copied
around or committed: they come from the environment, or from the site page, which stores
them encrypted (`openitsm.kernel.sitesettings`) and fills only what the file and the
environment leave open.
"""

from __future__ import annotations

import difflib
import json
import os
import secrets
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo

from openitsm.kernel.errors import ConfigurationError

ENV_PREFIX = "OPENITSM_"
CONFIG_ENV = "OPENITSM_CONFIG"
DEFAULT_CONFIG_FILE = "openitsm.toml"


class Section(BaseModel):
    """A `[section]` of openitsm.toml; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class PluginSettings(Section):
    """Base class for the `Settings` a plugin declares for its `[plugins.<name>]` table."""


class DatabaseSettings(Section):
    url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data dir."
    )
    echo: bool = Field(default=False, description="Log every SQL statement.")
    pool_size: int = Field(default=10, ge=1, le=200)


class QueueSettings(Section):
    url: str | None = Field(
        default=None, description="redis://… for Redis; default: SQLite file in the data dir."
    )
    name: str = Field(
        default="openitsm",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Queue name; sites sharing one Redis need different names.",
    )
    workers: int = Field(default=2, ge=1, le=64, description="Worker threads per consumer.")
    immediate: bool = Field(
        default=False, description="Run tasks inline when enqueued (tests, tiny sites)."
    )


class GraphQLSettings(Section):
    graphiql: bool | None = Field(default=None, description="Default: on when debug is on.")
    max_depth: int = Field(default=12, ge=2, le=50)
    max_aliases: int = Field(default=30, ge=1, le=1000)
    max_tokens: int = Field(default=4000, ge=50, le=100_000)
    default_page_size: int = Field(default=50, ge=1, le=1000)
    max_page_size: int = Field(default=200, ge=1, le=1000)
    count_cap: int = Field(
        default=1000, ge=1, description="Totals above this show as '1000+' unless exact."
    )


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    base_url: str | None = Field(default=None, description="Public URL used in links.")
    assets_dir: Path | None = Field(
        default=None,
        description="Where npm installed the web assets (default: the checkout's node_modules).",
    )


class AttachmentSettings(Section):
    max_size_mb: float = Field(default=25, gt=0, le=2_047)
    path: Path | None = Field(default=None, description="Default: <data_dir>/attachments.")
    blocked_types: list[str] = Field(
        default_factory=lambda: [
            "application/x-msdownload",
            "application/x-executable",
            "application/x-sharedlib",
            "application/x-mach-binary",
            "application/x-elf",
            "application/vnd.microsoft.portable-executable",
        ],
        description="Sniffed content types that are refused.",
    )


class Settings(Section):
    data_dir: Path = Field(default=Path("var"), description="Where SQLite files and uploads live.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs sessions; default: generated once and kept in the data dir.",
    )
    modules: list[str] | None = Field(
        default=None, description="Enabled modules; default: every installed one."
    )
    debug: bool = False
    language: str = Field(default="zh-CN", description="Default locale: zh-CN or en.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="One table per plugin, checked by its schema."
    )
    source: str = Field(default="defaults", exclude=True, description="Where settings came from.")

    @field_validator("modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("zh-CN", "en"):
            raise ValueError("must be 'zh-CN' or 'en'")
        return value

    @property
    def database_url(self) -> str:
        if self.database.url:
            return normalise_database_url(self.database.url)
        return f"sqlite:///{(self.data_dir / 'openitsm.db').resolve()}"

    @property
    def queue_url(self) -> str:
        return self.queue.url or f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"

    @property
    def attachments_path(self) -> Path:
        return self.attachments.path or self.data_dir / "attachments"

    @property
    def graphiql_enabled(self) -> bool:
        return self.debug if self.graphql.graphiql is None else self.graphql.graphiql

    def secret(self) -> str:
        """The signing key; generated on first use and kept in the data dir when not set."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgresql://` spelling and use the psycopg 3 driver for it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def env_name(*parts: str) -> str:
    return ENV_PREFIX + "_".join(p.upper().replace("-", "_") for p in parts)


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file (if any) and the environment; raise ConfigurationError on mistakes."""
    environ = os.environ if environ is None else environ
    explicit = path or environ.get(CONFIG_ENV)
    config_path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{config_path}: not valid TOML: {exc}") from exc
        _refuse_secrets_in_file(data, config_path)
    elif explicit:
        raise ConfigurationError(
            f"config file {config_path} does not exist; fix {CONFIG_ENV} or the --config option"
        )
    _overlay_environment(data, environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(_explain(exc, config_path, Settings)) from None
    settings.source = str(config_path) if config_path.exists() else "environment and defaults"
    return settings


def validate_plugin_settings(
    plugin: str, model: type[BaseModel], values: Mapping[str, Any], source: str = ""
) -> BaseModel:
    """Check one `[plugins.<name>]` table against the schema its plugin declares."""
    config_path = Path(source if source.endswith(".toml") else DEFAULT_CONFIG_FILE)
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise ConfigurationError(
            _explain(exc, config_path, model, prefix=("plugins", plugin))
        ) from None


def is_secret(field: FieldInfo) -> bool:
    """Whether a field holds a secret (typed `SecretStr`, optionally `| None`)."""
    return field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)


def _is_list(annotation: Any) -> bool:
    options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    return any(typing.get_origin(option) in (list, tuple, set) for option in options)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def env_value(raw: str, field: FieldInfo | None) -> Any:
    """An environment string for a field: lists as JSON (`["a","b"]`) or `a,b`."""
    if field is None or not _is_list(field.annotation):
        return raw
    if raw.lstrip().startswith("["):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return [item.strip() for item in raw.split(",") if item.strip()]


def _refuse_secrets_in_file(
    data: Mapping[str, Any],
    config_path: Path,
    model: type[BaseModel] = Settings,
    loc: tuple[str, ...] = (),
) -> None:
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        if is_secret(field):
            _refuse_secret(config_path, (*loc, name))
        annotation = field.annotation
        if (
            isinstance(annotation, type)
            and issubclass(annotation, Section)
            and isinstance(data[name], Mapping)
        ):
            _refuse_secrets_in_file(data[name], config_path, annotation, (*loc, name))


def _refuse_secret(config_path: Path, loc: tuple[str, ...]) -> None:
    raise ConfigurationError(
        f"{config_path}: {_toml_location(list(loc))} is a secret and is read from the "
        f"environment only; remove it from the file and set {env_name(*loc)} instead"
    )


def _overlay_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    sections = {
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
    }
    known_top = {
        env_name(name): name
        for name in Settings.model_fields
        if name not in sections and name not in ("plugins", "source")
    }
    known_section = {
        env_name(section, key): (section, key)
        for section in sections
        for key in Settings.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
    }
    plugin_prefix = env_name("plugins") + "_"
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV or var.startswith("OPENITSM_TEST_"):
            continue
        if var in known_top:
            name = known_top[var]
            data[name] = env_value(value, Settings.model_fields[name])
        elif var in known_section:
            section, key = known_section[var]
            section_model = Settings.model_fields[section].annotation
            field = section_model.model_fields[key]  # type: ignore[union-attr]
            if not isinstance(data.get(section), dict):
                data[section] = {}
            data[section][key] = env_value(value, field)
        elif var.startswith(plugin_prefix):
            # Resolved against plugin names once plugins are loaded (names may hold '_').
            data.setdefault("_plugin_env", {})[var[len(plugin_prefix) :]] = value
        else:
            close = difflib.get_close_matches(var, [*known_top, *known_section], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigurationError(f"unknown setting in the environment: {var}{hint}")
    plugin_env = data.pop("_plugin_env", None)
    if plugin_env:
        data.setdefault("plugins", {})["__env__"] = plugin_env


def plugin_values(settings: Settings, plugin: str, model: type[BaseModel]) -> dict[str, Any]:
    """The `[plugins.<plugin>]` table with its `OPENITSM_PLUGINS_<PLUGIN>_<KEY>` overrides.

    A secret field given in the file is refused: secrets come from the environment only.
    """
    table = settings.plugins.get(plugin, {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[plugins.{plugin}] must be a table of settings, got {table!r}")
    values = dict(table)
    for name, field in model.model_fields.items():
        if name in values and is_secret(field):
            _refuse_secret(Path(settings.source), ("plugins", plugin, name))
    env = settings.plugins.get("__env__", {})
    stem = plugin.upper().replace("-", "_") + "_"
    for name, field in model.model_fields.items():
        key = stem + name.upper()
        if key in env:
            values[name] = env_value(env[key], field)
    return values


def unclaimed_plugin_settings(
    settings: Settings,
    plugins: Mapping[str, list[str]],
    disabled: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Plugin tables or variables that no plugin declares; each is a likely typo.

    `plugins` maps each enabled plugin to its setting names; the tables of installed but
    disabled plugins are left alone, so turning a module off needs no edit of its settings.
    """
    problems = []
    for name, table in settings.plugins.items():
        if name == "__env__" or name in disabled:
            continue
        if name not in plugins:
            close = difflib.get_close_matches(name, [*plugins, *disabled], n=1)
            hint = f"; did you mean [plugins.{close[0]}]?" if close else ""
            problems.append(f"[plugins.{name}] names no installed plugin{hint}")
            continue
        for key in table:
            if key not in plugins[name]:
                close = difflib.get_close_matches(key, plugins[name], n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.append(f"[plugins.{name}] has no setting '{key}'{hint}")
    variables = {
        name.upper().replace("-", "_") + "_" + field.upper(): env_name("plugins", name, field)
        for name, fields in plugins.items()
        for field in fields
    }
    stems = tuple(name.upper().replace("-", "_") + "_" for name in disabled)
    for var in settings.plugins.get("__env__", {}):
        if var in variables or var.startswith(stems):
            continue
        close = difflib.get_close_matches(env_name("plugins") + "_" + var, variables.values(), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"{env_name('plugins')}_{var} names no setting of an enabled plugin{hint}")
    return problems


def _explain(
    exc: ValidationError,
    config_path: Path,
    model: type[BaseModel],
    prefix: tuple[str, ...] = (),
) -> str:
    lines = [f"invalid settings ({config_path} or OPENITSM_* environment variables):"]
    for error in exc.errors():
        loc = [*prefix, *(str(part) for part in error["loc"])]
        where = _toml_location(loc)
        variable = env_name(*loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            owner = _model_at(model, list(error["loc"][:-1]))
            options = [name for name in owner.model_fields if name != "source"] if owner else []
            close = difflib.get_close_matches(str(error["loc"][-1]), options, n=1)
            message = "unknown key" + (f"; did you mean '{close[0]}'?" if close else "")
            if options:
                message += f" (known: {', '.join(options)})"
            lines.append(f"  {where}: {message}")
            continue
        owner = _model_at(model, list(error["loc"][:-1]))
        field = owner.model_fields.get(str(error["loc"][-1])) if owner else None
        if field is not None and is_secret(field):
            lines.append(f"  {where}: {message}; set the environment variable {variable}")
            continue
        given = error.get("input")
        shown = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
        lines.append(f"  {where}: {message}{shown}; set it in {config_path.name} or {variable}")
    return "\n".join(lines)


def _toml_location(loc: list[str]) -> str:
    if len(loc) == 1:
        return loc[0]
    if loc[0] == "plugins" and len(loc) >= 3:
        return f"[plugins.{loc[1]}] {'.'.join(loc[2:])}"
    return f"[{loc[0]}] {'.'.join(loc[1:])}"


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        current = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return current
