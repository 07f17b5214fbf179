"""Record pages: one timeline of history and comments, the comment forms, the header clock."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import SYSTEM, Kernel
from openitsm.kernel.db import count_statements
from openitsm.kernel.hookspecs import TimelineEntry
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web.pages import PageContext
from openitsm.web.records import Deadline, RecordHeader
from openitsm.web.testing import csrf_of, signed_in
from openitsm.web.timeline import merge_page

PASSWORD = "record-pages-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        identity.create_user(session, "boss", "Boss", password=PASSWORD, superuser=True)
    yield kernel
    kernel.close()


def new_unit(kernel: Kernel, code: str = "ACME") -> int:
    with kernel.unit_of_work(actor=SYSTEM) as session:
        return service.create_service_unit(session, code=code, name="Acme Ltd").id


def comment(client: TestClient, unit_id: int, body: str) -> str:
    page = f"/admin/service-units/{unit_id}"
    client.get(page)
    response = client.post(
        "/comments",
        data={
            "csrf": csrf_of(client),
            "kind": "service_unit",
            "record_id": str(unit_id),
            "body": body,
            "next": page,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def kinds_in_order(html: str) -> list[str]:
    return re.findall(r'<li (?:id="comment-\d+" )?class="timeline-(\w+)', html)


def test_comments_post_and_join_the_history_newest_first(kernel: Kernel) -> None:
    unit_id = new_unit(kernel)
    client = signed_in(kernel, "boss", PASSWORD)
    location = comment(client, unit_id, "<p>Called <b>them</b><script>alert(1)</script></p>")
    assert re.fullmatch(rf"/admin/service-units/{unit_id}#comment-\d+", location)
    with kernel.unit_of_work(actor=SYSTEM) as session:
        service.update_service_unit(session, unit_id, 1, {"name": "Acme Trading"})
    html = client.get(f"/admin/service-units/{unit_id}").text
    assert kinds_in_order(html) == ["history", "comment", "history"]  # update, comment, create
    assert "<p>Called <b>them</b></p>" in html and "alert(1)" not in html
    assert 'action="/comments"' in html and 'name="internal"' in html  # boss is a superuser
    assert "data-richtext" in html and "/static/records.js" in html


def test_htmx_edit_swaps_the_comment_and_reports_a_conflict(kernel: Kernel) -> None:
    unit_id = new_unit(kernel)
    client = signed_in(kernel, "boss", PASSWORD)
    comment_id = comment(client, unit_id, "<p>first</p>").rpartition("-")[2]
    htmx = {"hx-request": "true", "x-csrf-token": csrf_of(client)}
    here = f"/admin/service-units/{unit_id}"
    form = client.get(f"/comments/{comment_id}/edit?next={here}", headers=htmx).text
    assert form.lstrip().startswith(f'<li id="comment-{comment_id}"') and "<textarea" in form
    data = {"version": "1", "body": "<p>second</p>", "next": here}
    swapped = client.post(f"/comments/{comment_id}/edit", data=data, headers=htmx).text
    assert "<p>second</p>" in swapped and "(edited)" in swapped and "<html" not in swapped
    stale = client.post(f"/comments/{comment_id}/edit", data=data, headers=htmx)
    assert stale.status_code == 200 and "changed elsewhere" in stale.text
    removed = client.post(
        f"/comments/{comment_id}/remove", data={"version": "2", "next": here}, headers=htmx
    ).text
    assert "Comment removed." in removed and "<p>second</p>" not in removed
    assert "Comment removed." in client.get(here).text


def test_timeline_costs_the_same_for_one_comment_or_thirty(kernel: Kernel) -> None:
    counts = []
    for code, many in (("ONE", 1), ("MANY", 30)):
        unit_id = new_unit(kernel, code)
        client = signed_in(kernel, "boss", PASSWORD)
        for number in range(many):
            comment(client, unit_id, f"<p>note {number}</p>")
        client.get(f"/admin/service-units/{unit_id}")
        with count_statements(kernel.engine) as log:
            html = client.get(f"/admin/service-units/{unit_id}").text
        assert html.count('class="timeline-comment') == many
        counts.append(len(log.statements))
    assert counts[0] == counts[1]


NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("deadline", "state", "text"),
    [
        (Deadline(NOW + dt.timedelta(hours=5), "Resolve by"), "ok", "5h 0min left"),
        (Deadline(NOW + dt.timedelta(minutes=20)), "warning", "20min left"),
        (Deadline(NOW - dt.timedelta(days=1, hours=2)), "breached", "overdue by 1d 2h 0min"),
        (
            Deadline(
                NOW + dt.timedelta(hours=3), paused=True, paused_at=NOW - dt.timedelta(hours=1)
            ),
            "paused",
            "4h 0min left",
        ),
    ],
)
def test_header_clock_states(kernel: Kernel, deadline: Deadline, state: str, text: str) -> None:
    page = PageContext(None, kernel, SYSTEM, "en", "UTC", "csrf")  # type: ignore[arg-type]
    template = page.site.environment("en").from_string(
        '{% from "records/macros.html" import record_header with context %}'
        "{{ record_header(header, now) }}"
    )
    header = RecordHeader("Printer jam", "INC-7", "In progress", "warning", deadline, ("VIP",))
    html = template.render(header=header, now=NOW, time_zone="UTC", csrf="x")
    assert f'class="sla-clock sla-{state}" role="timer" aria-live="off"' in html
    assert text in html
    label = {"ok": "On time", "warning": "Due soon", "breached": "Breached", "paused": "Paused"}
    assert f'<span class="sla-state" data-sla-state>{label[state]}</span>' in html
    assert ("data-paused" in html) == (state == "paused")
    assert "INC-7" in html and "In progress" in html and "VIP" in html


def test_user_page_has_the_header_and_a_comment_form(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss", PASSWORD)
    with kernel.session() as session:
        user_id = identity.create_user(session, "ann", "Ann Lee").id
    html = client.get(f"/admin/users/{user_id}").text
    assert re.search(r'<span class="badge state state-success">active</span>', html)
    assert 'name="kind" value="user"' in html and f'name="record_id" value="{user_id}"' in html


def entry(minute: int, kind: str = "history") -> TimelineEntry:
    return TimelineEntry(NOW + dt.timedelta(minutes=minute), kind, key=f"{kind}:{minute}")


def test_merged_pages_never_split_an_instant_or_skip_a_capped_stream() -> None:
    history = [entry(m) for m in (9, 7, 5, 5, 1)]
    comments = [entry(m, "comment") for m in (8, 5, 4)]
    first = merge_page([history[:4], comments], 3)  # each stream cut at limit + 1
    # History came back full down to minute 5, so nothing at or below 5 is certain yet.
    assert [e.key for e in first.entries] == ["history:9", "comment:8", "history:7"]
    assert first.older == NOW + dt.timedelta(minutes=7)
    rest = [e for e in history + comments if e.at < first.older]
    second = merge_page(
        [
            [e for e in rest if e.kind == "history"][:4],
            [e for e in rest if e.kind == "comment"][:4],
        ],
        3,
    )
    # Three entries at minute 5 fill the page; the one at 4 waits for the next page.
    assert [e.at.minute for e in second.entries] == [5, 5, 5]
    assert second.older == NOW + dt.timedelta(minutes=5)
    last = merge_page([[history[4]], [comments[2]]], 3)
    assert [e.key for e in last.entries] == ["comment:4", "history:1"] and last.older is None
    tie = merge_page([[entry(5), entry(5)], [entry(5, "comment"), entry(3, "comment")]], 2)
    assert [e.at.minute for e in tie.entries] == [5, 5, 5]  # one instant is shown whole
    assert tie.older == NOW + dt.timedelta(minutes=5)


def test_before_shows_the_older_part_of_the_timeline(kernel: Kernel) -> None:
    from urllib.parse import quote

    from sqlalchemy import select

    from openitsm.kernel.comments.models import Comment

    unit_id = new_unit(kernel)
    client = signed_in(kernel, "boss", PASSWORD)
    comment(client, unit_id, "<p>later words</p>")
    with kernel.session() as session:
        at = session.scalar(select(Comment.created_at))
    assert at is not None
    page = f"/admin/service-units/{unit_id}"
    assert kinds_in_order(client.get(page).text) == ["comment", "history"]
    older = client.get(f"{page}?before={quote(at.isoformat())}").text
    assert kinds_in_order(older) == ["history"] and "later words" not in older


def test_related_groups_are_described_and_drawn(kernel: Kernel) -> None:
    from openitsm.kernel.references import RecordRef
    from openitsm.web.records import related_groups

    unit_id = new_unit(kernel)
    page = PageContext(None, kernel, SYSTEM, "en", "UTC", "csrf")  # type: ignore[arg-type]
    with kernel.session() as session:
        groups = related_groups(
            session,
            kernel.record_kinds,
            {"Customers": [RecordRef("service_unit", unit_id), RecordRef("service_unit", 999)]},
            SYSTEM,
        )
    assert [(label, [s.title for s in items]) for label, items in groups] == [
        ("Customers", ["Acme Ltd"])
    ]
    template = page.site.environment("en").from_string(
        '{% from "records/macros.html" import related with context %}{{ related(groups) }}'
    )
    html = template.render(groups=groups)
    assert f'<a href="/admin/service-units/{unit_id}">Acme Ltd</a>' in html
    assert "<h3>Customers</h3>" in html
    assert "No related records." in template.render(groups=[("Customers", [])])
