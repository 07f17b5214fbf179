"""The self-service portal's frame: who lands on it, what it offers, and the requests of
several modules merged on its home page. The incident module's portal pages are tested in
tests/plugins/incident/test_portal.py."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from openitsm.kernel import ActionSpec, Actor, Kernel, hookimpl
from openitsm.kernel.access.actions import action_registry
from openitsm.kernel.hookspecs import PortalRequest
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.web import portal
from openitsm.web import testing as web_testing
from openitsm.web.menus import PORTAL, MenuItem, portal_items, visible_menu
from openitsm.web.pages import site_of
from openitsm.web.portal import lands_on_portal

PASSWORD = "portal-pw-123"
DAY = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


class Questions:
    """A module people ask questions through: one action for them, one for the desk."""

    @hookimpl
    def register_actions(self) -> list[ActionSpec]:
        return [
            ActionSpec("questions.ask", {"en": "Ask"}, roles=("end_user",)),
            ActionSpec("questions.answer", {"en": "Answer"}, roles=("service_desk_agent",)),
        ]

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return [
            MenuItem(
                "questions.ask",
                {"en": "Ask a question", "zh-CN": "提问"},
                "/portal/questions/new",
                PORTAL,
                "questions.ask",
                hint={"en": "Anything about our services", "zh-CN": "关于服务的任何问题"},
            ),
            MenuItem(
                "questions.triage",
                {"en": "Triage board"},
                "/portal/questions/triage",
                PORTAL,
                "questions.answer",
            ),
            MenuItem(
                "questions.list", {"en": "Questions"}, "/questions", "records", "questions.ask"
            ),
        ]

    @hookimpl
    def portal_requests(self, actor: Actor, locale: str, limit: int) -> list[PortalRequest]:
        status = "已答复" if locale == "zh-CN" else "Answered"
        return [
            PortalRequest(
                "question", "Q-1", "Oldest question", status, "/portal/q/1", DAY, "Question"
            ),
            PortalRequest(
                "question",
                "Q-3",
                "Newest question",
                status,
                "/portal/q/3",
                DAY + dt.timedelta(days=2),
                "Question",
                needs_rating=True,
            ),
        ][:limit]


class Complaints:
    @hookimpl
    def portal_requests(self, session: Any, actor: Actor) -> list[PortalRequest]:
        """Answers with fewer arguments than the spec names; a naive time is UTC."""
        return [
            PortalRequest(
                "complaint",
                "C-2",
                f"Complaint of {actor.label}",
                "Open",
                "/portal/c/2",
                (DAY + dt.timedelta(days=1)).replace(tzinfo=None),
            )
        ]


class Broken:
    @hookimpl
    def portal_requests(self, session: Any) -> list[PortalRequest]:
        session.execute(sa.text("SELECT * FROM no_such_table"))
        return []


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"questions": Questions(), "broken": Broken(), "complaints": Complaints()},
    )
    with kernel.session() as session:
        roles = {
            "ellen": ["end_user"],
            "andy": ["service_desk_agent"],
            "both": ["end_user", "service_desk_agent"],
            "nora": [],
            "vera": ["vendor"],
        }
        for login, codes in roles.items():
            user = identity.create_user(session, login, login.title(), password=PASSWORD)
            for code in codes:
                organisation.grant_role(
                    session, user.id, organisation.role_by_code(session, code).id
                )
        identity.create_user(session, "root", "Root", password=PASSWORD, superuser=True)
        custom = organisation.create_role(
            session,
            action_registry(kernel),
            code="customer",
            labels={"en": "Customer"},
            actions=["questions.ask"],
        )
        vip = identity.create_user(session, "vip", "Vip", password=PASSWORD)
        organisation.grant_role(session, vip.id, custom.id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str, language: str = "en") -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD, {"accept-language": language})


def user_id(kernel: Kernel, login: str) -> int:
    with kernel.session() as session:
        found = session.scalar(sa.select(User.id).where(User.login == login))
    assert found is not None
    return found


def test_self_service_people_land_on_the_portal(kernel: Kernel) -> None:
    for login in ("ellen", "vip", "vera"):  # end users, a custom self-service role, no actions
        client = signed_in(kernel, login)
        home = client.get("/", follow_redirects=False)
        assert (home.status_code, home.headers.get("location")) == (303, "/portal"), login
        assert client.get("/").url.path == "/portal"
    for login in ("andy", "both", "nora", "root"):  # agent work, nothing placed, superuser
        home = signed_in(kernel, login).get("/", follow_redirects=False)
        assert home.status_code == 200 and "<h1>Workbench</h1>" in home.text, login


def test_signing_in_leads_an_end_user_to_the_portal(kernel: Kernel) -> None:
    client = TestClient(kernel.asgi(), headers={"accept-language": "en"})
    form = client.get("/login?next=/").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    landed = client.post(
        "/login",
        data={"login": "ellen", "password": PASSWORD, "csrf": token.group(1), "next": "/"},
    )
    assert landed.status_code == 200 and landed.url.path == "/portal"
    assert "<h1>How can we help?</h1>" in landed.text


def test_the_portal_offers_what_the_viewer_may_submit(kernel: Kernel) -> None:
    ellen = signed_in(kernel, "ellen").get("/portal").text
    assert 'href="/portal/questions/new"' in ellen and "Anything about our services" in ellen
    assert "/portal/questions/triage" not in ellen  # needs questions.answer
    assert 'id="nav"' not in ellen and 'class="portal-workbench"' not in ellen
    assert 'action="/logout"' in ellen and 'action="/preferences"' in ellen
    chinese = signed_in(kernel, "ellen", "zh-CN").get("/portal").text
    assert "提问" in chinese and "关于服务的任何问题" in chinese
    andy = signed_in(kernel, "andy").get("/portal").text
    assert "/portal/questions/triage" in andy and "/portal/questions/new" not in andy
    assert 'class="portal-workbench" href="/"' in andy  # back to the workbench


def test_portal_items_stay_out_of_the_agent_navigation(kernel: Kernel) -> None:
    items = site_of(kernel).menus
    both = actor_of(kernel, user_id(kernel, "both"))
    sections = visible_menu(items, both, "en")
    urls = [item.url for section in sections for item in section.items]
    assert "/questions" in urls and "/portal" in urls  # the records entry, the portal link
    assert not [url for url in urls if url.startswith("/portal/")]
    assert PORTAL not in [section.key for section in sections]
    assert [item.key for item in portal_items(items, both)] == [
        "questions.ask",
        "questions.triage",
    ]
    page = signed_in(kernel, "both").get("/").text
    nav = page.split('id="nav"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/portal"' in nav and "/portal/questions" not in nav


def test_the_requests_of_every_module_merge_newest_first(
    kernel: Kernel, caplog: pytest.LogCaptureFixture
) -> None:
    page = signed_in(kernel, "ellen").get("/portal")
    assert page.status_code == 200
    rows = page.text.split('class="portal-requests"', 1)[1]
    assert re.findall(r'href="(/portal/[qc]/\d)"', rows) == [
        "/portal/q/3",
        "/portal/c/2",
        "/portal/q/1",
    ]
    assert "Complaint of Ellen" in rows and rows.count("Please rate") == 1
    assert "broken could not list its portal requests" in caplog.text
    chinese = signed_in(kernel, "ellen", "zh-CN").get("/portal").text
    assert "已答复" in chinese  # each module answers in the page's language


def test_who_lands_on_the_portal() -> None:
    """The rule itself, with the self-service actions of a bare kernel (none declared)."""

    class FakeKernel:
        pass

    fake: Any = FakeKernel()
    portal._SELF_SERVICE[fake] = frozenset({"questions.ask"})
    asker = Actor(1, "a", roles=frozenset({"end_user"}), actions=frozenset({"questions.ask"}))
    assert lands_on_portal(fake, asker)
    assert not lands_on_portal(fake, Actor(1, "a", roles=frozenset()))
    assert not lands_on_portal(
        fake, Actor(1, "a", roles=frozenset({"x"}), actions=frozenset({"org.read"}))
    )
    assert not lands_on_portal(fake, Actor(1, "a", roles=frozenset({"end_user"}), superuser=True))
