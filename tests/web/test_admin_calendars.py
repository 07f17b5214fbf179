"""The business calendar pages: the list and default, one calendar's hours, its days of a
year, the bulk import, the preview, and refusals next to the fields."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.calendar.models import CalendarDay, CalendarRecord
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "calendars-pw-123"
PAGE = "/admin/calendars/standard"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        keeper = identity.create_user(session, "keeper", "Keeper", password=PASSWORD)
        identity.create_user(session, "reader", "Reader", password=PASSWORD)
        role = service.create_role(
            session,
            action_registry(kernel),
            code="calendar_keeper",
            labels={"en": "Calendar keeper"},
            actions=["calendar.manage"],
        )
        service.grant_role(session, keeper.id, role.id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str, **headers: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD, {"accept-language": "en", **headers})


def stored(kernel: Kernel, key: str = "standard") -> CalendarRecord:
    with kernel.session() as session:
        found = session.scalar(select(CalendarRecord).where(CalendarRecord.key == key))
        assert found is not None
        session.expunge(found)
        return found


def days(kernel: Kernel) -> list[tuple[str, str, str]]:
    with kernel.session() as session:
        rows = session.scalars(select(CalendarDay).order_by(CalendarDay.day))
        return [(r.day.isoformat(), r.kind, r.name) for r in rows]


def field_error(page: str, field_id: str) -> str:
    """The error shown under the input `field_id`, unescaped ('' when there is none)."""
    found = re.search(
        rf'<p id="{field_id}-error" class="field-error[^"]*"[^>]*>(.*?)</p>', page, re.S
    )
    return html.unescape(found.group(1)) if found else ""


def typed(page: str, field_id: str) -> str:
    found = re.search(rf'<input id="{field_id}"[^>]*value="([^"]*)"', page)
    assert found is not None, field_id
    return html.unescape(found.group(1))


def week_form(**changes: str) -> dict[str, str]:
    form = {"name": "标准工作日 Standard office week", "time_zone": "Asia/Shanghai"}
    form.update({f"week.{d}": "09:00-12:00, 13:00-18:00" for d in range(5)})
    form.update({"week.5": "", "week.6": ""})
    form.update(changes)
    return form


def test_without_calendar_manage_every_page_and_post_is_refused(kernel: Kernel) -> None:
    client = signed_in(kernel, "reader")
    assert "/admin/calendars" not in client.get("/").text  # no menu entry
    assert client.get("/admin/calendars").status_code == 403
    answer = client.get(PAGE)
    assert answer.status_code == 403 and "calendar.manage" in answer.text
    token = web_testing.csrf_of(client)
    for path, form in (
        (PAGE, {**week_form(name="Hijacked"), "version": "1"}),
        (PAGE + "/days", {"day": "2027-02-10", "kind": "holiday"}),
        (PAGE + "/import", {"lines": "2027-02-10 holiday 春节"}),
        ("/admin/calendars", {"key": "mine", "name": "Mine"}),
        (PAGE + "/default", {}),
    ):
        assert client.post(path, data={"csrf": token, **form}).status_code == 403, path
    assert stored(kernel).name == "标准工作日 Standard office week"
    assert days(kernel) == []
    assert signed_in(kernel, "keeper").get("/").text.count('href="/admin/calendars"') == 1


def test_a_post_without_this_browsers_csrf_token_is_refused(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    client.get(PAGE)
    answer = client.post(PAGE + "/days", data={"day": "2027-02-10", "kind": "holiday"})
    assert answer.status_code == 400 and "expired" in answer.text
    answer = client.post(
        PAGE, data={**week_form(name="Forged"), "version": "1", "csrf": "not-the-token"}
    )
    assert answer.status_code == 400
    assert days(kernel) == [] and stored(kernel).name != "Forged"


def test_the_list_shows_the_default_and_switches_it(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    token = web_testing.csrf_of(client) if client.get("/admin/calendars") else ""
    created = client.post(
        "/admin/calendars",
        data={"csrf": token, "key": "abroad", "name": "Abroad", "time_zone": "Europe/Berlin"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/calendars/abroad?done=created"
    listed = client.get("/admin/calendars").text
    assert re.search(r"standard</a></td>.*?default-badge", listed, re.S)
    assert 'action="/admin/calendars/abroad/default"' in listed
    made = client.post("/admin/calendars/abroad/default", data={"csrf": token})
    assert made.status_code == 200 and "The default calendar was changed." in made.text
    assert stored(kernel, "abroad").is_default and not stored(kernel).is_default
    assert 'action="/admin/calendars/standard/default"' in made.text


def test_creating_with_bad_input_shows_the_error_next_to_the_field(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    client.get("/admin/calendars")
    token = web_testing.csrf_of(client)
    answer = client.post(
        "/admin/calendars",
        data={"csrf": token, "key": "abroad", "name": "Abroad", "time_zone": "Europe/Narnia"},
    )
    assert answer.status_code == 400
    assert field_error(answer.text, "calendar-zone") == (
        "'Europe/Narnia' is not a time zone; use a name like Asia/Shanghai or Europe/London."
    )
    assert typed(answer.text, "calendar-key") == "abroad"
    assert typed(answer.text, "calendar-zone") == "Europe/Narnia"
    answer = client.post(
        "/admin/calendars", data={"csrf": token, "key": "Abroad!", "name": "Abroad"}
    )
    assert "is not a calendar key" in field_error(answer.text, "calendar-key")
    with kernel.session() as session:
        assert (
            session.scalar(select(CalendarRecord.id).where(CalendarRecord.key != "standard"))
            is None
        )


def test_editing_the_week_keeps_the_typing_and_marks_the_weekday(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    page = client.get(PAGE).text
    assert typed(page, "calendar-week-0") == "09:00-12:00, 13:00-18:00"
    assert typed(page, "calendar-week-6") == ""
    token = web_testing.csrf_of(client)
    bad = client.post(
        PAGE,
        data={"csrf": token, "version": "1", **week_form(**{"week.2": "13:00-18:00, 09:00-12:00"})},
    )
    assert bad.status_code == 400
    assert field_error(bad.text, "calendar-week-2") == (
        "Give working hours in order, without overlaps: '09:00-12:00' starts before 18:00 ends."
    )
    assert field_error(bad.text, "calendar-week-1") == ""
    assert typed(bad.text, "calendar-week-2") == "13:00-18:00, 09:00-12:00"
    empty = client.post(
        PAGE,
        data={"csrf": token, "version": "1", **week_form(**{f"week.{d}": "" for d in range(5)})},
    )
    assert field_error(empty.text, "calendar-week") == (
        "The week has no working time: give at least one day its working hours."
    )
    saved = client.post(
        PAGE,
        data={"csrf": token, "version": "1", **week_form(**{"week.5": "9:00-12:00"})},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert stored(kernel).week["5"] == [["09:00", "12:00"]]
    stale = client.post(PAGE, data={"csrf": token, "version": "1", **week_form(name="Stale")})
    assert stale.status_code == 409
    assert "Someone else changed this calendar" in stale.text
    assert typed(stale.text, "calendar-name") == "Stale"
    assert stored(kernel).name == "标准工作日 Standard office week"


def test_days_of_a_year_are_added_listed_and_removed(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    client.get(PAGE)
    token = web_testing.csrf_of(client)
    added = client.post(
        PAGE + "/days",
        data={"csrf": token, "day": "2027-10-01", "kind": "holiday", "name": "国庆节"},
        follow_redirects=False,
    )
    assert added.headers["location"] == PAGE + "?year=2027&done=day"
    page = client.get(PAGE + "?year=2027").text
    assert "2027-10-01" in page and "国庆节" in page
    assert "2027-10-01" not in client.get(PAGE + "?year=2028").text
    bad = client.post(
        PAGE + "/days", data={"csrf": token, "day": "2027-02-30", "kind": "holiday", "name": "x"}
    )
    assert bad.status_code == 400
    assert field_error(bad.text, "day-date") == "'2027-02-30' is not a date like 2027-02-10."
    assert typed(bad.text, "day-date") == "2027-02-30" and typed(bad.text, "day-name") == "x"
    removed = client.post(
        PAGE + "/days/2027-10-01/remove", data={"csrf": token}, follow_redirects=False
    )
    assert removed.status_code == 303
    assert days(kernel) == []


def test_an_import_with_a_bad_line_lists_it_and_keeps_the_text(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    client.get(PAGE)
    token = web_testing.csrf_of(client)
    pasted = "2027-02-10 holiday 春节\n2027-02-07 workday 春节调休\n2027-02-11 day-off"
    bad = client.post(PAGE + "/import", data={"csrf": token, "lines": pasted})
    assert bad.status_code == 400
    assert "Line 3: A day is a holiday or a workday, not &#39;day-off&#39;." in bad.text
    assert f">{pasted}</textarea>" in bad.text
    assert days(kernel) == []
    good = client.post(PAGE + "/import", data={"csrf": token, "lines": pasted.rsplit("\n", 1)[0]})
    assert good.status_code == 200 and "Days imported." in good.text
    assert days(kernel) == [
        ("2027-02-07", "workday", "春节调休"),
        ("2027-02-10", "holiday", "春节"),
    ]


def test_the_preview_counts_on_the_calendar_and_answers_htmx_with_a_fragment(
    kernel: Kernel,
) -> None:
    client = signed_in(kernel, "keeper")
    page = client.get(PAGE).text
    assert "A step of PT8H starting now would be due at" in page
    fragment = client.get(PAGE + "?duration=P2D", headers={"hx-request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.startswith('<p class="calendar-preview-result"')
    assert "A step of P2D starting now would be due at" in fragment.text
    wrong = client.get(PAGE + "?duration=P1M", headers={"hx-request": "true"})
    assert "is not a duration like PT4H" in html.unescape(wrong.text)


def test_the_pages_speak_chinese(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper", **{"accept-language": "zh-CN"})
    page = client.get(PAGE)
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert re.search(r'href="/admin/calendars"[^>]*>工作日历</a>', page.text)  # the menu
    assert ">保存</button>" in page.text
    token = web_testing.csrf_of(client)
    bad = client.post(PAGE + "/days", data={"csrf": token, "day": "someday", "kind": "holiday"})
    assert field_error(bad.text, "day-date")  # the refusal is next to the field in Chinese too
