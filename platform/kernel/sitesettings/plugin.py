"""Modules and settings chosen in the web UI, registered like any plugin's part of the kernel."""

from __future__ import annotations

from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.sitesettings.models import SiteSetting


@hookimpl
def register_models() -> list[type]:
    return [SiteSetting]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.sitesettings.schema import (
        SiteSettingsMutation,
        SiteSettingsQuery,
    )

    return GraphQLContribution(query=SiteSettingsQuery, mutation=SiteSettingsMutation)
