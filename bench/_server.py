"""The benchmark server: the kernel's ASGI app plus two reference routes, under uvicorn.

Run as `python bench/_server.py PORT` with OPENITSM_CONFIG naming the site. It adds, through
an ordinary plugin, `/bench/plain` (a bare Starlette JSON route, the ceiling any endpoint of
this server can reach) and `/bench/strawberry` (strawberry's own ASGI view over a one-field
schema, with no caches, no database and no authentication: what strawberry gives out of
the box).
"""

from __future__ import annotations

import sys

import strawberry
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from strawberry.asgi import GraphQL

from openitsm.kernel import Kernel, hookimpl


async def plain(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@strawberry.type
class PlainViewer:
    login: str


@strawberry.type
class PlainQuery:
    @strawberry.field
    def viewer(self) -> PlainViewer:
        return PlainViewer(login="bench")


class BenchRoutes:
    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        plain_strawberry = GraphQL(strawberry.Schema(query=PlainQuery), graphql_ide=None)
        return [
            Route("/bench/plain", plain),
            Route("/bench/strawberry", plain_strawberry, methods=["POST"]),
        ]


def main() -> None:
    port = int(sys.argv[1])
    app = Kernel(extra_plugins={"bench": BenchRoutes()}).asgi()
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
