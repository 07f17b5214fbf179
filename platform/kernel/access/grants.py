"""What an actor's roles grant, cached per process and dropped when grants change anywhere.

The session lookup reads `grants_version` in the same prepared statement as the session, so
a request whose user is cached costs no extra query; a change in any process bumps the
counter (`bump`) and every process reloads on its next request.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Connection, Engine, literal_column, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import merge as merge_field_rules
from openitsm.kernel.access.models import FieldRule, RoleScope
from openitsm.kernel.actors import Actor
from openitsm.kernel.organisation.models import (
    GrantsVersion,
    Role,
    RoleAction,
    UserRole,
    UserServiceUnit,
)

GRANTS_ROW = 1
# More cached users than this and the cache starts over; it refills one query per user.
MAX_CACHED_USERS = 20_000


@dataclass(frozen=True)
class Grants:
    actions: frozenset[str]
    service_unit_ids: frozenset[int]
    actions_by_role: dict[str, frozenset[str]] = field(default_factory=dict)
    # (resource, scope) pairs by role code: the data scope each role grants.
    scopes_by_role: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    # (resource, field, access) rules by role code.
    field_rules_by_role: dict[str, frozenset[tuple[str, str, str]]] = field(default_factory=dict)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.actions_by_role)

    @cached_property
    def scopes(self) -> frozenset[tuple[str, str]]:
        return frozenset().union(*self.scopes_by_role.values())

    @cached_property
    def field_rules(self) -> frozenset[tuple[str, str, str]]:
        return merge_field_rules(self.field_rules_by_role)

    def limited_to(self, roles: frozenset[str]) -> Grants:
        """What remains when only `roles` count (an API token scoped to some of them)."""
        kept = {code: self.actions_by_role[code] for code in roles if code in self.actions_by_role}
        actions = frozenset().union(*kept.values()) if kept else frozenset()
        scopes = {code: self.scopes_by_role[code] for code in kept if code in self.scopes_by_role}
        rules = {
            code: self.field_rules_by_role[code]
            for code in kept
            if code in self.field_rules_by_role
        }
        return Grants(frozenset(actions), self.service_unit_ids, kept, scopes, rules)


def version_column() -> object:
    """A scalar subquery for the counter, to add to a per-request prepared select."""
    return (
        select(GrantsVersion.value)
        .where(GrantsVersion.id == literal_column(str(GRANTS_ROW)))  # inline: no parameter
        .scalar_subquery()
        .label("grants_version")
    )


def bump(session: Session) -> None:
    """Mark grants as changed; call in the transaction that changes them."""
    result = session.execute(
        update(GrantsVersion)
        .where(GrantsVersion.id == GRANTS_ROW)
        .values(value=GrantsVersion.value + 1)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        session.add(GrantsVersion(id=GRANTS_ROW, value=1))
        session.flush()


def load_grants(connection: Connection | Session, user_id: int) -> Grants:
    """Four small indexed queries: roles with their actions, data scopes, field rules and
    service units."""
    by_role: dict[str, set[str]] = {}
    rows = connection.execute(
        select(Role.code, RoleAction.action)
        .join(UserRole, UserRole.role_id == Role.id)
        .outerjoin(RoleAction, RoleAction.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    for code, action in rows:
        actions_of_role = by_role.setdefault(code, set())
        if action is not None:
            actions_of_role.add(action)
    scopes_by_role: dict[str, set[tuple[str, str]]] = {}
    scope_rows = connection.execute(
        select(Role.code, RoleScope.resource, RoleScope.scope)
        .join(UserRole, UserRole.role_id == Role.id)
        .join(RoleScope, RoleScope.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    for code, resource, scope in scope_rows:
        scopes_by_role.setdefault(code, set()).add((resource, scope))
    rules_by_role: dict[str, set[tuple[str, str, str]]] = {}
    rule_rows = connection.execute(
        select(Role.code, FieldRule.resource, FieldRule.field, FieldRule.access)
        .join(UserRole, UserRole.role_id == Role.id)
        .join(FieldRule, FieldRule.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    for code, resource, field_name, access in rule_rows:
        rules_by_role.setdefault(code, set()).add((resource, field_name, access))
    units = connection.scalars(
        select(UserServiceUnit.service_unit_id).where(UserServiceUnit.user_id == user_id)
    )
    actions_by_role = {code: frozenset(actions) for code, actions in by_role.items()}
    every = frozenset().union(*actions_by_role.values()) if actions_by_role else frozenset()
    return Grants(
        frozenset(every),
        frozenset(units),
        actions_by_role,
        {code: frozenset(pairs) for code, pairs in scopes_by_role.items()},
        {code: frozenset(rules) for code, rules in rules_by_role.items()},
    )


class _GrantsCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: int | None = None
        self.by_user: dict[int, Grants] = {}

    def get(self, engine: Engine, user_id: int, version: int) -> Grants:
        with self.lock:
            if version != self.version:
                self.version, self.by_user = version, {}
            found = self.by_user.get(user_id)
        if found is not None:
            return found
        with engine.connect() as connection:
            found = load_grants(connection, user_id)
        with self.lock:
            # Loaded after `version` was read, so it is at least that fresh.
            if self.version == version:
                if len(self.by_user) >= MAX_CACHED_USERS:
                    self.by_user = {}
                self.by_user[user_id] = found
        return found


_CACHES: weakref.WeakKeyDictionary[Engine, _GrantsCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cached_grants(engine: Engine, user_id: int, version: int | None) -> Grants:
    """The user's grants as of `version` (read with the session), from this process's cache."""
    cache = _CACHES.get(engine)
    if cache is None:
        with _CACHES_LOCK:
            cache = _CACHES.setdefault(engine, _GrantsCache())
    return cache.get(engine, user_id, version or 0)


def actor_for_user(session: Session, user_id: int) -> Actor:
    """An Actor for a user, read in `session` (queue tasks, commands, tests)."""
    from openitsm.kernel.identity.models import User

    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user with id {user_id}")
    grants = load_grants(session, user_id)
    return Actor(
        user_id=user.id,
        label=user.name,
        superuser=user.is_superuser,
        locale=user.locale,
        time_zone=user.time_zone,
        actions=grants.actions,
        roles=grants.roles,
        department_id=user.department_id,
        service_unit_ids=grants.service_unit_ids,
        scopes=grants.scopes,
        field_rules=grants.field_rules,
    )
