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
from openitsm.adapters.ad.directory import Directory
from openitsm.adapters.ad.models import DirectorySyncState
from openitsm.kernel import Kernel
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Department, Role, UserRole
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
    """(login, role code) for every kernel role held."""
    with kernel.session() as session:
        rows = session.execute(
            select(User.login, Role.code)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Role, Role.id == UserRole.role_id)
        )
        return {(login, code) for login, code in rows}


def departments(kernel: Kernel) -> dict[str, tuple[str | None, bool, int]]:
    """Department name -> (parent's name, active, version)."""
    with kernel.session() as session:
        rows = list(session.scalars(select(Department)))
        names = {row.id: row.name for row in rows}
        return {
            row.name: (names.get(row.parent_id) if row.parent_id else None, row.active, row.version)
            for row in rows
        }


def department_of(kernel: Kernel, login: str) -> str | None:
    with kernel.session() as session:
        user = session.scalars(select(User).where(User.login == login)).one()
        department = session.get(Department, user.department_id) if user.department_id else None
        return department.name if department else None


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
    tree = departments(kernel)
    assert {name: (parent, active) for name, (parent, active, _) in tree.items()} == {
        "people": (None, True),
        "disabled": ("people", True),
        "groups": (None, True),
    }
    assert department_of(kernel, "alice") == "people"
    second = sync_now(kernel)
    assert "0 departments changed" in second and "error" not in second, second
    assert users(kernel) == mirrored  # same versions: nothing was rewritten
    assert departments(kernel) == tree
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


def test_roles_granted_by_hand_stay_and_unknown_codes_are_reported(
    tmp_path: Path, database_url: str, slapd: Any
) -> None:
    table = {
        "server": slapd.url,
        "bind_dn": slapd.admin,
        "base_dn": slapd.base,
        "disabled_dn": f"ou=disabled,ou=people,{slapd.base}",
        "group_roles": {**ROLES, "unmapped": "no_such_role"},
        "timeout": 2,
    }
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"ad": ad_plugin},
        plugin_settings={"ad": table, "__env__": {"AD_BIND_PASSWORD": slapd.admin_password}},
    )
    try:
        first = sync_now(kernel)
        assert "1 errors" in first and "no_such_role" in first, first
        assert ("bob", "change_manager") in roles(kernel)
        with kernel.session() as session:
            bob = session.scalars(select(User).where(User.login == "bob")).one()
            for code in ("problem_manager", "change_manager"):  # one new, one held already
                role_id = organisation.role_by_code(session, code).id
                organisation.grant_role(session, bob.id, role_id)
        # The directory stops mapping change-board: only its own grant goes.
        kernel.plugins.settings_of("ad").group_roles.pop(
            "cn=change-board,ou=groups,dc=example,dc=test"
        )
        sync_now(kernel)
        assert {code for login, code in roles(kernel) if login == "bob"} == {"problem_manager"}
        assert {code for login, code in roles(kernel) if login == "alice"} == {"service_desk_agent"}
    finally:
        kernel.close()


def test_nested_groups_reach_members_of_member_groups_despite_a_cycle(
    kernel: Kernel, admin: Connection, slapd: Any
) -> None:
    outer = f"cn=all-agents-{uuid.uuid4().hex[:6]}"
    outer_dn = f"{outer},ou=groups,{slapd.base}"
    unmapped = f"cn=unmapped,ou=groups,{slapd.base}"
    assert admin.add(outer_dn, "groupOfNames", {"cn": outer[3:], "member": [unmapped]})
    # A cycle: unmapped contains the outer group, which contains unmapped.
    admin.modify(unmapped, {"member": [(MODIFY_REPLACE, [slapd.people_dn("bob"), outer_dn])]})
    try:
        kernel.plugins.settings_of("ad").group_roles[outer[3:]] = "problem_manager"
        sync_now(kernel)
        assert ("bob", "problem_manager") in roles(kernel)
        assert ("alice", "problem_manager") not in roles(kernel)
        # Sign-in asks for one user's groups: the same expansion, the same cycle guard.
        directory = Directory(ad_plugin.settings_of(kernel))
        connection = directory.service_connection()
        groups = directory.groups_of(connection, slapd.people_dn("bob"))
        connection.unbind()
        assert {g.split(",")[0].lower() for g in groups} >= {outer.lower(), "cn=unmapped"}
    finally:
        admin.modify(unmapped, {"member": [(MODIFY_REPLACE, [slapd.people_dn("bob")])]})
        admin.delete(outer_dn)


def test_renamed_moved_and_removed_ous_update_the_same_department(
    kernel: Kernel, admin: Connection, slapd: Any
) -> None:
    name = f"team-{uuid.uuid4().hex[:6]}"
    dn = f"ou={name},ou=people,{slapd.base}"
    assert admin.add(dn, "organizationalUnit", {"ou": name})
    try:
        sync_now(kernel)
        assert departments(kernel)[name][:2] == ("people", True)
        with kernel.session() as session:
            first_id = session.scalars(select(Department.id).where(Department.name == name)).one()
        assert admin.modify_dn(dn, f"ou={name}-renamed", new_superior=f"ou=groups,{slapd.base}")
        dn = f"ou={name}-renamed,ou=groups,{slapd.base}"
        sync_now(kernel)
        tree = departments(kernel)
        assert name not in tree and tree[f"{name}-renamed"][:2] == ("groups", True)
        with kernel.session() as session:
            department = session.get(Department, first_id)
            assert department is not None and department.name == f"{name}-renamed"
        assert admin.delete(dn)
        dn = ""
        sync_now(kernel)
        assert departments(kernel)[f"{name}-renamed"][:2] == ("groups", False)
    finally:
        if dn:
            admin.delete(dn)
