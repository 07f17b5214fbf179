"""SQL statements of the pages built once, not on every request.

Building a SQLAlchemy statement and working out its cache key costs more than running a
small query on it, and a record page runs a dozen. A page's statements differ between
requests only in the values they compare with (an id, a time) and in the viewer's data
scope and field rules: the values become bound parameters, given when the statement runs,
and the part that comes from the viewer is built once per viewer (`per_viewer`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

Params = ParamSpec("Params")
Built = TypeVar("Built")

VIEWERS_KEPT = 256


def per_viewer(build: Callable[Params, Built]) -> Callable[Params, Built]:
    """`build(actor, ...)` kept per argument values, the viewer's `Actor` among them.

    Only for builders that read nothing but their arguments: an `Actor` is an immutable
    value holding all the viewer's grants (actions, data scopes, field rules), so a grant
    that changes makes another `Actor`, which gets a statement of its own, and a statement
    never outlives the rights it was built from. Values that change between requests (ids,
    times) are bound parameters, never arguments."""
    return functools.lru_cache(maxsize=VIEWERS_KEPT)(build)  # type: ignore[return-value]
