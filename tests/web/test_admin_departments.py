"""The departments page: the tree, drag to move, create and edit with the kernel form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.testing import build_kernel, count_statements
from openitsm.web import admin_departments, pickers
from openitsm.web import testing as web_testing
from openitsm.web.menus import MenuItem

PASSWORD = "departments-pw-123"


class DepartmentPages:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return [*admin_departments.ROUTES, *pickers.ROUTES]

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return list(admin_departments.MENUS)


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"department_pages": DepartmentPages()})
    actions = action_registry(kernel)
    with kernel.session() as session:
        boss = identity.create_user(session, "boss", "Boss", password=PASSWORD)
        reader = identity.create_user(session, "reader", "Reader", password=PASSWORD)
        identity.create_user(session, "nobody", "Nobody", password=PASSWORD)
        clerk = identity.create_user(session, "clerk", "Clerk", password=PASSWORD)
        identity.create_user(session, "ann", "Ann Lee", password=PASSWORD)
        manage = service.create_role(
            session,
            actions,
            code="org_admin",
            labels={"en": "Organisation admin"},
            actions=["org.read", "org.manage"],
        )
        read = service.create_role(
            session, actions, code="org_reader", labels={"en": "Reader"}, actions=["org.read"]
        )
        limited = service.create_role(
            session,
            actions,
            code="org_clerk",
            labels={"en": "Clerk"},
            actions=["org.read", "org.manage"],
        )
        set_field_rule(
            session, kernel.record_kinds, limited.id, "department", "head_user_id", "read_only"
        )
        service.grant_role(session, boss.id, manage.id)
        service.grant_role(session, reader.id, read.id)
        service.grant_role(session, clerk.id, limited.id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


csrf_of = web_testing.csrf_of


def user_id(kernel: Kernel, login: str) -> int:
    from sqlalchemy import select

    from openitsm.kernel.identity.models import User

    with kernel.session() as session:
        return int(session.scalars(select(User.id).where(User.login == login)).one())


def make_tree(kernel: Kernel) -> dict[str, int]:
    """hq > (it > (desk, ops), hr (inactive)), and a second root: branch."""
    ids: dict[str, int] = {}
    with kernel.session() as session:
        for code, parent in (
            ("hq", None),
            ("hr", "hq"),
            ("it", "hq"),
            ("ops", "it"),
            ("desk", "it"),
            ("branch", None),
        ):
            created = service.create_department(
                session, code=code, name=code.upper(), parent_id=ids.get(parent) if parent else None
            )
            ids[code] = created.id
        # Order by sort_order, not by creation: it before hr, desk before ops.
        for code, order in (("hr", 30), ("it", 20), ("ops", 20), ("desk", 10)):
            department = service.get_department(session, ids[code])
            service.update_department(
                session, department.id, department.version, {"sort_order": order}
            )
        hr = service.get_department(session, ids["hr"])
        service.update_department(session, hr.id, hr.version, {"active": False})
    return ids


def shown_order(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="department[^"]*" data-id="(\d+)"', html)]


def stored(kernel: Kernel, department_id: int) -> tuple[int | None, int, int]:
    with kernel.session() as session:
        department = service.get_department(session, department_id)
        return department.parent_id, department.sort_order, department.version


def children(kernel: Kernel, parent_id: int | None) -> list[int]:
    from sqlalchemy import select

    with kernel.session() as session:
        where = (
            Department.parent_id.is_(None)
            if parent_id is None
            else Department.parent_id == parent_id
        )
        return list(
            session.scalars(
                select(Department.id).where(where).order_by(Department.sort_order, Department.id)
            )
        )


def move(client: TestClient, department_id: int, parent: int | None, position: int, version: int):  # type: ignore[no-untyped-def]
    return client.post(
        f"/admin/departments/{department_id}/move",
        data={
            "parent_id": "" if parent is None else str(parent),
            "position": str(position),
            "version": str(version),
        },
        headers={"hx-request": "true", "x-csrf-token": csrf_of(client)},
    )


def test_the_tree_is_shown_in_order_nested_with_inactive_ones_marked(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    client = signed_in(kernel, "reader")
    page = client.get("/admin/departments")
    assert page.status_code == 200
    expected = [ids[c] for c in ("hq", "it", "desk", "ops", "hr", "branch")]
    assert shown_order(page.text) == expected
    # desk and ops are inside it's list, which is inside hq's item.
    it_item = page.text.index(f'data-id="{ids["it"]}"')
    it_list = page.text.index(f'data-parent="{ids["it"]}"')
    assert it_item < it_list < page.text.index(f'data-id="{ids["desk"]}"')
    assert f'<li class="department inactive" data-id="{ids["hr"]}"' in page.text
    assert f'<li class="department" data-id="{ids["it"]}"' in page.text
    assert 'href="/admin/departments"' in page.text  # the menu entry
    # A reader sees no handles and cannot move anything.
    assert "data-movable" not in page.text and "handle" not in page.text
    manager = signed_in(kernel, "boss").get("/admin/departments").text
    assert "data-movable" in manager and 'class="handle"' in manager


def test_the_page_needs_org_read(kernel: Kernel) -> None:
    client = signed_in(kernel, "nobody")
    answer = client.get("/admin/departments")
    assert answer.status_code == 403 and "org.read" in answer.text
    assert 'href="/admin/departments"' not in client.get("/").text


def test_a_move_saves_the_parent_and_the_place(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    client = signed_in(kernel, "boss")
    # branch dropped first under it, before desk and ops.
    answer = move(client, ids["branch"], ids["it"], 0, stored(kernel, ids["branch"])[2])
    assert answer.status_code == 200, answer.text
    assert "Moved." in answer.text and 'id="department-tree"' in answer.text
    assert children(kernel, ids["it"]) == [ids["branch"], ids["desk"], ids["ops"]]
    assert stored(kernel, ids["branch"])[0] == ids["it"]
    # ops dropped between branch and desk.
    answer = move(client, ids["ops"], ids["it"], 1, stored(kernel, ids["ops"])[2])
    assert answer.status_code == 200
    assert children(kernel, ids["it"]) == [ids["branch"], ids["ops"], ids["desk"]]
    expected = [ids[c] for c in ("hq", "it", "branch", "ops", "desk", "hr")]
    assert shown_order(answer.text) == expected
    # hr back to the top level, last.
    assert move(client, ids["hr"], None, 1, stored(kernel, ids["hr"])[2]).status_code == 200
    assert children(kernel, None) == [ids["hq"], ids["hr"]]


def test_a_move_between_two_departments_without_room_spaces_the_siblings(kernel: Kernel) -> None:
    with kernel.session() as session:
        first, second, third = (
            service.create_department(session, code=code, name=code, sort_order=order).id
            for code, order in (("a", 1), ("b", 2), ("c", 3))
        )
    client = signed_in(kernel, "boss")
    assert move(client, third, None, 1, stored(kernel, third)[2]).status_code == 200
    assert children(kernel, None) == [first, third, second]
    assert move(client, second, None, 0, stored(kernel, second)[2]).status_code == 200
    assert children(kernel, None) == [second, first, third]


def test_a_move_under_its_own_sub_department_is_refused(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    client = signed_in(kernel, "boss")
    before = {code: stored(kernel, i) for code, i in ids.items()}
    answer = move(client, ids["hq"], ids["desk"], 0, before["hq"][2])
    assert answer.status_code == 400
    assert "cannot be moved under itself or one of its sub-departments" in answer.text
    assert 'id="department-tree"' in answer.text  # redrawn as stored
    assert shown_order(answer.text)[0] == ids["hq"]
    assert {code: stored(kernel, i) for code, i in ids.items()} == before


def test_a_move_from_a_stale_tree_is_refused_and_changes_nothing(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    client = signed_in(kernel, "boss")
    old_version = stored(kernel, ids["ops"])[2]
    with kernel.session() as session:  # someone renames ops meanwhile
        service.update_department(session, ids["ops"], old_version, {"name": "Operations"})
    before = {code: stored(kernel, i) for code, i in ids.items()}
    answer = move(client, ids["ops"], None, 0, old_version)
    assert answer.status_code == 409
    assert "Someone else changed this department" in answer.text
    assert "Operations" in answer.text and shown_order(answer.text)[:4] == [
        ids[c] for c in ("hq", "it", "desk", "ops")
    ]
    assert {code: stored(kernel, i) for code, i in ids.items()} == before


def test_moving_needs_org_manage_and_the_token(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    before = stored(kernel, ids["ops"])
    reader = signed_in(kernel, "reader")
    refused = move(reader, ids["ops"], None, 0, before[2])
    assert refused.status_code == 403 and "org.manage" in refused.text
    boss = signed_in(kernel, "boss")
    forged = boss.post(
        f"/admin/departments/{ids['ops']}/move",
        data={"parent_id": "", "position": "0", "version": str(before[2])},
        headers={"x-csrf-token": "not-the-token"},
    )
    assert forged.status_code == 400
    assert stored(kernel, ids["ops"]) == before


def test_a_department_is_created_with_a_head_picked_by_id(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    ann = user_id(kernel, "ann")
    client = signed_in(kernel, "boss")
    form = client.get(f"/admin/departments/new?parent={ids['it']}").text
    # The parent is a tree select with the current parent chosen, indented by depth.
    assert f'<option value="{ids["it"]}" selected' in form
    assert re.search(rf'<option value="{ids["desk"]}"\s*>(\u00a0){{6}}DESK</option>', form)
    assert 'hx-get="/pick/users"' in form and 'name="head_user_id"' in form
    posted = {
        "csrf": csrf_of(client),
        "code": "sd",
        "name": "Service desk",
        "parent_id": str(ids["it"]),
        "head_user_id": str(ann),
        "admin_user_id": "",
        "q": "an",
    }
    created = client.post("/admin/departments/new", data=posted, follow_redirects=False)
    assert created.status_code == 303
    new_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    with kernel.session() as session:
        department = service.get_department(session, new_id)
        assert (department.code, department.name, department.parent_id) == (
            "sd",
            "Service desk",
            ids["it"],
        )
        assert (department.head_user_id, department.admin_user_id) == (ann, None)
    page = client.get(created.headers["location"]).text
    assert "Saved." in page
    assert f'name="head_user_id" value="{ann}"' in page
    assert re.search(r"data-picked-label[^>]*>Ann Lee</span>", page)


def test_an_unknown_or_inactive_user_is_refused_next_to_the_field(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss")
    with kernel.session() as session:
        gone = identity.create_user(session, "gone", "Gone")
        service.deactivate_user(session, gone.id)
    for head in ("99999", str(gone.id)):
        posted = {"csrf": csrf_of(client), "code": "x1", "name": "Typed name", "head_user_id": head}
        answer = client.post("/admin/departments/new", data=posted)
        assert answer.status_code == 400
        field = re.search(
            r'<div class="form-field invalid">\s*<label for="field-head_user_id">.*?</div>\s*</div>',
            answer.text,
            re.S,
        )
        assert field is not None and "Choose an active user from the list." in answer.text
        assert 'value="Typed name"' in answer.text
    assert children(kernel, None) == []


def test_a_department_is_edited_and_a_lost_update_explained(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    ann = user_id(kernel, "ann")
    client = signed_in(kernel, "boss")
    page = client.get(f"/admin/departments/{ids['ops']}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    opened = re.search(r'name="opened_at" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    with kernel.session() as session:  # someone else changes ops meanwhile
        service.update_department(session, ids["ops"], int(version), {"name": "Their name"})
    posted = {
        "csrf": csrf_of(client),
        "version": version,
        "opened_at": opened,
        "code": "ops",
        "name": "My name",
        "head_user_id": "",
        "admin_user_id": str(ann),
        "active": "on",
    }
    conflict = client.post(f"/admin/departments/{ids['ops']}", data=posted)
    assert conflict.status_code == 409 and "Someone else changed this department" in conflict.text
    assert 'value="My name"' in conflict.text
    assert f'name="admin_user_id" value="{ann}"' in conflict.text
    assert stored(kernel, ids["ops"])[2] == int(version) + 1
    fresh = re.search(r'name="version" value="(\d+)"', conflict.text).group(1)  # type: ignore[union-attr]
    saved = client.post(
        f"/admin/departments/{ids['ops']}",
        data={**posted, "version": fresh},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with kernel.session() as session:
        ops = service.get_department(session, ids["ops"])
        assert (ops.name, ops.admin_user_id, ops.active) == ("My name", ann, True)
    # A taken code is refused next to the field; an unticked box deactivates.
    taken = {**posted, "version": str(stored(kernel, ids["ops"])[2]), "code": "desk"}
    taken.pop("active")
    answer = client.post(f"/admin/departments/{ids['ops']}", data=taken)
    assert answer.status_code == 400 and "This is already taken." in answer.text
    fine = {**taken, "code": "ops2"}
    assert client.post(f"/admin/departments/{ids['ops']}", data=fine).status_code == 200
    with kernel.session() as session:
        ops = service.get_department(session, ids["ops"])
        assert (ops.code, ops.active) == ("ops2", False)


def test_field_rules_apply_to_the_department_form(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    ann = user_id(kernel, "ann")
    with kernel.session() as session:
        ops = service.get_department(session, ids["ops"])
        service.update_department(session, ops.id, ops.version, {"head_user_id": ann})
    client = signed_in(kernel, "clerk")
    page = client.get(f"/admin/departments/{ids['ops']}").text
    assert 'name="head_user_id"' not in page and 'name="admin_user_id"' in page
    assert re.search(r'<div id="field-head_user_id" class="read-only-value">Ann Lee</div>', page)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    base = {"csrf": csrf_of(client), "version": version, "code": "ops", "name": "OPS"}
    forged = client.post(f"/admin/departments/{ids['ops']}", data={**base, "head_user_id": ""})
    assert forged.status_code == 403
    assert client.post(f"/admin/departments/{ids['ops']}", data=base).status_code == 200
    with kernel.session() as session:
        assert service.get_department(session, ids["ops"]).head_user_id == ann
    reader = signed_in(kernel, "reader")
    shown = reader.get(f"/admin/departments/{ids['ops']}").text
    assert 'name="code"' not in shown and 'class="form-actions"' not in shown
    assert '<div id="field-code" class="read-only-value">ops</div>' in shown
    assert reader.post(f"/admin/departments/{ids['ops']}", data=base).status_code == 403


def test_the_tree_page_costs_the_same_queries_for_any_number_of_departments(
    kernel: Kernel,
) -> None:
    client = signed_in(kernel, "boss")
    client.get("/admin/departments")  # the session and grants are cached from here on
    counts = []
    for batch in range(2):
        with kernel.session() as session:
            parent = None
            for n in range(3 if batch == 0 else 20):
                department = service.create_department(
                    session, code=f"d{batch}-{n}", name=f"D {n}", parent_id=parent
                )
                parent = department.id if n % 3 == 0 else parent
        with count_statements(kernel.engine) as log:
            assert client.get("/admin/departments").status_code == 200
        counts.append(len(log.statements))
        assert any("FROM department" in sql for sql in log.statements)
    assert counts[0] == counts[1]


def test_the_pages_have_no_inline_script_or_style(kernel: Kernel) -> None:
    ids = make_tree(kernel)
    client = signed_in(kernel, "boss")
    for path in ("/admin/departments", "/admin/departments/new", f"/admin/departments/{ids['it']}"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:", answer.text), path
