"""The kernel: settings, plugins, storage, queue and API assembled into one object.

Web processes, queue workers and the command line all build the same `Kernel`, so a
plugin's models, tasks and hooks behave identically wherever its code runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from openitsm.kernel.actors import Actor
from openitsm.kernel.db import Base, UnitOfWork, create_engine_for
from openitsm.kernel.db.checkpoint import WalCheckpointer
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.schema import build_schema
from openitsm.kernel.graphql.view import graphql_endpoint, graphql_websocket
from openitsm.kernel.http import SecurityHeaders
from openitsm.kernel.plugins import PluginSet, load_plugins
from openitsm.kernel.references import RecordKinds
from openitsm.kernel.settings import Settings, load_settings
from openitsm.kernel.sitesettings.store import read_site_values

if TYPE_CHECKING:
    import huey as huey_module
    import strawberry

    from openitsm.kernel.dictionaries.spec import DictionarySpec
    from openitsm.kernel.migrations import MigrationBranch
    from openitsm.kernel.queue import Task
    from openitsm.kernel.workflow.engine import ServiceAction
    from openitsm.kernel.workflow.service import ProcessSpec

log = logging.getLogger("openitsm")
_current: Kernel | None = None


def current_kernel() -> Kernel:
    """The kernel of this process (queue tasks use it to open their own unit of work)."""
    if _current is None:
        raise RuntimeError("no kernel has been built in this process yet")
    return _current


class Kernel:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        extra_plugins: dict[str, ModuleType | object] | None = None,
    ) -> None:
        global _current
        started = time.perf_counter()
        self.settings = settings or load_settings()
        self.engine: Engine = create_engine_for(
            self.settings.database_url,
            echo=self.settings.database.echo,
            pool_size=self.settings.database.pool_size,
        )
        # Modules and settings chosen on /admin/site, read before plugins are loaded.
        try:
            self.site_values = read_site_values(self.engine, self.settings)
            self.plugins: PluginSet = load_plugins(self.settings, extra_plugins, self.site_values)
        except ConfigurationError:
            self.engine.dispose()
            raise
        self.hook = self.plugins.hook
        self.model_owners = self._collect_models()
        self.unit_of_work = UnitOfWork(self.engine, info={"kernel": self})
        self.record_kinds = RecordKinds.collect(self.plugins)
        _current = self
        self.startup_seconds = time.perf_counter() - started

    # --- collected from plugins ------------------------------------------------------

    def _collect_models(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        for impl in self.hook.register_models.get_hookimpls():
            owner = impl.plugin_name
            for model in impl.function() or ():
                if not (isinstance(model, type) and issubclass(model, Base)):
                    raise ConfigurationError(
                        f"plugin '{owner}' registers {model!r}, which does not derive from "
                        "openitsm.kernel.Base"
                    )
                owners[model.__tablename__] = owner  # type: ignore[attr-defined]
        return owners

    def contributions(self, hook_name: str) -> list[tuple[str, Any]]:
        """(plugin name, result) for every enabled plugin implementing a register_* hook.

        In plugin order (kernel first, then requirements before the plugins needing them):
        pluggy keeps implementations in registration order, though it calls them in reverse.
        """
        results = []
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            result = impl.function()
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def offers(self, hook_name: str) -> bool:
        """Whether some enabled plugin answers the hook `hook_name` (`archive_to_knowledge`):
        pages offer the button or panel that asks it only then."""
        return bool(getattr(self.hook, hook_name).get_hookimpls())

    @cached_property
    def schema(self) -> strawberry.Schema:
        parts: list[tuple[str, GraphQLContribution]] = self.contributions("register_graphql")
        return build_schema(parts, self.settings.graphql, self.record_kinds)

    @cached_property
    def migration_branches(self) -> list[MigrationBranch]:
        return [branch for _, branch in self.contributions("register_migrations")]

    @cached_property
    def dictionary_specs(self) -> list[DictionarySpec]:
        return [
            dataclasses.replace(spec, owner=spec.owner or owner)
            for owner, specs in self.contributions("register_dictionaries")
            for spec in specs
        ]

    @property
    def shipped_processes(self) -> list[tuple[str, ProcessSpec]]:
        """(plugin, spec) of every process the enabled plugins ship."""
        return [
            (owner, spec)
            for owner, specs in self.contributions("register_processes")
            for spec in specs
        ]

    @cached_property
    def service_actions(self) -> dict[str, ServiceAction]:
        """What process service tasks may run, by name; a name declared twice stops start-up."""
        found: dict[str, ServiceAction] = {}
        for owner, actions in self.contributions("register_service_actions"):
            for action in actions:
                if action.name in found:
                    raise ConfigurationError(
                        f"Plugin '{owner}' declares the service action '{action.name}', "
                        "which another plugin declares too."
                    )
                found[action.name] = action
        return found

    @cached_property
    def huey(self) -> huey_module.Huey:
        from openitsm.kernel.queue import make_huey

        return make_huey(self.settings)

    @cached_property
    def tasks(self) -> dict[str, Task]:
        """Every plugin's tasks, bound to this kernel's queue by their full names."""
        from openitsm.kernel.queue import bind_tasks

        return bind_tasks(self)

    # --- sessions --------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, actor: Actor | None = None) -> Iterator[Session]:
        """A unit of work outside any request (tasks, commands, tests)."""
        from openitsm.kernel.actors import SYSTEM

        with self.unit_of_work(actor or SYSTEM) as session:
            yield session

    # --- web -------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_websocket),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
        for _, contributed in self.contributions("register_routes"):
            routes.extend(contributed)
        return routes

    def plugin_settings(self, name: str) -> Any:
        """The validated `[plugins.<name>]` settings of an enabled plugin (None if it has none)."""
        return self.plugins.settings_of(name)

    def asgi(self, middleware: list[Middleware] | None = None) -> Starlette:
        _ = self.schema  # build it now: a schema error must stop start-up, not a request
        _ = self.tasks  # and bind tasks, so request handlers can enqueue them

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            self.hook.on_startup(kernel=self)
            # The schema, mappers and plugins live as long as the process: move them out of
            # the collector's sight, so full collections stop re-walking them under load.
            gc.collect()
            gc.freeze()
            checkpointer = WalCheckpointer(self.engine).start()
            try:
                yield
            finally:
                checkpointer.stop()
                self.hook.on_shutdown(kernel=self)

        app = Starlette(
            debug=False,
            routes=self.routes(),
            middleware=[Middleware(SecurityHeaders), *(middleware or [])],
            lifespan=lifespan,
        )
        app.state.kernel = self
        app.state.graphql_lock = asyncio.Lock()
        return app

    def readiness(self) -> dict[str, str]:
        """What /readyz and `openitsm check` report: each dependency 'ok' or the problem."""
        report: dict[str, str] = {}
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            report["database"] = "ok"
        except Exception as exc:
            report["database"] = f"unreachable: {type(exc).__name__}: {exc}"
        from openitsm.kernel.migrations import pending_migrations

        if report["database"] == "ok":
            pending = pending_migrations(self)
            report["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}"
        from openitsm.kernel.queue import queue_reachable

        report["queue"] = queue_reachable(self)
        return report

    def close(self) -> None:
        from openitsm.kernel.db.prepared import release_read_connection

        release_read_connection(self.engine)
        self.engine.dispose()


async def healthz(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    kernel: Kernel = request.app.state.kernel
    report = await run_in_threadpool(kernel.readiness)
    ready = all(value == "ok" for value in report.values())
    return JSONResponse(report, status_code=200 if ready else 503)
