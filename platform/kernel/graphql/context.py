"""Per-request GraphQL context: the session, the actor and the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.actors import Actor
from openitsm.kernel.db.session import LazyUnitOfWork
from openitsm.kernel.errors import Unauthenticated
from openitsm.kernel.graphql.connection import Connection, PageRequest, SortKey, paginate

if TYPE_CHECKING:
    from starlette.requests import Request

    from openitsm.kernel.app import Kernel

BatchLoad = Callable[[Sequence[Any]], Awaitable[Sequence[Any]]]


class RequestLoader(DataLoader[Any, Any]):
    """A DataLoader over a plain function of the keys, which can also load ahead: a list
    loads what a page of rows asks for (`prime_keys`) before any row resolves."""

    def __init__(self, load: Callable[[Sequence[Any]], Sequence[Any]]) -> None:
        async def batch(keys: Sequence[Any]) -> Sequence[Any]:
            return load(keys)

        super().__init__(load_fn=batch)
        self.load_now = load

    def prime_keys(self, keys: Iterable[Any]) -> None:
        """Load, in one call, those of `keys` not loaded yet."""
        missing = [key for key in dict.fromkeys(keys) if self.cache_map.get(key) is None]
        if missing:
            self.prime_many(dict(zip(missing, self.load_now(missing), strict=True)))


@dataclass
class Context:
    kernel: Kernel
    unit: LazyUnitOfWork
    actor: Actor
    request_id: str
    request: Request | None = None
    loaders: dict[Hashable, RequestLoader] = field(default_factory=dict)
    # The actor's hidden fields by resource, looked up once per request.
    hidden_fields: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def session(self) -> Session:
        """The request's session, opened (with its transaction) on first use."""
        return self.unit.session

    @property
    def locale(self) -> str:
        return self.actor.locale or self.kernel.settings.language

    def hidden(self, resource: str) -> frozenset[str]:
        """The fields of `resource` hidden from the actor (asked once per field and row)."""
        found = self.hidden_fields.get(resource)
        if found is None:
            found = self.hidden_fields[resource] = field_access(self.actor, resource).hidden
        return found

    def loader(
        self, key: Hashable, load: Callable[[Sequence[Any]], Sequence[Any]]
    ) -> RequestLoader:
        """One DataLoader per key and request: every `.load()` in a tick becomes one query.

        `load` is a plain function taking the keys and returning one value per key, in order.
        """
        existing = self.loaders.get(key)
        if existing is None:
            existing = self.loaders[key] = RequestLoader(load)
        return existing

    def paginate(
        self,
        statement: Select[Any],
        *,
        keys: Sequence[SortKey],
        tiebreak: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        wrap: Callable[[Any], Any] | None = None,
        resource: str | None = None,
    ) -> Connection[Any]:
        """One page of `statement` in this request's session, sized by the site's limits.

        With `resource`, sorting by a field hidden from the actor is refused: the order of
        the rows, and the values inside the cursors, would reveal it.
        """
        if resource is not None:
            field_access(self.actor, resource).check_read([k.name for k in keys], "sort by")
        limits = self.kernel.settings.graphql
        return paginate(
            self.session,
            statement,
            keys=keys,
            tiebreak=tiebreak,
            request=PageRequest(first=first, after=after, last=last, before=before),
            default_size=limits.default_page_size,
            max_size=limits.max_page_size,
            count_cap=limits.count_cap,
            **({"wrap": wrap} if wrap is not None else {}),
        )

    def require_actor(self) -> Actor:
        if not self.actor.authenticated:
            raise Unauthenticated()
        return self.actor
