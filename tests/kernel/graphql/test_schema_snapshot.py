"""The kernel's GraphQL schema is checked in, so every API change shows up in review.

Regenerate the snapshot after an intended change with:

    OPENITSM_UPDATE_SCHEMA=1 pytest tests/kernel/graphql/test_schema_snapshot.py
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import strawberry

from openitsm.kernel import Kernel
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.schema import print_schema
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.testing import build_kernel

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema.graphql"
UPDATE_VARIABLE = "OPENITSM_UPDATE_SCHEMA"
REGENERATE = f"{UPDATE_VARIABLE}=1 pytest tests/kernel/graphql/test_schema_snapshot.py"


@pytest.fixture
def kernel_only(tmp_path: Path) -> Iterator[Kernel]:
    """Only the kernel's plugins; building the schema needs no database."""
    kernel = build_kernel(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", migrate=False)
    yield kernel
    kernel.close()


def test_schema_matches_the_checked_in_snapshot(kernel_only: Kernel) -> None:
    current = print_schema(kernel_only)
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing; create it with: {REGENERATE}"
    stored = SNAPSHOT.read_text(encoding="utf-8")
    if stored != current:
        diff = "".join(
            difflib.unified_diff(
                stored.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "schema.graphql (checked in)",
                "schema (built now)",
            )
        )
        pytest.fail(
            f"The GraphQL schema changed. If the change is intended, regenerate the snapshot "
            f"with:\n    {REGENERATE}\nand commit schema.graphql.\n\n{diff}",
            pytrace=False,
        )


# --- merging root types ----------------------------------------------------------------------


def plugin_with_query(field_name: str) -> ModuleType:
    """A plugin contributing one Query field named `field_name`."""
    query = strawberry.type(
        type(f"Twin{field_name.title()}Query", (), {"__annotations__": {field_name: int}}),
    )
    module = ModuleType(f"openitsm_twin_{field_name}")

    @hookimpl
    def register_graphql() -> GraphQLContribution:
        return GraphQLContribution(query=query)

    module.register_graphql = register_graphql  # type: ignore[attr-defined]
    return module


def test_the_same_root_field_from_two_plugins_is_refused(tmp_path: Path) -> None:
    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        migrate=False,
        plugins={"alpha": plugin_with_query("twin"), "beta": plugin_with_query("twin")},
    )
    with pytest.raises(ConfigurationError) as caught:
        _ = kernel.schema
    message = str(caught.value)
    assert "'twin'" in message
    assert "'alpha'" in message and "'beta'" in message


def test_a_plugin_cannot_take_over_a_kernel_field(tmp_path: Path) -> None:
    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        migrate=False,
        plugins={"gamma": plugin_with_query("plugins")},
    )
    with pytest.raises(ConfigurationError) as caught:
        kernel.asgi()
    message = str(caught.value)
    assert "'plugins'" in message
    assert "'kernel.core'" in message and "'gamma'" in message


def test_distinct_fields_from_two_plugins_merge(tmp_path: Path) -> None:
    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        migrate=False,
        plugins={"alpha": plugin_with_query("left"), "beta": plugin_with_query("right")},
    )
    fields = {field.name for field in kernel.schema.get_type_by_name("Query").fields}
    assert {"left", "right", "plugins", "dictionaries"} <= fields
