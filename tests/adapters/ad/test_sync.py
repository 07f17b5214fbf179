"""The periodic directory sync against a real slapd (see conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ldap3 import MODIFY_REPLACE, Connection, Server
from sqlalchemy import select

from openitsm.adapters.ad import plugin as ad_plugin
from openitsm.adapters.ad.models import DirectoryOu, DirectorySyncState, DirectoryUserRole
from openitsm.kernel import Kernel
from openitsm.kernel.identity.models import User
from openitsm.kernel.testing import build_kernel

ROLES = {
    "helpdesk": "service_desk_agent",
    "cn=change-board,ou=groups,dc=example,dc=test": "change_manager",
}


@pytest.fixture
def kernel(tmp_path: Path, database_url: str, slapd: Any) -> Iterator[Kernel]:
    table = {
        "server": slapd.url,
        "bind_dn": slapd.admin,
        "base_dn": slapd.base,
        "disabled_dn": f"ou=disabled,ou=people,{slapd.base}",
        "group_roles": ROLES,
        "timeout": 2,
    }
    built = build_kernel(
        tmp_path,
        database_url,
        plugins={"ad": ad_plugin},
        plugin_settings={"ad": table, "__env__": {"AD_BIND_PASSWORD": slapd.admin_password}},
    )
    yield built
    built.close()


@pytest.fixture
def admin(slapd: Any) -> Iterator[Connection]:
    connection = Connection(Server(slapd.url), slapd.admin, slapd.admin_password, auto_bind=True)
    yield connection
    connection.unbind()


def sync_now(kernel: Kernel) -> str:
    with kernel.session() as session:
        return ad_plugin.run_sync(session, ad_plugin.settings_of(kernel))


def users(kernel: Kernel) -> dict[str, tuple[str, str | None, bool, int]]:
    with kernel.session() as session:
        return {
            user.login: (user.name, user.email, user.active, user.version)
            for user in session.scalars(select(User))
        }


def roles(kernel: Kernel) -> set[tuple[str, str]]:
    with kernel.session() as session:
        rows = session.execute(
            select(User.login, DirectoryUserRole.role_code).join(
                User, User.id == DirectoryUserRole.user_id
            )
        )
        return {(login, code) for login, code in rows}


def test_sync_mirrors_users_roles_and_ous_and_is_idempotent(kernel: Kernel) -> None:
    first = sync_now(kernel)
    assert first.startswith("2 users"), first
    mirrored = users(kernel)
    assert set(mirrored) == {"alice", "bob"}  # carol is disabled: never created
    assert mirrored["alice"][:3] == ("Alice Liddell", "alice@example.test", True)
    assert roles(kernel) == {
        ("alice", "service_desk_agent"),
        ("alice", "change_manager"),
        ("bob", "change_manager"),
    }
    with kernel.session() as session:
        ous = {(ou.name, ou.parent_dn) for ou in session.scalars(select(DirectoryOu))}
    assert ous == {
        ("people", "dc=example,dc=test"),
        ("disabled", "ou=people,dc=example,dc=test"),
        ("groups", "dc=example,dc=test"),
    }
    sync_now(kernel)
    assert users(kernel) == mirrored  # same versions: nothing was rewritten
    assert len(roles(kernel)) == 3


def test_changes_disabling_and_removal_reach_local_users(
    kernel: Kernel, admin: Connection, slapd: Any
) -> None:
    uid = f"dave-{uuid.uuid4().hex[:8]}"
    dn = slapd.people_dn(uid)
    assert admin.add(
        dn, "inetOrgPerson", {"uid": uid, "cn": "Dave", "sn": "D", "userPassword": "pw"}
    )
    group = f"cn=helpdesk,ou=groups,{slapd.base}"
    try:
        sync_now(kernel)
        assert users(kernel)[uid][:3] == ("Dave", None, True)
        admin.modify(dn, {"mail": [(MODIFY_REPLACE, [f"{uid}@example.test"])]})
        admin.modify(group, {"member": [(MODIFY_REPLACE, [slapd.people_dn("alice"), dn])]})
        sync_now(kernel)
        assert users(kernel)[uid][:3] == ("Dave", f"{uid}@example.test", True)
        assert (uid, "service_desk_agent") in roles(kernel)

        assert admin.modify_dn(dn, f"uid={uid}", new_superior=f"ou=disabled,ou=people,{slapd.base}")
        dn = slapd.people_dn(uid, "disabled,ou=people")
        sync_now(kernel)
        assert users(kernel)[uid][2] is False  # deactivated, still there

        assert admin.delete(dn)
        dn = ""
        sync_now(kernel)
        assert users(kernel)[uid][2] is False
        assert users(kernel)["alice"][2] is True
    finally:
        admin.modify(group, {"member": [(MODIFY_REPLACE, [slapd.people_dn("alice")])]})
        if dn:
            admin.delete(dn)


def test_periodic_task_runs_once_per_interval(kernel: Kernel) -> None:
    task = kernel.tasks["ad.sync_directory"]
    assert task.run(key="slot-1").startswith("2 users")
    assert task.run(key="slot-2") is None  # interval not over yet
    with kernel.session() as session:
        state = session.scalars(select(DirectorySyncState)).one()
        assert state.result.startswith("2 users") and state.finished_at is not None


def test_an_unreachable_directory_changes_nothing(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"ad": ad_plugin},
        plugin_settings={"ad": {"server": "ldap://127.0.0.1:1", "timeout": 1}},
    )
    try:
        outcome = sync_now(kernel)
        assert outcome.startswith("directory unavailable"), outcome
        assert users(kernel) == {}
    finally:
        kernel.close()
