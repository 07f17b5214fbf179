"""The hook the dummy plugin declares for other plugins (through `add_hookspecs`)."""

from __future__ import annotations

from typing import Any

from openitsm.kernel import hookspec


@hookspec
def dummy_thing_happened(thing: str, kernel: Any) -> None:
    """Called after a dummy note is added through GraphQL; `thing` is its text."""
