"""Every hook a plugin may implement, grouped by the phase in which the kernel calls it.

Implementations may accept fewer arguments than a spec names, so specs can grow new
arguments without breaking plugins. `docs/plugin-hooks.md` has a heading per hook, and
`tests/kernel/test_hooks_meta.py` fails when a hook lacks a test or that heading.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from openitsm.kernel.actors import Actor
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.audit import RecordEventData
    from openitsm.kernel.db import Base
    from openitsm.kernel.dictionaries.spec import DictionarySpec
    from openitsm.kernel.graphql.contribution import GraphQLContribution
    from openitsm.kernel.migrations import MigrationBranch
    from openitsm.kernel.queue import Task
    from openitsm.kernel.references import RecordKind
    from sqlalchemy.orm import Session
    from starlette.requests import Request
    from starlette.routing import BaseRoute

hookspec = pluggy.HookspecMarker("openitsm")
hookimpl = pluggy.HookimplMarker("openitsm")


# --- Plugin set-up: while plugins are being registered ------------------------------


@hookspec(historic=True)
def add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Declare hooks of your own for other plugins to implement.

    Called for every plugin as it is registered. Call
    `plugin_manager.add_hookspecs(module_or_class)`; name the hooks after your plugin
    (`cmdb_ci_discovered`) so they never clash with the kernel's or another plugin's.
    """


# --- Start-up: collected once, in plugin order, while the kernel is built -----------


@hookspec
def register_models() -> Iterable[type[Base]]:
    """Return the SQLAlchemy model classes this plugin owns.

    They must derive from `openitsm.kernel.Base`, so they share one metadata and naming
    convention; the kernel uses the list to know which plugin's migrations own a table.
    """


@hookspec
def register_migrations() -> MigrationBranch | None:
    """Return this plugin's Alembic branch: its label and the folder of its revisions.

    `openitsm migrate` upgrades the branches of every enabled plugin; a revision names the
    branches it builds on in `depends_on` (the kernel's is `kernel`).
    """


@hookspec
def register_graphql() -> GraphQLContribution | None:
    """Return the Query, Mutation and Subscription fields and extra types to merge in.

    A field name already taken by the kernel or another plugin stops start-up with an
    error that names both owners.
    """


@hookspec
def register_routes() -> Iterable[BaseRoute]:
    """Return Starlette routes to mount (webhook receivers, downloads, pages)."""


@hookspec
def register_tasks() -> Iterable[Task]:
    """Return queue tasks and periodic tasks made with `openitsm.kernel.task` / `periodic_task`.

    The web processes need them to enqueue and the workers to run them, so both call this.
    """


@hookspec
def register_dictionaries() -> Iterable[DictionarySpec]:
    """Return dictionaries (tree-shaped enumerations) with their default items.

    `openitsm migrate` adds missing dictionaries and items and never overwrites what an
    administrator has edited.
    """


@hookspec
def register_record_kinds() -> Iterable[RecordKind]:
    """Return the kinds of record this plugin owns, so others can link to them as `(kind, id)`.

    Each kind names its model and how to describe a record (title, status, link). The
    kernel resolves references in batches; a module never imports another to link to it.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the `openitsm` command line (`cli.add_command(...)`)."""


@hookspec
def load_demo_data(session: Session, kernel: Kernel) -> None:
    """Add sample records for `openitsm demo`; must be idempotent (it runs again and again).

    The demo users (`admin`, `agent`, `engineer`, `manager`, `enduser`) exist by then.
    """


# --- Requests: called while serving one request -------------------------------------


@hookspec(firstresult=True)
def actor_from_request(request: Request, session: Session, kernel: Kernel) -> Actor | None:
    """Return who is making this request, or None to let the next plugin try.

    The first non-None answer wins; when every plugin returns None the request is
    anonymous.
    """


# --- Lifecycle: once per process ----------------------------------------------------


@hookspec
def on_startup(kernel: Kernel) -> None:
    """Called when a web or worker process has built the kernel and before it serves."""


@hookspec
def on_shutdown(kernel: Kernel) -> None:
    """Called once when a web or worker process stops; release what `on_startup` took."""


# --- Events: fan-out notifications after a transaction commits ----------------------


@hookspec
def on_record_changed(event: RecordEventData, kernel: Kernel) -> None:
    """Called after a transaction that created, changed or deleted an audited record commits.

    `event` carries the record kind and id, the actor (and on whose behalf) and the field
    changes. Slow work belongs in a queue task; exceptions are logged and do not undo the
    commit.
    """


def hook_names() -> list[str]:
    """The names of every hook spec above, for meta-tests and `openitsm plugins`."""
    return sorted(
        name
        for name, value in globals().items()
        if callable(value) and hasattr(value, "openitsm_spec")
    )


__all__: list[Any] = ["hook_names", "hookimpl", "hookspec"]
