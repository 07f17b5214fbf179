"""Talking to the directory with ldap3: connections, user look-ups, groups and OUs.

Every network step has the configured timeout, and every failure to reach or trust the
server becomes `DirectoryUnavailable`, so callers can tell "down" from "wrong password".
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPInvalidCredentialsResult
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from openitsm.adapters.ad.settings import Settings

# AD's userAccountControl flag ACCOUNTDISABLE.
ACCOUNT_DISABLED = 0x2
# AD's LDAP_MATCHING_RULE_IN_CHAIN: membership through any depth of nested groups.
IN_CHAIN = "1.2.840.113556.1.4.1941"
# Nested groups deeper than this are not followed (a guard against absurd directories).
MAX_NESTING = 32
PAGE_SIZE = 500
USER_ATTRIBUTES = [
    "cn",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "telephoneNumber",
    "mobile",
    "employeeNumber",
    "employeeID",
    "entryUUID",
    "objectGUID",
    "userAccountControl",
    "pwdAccountLockedTime",
]


class DirectoryUnavailable(Exception):
    """The directory could not be asked: down, too slow, refused our certificate or account."""


@dataclass(frozen=True)
class DirectoryUser:
    dn: str
    login: str
    name: str
    email: str | None
    phone: str | None
    employee_id: str | None
    guid: str | None
    disabled: bool
    groups: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class DirectoryOu:
    dn: str
    parent_dn: str | None
    name: str
    guid: str | None = None


def _first(attributes: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = attributes.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bytes):
            value = value.hex()
        if value not in (None, ""):
            return str(value)
    return None


def dn_key(dn: str) -> str:
    """A DN compared the way directories do: case and spaces around separators ignored."""
    return ",".join(
        f"{attr.strip().lower()}={value.strip().lower()}" for attr, value, _ in parse_dn(dn)
    )


def cn_of(dn: str) -> str:
    """The value of the DN's first RDN, lower-cased (a group's CN)."""
    return dn_key(dn).split(",", 1)[0].partition("=")[2]


def role_for_group(group_dn: str, settings: Settings) -> str | None:
    """The role code `group_roles` maps this group to, by its DN or its CN."""
    by_key = {
        (dn_key(group) if "=" in group else group.strip().lower()): role
        for group, role in settings.group_roles.items()
    }
    return by_key.get(dn_key(group_dn)) or by_key.get(cn_of(group_dn))


def is_under(dn: str, ancestor: str) -> bool:
    child, parent = dn_key(dn), dn_key(ancestor)
    return child == parent or child.endswith("," + parent)


def parent_of(dn: str) -> str | None:
    parts = parse_dn(dn)
    if len(parts) < 2:
        return None
    return ",".join(f"{attr}={value}" for attr, value, _ in parts[1:])


class Directory:
    """One configured directory; opens a short-lived connection per operation."""

    def __init__(self, settings: Settings) -> None:
        if not settings.server:
            raise ValueError("no directory server is configured")
        self.settings = settings
        self.server = Server(
            settings.server,
            connect_timeout=settings.timeout,
            get_info=NONE,
            tls=self._tls(),
        )

    def _tls(self) -> Tls:
        settings = self.settings
        if not settings.verify_certificates:
            return Tls(validate=ssl.CERT_NONE)
        return Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
            valid_names=[settings.tls_server_name] if settings.tls_server_name else None,
        )

    def connect(self, dn: str | None, password: str | None) -> Connection:
        """A bound connection; `LDAPInvalidCredentialsResult` for a wrong password."""
        connection = Connection(
            self.server,
            user=dn,
            password=password,
            receive_timeout=self.settings.timeout,
            raise_exceptions=True,
            auto_referrals=False,
            read_only=True,
        )
        try:
            connection.open()
            if self.settings.start_tls:
                connection.start_tls()
            connection.bind()
        except LDAPInvalidCredentialsResult:
            connection.unbind()
            raise
        except (LDAPException, OSError, ssl.SSLError) as exc:
            connection.unbind()
            raise DirectoryUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return connection

    def service_connection(self) -> Connection:
        password = self.settings.bind_password
        try:
            return self.connect(
                self.settings.bind_dn, password.get_secret_value() if password else None
            )
        except LDAPInvalidCredentialsResult as exc:
            raise DirectoryUnavailable("the service account's bind was refused") from exc

    def check_password(self, dn: str, password: str) -> bool:
        """Bind as `dn`; an empty password would be an anonymous bind, so it never passes."""
        if not password:
            return False
        try:
            self.connect(dn, password).unbind()
        except LDAPInvalidCredentialsResult:
            return False
        return True

    # --- searches -------------------------------------------------------------------

    def _search(
        self, connection: Connection, search_filter: str, attributes: list[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        try:
            for entry in connection.extend.standard.paged_search(
                self.settings.base_dn,
                search_filter,
                search_scope=SUBTREE,
                attributes=attributes,
                paged_size=PAGE_SIZE,
                generator=True,
            ):
                if entry.get("type") == "searchResEntry":
                    yield entry["dn"], dict(entry["attributes"])
        except LDAPException as exc:
            raise DirectoryUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def login_filter(self, login: str) -> str:
        value = escape_filter_chars(login)
        matches = "".join(f"({name}={value})" for name in self.settings.login_attributes)
        return f"(&{self.settings.user_filter}(|{matches}))"

    def find_user(self, connection: Connection, login: str) -> DirectoryUser | None:
        """The one entry this login names; None when there is none or it is ambiguous."""
        found = list(self._search(connection, self.login_filter(login), self._user_attributes()))
        if len(found) != 1:
            return None
        dn, attributes = found[0]
        return self._user(dn, attributes, self.groups_of(connection, dn))

    def groups_of(self, connection: Connection, dn: str) -> frozenset[str]:
        """The groups `dn` belongs to, through nested groups unless `nested_groups = "off"`."""
        escaped = escape_filter_chars(dn)
        if self.settings.nested_groups == "in_chain":
            search = f"(&{self.settings.group_filter}(member:{IN_CHAIN}:={escaped}))"
            return frozenset(group_dn for group_dn, _ in self._search(connection, search, ["cn"]))
        found: dict[str, str] = {}
        frontier = [dn]
        for _ in range(MAX_NESTING):
            members = "".join(f"(member={escape_filter_chars(item)})" for item in frontier)
            search = f"(&{self.settings.group_filter}(|{members}))"
            frontier = []
            for group_dn, _ in self._search(connection, search, ["cn"]):
                if dn_key(group_dn) not in found:  # a group seen before is a cycle: stop there
                    found[dn_key(group_dn)] = group_dn
                    frontier.append(group_dn)
            if not frontier or self.settings.nested_groups == "off":
                break
        return frozenset(found.values())

    def users(self, connection: Connection) -> list[DirectoryUser]:
        """Every user entry, each with its groups (nested ones included, see `groups_of`)."""
        direct: dict[str, set[str]] = {}  # member key -> DNs of the groups listing it
        groups: dict[str, str] = {}  # group key -> DN
        for group_dn, attributes in self._search(
            connection, self.settings.group_filter, ["member"]
        ):
            groups[dn_key(group_dn)] = group_dn
            for member in attributes.get("member") or []:
                direct.setdefault(dn_key(member), set()).add(group_dn)
        in_chain: dict[str, set[str]] = {}
        if self.settings.nested_groups == "in_chain":
            # One server-side transitive search per mapped group; unmapped ones need no nesting.
            for group_dn in groups.values():
                if role_for_group(group_dn, self.settings) is None:
                    continue
                search = f"(&{self.settings.user_filter}(memberOf:{IN_CHAIN}:="
                search += f"{escape_filter_chars(group_dn)}))"
                for user_dn, _ in self._search(connection, search, ["cn"]):
                    in_chain.setdefault(dn_key(user_dn), set()).add(group_dn)
        users = []
        for dn, attributes in self._search(
            connection, self.settings.user_filter, self._user_attributes()
        ):
            key = dn_key(dn)
            if self.settings.nested_groups == "expand":
                member_of = _expand(key, direct)
            else:
                member_of = direct.get(key, set()) | in_chain.get(key, set())
            users.append(self._user(dn, attributes, frozenset(member_of)))
        return users

    def ous(self, connection: Connection) -> list[DirectoryOu]:
        return [
            DirectoryOu(
                dn,
                parent_of(dn),
                _first(attributes, "ou") or dn,
                _first(attributes, "objectGUID", "entryUUID"),
            )
            for dn, attributes in self._search(
                connection, "(objectClass=organizationalUnit)", ["ou", "objectGUID", "entryUUID"]
            )
        ]

    # --- entries --------------------------------------------------------------------

    def _user_attributes(self) -> list[str]:
        return sorted({*USER_ATTRIBUTES, *self.settings.login_attributes})

    def _user(self, dn: str, attributes: dict[str, Any], groups: frozenset[str]) -> DirectoryUser:
        login = _first(attributes, self.settings.login_attributes[0]) or ""
        given_and_family = " ".join(
            part for part in (_first(attributes, "givenName"), _first(attributes, "sn")) if part
        )
        return DirectoryUser(
            dn=dn,
            login=login,
            name=_first(attributes, "displayName", "cn") or given_and_family or login,
            email=_first(attributes, "mail"),
            phone=_first(attributes, "telephoneNumber", "mobile"),
            employee_id=_first(attributes, "employeeID", "employeeNumber"),
            guid=_first(attributes, "objectGUID", "entryUUID"),
            disabled=self._disabled(dn, attributes),
            groups=groups,
        )

    def _disabled(self, dn: str, attributes: dict[str, Any]) -> bool:
        control = _first(attributes, "userAccountControl")
        if control is not None and control.isdigit() and int(control) & ACCOUNT_DISABLED:
            return True
        if _first(attributes, "pwdAccountLockedTime") is not None:
            return True
        return bool(self.settings.disabled_dn) and is_under(dn, self.settings.disabled_dn or "")


def _expand(member_key: str, direct: dict[str, set[str]]) -> set[str]:
    """Groups holding `member_key` directly or through groups in groups, each visited once."""
    found: dict[str, str] = {}
    frontier = [member_key]
    while frontier:
        key = frontier.pop()
        for group_dn in direct.get(key, ()):
            group_key = dn_key(group_dn)
            if group_key not in found:  # the cycle guard: a group is expanded once
                found[group_key] = group_dn
                frontier.append(group_key)
    return set(found.values())


def split_login(login: str, settings: Settings) -> str | None:
    """The bare login from `user@realm`, `DOMAIN\\user` or `user`; None for another domain."""
    login = login.strip()
    if "\\" in login:
        domain, _, name = login.partition("\\")
        if not settings.netbios_domain or domain.lower() != settings.netbios_domain.lower():
            return None
        return name or None
    if "@" in login and settings.realm:
        name, _, realm = login.rpartition("@")
        if realm.lower() == settings.realm.lower():
            return name or None
    return login or None
