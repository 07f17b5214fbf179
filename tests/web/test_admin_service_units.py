"""The service units pages: the list, creation, one unit with its contacts, members and history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import ServiceUnit, ServiceUnitContact, UserServiceUnit
from openitsm.kernel.testing import build_kernel
from openitsm.web import admin_service_units
from openitsm.web import testing as web_testing
from openitsm.web.menus import MenuItem

PASSWORD = "service-units-pw-123"


class ServiceUnitPages:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return list(admin_service_units.ROUTES)

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return list(admin_service_units.MENUS)


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"unit_pages": ServiceUnitPages()})
    actions = action_registry(kernel)
    with kernel.session() as session:
        boss = identity.create_user(session, "boss", "Boss", password=PASSWORD)
        reader = identity.create_user(session, "reader", "Reader", password=PASSWORD)
        identity.create_user(session, "nobody", "Nobody", password=PASSWORD)
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
        set_field_rule(
            session, kernel.record_kinds, read.id, "service_unit_contact", "phone", "hidden"
        )
        service.grant_role(session, boss.id, manage.id)
        service.grant_role(session, reader.id, read.id)
        acme = service.create_service_unit(session, code="acme", name="Acme Trading")
        service.create_service_unit(session, code="globex", name="Globex")
        old = service.create_service_unit(session, code="initech", name="Initech")
        service.update_service_unit(session, old.id, old.version, {"active": False})
        service.add_contact(
            session, acme.id, name="Wang Fang", phone="+86 555 0101", email="wf@acme.example"
        )
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


csrf_of = web_testing.csrf_of


def unit(kernel: Kernel, code: str) -> ServiceUnit:
    with kernel.session() as session:
        found = session.scalar(select(ServiceUnit).where(ServiceUnit.code == code))
        assert found is not None, code
        session.expunge(found)
        return found


def codes(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/service-units/\d+">([a-z]+)</a>', html)


def members(kernel: Kernel, code: str) -> list[int]:
    with kernel.session() as session:
        return sorted(
            session.scalars(
                select(UserServiceUnit.user_id).where(
                    UserServiceUnit.service_unit_id == unit(kernel, code).id
                )
            )
        )


def user_id(kernel: Kernel, login: str) -> int:
    with kernel.session() as session:
        return int(session.scalar(select(User.id).where(User.login == login)))


def test_the_list_filters_searches_and_links(kernel: Kernel) -> None:
    reader = signed_in(kernel, "reader")
    page = reader.get("/admin/service-units")
    assert page.status_code == 200
    assert codes(page.text) == ["acme", "globex", "initech"]
    assert codes(reader.get("/admin/service-units?active=0").text) == ["initech"]
    assert codes(reader.get("/admin/service-units?q=trad").text) == ["acme"]
    assert codes(reader.get("/admin/service-units?sort=name&desc=1").text) == [
        "initech",
        "globex",
        "acme",
    ]
    assert 'href="/admin/service-units"' in reader.get("/").text
    assert 'action="/admin/service-units" class="record-form"' not in page.text  # no create form
    nobody = signed_in(kernel, "nobody")
    assert nobody.get("/admin/service-units").status_code == 403
    assert nobody.get(f"/admin/service-units/{unit(kernel, 'acme').id}").status_code == 403
    assert 'href="/admin/service-units"' not in nobody.get("/").text


def test_a_unit_is_created_only_with_the_action_and_the_token(kernel: Kernel) -> None:
    boss, reader = signed_in(kernel, "boss"), signed_in(kernel, "reader")
    form = {"code": "umbrella", "name": "Umbrella Corp"}
    assert (
        reader.post("/admin/service-units", data={**form, "csrf": csrf_of(reader)}).status_code
        == 403
    )
    assert boss.post("/admin/service-units", data={**form, "csrf": "forged"}).status_code == 400
    with kernel.session() as session:
        assert session.scalar(select(ServiceUnit).where(ServiceUnit.code == "umbrella")) is None
    created = boss.post(
        "/admin/service-units", data={**form, "csrf": csrf_of(boss)}, follow_redirects=False
    )
    assert created.status_code == 303
    umbrella = unit(kernel, "umbrella")
    assert created.headers["location"] == f"/admin/service-units/{umbrella.id}"
    assert umbrella.name == "Umbrella Corp" and umbrella.active
    missing = boss.post("/admin/service-units", data={"csrf": csrf_of(boss), "code": "x1"})
    assert missing.status_code == 400 and "Fill this in." in missing.text
    twice = boss.post("/admin/service-units", data={**form, "csrf": csrf_of(boss)})
    assert twice.status_code == 400 and 'value="Umbrella Corp"' in twice.text


def test_a_unit_is_edited_with_its_version(kernel: Kernel) -> None:
    boss = signed_in(kernel, "boss")
    acme = unit(kernel, "acme")
    page = boss.get(f"/admin/service-units/{acme.id}")
    assert page.status_code == 200 and "Wang Fang" in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    data = {"csrf": csrf_of(boss), "version": version, "code": "acme", "name": "Acme Ltd"}
    saved = boss.post(f"/admin/service-units/{acme.id}", data=data, follow_redirects=False)
    assert saved.status_code == 303
    stored = unit(kernel, "acme")
    assert stored.name == "Acme Ltd" and not stored.active and stored.version == acme.version + 1
    history = boss.get(f"/admin/service-units/{acme.id}").text
    assert "Acme Trading" in history and "Acme Ltd" in history  # the timeline shows the change
    stale = boss.post(
        f"/admin/service-units/{acme.id}", data={**data, "name": "Acme Stale", "active": "on"}
    )
    assert stale.status_code == 409
    assert "Someone else changed this service unit" in stale.text
    assert 'value="Acme Stale"' in stale.text  # the typing is kept
    after = unit(kernel, "acme")
    assert after.name == "Acme Ltd" and not after.active and after.version == stored.version
    reader = signed_in(kernel, "reader")
    refused = reader.post(
        f"/admin/service-units/{acme.id}",
        data={**data, "csrf": csrf_of(reader), "version": str(after.version)},
    )
    assert refused.status_code == 403 and unit(kernel, "acme").name == "Acme Ltd"


def test_contacts_are_added_and_hidden_fields_are_not_shown(kernel: Kernel) -> None:
    boss, reader = signed_in(kernel, "boss"), signed_in(kernel, "reader")
    acme = unit(kernel, "acme")
    assert "+86 555 0101" in boss.get(f"/admin/service-units/{acme.id}").text
    page = reader.get(f"/admin/service-units/{acme.id}").text
    assert "Wang Fang" in page and "wf@acme.example" in page
    assert "+86 555 0101" not in page and ">Phone<" not in page
    assert 'name="phone"' not in page and 'name="login"' not in page  # no forms without the action
    contact = {"name": "Li Lei", "phone": "+86 555 0202", "position": "IT lead", "email": ""}
    refused = reader.post(
        f"/admin/service-units/{acme.id}/contacts", data={**contact, "csrf": csrf_of(reader)}
    )
    assert refused.status_code == 403
    added = boss.post(
        f"/admin/service-units/{acme.id}/contacts",
        data={**contact, "csrf": csrf_of(boss)},
        follow_redirects=False,
    )
    assert added.status_code == 303
    with kernel.session() as session:
        stored = session.scalars(
            select(ServiceUnitContact).where(ServiceUnitContact.service_unit_id == acme.id)
        ).all()
        li = next(c for c in stored if c.name == "Li Lei")
        assert (li.phone, li.position, li.email) == ("+86 555 0202", "IT lead", None)
        assert len(stored) == 2
    bad = boss.post(
        f"/admin/service-units/{acme.id}/contacts",
        data={"csrf": csrf_of(boss), "name": "Han Meimei", "email": "not-an-email"},
    )
    assert bad.status_code == 400 and 'value="Han Meimei"' in bad.text


def test_members_are_added_by_login_and_removed(kernel: Kernel) -> None:
    boss, reader = signed_in(kernel, "boss"), signed_in(kernel, "reader")
    acme = unit(kernel, "acme")
    ann = user_id(kernel, "ann")
    assert (
        reader.post(
            f"/admin/service-units/{acme.id}/members",
            data={"login": "ann", "csrf": csrf_of(reader)},
        ).status_code
        == 403
    )
    assert (
        boss.post(
            f"/admin/service-units/{acme.id}/members", data={"login": "ann", "csrf": "forged"}
        ).status_code
        == 400
    )
    assert members(kernel, "acme") == []
    added = boss.post(
        f"/admin/service-units/{acme.id}/members",
        data={"login": "ann", "csrf": csrf_of(boss)},
        follow_redirects=False,
    )
    assert added.status_code == 303 and members(kernel, "acme") == [ann]
    assert "Ann Lee" in reader.get(f"/admin/service-units/{acme.id}").text
    unknown = boss.post(
        f"/admin/service-units/{acme.id}/members", data={"login": "ghost", "csrf": csrf_of(boss)}
    )
    assert unknown.status_code == 400 and "There is no user with the login ghost." in unknown.text
    removed = boss.post(
        f"/admin/service-units/{acme.id}/members/{ann}/remove",
        data={"csrf": csrf_of(boss)},
        follow_redirects=False,
    )
    assert removed.status_code == 303 and members(kernel, "acme") == []


def test_no_inline_script_or_style(kernel: Kernel) -> None:
    boss = signed_in(kernel, "boss")
    acme = unit(kernel, "acme")
    for path in ("/admin/service-units", f"/admin/service-units/{acme.id}"):
        answer = boss.get(path)
        assert answer.status_code == 200, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:", answer.text), path
