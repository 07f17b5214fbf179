"""The users list: filters, sorting, pages, columns, saved views, bulk actions, export."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.db import count_statements
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "users-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        desk = service.create_department(session, code="desk", name="Service desk")
        registry = action_registry(kernel)
        clerk = service.create_role(
            session, registry, code="clerk", labels={"en": "Clerk"}, actions=["org.read"]
        )
        boss = service.create_role(
            session,
            registry,
            code="boss",
            labels={"en": "Boss"},
            actions=["org.read", "org.manage", "list.export"],
        )
        set_field_rule(session, kernel.record_kinds, clerk.id, "user", "phone", "hidden")
        for login, role in (("clerk", clerk), ("boss", boss)):
            user = identity.create_user(session, login, login.title(), password=PASSWORD)
            service.grant_role(session, user.id, role.id)
        for n in range(60):
            user = identity.create_user(session, f"user{n:02d}", f"Person {59 - n:02d}")
            service.update_user(
                session,
                user.id,
                user.version,
                {"department_id": desk.id, "phone": f"+86 555 {n:04d}", "active": n % 2 == 0},
            )
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def logins(html: str) -> list[str]:
    return re.findall(r'<td><a href="/admin/users/\d+">(user\d\d|clerk|boss)</a></td>', html)


def test_a_list_pages_sorts_and_filters(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss")
    first = client.get("/admin/users")
    assert first.status_code == 200
    assert logins(first.text)[:3] == ["boss", "clerk", "user00"] and "62 rows" in first.text
    assert "Service desk" in first.text  # department names, loaded once
    after = re.search(r'href="/admin/users\?([^"]*after=[^"]+)"', first.text).group(1)  # type: ignore[union-attr]
    second = client.get("/admin/users?" + after.replace("&amp;", "&"))
    assert logins(second.text)[0] == "user48" and len(logins(second.text)) == 12
    by_name = client.get("/admin/users?sort=name&desc=1")
    assert logins(by_name.text)[:2] == ["user00", "user01"]  # "Person 59", "Person 58"
    active = client.get("/admin/users?active=0&q=user1")
    assert logins(active.text) == ["user11", "user13", "user15", "user17", "user19"]


def test_the_page_costs_no_statement_per_row(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss")
    client.get("/admin/users")
    with count_statements(kernel.engine) as fifty:
        client.get("/admin/users")
    with count_statements(kernel.engine) as five:
        client.get("/admin/users?q=user0")
    assert fifty.count == five.count


def test_hidden_fields_are_neither_shown_nor_searched_nor_chosen(kernel: Kernel) -> None:
    clerk, boss = signed_in(kernel, "clerk"), signed_in(kernel, "boss")
    assert "+86 555" in boss.get("/admin/users?cols=login,phone").text
    page = clerk.get("/admin/users").text
    assert 'value="phone"' not in page and "+86 555" not in page
    assert logins(clerk.get("/admin/users?q=555%200007").text) == []
    assert logins(boss.get("/admin/users?q=555%200007").text) == ["user07"]
    assert clerk.get("/admin/users?cols=login,phone").status_code == 403
    assert clerk.get("/admin/users?sort=nonsense").status_code == 400


def test_lists_need_their_action(kernel: Kernel) -> None:
    with kernel.session() as session:
        identity.create_user(session, "nobody", "Nobody", password=PASSWORD)
    client = signed_in(kernel, "nobody")
    assert client.get("/admin/users").status_code == 403
    assert 'href="/admin/users"' not in client.get("/").text
    assert 'href="/admin/users"' in signed_in(kernel, "boss").get("/").text


def test_views_are_saved_per_user_and_deleted(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss")
    csrf = str(client.cookies.get("openitsm_csrf"))
    saved = client.post(
        "/admin/users/views",
        data={"csrf": csrf, "name": "Inactive", "query": "active=0&sort=name&after=x"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get("/admin/users").text
    assert ">Inactive</a>" in page and "active=0" in page and "after=x" not in page
    assert ">Inactive<" not in signed_in(kernel, "clerk").get("/admin/users").text
    view_id = re.search(r"/admin/users/views/(\d+)/delete", page).group(1)  # type: ignore[union-attr]
    client.post(f"/admin/users/views/{view_id}/delete", data={"csrf": csrf})
    assert ">Inactive<" not in client.get("/admin/users").text


def test_bulk_actions_need_their_action_and_the_token(kernel: Kernel) -> None:
    boss, clerk = signed_in(kernel, "boss"), signed_in(kernel, "clerk")
    with kernel.session() as session:
        found = session.scalars(select(User.id).where(User.login.in_(["user00", "user02"])))
        ids = sorted(found)
    form = {"action": "deactivate", "ids": [str(i) for i in ids]}
    assert "Deactivate" not in clerk.get("/admin/users").text
    refused = clerk.post(
        "/admin/users/bulk", data={**form, "csrf": str(clerk.cookies.get("openitsm_csrf"))}
    )
    assert refused.status_code == 403
    assert boss.post("/admin/users/bulk", data={**form, "csrf": "forged"}).status_code == 400
    with kernel.session() as session:
        assert all(service.get_user(session, i).active for i in ids)
    done = boss.post(
        "/admin/users/bulk",
        data={**form, "csrf": str(boss.cookies.get("openitsm_csrf"))},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with kernel.session() as session:
        assert not any(service.get_user(session, i).active for i in ids)


def test_the_export_is_the_list_as_the_viewer_sees_it(kernel: Kernel) -> None:
    boss = signed_in(kernel, "boss")
    answer = boss.get("/admin/users/export.xlsx?active=1&cols=login,department_id,phone")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Login", "Department", "Phone"]
    assert len(rows) == 1 + 30 + 2 and ["user00", "Service desk", "+86 555 0000"] in rows
    assert signed_in(kernel, "clerk").get("/admin/users/export.xlsx").status_code == 403


def test_a_person_is_shown_with_their_history_as_the_viewer_may_see_it(kernel: Kernel) -> None:
    with kernel.session() as session:
        user_id = session.scalar(select(User.id).where(User.login == "user05"))
    boss, clerk = signed_in(kernel, "boss"), signed_in(kernel, "clerk")
    page = boss.get(f"/admin/users/{user_id}").text
    assert "<h1>Person 54</h1>" in page and "Service desk" in page and "+86 555 0005" in page
    assert "Department</span>:" in page and "<ins>Service desk</ins>" in page  # by name
    hidden = clerk.get(f"/admin/users/{user_id}").text
    assert "+86 555" not in hidden and "Phone" not in hidden
    assert "<ins>Service desk</ins>" in hidden
    assert boss.get("/admin/users/999999").status_code == 404
    listed = boss.get("/admin/users").text
    assert f'<a href="/admin/users/{user_id}">user05</a>' in listed
