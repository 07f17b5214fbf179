"""The phone registration page's panels: the caller's incidents and assets, similar open
incidents and reference knowledge — scoped, one query each, absent without the modules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.db import count_statements
from openitsm.plugins.incident import desk, service
from openitsm.web import testing as web_testing

from .conftest import World
from .peers import FakeArticle, create_tables, peers
from .test_pages import signed_in


def listed(html: str) -> list[str]:
    return re.findall(r'href="/incidents/\d+">(INC-\d{4}-\d{6})', html)


def numbers_of(*incidents: Any) -> list[str]:
    return [incident.number for incident in incidents]


def suggest(client: TestClient, **values: str) -> str:
    answer = client.post(
        "/incidents/new/suggestions", data={"csrf": web_testing.csrf_of(client), **values}
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def test_words_split_latin_words_and_pair_chinese_characters() -> None:
    assert desk.words("The printer is JAMMED again, printer!") == ["printer", "jammed", "again"]
    assert desk.words("打印机卡纸 HP-400") == ["打印", "印机", "机卡", "卡纸", "400"]
    assert desk.words("VPN断开了100%_x") == ["vpn", "100", "断开", "开了"]
    assert len(desk.words(" ".join(f"word{n}" for n in range(20)))) == desk.MAX_WORDS


class TestWithoutOtherModules:
    def test_the_page_wires_the_panels_and_leaves_out_what_no_module_answers(
        self, world: World
    ) -> None:
        agent = signed_in(world, "agent")
        page = agent.get("/incidents/new").text
        # The caller comes first; the panels sit beside the form and update through htmx.
        assert page.index('name="caller_id"') < page.index('name="title"')
        assert 'hx-get="/incidents/new/caller"' in page
        assert 'hx-trigger="keyup changed delay:400ms from:#field-title' in page
        assert "Reference knowledge" not in page
        world.create(title="Printer jams on tray 2")
        panel = agent.get(f"/incidents/new/caller?caller_id={world.users['caller']}").text
        assert "Printer jams on tray 2" in panel and "Assets" not in panel
        suggestions = suggest(agent, title="printer jams", caller_id="")
        assert "Printer jams on tray 2" in suggestions and "Reference knowledge" not in suggestions

    def test_the_callers_incidents_are_the_ones_the_agent_may_see(self, world: World) -> None:
        mine = world.create(title="Open one")
        finished = world.create(title="Old one")
        with world.kernel.session(world.actor("agent")) as session:
            service.cancel(session, finished.id)
        elsewhere = world.create(title="Globex one", service_unit_id=world.units["globex"])
        agent, other = signed_in(world, "agent"), signed_in(world, "agent2")
        url = f"/incidents/new/caller?caller_id={world.users['caller']}"
        agent.get(url)
        with count_statements(world.kernel.engine) as counted:
            panel = agent.get(url).text
        head, _, tail = panel.partition("Recent incidents")
        assert listed(head) == numbers_of(mine) and listed(tail) == numbers_of(finished)
        assert elsewhere.number not in panel
        assert listed(other.get(url).text) == numbers_of(elsewhere)
        for n in range(5):
            world.create(title=f"More {n}")
        with count_statements(world.kernel.engine) as more:
            assert len(listed(agent.get(url).text)) == 7
        assert more.count == counted.count  # one query for the history, however long
        assert agent.get("/incidents/new/caller?caller_id=999999").text.strip() == ""
        assert signed_in(world, "engineer").get(url).status_code == 403  # no incident.create

    def test_similar_open_incidents_match_words_of_the_title_under_scope(
        self, world: World
    ) -> None:
        jam = world.create(title="Printer jams on tray 2")
        toner = world.create(title="打印机卡纸", caller_id=world.users["agent"])
        unrelated = world.create(title="VPN drops", caller_id=world.users["agent"])
        closed = world.create(title="Printer jams again")
        with world.kernel.session(world.actor("agent")) as session:
            service.cancel(session, closed.id)
        hidden = world.create(title="Printer jams at Globex", service_unit_id=world.units["globex"])
        agent = signed_in(world, "agent")
        found = suggest(agent, title="the printer JAMS", description="<p>tray</p>")
        assert listed(found) == numbers_of(jam)
        assert hidden.number not in found and closed.number not in found
        assert listed(suggest(agent, title="打印机又卡纸了")) == numbers_of(toner)
        # The caller's own open incidents come first, whatever their titles.
        same = suggest(agent, title="printer jams", caller_id=str(world.users["agent"]))
        assert listed(same) == numbers_of(unrelated, toner, jam) and "Same caller" in same
        assert listed(suggest(agent, title="keyboard")) == []
        world.create(title="errX1 on login")
        assert listed(suggest(agent, title="err_1")) == []  # LIKE wildcards match literally
        with world.kernel.session() as session:
            set_field_rule(
                session, world.kernel.record_kinds, world.roles["service_desk_agent"],
                "incident", "title", "hidden",
            )  # fmt: skip
        masked = suggest(signed_in(world, "agent"), title="printer jams")
        assert listed(masked) == []  # a hidden field is not searched

    def test_the_form_still_works_and_shows_the_panels_without_javascript(
        self, world: World
    ) -> None:
        earlier = world.create(title="Printer jams on tray 2")
        agent = signed_in(world, "agent")
        agent.get("/incidents/new")
        refused = agent.post(
            "/incidents/new",
            data={
                "csrf": web_testing.csrf_of(agent),
                "caller_id": str(world.users["caller"]),
                "title": "Printer jams",
                "impact": "999999",
            },
        )
        assert refused.status_code == 400
        caller_panel, _, suggestions = refused.text.partition('id="desk-suggestions"')
        assert earlier.number in caller_panel.partition('id="desk-caller"')[2]
        assert earlier.number in suggestions


class TestWithOtherModules:
    @pytest.fixture
    def extra_plugins(self) -> dict[str, Any]:
        return peers()

    @pytest.fixture
    def peered(self, world: World) -> World:
        create_tables(world.kernel.engine)
        with world.kernel.session() as session:
            session.add_all(
                [FakeArticle(title="Printer jams: clear tray 2"), FakeArticle(title="VPN setup")]
            )
        return world

    def test_assets_and_reference_knowledge_come_from_the_modules(
        self, peered: World, extra_plugins: dict[str, Any]
    ) -> None:
        world = peered
        agent = signed_in(world, "agent")
        page = agent.get("/incidents/new").text
        assert "Reference knowledge" in page
        panel = agent.get(f"/incidents/new/caller?caller_id={world.users['caller']}").text
        assert "ThinkPad T14 #4711" in panel and "Windows 11 &lt;22H2&gt;" in panel
        assert "javascript:" not in panel  # a link that is neither http(s) nor on the site
        assert extra_plugins["assets"].asked == [world.users["caller"]]
        found = suggest(agent, title="Printer", description="<p>jams <b>again</b></p>")
        assert 'href="/knowledge/1"' in found and "VPN setup" not in found
        assert "&lt;b&gt;read me&lt;/b&gt;" in found  # a summary is text, escaped
        assert extra_plugins["knowledge"].asked == ["Printer jams again"]

    def test_a_failing_module_leaves_its_panel_empty(
        self, peered: World, extra_plugins: dict[str, Any]
    ) -> None:
        extra_plugins["assets"].asked = None  # appending to None fails inside the hook
        panel = signed_in(peered, "agent").get(
            f"/incidents/new/caller?caller_id={peered.users['caller']}"
        )
        assert panel.status_code == 200 and "No assets recorded" in panel.text
