"""Per-request GraphQL context: the session, the actor and the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
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


@dataclass
class Context:
    kernel: Kernel
    unit: LazyUnitOfWork
    actor: Actor
    request_id: str
    request: Request | None = None
    loaders: dict[Hashable, DataLoader[Any, Any]] = field(default_factory=dict)
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
    ) -> DataLoader[Any, Any]:
        """One DataLoader per key and request: every `.load()` in a tick becomes one query.

        `load` is a plain function taking the keys and returning one value per key, in order.
        """
        existing = self.loaders.get(key)
        if existing is None:

            async def batch(keys: Sequence[Any]) -> Sequence[Any]:
                return load(keys)

            existing = self.loaders[key] = DataLoader(load_fn=batch)
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
