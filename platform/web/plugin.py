"""The web layer as a kernel plugin: its pages, static files, table and own widgets.

Its table is on the kernel's migration branch: the web pages are part of every site.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from openitsm.kernel.hookspecs import hookimpl
from openitsm.web import (
    admin_calendars,
    admin_custom_fields,
    admin_departments,
    admin_dictionaries,
    admin_duty,
    admin_processes,
    admin_roles,
    admin_service_units,
    admin_site,
    admin_sla,
    admin_users,
    comments,
    favicon,
    links,
    notifications,
    pickers,
    portal,
    processes,
    profile,
    search,
    tokens,
    workbench,
)
from openitsm.web.lists import SavedView
from openitsm.web.menus import MenuItem
from openitsm.web.widgets import Dashboard, Widget

STATIC = Path(__file__).parent / "static"
CHECKOUT_ASSETS = Path(__file__).resolve().parents[2] / "node_modules"
# The files pages may load from the npm packages (package.json), by the name pages use.
ASSETS = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "Sortable.min.js": "sortablejs/Sortable.min.js",
    # bpmn-js for the process designer and the instance diagrams; the font's stylesheet
    # finds its files at ../font/, so they keep their folders.
    "bpmn-modeler.production.min.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-navigated-viewer.production.min.js": (
        "bpmn-js/dist/bpmn-navigated-viewer.production.min.js"
    ),
    "diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    "bpmn-font/css/bpmn.css": "bpmn-js/dist/assets/bpmn-font/css/bpmn.css",
    **{
        f"bpmn-font/font/bpmn.{ext}": f"bpmn-js/dist/assets/bpmn-font/font/bpmn.{ext}"
        for ext in ("woff2", "woff", "ttf", "eot", "svg")
    },
}
YEAR = 365 * 24 * 3600


async def asset(request: Request) -> Response:
    """A whitelisted file from the installed npm packages, cached for a year."""
    name = request.path_params["name"]
    relative = ASSETS.get(name)
    kernel = request.app.state.kernel
    root = kernel.settings.server.assets_dir or CHECKOUT_ASSETS
    path = Path(root) / relative if relative else None
    if path is None or not path.is_file():
        return Response("Not found. Run scripts/setup (npm install) for the web assets.", 404)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"cache-control": f"max-age={YEAR}"})


@hookimpl
def register_models() -> list[type]:
    return [Dashboard, SavedView]


@hookimpl
def register_routes() -> list[Any]:
    return [
        Route("/", workbench.workbench, methods=["GET"]),
        Route("/workbench/layout", workbench.save_layout, methods=["POST"]),
        Route("/preferences", workbench.save_preferences, methods=["POST"]),
        Route("/profile", profile.show_profile, methods=["GET"]),
        Route("/profile", profile.save_profile, methods=["POST"]),
        Route("/assets/{name:path}", asset, methods=["GET"]),
        *admin_users.ROUTES,
        *admin_roles.ROUTES,
        *admin_departments.ROUTES,
        *admin_dictionaries.ROUTES,
        *admin_service_units.ROUTES,
        *admin_duty.ROUTES,
        *admin_custom_fields.ROUTES,
        *pickers.ROUTES,
        *admin_site.ROUTES,
        *tokens.ROUTES,
        *search.ROUTES,
        *favicon.ROUTES,
        *comments.ROUTES,
        *links.ROUTES,
        *processes.ROUTES,
        *admin_processes.ROUTES,
        *admin_calendars.ROUTES,
        *admin_sla.ROUTES,
        *notifications.ROUTES,
        *portal.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


@hookimpl
def register_menus() -> list[MenuItem]:
    return [
        MenuItem("workbench", {"zh-CN": "工作台", "en": "Workbench"}, "/", "workbench", order=0),
        *processes.MENUS,
        *admin_users.MENUS,
        *admin_departments.MENUS,
        *admin_dictionaries.MENUS,
        *admin_service_units.MENUS,
        *admin_duty.MENUS,
        *admin_custom_fields.MENUS,
        *admin_roles.MENUS,
        *admin_site.MENUS,
        *admin_processes.MENUS,
        *admin_calendars.MENUS,
        *admin_sla.MENUS,
        *notifications.MENUS,
        *portal.MENUS,
    ]


@hookimpl
def register_widgets() -> list[Widget]:
    return [*workbench.KERNEL_WIDGETS, *processes.WIDGETS, *admin_duty.WIDGETS]
