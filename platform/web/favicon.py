"""The site's icon: browsers ask for `/favicon.ico` on every site, whatever the page links."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

ICON = Path(__file__).parent / "static" / "favicon.svg"
DAY = 24 * 3600


async def favicon(request: Request) -> Response:
    """The SVG icon under the name browsers try first (they read the type, not the name)."""
    return FileResponse(
        ICON, media_type="image/svg+xml", headers={"cache-control": f"max-age={DAY}"}
    )


ROUTES = [Route("/favicon.ico", favicon, methods=["GET"])]
