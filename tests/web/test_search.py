"""The search box, its page and suggestions, and the workbench's ticker and knowledge box."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Kernel, RecordKind, hookimpl
from openitsm.kernel.actors import Actor
from openitsm.kernel.hookspecs import Announcement
from openitsm.kernel.identity import service as identity
from openitsm.kernel.testing import build_kernel, count_statements
from openitsm.kernel.testing.tickets import Ticket, create_tables, drop_tables
from openitsm.web import testing as web_testing

PASSWORD = "search-pw-123"
PEOPLE = 12


class KnowledgePlugin:
    """Stands in for the knowledge and bulletin modules: articles kept in the sample table."""

    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [
            RecordKind(
                "knowledge",
                Ticket,
                labels={"zh-CN": "知识", "en": "Knowledge article"},
                describe=lambda row: {"title": row.title},
                url="/knowledge/{id}",
                searched=("title", "description"),
                shows=("title",),
            )
        ]

    @hookimpl
    def workbench_announcements(self, actor: Actor) -> list[Announcement]:
        old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        new = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        return [
            Announcement("Mail migration finished", url="/bulletins/1", published_at=old),
            Announcement(f"Outage notice for {actor.label}", level="critical", published_at=new),
        ]


def _kernel(tmp_path: Path, database_url: str, plugins: dict[str, object]) -> Kernel:
    kernel = build_kernel(tmp_path, database_url, plugins=plugins)
    create_tables(kernel.engine)
    with kernel.session() as session:
        identity.create_user(session, "boss", "Boss", password=PASSWORD, superuser=True)
        identity.create_user(session, "nobody", "Nobody", password=PASSWORD)
        for n in range(PEOPLE):
            identity.create_user(session, f"person{n:02d}", f"Person {n:02d}")
        session.add_all(
            [Ticket(title="VPN drops every hour"), Ticket(title="Reset a VPN password")]
        )
    return kernel


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    built = _kernel(tmp_path, database_url, {"knowledge": KnowledgePlugin()})
    yield built
    drop_tables(built.engine)
    built.close()


@pytest.fixture
def bare_kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    built = _kernel(tmp_path, database_url, {})
    yield built
    drop_tables(built.engine)
    built.close()


def signed_in(kernel: Kernel, login: str = "boss") -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def hits(html: str) -> list[str]:
    return re.findall(r'<li>\s*<a href="(/[a-z/-]+/\d+)">', html)


def test_every_page_has_the_search_box_and_the_icon(kernel: Kernel) -> None:
    page = signed_in(kernel).get("/profile").text
    assert re.search(
        r'<form class="site-search" role="search" method="get" action="/search">', page
    )
    assert 'hx-get="/search/suggest"' in page and 'aria-keyshortcuts="/"' in page
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert '<script src="/static/search.js" defer></script>' in page
    assert " style=" not in page and "<script>" not in page


def test_the_page_groups_hits_by_kind_with_links(kernel: Kernel) -> None:
    page = signed_in(kernel).get("/search?q=vpn")
    assert page.status_code == 200
    assert "Knowledge article" in page.text and "VPN drops every hour" in page.text
    assert len([h for h in hits(page.text) if h.startswith("/knowledge/")]) == 2
    people = signed_in(kernel).get("/search?q=person").text
    assert len([h for h in hits(people) if h.startswith("/admin/users/")]) == 10
    assert re.search(r'<span class="badge">12</span>', people)
    assert '<a href="/admin/users?q=person">More in the list (12)</a>' in people


def test_the_page_searches_one_kind(kernel: Kernel) -> None:
    client = signed_in(kernel)
    page = client.get("/search?q=o&kind=knowledge").text
    assert {h.split("/")[1] for h in hits(page)} == {"knowledge"}
    assert "Search in Knowledge article" in page
    assert '<input type="hidden" name="kind" value="knowledge">' in page
    assert client.get("/search?q=o&kind=nonsense").status_code == 400
    assert "Nothing found for" in client.get("/search?q=zzzz-none").text


def test_a_viewer_without_the_lists_action_finds_no_people(kernel: Kernel) -> None:
    page = signed_in(kernel, "nobody").get("/search?q=person").text
    assert "/admin/users/" not in page and "Nothing found for" in page


def test_suggestions_are_a_small_fragment(kernel: Kernel) -> None:
    client = signed_in(kernel)
    fragment = client.get("/search/suggest?q=person", headers={"hx-request": "true"}).text
    assert "<html" not in fragment and "search-suggestions-panel" in fragment
    assert len(re.findall(r'<a href="/admin/users/\d+">', fragment)) == 5
    assert '<a class="search-all" href="/search?q=person">' in fragment
    assert client.get("/search/suggest?q=p").text.strip() == ""


def test_searching_signed_out_asks_to_sign_in(kernel: Kernel) -> None:
    answer = TestClient(kernel.asgi()).get("/search?q=vpn", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_page_costs_no_statement_per_hit(kernel: Kernel) -> None:
    client = signed_in(kernel)
    client.get("/search?q=person")
    with count_statements(kernel.engine) as one:
        client.get("/search?q=person03")
    with count_statements(kernel.engine) as ten:
        client.get("/search?q=person")
    assert len(ten.selects()) - len(one.selects()) == 1  # the capped total, no more


def test_the_workbench_shows_the_ticker_and_the_knowledge_box(kernel: Kernel) -> None:
    page = signed_in(kernel).get("/").text
    ticker = re.search(r'<ul class="ticker-items">(.*?)</ul>', page, re.S)
    assert ticker is not None
    titles = re.findall(r"(Outage notice for Boss|Mail migration finished)", ticker.group(1))
    assert titles == ["Outage notice for Boss", "Mail migration finished"]  # newest first
    assert 'class="announcement announcement-critical"' in ticker.group(1)
    assert '<a href="/bulletins/1">Mail migration finished</a>' in ticker.group(1)
    box = re.search(r'<form class="knowledge-search" role="search"[^>]*action="/search">', page)
    assert box is not None and 'name="kind" value="knowledge"' in page


def test_without_those_modules_the_workbench_has_neither(bare_kernel: Kernel) -> None:
    page = signed_in(bare_kernel).get("/").text
    assert "Workbench" in page
    assert "ticker" not in page and "knowledge-search" not in page
