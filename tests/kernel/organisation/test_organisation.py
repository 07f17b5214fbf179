"""Departments, users, roles and service units through GraphQL and the service layer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel import Actor, Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import Role, RoleAction
from openitsm.kernel.testing import count_statements, error_codes, gql

CREATE_DEPARTMENT = """
mutation($code: String!, $parent: ID) {
  createDepartment(input: {code: $code, name: $code, parent: $parent}) {
    department { id version code parent { code } }
  }
}"""
MOVE = """
mutation($id: ID!, $version: Int!, $parent: ID) {
  moveDepartment(id: $id, version: $version, parent: $parent) { department { code version } }
}"""


def department(kernel: Kernel, actor: Actor, code: str, parent: str | None = None) -> Any:
    result = gql(kernel, CREATE_DEPARTMENT, {"code": code, "parent": parent}, actor)
    return result["data"]["createDepartment"]["department"]


def test_department_tree_moves_and_refuses_cycles(kernel: Kernel, admin: Actor) -> None:
    it = department(kernel, admin, "it")
    ops = department(kernel, admin, "ops", it["id"])
    net = department(kernel, admin, "net", ops["id"])
    assert net["parent"] == {"code": "ops"}

    cycle = gql(
        kernel, MOVE, {"id": it["id"], "version": it["version"], "parent": net["id"]}, admin
    )
    assert error_codes(cycle) == ["BAD_USER_INPUT"]
    itself = gql(
        kernel, MOVE, {"id": it["id"], "version": it["version"], "parent": it["id"]}, admin
    )
    assert error_codes(itself) == ["BAD_USER_INPUT"]
    unknown = gql(
        kernel,
        MOVE,
        {"id": it["id"], "version": it["version"], "parent": "RGVwYXJ0bWVudDo5OTk5"},
        admin,
    )
    assert error_codes(unknown) == ["NOT_FOUND"]

    moved = gql(kernel, MOVE, {"id": net["id"], "version": net["version"], "parent": None}, admin)
    assert moved["data"]["moveDepartment"]["department"] == {
        "code": "net",
        "version": net["version"] + 1,
    }
    stale = gql(
        kernel, MOVE, {"id": net["id"], "version": net["version"], "parent": it["id"]}, admin
    )
    assert error_codes(stale) == ["CONFLICT"]

    tree = gql(kernel, "{ departments { code children { code children { code } } } }", actor=admin)
    assert tree["data"]["departments"] == [
        {"code": "it", "children": [{"code": "ops", "children": []}]},
        {"code": "net", "children": []},
    ]


def test_role_with_unknown_action_changes_nothing(kernel: Kernel, admin: Actor) -> None:
    registry = action_registry(kernel)
    with kernel.session() as session:
        roles_before = session.scalar(select(func.count()).select_from(Role))
        with pytest.raises(BadUserInput, match=r"'org\.fly'"):
            service.create_role(
                session, registry, code="pilot", labels={"en": "Pilot"}, actions=["org.fly"]
            )
        assert session.scalar(select(func.count()).select_from(Role)) == roles_before
        role = service.role_by_code(session, "supervisor")
        version, actions = role.version, service.role_actions(session, role.id)
    update = """mutation($id: ID!, $v: Int!) {
      updateRole(id: $id, version: $v, input: {labels: {en: "Boss"}, actions: ["org.read", "no.such"]})
      { role { code } } }"""
    result = gql(kernel, update, {"id": _gid("Role", role.id), "v": version}, admin)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    with kernel.session() as session:
        role = service.role_by_code(session, "supervisor")
        assert (role.version, role.labels["en"]) == (version, "Supervisor")
        assert service.role_actions(session, role.id) == actions


def test_predefined_roles_in_both_languages_and_sync_is_idempotent(kernel: Kernel) -> None:
    with kernel.session() as session:
        roles = {role.code: role for role in session.scalars(select(Role))}
        assert len(roles) == 12
        assert all(
            role.builtin and role.labels["zh-CN"] and role.labels["en"] for role in roles.values()
        )
        assert roles["cab_member"].labels["en"] == "CAB member"
        rows = session.scalar(select(func.count()).select_from(RoleAction))
        roles["supervisor"].labels = {"zh-CN": "督办", "en": "Overseer"}
    with kernel.session() as session:
        assert service.sync_kernel_roles(session, kernel) == 0
        assert session.scalar(select(func.count()).select_from(RoleAction)) == rows
        assert service.role_by_code(session, "supervisor").labels["en"] == "Overseer"


def test_mutations_need_their_action(kernel: Kernel, member: Actor) -> None:
    assert error_codes(gql(kernel, CREATE_DEPARTMENT, {"code": "x"}, member)) == ["FORBIDDEN"]
    assert error_codes(gql(kernel, "{ roles { code } }", actor=member)) == ["FORBIDDEN"]
    own = gql(
        kernel,
        "query($id: ID!) { user(id: $id) { login } }",
        {"id": _user_gid(member.user_id)},
        member,
    )
    assert own == {"data": {"user": {"login": "member"}}}
    with kernel.session() as session:
        service.grant_role(session, member.user_id, service.role_by_code(session, "end_user").id)
        service.grant_role(
            session, member.user_id, service.role_by_code(session, "service_desk_agent").id
        )
        agent = actor_for_user(session, member.user_id)  # type: ignore[arg-type]
    assert "errors" not in gql(kernel, "{ roles { code } }", actor=agent)
    assert error_codes(gql(kernel, CREATE_DEPARTMENT, {"code": "x"}, agent)) == ["FORBIDDEN"]


def _user_gid(user_id: int | None) -> str:
    import base64

    return base64.b64encode(f"User:{user_id}".encode()).decode()


def test_update_user_links_department_manager_roles_and_units(kernel: Kernel, admin: Actor) -> None:
    desk = department(kernel, admin, "desk")
    with kernel.session() as session:
        boss = identity.create_user(session, "boss", "Boss")
        unit = service.create_service_unit(session, code="acme", name="Acme")
        service.add_contact(session, unit.id, name="Ann", phone="123")
        worker = service.create_user(session, login="worker", name="Worker", employee_id="E1")
        role_id = service.role_by_code(session, "service_desk_agent").id
        ids = (boss.id, unit.id, worker.id, worker.version)
    update = """mutation($id: ID!, $v: Int!, $input: UpdateUserInput!) {
      updateUser(id: $id, version: $v, input: $input) {
        user { version employeeId department { code } manager { login } roles { code }
               serviceUnits { name contacts { name } } } } }"""
    payload = {
        "department": desk["id"],
        "manager": _user_gid(ids[0]),
        "roles": [_gid("Role", role_id)],
        "serviceUnits": [_gid("ServiceUnit", ids[1])],
        "phone": "555",
    }
    result = gql(kernel, update, {"id": _user_gid(ids[2]), "v": ids[3], "input": payload}, admin)
    user = result["data"]["updateUser"]["user"]
    assert user["department"] == {"code": "desk"} and user["manager"] == {"login": "boss"}
    assert user["roles"] == [{"code": "service_desk_agent"}]
    assert user["serviceUnits"] == [{"name": "Acme", "contacts": [{"name": "Ann"}]}]
    stale = gql(
        kernel, update, {"id": _user_gid(ids[2]), "v": ids[3], "input": {"phone": "1"}}, admin
    )
    assert error_codes(stale) == ["CONFLICT"]
    loop = gql(
        kernel,
        update,
        {"id": _user_gid(ids[0]), "v": 1, "input": {"manager": _user_gid(ids[2])}},
        admin,
    )
    assert error_codes(loop) == ["BAD_USER_INPUT"]


def _gid(type_name: str, key: int) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


USERS = """{ users(first: 50) { edges { node { login department { name } roles { code }
  serviceUnits { name } manager { login } } } } }"""


def _add_users(kernel: Kernel, start: int, count: int) -> None:
    with kernel.session() as session:
        dept = service.create_department(session, code=f"d{start}", name=f"D{start}")
        unit = service.create_service_unit(session, code=f"u{start}", name=f"U{start}")
        role = service.role_by_code(session, "end_user")
        for n in range(start, start + count):
            service.create_user(
                session,
                login=f"user{n:03}",
                name=f"User {n}",
                department_id=dept.id,
                role_ids=[role.id],
                service_unit_ids=[unit.id],
            )


def test_user_list_statement_count_does_not_grow_with_rows(kernel: Kernel, admin: Actor) -> None:
    _add_users(kernel, 0, 3)
    with count_statements(kernel.engine) as few:
        small = gql(kernel, USERS, actor=admin)
    assert len(small["data"]["users"]["edges"]) == 4
    _add_users(kernel, 3, 40)
    with count_statements(kernel.engine) as many:
        large = gql(kernel, USERS, actor=admin)
    assert len(large["data"]["users"]["edges"]) == 44
    assert large["data"]["users"]["edges"][1]["node"]["roles"] == [{"code": "end_user"}]
    assert many.count == few.count
