"""The hello plugin's entry point: the hooks through which the kernel finds everything else.

Installed distributions name this module in their `openitsm.plugins` entry point; the
kernel registers it, reads `Settings` for the `[plugins.hello]` table and calls the hooks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from openitsm.kernel import (
    GraphQLContribution,
    Kernel,
    MigrationBranch,
    PluginSettings,
    RecordKind,
    Task,
    hookimpl,
)
from pydantic import Field
from sqlalchemy.orm import Session

from openitsm_hello import service
from openitsm_hello.models import Greeting
from openitsm_hello.schema import GreetingType, HelloMutation, HelloQuery
from openitsm_hello.tasks import greeting_of_the_day, send_greeting

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


class Settings(PluginSettings):
    """The `[plugins.hello]` table of openitsm.toml (or OPENITSM_PLUGINS_HELLO_* variables)."""

    greeting: str = Field(
        default="你好", min_length=1, max_length=500, description="Today's greeting message."
    )


@hookimpl
def register_models() -> Iterable[type]:
    return [Greeting]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("hello", MIGRATIONS)


@hookimpl
def register_graphql() -> GraphQLContribution:
    return GraphQLContribution(query=HelloQuery, mutation=HelloMutation, types=[GreetingType])


@hookimpl
def register_tasks() -> Iterable[Task]:
    return [send_greeting, greeting_of_the_day]


@hookimpl
def register_record_kinds() -> Iterable[RecordKind]:
    # Other modules store (kind, id) links to greetings and never import this package.
    return [
        RecordKind(
            "hello_greeting",
            Greeting,
            labels={"zh-CN": "问候", "en": "Greeting"},
            describe=lambda greeting: {"title": greeting.name},
        )
    ]


@hookimpl
def load_demo_data(session: Session, kernel: Kernel) -> None:
    if service.find_greeting(session, "welcome") is None:
        message = kernel.plugins.settings_of("hello").greeting
        service.create_greeting(session, "welcome", message)
