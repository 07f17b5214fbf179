"""The site (`/admin/site`): enabled modules and every setting, secrets never shown."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel.access import require
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, explained, page_context

SECRET_WORDS = ("password", "secret", "token", "key")


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or any(word in name.lower() for word in SECRET_WORDS)


def settings_rows(model: BaseModel, prefix: str = "") -> list[tuple[str, str, str, bool]]:
    """(name, value, description, secret) for each setting, nested sections flattened.

    A secret shows only whether it is set: the page is for checking a site, and a secret
    shown once is a secret leaked.
    """
    rows: list[tuple[str, str, str, bool]] = []
    fields = type(model).model_fields
    for name, info in fields.items():
        if info.exclude:
            continue
        value = getattr(model, name)
        label = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows.extend(settings_rows(value, f"{label}."))
            continue
        if isinstance(value, dict) and name == "plugins":
            continue  # shown per plugin, through each plugin's own schema
        secret = _is_secret(name, value)
        shown = ("set" if value else "") if secret else ("" if value is None else str(value))
        rows.append((label, shown, info.description or "", secret))
    return rows


@explained
async def site_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    require(page.actor, "site.read")
    kernel = page.kernel
    plugins = []
    for info in sorted(kernel.plugins.plugins.values(), key=lambda i: (not i.builtin, i.name)):
        rows = settings_rows(info.settings) if info.settings is not None else []
        plugins.append((info, len(info.hooks(kernel.plugins.pm)), rows))
    return page.respond(
        "admin/site.html",
        plugins=plugins,
        settings=settings_rows(kernel.settings),
        database=kernel.engine.dialect.name,
        source=kernel.settings.source,
    )


ROUTES = [Route("/admin/site", site_page, methods=["GET"])]
MENUS = [
    MenuItem(
        "admin.site",
        {"zh-CN": "模块与设置", "en": "Modules and settings"},
        "/admin/site",
        "admin",
        "site.read",
        90,
    )
]
