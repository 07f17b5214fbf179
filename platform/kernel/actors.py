"""Who is acting: a signed-in user, an API client, a deputy, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """The identity every service call and history entry is attributed to.

    `on_behalf_of` is set when a deputy acts for someone (delegation); history then reads
    "deputy on behalf of delegator".
    """

    user_id: int | None
    label: str
    on_behalf_of: int | None = None
    superuser: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    session_id: int | None = None
    locale: str | None = None
    time_zone: str | None = None
    actions: frozenset[str] = field(default_factory=frozenset)
    department_id: int | None = None
    service_unit_ids: frozenset[int] = field(default_factory=frozenset)
    # (resource, scope) pairs the roles grant; see `openitsm.kernel.access.scope`.
    scopes: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    # (resource, field, access) for fields the roles make read-only or hidden;
    # see `openitsm.kernel.access.fields`.
    field_rules: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None or self is SYSTEM

    def can(self, action: str) -> bool:
        """Whether one of the actor's roles grants `action` (superusers may do everything)."""
        return self.superuser or action in self.actions


ANONYMOUS = Actor(user_id=None, label="anonymous")
SYSTEM = Actor(user_id=None, label="system", superuser=True)
