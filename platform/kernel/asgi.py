"""ASGI entry point: `uvicorn --factory openitsm.kernel.asgi:create_app`."""

from __future__ import annotations

from starlette.applications import Starlette


def create_app() -> Starlette:
    from openitsm.kernel.app import Kernel

    return Kernel().asgi()
