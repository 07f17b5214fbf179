"""The roles administration pages over HTTP: the list, the action matrix, data scopes and
field rules, for an administrator and for someone who may only look."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access.fields import rules_of_roles
from openitsm.kernel.access.models import RoleScope
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import Role
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.testing.tickets import TicketPlugin
from openitsm.web import admin_roles
from openitsm.web import testing as web_testing
from openitsm.web.menus import MenuItem

PASSWORD = "roles-pw-123"


class RolesPagesPlugin:
    """Serves the roles pages and their menu entry, as the web plugin will."""

    @hookimpl
    def register_routes(self) -> list[Any]:
        return list(admin_roles.ROUTES)

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return list(admin_roles.MENUS)


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """Predefined roles; `admin` is an administrator, `viewer` a supervisor (org.read only),
    `nobody` holds no role. Tickets bring a resource with a data scope."""
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"tickets": TicketPlugin(), "roles_pages": RolesPagesPlugin()},
    )
    with kernel.session() as session:
        for login, role in (("admin", "administrator"), ("viewer", "supervisor"), ("nobody", None)):
            user = identity.create_user(session, login, login.title(), password=PASSWORD)
            if role is not None:
                service.grant_role(session, user.id, service.role_by_code(session, role).id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


csrf_of = web_testing.csrf_of


def role_id(kernel: Kernel, code: str) -> int:
    with kernel.session() as session:
        return service.role_by_code(session, code).id


def actions_of(kernel: Kernel, code: str) -> list[str]:
    with kernel.session() as session:
        return service.role_actions(session, service.role_by_code(session, code).id)


def main_of(html: str) -> str:
    found = re.search(r'<main id="main">(.*)</main>', html, re.S)
    assert found, html
    return found.group(1)


def version_in(html: str) -> int:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found, html
    return int(found.group(1))


def test_the_list_needs_org_read(kernel: Kernel) -> None:
    viewer = signed_in(kernel, "viewer")
    page = viewer.get("/admin/roles")
    assert page.status_code == 200
    supervisor = role_id(kernel, "supervisor")
    row = re.search(
        rf'<a href="/admin/roles/{supervisor}"><code>supervisor</code></a>.*?</tr>', page.text, re.S
    )
    assert row, page.text
    # Supervisor: label in English, predefined, one holder (viewer), its actions counted.
    assert "Supervisor" in row.group(0) and "Predefined" in row.group(0)
    granted = len(actions_of(kernel, "supervisor"))
    assert re.findall(r'<td class="number">(\d+)</td>', row.group(0)) == ["1", str(granted)]
    assert 'href="/admin/roles"' in page.text  # the menu entry
    assert 'action="/admin/roles"' not in page.text  # no "New role" form without role.manage
    chinese = viewer.get("/admin/roles", headers={"accept-language": "zh-CN"}).text
    assert "督办人" in chinese

    nobody = signed_in(kernel, "nobody")
    assert nobody.get("/admin/roles").status_code == 403
    assert nobody.get(f"/admin/roles/{supervisor}").status_code == 403
    assert 'href="/admin/roles"' not in nobody.get("/").text


def test_an_administrator_creates_a_role(kernel: Kernel) -> None:
    admin = signed_in(kernel, "admin")
    assert 'action="/admin/roles"' in admin.get("/admin/roles").text
    created = admin.post(
        "/admin/roles",
        data={
            "csrf": csrf_of(admin),
            "code": "night_shift",
            "zh-CN": "夜班",
            "en": "Night shift",
            "description": "Covers the desk at night.",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    with kernel.session() as session:
        role = service.role_by_code(session, "night_shift")
        assert role.labels == {"zh-CN": "夜班", "en": "Night shift"}
        assert role.description == "Covers the desk at night." and not role.builtin
    assert created.headers["location"] == f"/admin/roles/{role.id}?saved=1"
    assert "Night shift" in admin.get(created.headers["location"]).text

    refused = admin.post(
        "/admin/roles",
        data={"csrf": csrf_of(admin), "code": "bad code!", "en": "Bad"},
    )
    assert refused.status_code == 400
    assert 'value="bad code!"' in refused.text and 'role="alert"' in refused.text
    with kernel.session() as session:
        assert session.scalar(select(Role).where(Role.code == "bad code!")) is None

    forged = admin.post("/admin/roles", data={"csrf": "forged", "code": "other", "en": "Other"})
    assert forged.status_code == 400
    with kernel.session() as session:
        assert session.scalar(select(Role).where(Role.code == "other")) is None


def test_ticked_actions_are_granted_and_unknown_ones_refused(kernel: Kernel) -> None:
    admin = signed_in(kernel, "admin")
    agent = role_id(kernel, "service_desk_agent")
    page = admin.get(f"/admin/roles/{agent}")
    assert page.status_code == 200
    assert re.search(r'name="action" value="org.read" checked', page.text)
    assert re.search(r'name="action" value="audit.read" >', page.text)
    assert "<code>role.*</code>" in page.text  # grouped by module

    saved = admin.post(
        f"/admin/roles/{agent}/actions",
        data={
            "csrf": csrf_of(admin),
            "version": str(version_in(page.text)),
            "action": ["org.read", "audit.read"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert actions_of(kernel, "service_desk_agent") == ["audit.read", "org.read"]
    shown = admin.get(saved.headers["location"]).text
    assert re.search(r'name="action" value="audit.read" checked', shown)

    unknown = admin.post(
        f"/admin/roles/{agent}/actions",
        data={
            "csrf": csrf_of(admin),
            "version": str(version_in(shown)),
            "action": ["org.read", "incident.fly"],
        },
    )
    assert unknown.status_code == 400 and "incident.fly" in unknown.text
    assert actions_of(kernel, "service_desk_agent") == ["audit.read", "org.read"]


def test_a_stale_version_is_refused_and_the_ticks_are_kept(kernel: Kernel) -> None:
    admin = signed_in(kernel, "admin")
    agent = role_id(kernel, "service_desk_agent")
    opened = version_in(admin.get(f"/admin/roles/{agent}").text)
    # Someone else grants audit.read meanwhile.
    first = admin.post(
        f"/admin/roles/{agent}/actions",
        data={"csrf": csrf_of(admin), "version": str(opened), "action": ["org.read", "audit.read"]},
        follow_redirects=False,
    )
    assert first.status_code == 303
    stale = admin.post(
        f"/admin/roles/{agent}/actions",
        data={"csrf": csrf_of(admin), "version": str(opened), "action": ["dictionary.manage"]},
    )
    assert stale.status_code == 409
    assert "Someone else changed this role" in stale.text
    assert re.search(r'name="action" value="dictionary.manage" checked', stale.text)
    assert not re.search(r'name="action" value="audit.read" checked', stale.text)
    assert version_in(stale.text) > opened
    assert actions_of(kernel, "service_desk_agent") == ["audit.read", "org.read"]


def test_a_data_scope_is_set_and_revoked(kernel: Kernel) -> None:
    admin = signed_in(kernel, "admin")
    agent = role_id(kernel, "service_desk_agent")
    page = admin.get(f"/admin/roles/{agent}").text
    assert 'name="scope-ticket"' in page and 'name="scope-user"' not in page

    def scopes() -> dict[str, str]:
        with kernel.session() as session:
            rows = session.scalars(select(RoleScope).where(RoleScope.role_id == agent))
            return {row.resource: row.scope for row in rows}

    saved = admin.post(
        f"/admin/roles/{agent}/scopes",
        data={"csrf": csrf_of(admin), "scope-ticket": "department_subtree", "was-scope-ticket": ""},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert scopes() == {"ticket": "department_subtree"}
    shown = admin.get(f"/admin/roles/{agent}").text
    assert re.search(r'<option value="department_subtree" selected>', shown)

    wrong = admin.post(
        f"/admin/roles/{agent}/scopes",
        data={"csrf": csrf_of(admin), "scope-ticket": "everything", "was-scope-ticket": ""},
    )
    assert wrong.status_code == 400
    unscoped = admin.post(
        f"/admin/roles/{agent}/scopes",
        data={"csrf": csrf_of(admin), "scope-user": "all", "was-scope-user": ""},
    )
    assert unscoped.status_code == 400
    assert scopes() == {"ticket": "department_subtree"}

    admin.post(
        f"/admin/roles/{agent}/scopes",
        data={
            "csrf": csrf_of(admin),
            "scope-ticket": "",
            "was-scope-ticket": "department_subtree",
        },
    )
    assert scopes() == {}


def test_field_rules_are_set_and_cleared(kernel: Kernel) -> None:
    admin = signed_in(kernel, "admin")
    agent = role_id(kernel, "service_desk_agent")
    page = admin.get(f"/admin/roles/{agent}").text
    assert '<details id="fields-ticket" class="field-rules" >' in page  # collapsed
    assert f'action="/admin/roles/{agent}/fields/user"' in page

    def rules() -> dict[tuple[str, str], str]:
        with kernel.session() as session:
            found = rules_of_roles(session, [agent])[agent]
            return {(rule.resource, rule.field): rule.access for rule in found}

    saved = admin.post(
        f"/admin/roles/{agent}/fields/ticket",
        data={
            "csrf": csrf_of(admin),
            "field-internal_note": "hidden",
            "was-field-internal_note": "",
            "field-cost": "read_only",
            "was-field-cost": "",
            "field-title": "",  # unchanged: no rule is written
            "was-field-title": "",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("open=ticket#fields-ticket")
    assert rules() == {("ticket", "internal_note"): "hidden", ("ticket", "cost"): "read_only"}
    shown = admin.get(saved.headers["location"]).text
    assert '<details id="fields-ticket" class="field-rules" open>' in shown

    cleared = admin.post(
        f"/admin/roles/{agent}/fields/ticket",
        data={"csrf": csrf_of(admin), "field-cost": "", "was-field-cost": "read_only"},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    assert rules() == {("ticket", "internal_note"): "hidden"}

    unknown = admin.post(
        f"/admin/roles/{agent}/fields/ticket",
        data={
            "csrf": csrf_of(admin),
            "field-internal_note": "",
            "was-field-internal_note": "hidden",
            "field-no_such_field": "hidden",
        },
    )
    assert unknown.status_code == 400 and "no_such_field" in unknown.text
    assert rules() == {("ticket", "internal_note"): "hidden"}  # nothing of the form applied


def test_a_viewer_sees_the_role_read_only_and_cannot_post(kernel: Kernel) -> None:
    viewer = signed_in(kernel, "viewer")
    agent = role_id(kernel, "service_desk_agent")
    before = actions_of(kernel, "service_desk_agent")
    page = viewer.get(f"/admin/roles/{agent}")
    assert page.status_code == 200
    main = main_of(page.text)
    assert "Service desk agent" in main and "ticket" in main
    assert not re.search(r"\sname=", main)
    assert "<form" not in main
    csrf = csrf_of(viewer)
    attempts = [
        ("/admin/roles", {"code": "sneaky", "en": "Sneaky"}),
        (f"/admin/roles/{agent}/actions", {"version": "1", "action": ["role.manage"]}),
        (f"/admin/roles/{agent}/scopes", {"scope-ticket": "all", "was-scope-ticket": ""}),
        (f"/admin/roles/{agent}/fields/ticket", {"field-title": "hidden", "was-field-title": ""}),
    ]
    for path, data in attempts:
        refused = viewer.post(path, data={"csrf": csrf, **data})
        assert refused.status_code == 403, path
        assert "role.manage" in refused.text
    assert actions_of(kernel, "service_desk_agent") == before
    with kernel.session() as session:
        assert session.scalar(select(Role).where(Role.code == "sneaky")) is None
        assert session.scalar(select(RoleScope).where(RoleScope.role_id == agent)) is None
        assert rules_of_roles(session, [agent])[agent] == []


def test_the_pages_have_no_inline_script_or_style(kernel: Kernel) -> None:
    admin = signed_in(kernel, "admin")
    viewer = signed_in(kernel, "viewer")
    agent = role_id(kernel, "service_desk_agent")
    for client in (admin, viewer):
        for path in ("/admin/roles", f"/admin/roles/{agent}"):
            answer = client.get(path)
            assert answer.status_code == 200
            assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
            assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:", answer.text), path
    for asset in ("/static/roles.css", "/static/roles.js"):
        assert admin.get(asset).status_code == 200
