"""Site settings in GraphQL: read with `site.read`, changed with `site.manage`; secrets are
never returned, only whether they are set."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access import require
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.sitesettings import service


@strawberry.type(name="SiteSetting")
class SiteSettingType:
    key: str
    value: JSON | None = strawberry.field(
        description="The value a new process gets; always null for a secret."
    )
    secret: bool
    is_set: bool = strawberry.field(description="Whether a value (or a secret) is set.")
    source: str = strawberry.field(
        description="env, file (both win and cannot be changed here), ui or default."
    )
    fixed_by: str | None = strawberry.field(description="The variable or file that fixes it.")
    version: int = strawberry.field(description="Pass it to setSiteSetting (0: none stored).")
    restart_needed: bool = strawberry.field(
        description="Changed since this process started; takes effect after a restart."
    )


@strawberry.type(name="SitePluginSettings")
class SitePluginSettingsType:
    plugin: str
    settings: list[SiteSettingType]


@strawberry.type(name="SiteModule")
class SiteModuleType:
    name: str
    requires: list[str]
    required_by: list[str]
    running: bool = strawberry.field(description="Enabled in this process.")
    enabled: bool = strawberry.field(description="Enabled in new processes.")


@strawberry.type(name="SiteSettings")
class SiteSettingsType:
    plugins: list[SitePluginSettingsType]
    modules: list[SiteModuleType]
    modules_source: str
    modules_version: int
    restart_needed: bool = strawberry.field(
        description="Something changed since this process started: run `openitsm migrate` "
        "when modules changed, then restart."
    )


def _setting(view: service.SettingView) -> SiteSettingType:
    return SiteSettingType(
        key=view.key,
        value=None if view.secret else view.value,
        secret=view.secret,
        is_set=view.is_set,
        source=view.source,
        fixed_by=view.fixed_by or None,
        version=view.version,
        restart_needed=view.pending,
    )


def site_settings(info: Info[Context, Any]) -> SiteSettingsType:
    context = info.context
    kernel, session = context.kernel, context.session
    plugins = service.describe_plugins(kernel, session)
    modules = service.describe_modules(kernel, session)
    return SiteSettingsType(
        plugins=[
            SitePluginSettingsType(plugin=p.name, settings=[_setting(v) for v in p.settings])
            for p in plugins
        ],
        modules=[
            SiteModuleType(
                name=m.name,
                requires=list(m.requires),
                required_by=list(m.required_by),
                running=m.running,
                enabled=m.chosen,
            )
            for m in modules.modules
        ],
        modules_source=modules.source,
        modules_version=modules.version,
        restart_needed=modules.pending or any(v.pending for p in plugins for v in p.settings),
    )


@strawberry.type
class SiteSettingsQuery:
    @strawberry.field(description="Each module's settings and the enabled modules (site.read).")
    def site_settings(self, info: Info[Context, Any]) -> SiteSettingsType:
        require(info.context.require_actor(), "site.read")
        return site_settings(info)


@strawberry.type
class SiteSettingsMutation:
    @strawberry.mutation(
        description="Set one setting of a module (null: back to the default); effective after "
        "a restart. `version` is the setting's, 0 when none is stored (site.manage)."
    )
    def set_site_setting(
        self, info: Info[Context, Any], plugin: str, key: str, value: JSON | None, version: int
    ) -> SiteSettingType:
        actor = require(info.context.require_actor(), "site.manage")
        context = info.context
        service.set_value(context.session, context.kernel, actor, plugin, key, value, version)
        views = service.describe_plugins(context.kernel, context.session)
        found = next(v for p in views if p.name == plugin for v in p.settings if v.key == key)
        return _setting(found)

    @strawberry.mutation(
        description="Choose the enabled modules (their requirements are added); run "
        "`openitsm migrate` and restart afterwards (site.manage)."
    )
    def set_enabled_modules(
        self, info: Info[Context, Any], names: list[str], version: int | None = None
    ) -> SiteSettingsType:
        actor = require(info.context.require_actor(), "site.manage")
        context = info.context
        service.set_modules(context.session, context.kernel, actor, names, version)
        return site_settings(info)
