"""The duty pages: the rotas, one rota's week, adding and removing shifts with the typing kept
and refusals next to their field, who may do what, and the workbench box "On duty now"."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import duty
from openitsm.kernel.organisation import service as org
from openitsm.kernel.organisation.duty_models import DutyRota, DutyShift
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "duty-pages-pw-123"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """Max keeps the rotas (supervisor); Rex reads the organisation; Ann and Bob are on the
    desk rota; Pat is nobody in particular. Everyone's time zone is Shanghai."""
    kernel = build_kernel(tmp_path, database_url)
    ids = {}
    with kernel.session() as session:
        for login in ("max", "rex", "ann", "bob", "pat"):
            ids[login] = identity.create_user(session, login, login.title(), password=PASSWORD).id
        org.grant_role(session, ids["max"], org.role_by_code(session, "supervisor").id)
        reader = org.create_role(
            session,
            action_registry(kernel),
            code="reader",
            labels={"en": "R"},
            actions=["org.read"],
        )
        org.grant_role(session, ids["rex"], reader.id)
    kernel.ids = ids  # type: ignore[attr-defined]
    yield kernel
    kernel.close()


def client(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def desk(kernel: Kernel, *people: str) -> int:
    """The desk rota, with each of `people` on duty from an hour ago for two hours."""
    now = dt.datetime.now(dt.UTC)
    with kernel.session() as session:
        rota = duty.create_rota(session, SYSTEM, key="desk", name="Service desk duty")
        for login in people:
            duty.add_shift(
                session,
                SYSTEM,
                rota.id,
                kernel.ids[login],  # type: ignore[attr-defined]
                now - dt.timedelta(hours=1),
                now + dt.timedelta(hours=1),
            )
        return rota.id


def shifts(kernel: Kernel) -> list[tuple[int, dt.datetime, dt.datetime]]:
    with kernel.session() as session:
        return [
            (s.user_id, s.starts_at, s.ends_at)
            for s in session.scalars(select(DutyShift).order_by(DutyShift.starts_at))
        ]


def test_the_rotas_list_what_each_viewer_may_see(kernel: Kernel) -> None:
    assert client(kernel, "pat").get("/admin/duty").status_code == 200
    desk(kernel, "ann")
    with kernel.session() as session:
        duty.create_rota(session, SYSTEM, key="weekend", name="Weekend duty")
    rex = client(kernel, "rex").get("/admin/duty")
    assert 'href="/admin/duty/desk"' in rex.text and 'href="/admin/duty/weekend"' in rex.text
    assert "Ann" in rex.text  # on duty now
    assert 'action="/admin/duty"' not in rex.text  # no create form without duty.manage
    assert 'href="/admin/duty"' in rex.text  # the menu entry
    ann = client(kernel, "ann").get("/admin/duty")
    assert 'href="/admin/duty/desk"' in ann.text and "/admin/duty/weekend" not in ann.text
    pat = client(kernel, "pat")
    assert "/admin/duty/desk" not in pat.get("/admin/duty").text
    assert pat.get("/admin/duty/desk").status_code == 404
    assert 'action="/admin/duty"' in client(kernel, "max").get("/admin/duty").text


def test_creating_a_rota_keeps_the_typing_and_shows_the_refusal_by_the_field(
    kernel: Kernel,
) -> None:
    rex = client(kernel, "rex")
    refused = rex.post(
        "/admin/duty", data={"csrf": web_testing.csrf_of(rex), "key": "x", "name": "X"}
    )
    assert refused.status_code == 403
    boss = client(kernel, "max")
    no_token = boss.post("/admin/duty", data={"key": "night", "name": "Night"})
    assert no_token.status_code == 400
    csrf = web_testing.csrf_of(boss)
    bad = boss.post("/admin/duty", data={"csrf": csrf, "key": "Night-Desk", "name": "Nights"})
    assert bad.status_code == 400
    assert 'value="Night-Desk"' in bad.text and 'value="Nights"' in bad.text
    error = re.search(r'field-key".*?<p class="field-error" role="alert">(.*?)</p>', bad.text, re.S)
    assert error is not None and "A rota key is 1 to 64 lower-case letters" in error.group(1)
    empty = boss.post("/admin/duty", data={"csrf": csrf, "key": "night", "name": ""})
    assert empty.status_code == 400 and "Fill this in." in empty.text
    made = boss.post(
        "/admin/duty", data={"csrf": csrf, "key": "night", "name": "Nights"}, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"] == "/admin/duty/night?done=created"
    with kernel.session() as session:
        assert session.scalar(select(func.count()).select_from(DutyRota)) == 1
    taken = boss.post("/admin/duty", data={"csrf": csrf, "key": "night", "name": "Again"})
    assert taken.status_code == 400 and "The rota key &#39;night&#39; is taken." in taken.text


def test_a_rota_week_shows_the_grid_and_who_is_on_duty_now(kernel: Kernel) -> None:
    desk(kernel, "ann", "bob")
    page = client(kernel, "rex").get("/admin/duty/desk")
    assert page.status_code == 200
    now_box = re.search(r"<p data-on-duty>(.*?)</p>", page.text, re.S)
    assert now_box is not None and "Ann" in now_box.group(1) and "Bob" in now_box.group(1)
    assert page.text.count('class="duty-shift"') == 2
    assert "/remove" not in page.text  # reading only
    today = dt.datetime.now(SHANGHAI).date()
    monday = today - dt.timedelta(days=today.weekday())
    assert f'href="?week={(monday - dt.timedelta(days=7)).isoformat()}"' in page.text
    following = client(kernel, "rex").get(
        f"/admin/duty/desk?week={(monday + dt.timedelta(days=7)).isoformat()}"
    )
    assert "duty-shift" not in following.text and "Nobody is on duty this week." in following.text
    assert client(kernel, "ann").get("/admin/duty/desk").status_code == 200  # on the rota


def test_adding_one_shift_and_the_refusals_next_to_the_field(kernel: Kernel) -> None:
    rota = desk(kernel)
    ids = kernel.ids  # type: ignore[attr-defined]
    boss = client(kernel, "max")
    csrf = web_testing.csrf_of(boss)
    form = {"csrf": csrf, "user": str(ids["ann"]), "startsAt": "2026-03-02T18:00"}
    backwards = boss.post("/admin/duty/desk/shifts", data={**form, "endsAt": "2026-03-02T08:00"})
    assert backwards.status_code == 400
    assert 'value="2026-03-02T08:00"' in backwards.text  # the typing is kept
    error = re.search(
        r'field-endsAt".*?class="field-error" role="alert">(.*?)</p>', backwards.text, re.S
    )
    assert error is not None and "A shift must end after it starts." in error.group(1)
    added = boss.post(
        "/admin/duty/desk/shifts",
        data={**form, "endsAt": "2026-03-03T08:30"},
        follow_redirects=False,
    )
    assert added.status_code == 303 and "week=2026-03-02" in added.headers["location"]
    # Typed in the viewer's zone (Shanghai): 18:00 is 10:00 UTC.
    assert shifts(kernel) == [
        (
            ids["ann"],
            dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.UTC),
        )
    ]
    clash = boss.post("/admin/duty/desk/shifts", data={**form, "endsAt": "2026-03-02T20:00"})
    assert clash.status_code == 400 and "Ann is already on duty on this rota" in clash.text
    assert re.search(r'field-startsAt".*?class="field-error"', clash.text, re.S)
    week = boss.get("/admin/duty/desk?week=2026-03-04")
    assert 'action="/admin/duty/desk/shifts/' in week.text and "Ann" in week.text
    rex = client(kernel, "rex")
    assert (
        rex.post(
            "/admin/duty/desk/shifts",
            data={**form, "csrf": web_testing.csrf_of(rex), "endsAt": "2026-03-05T08:00"},
        ).status_code
        == 403
    )
    assert len(shifts(kernel)) == 1 and rota


def test_a_series_of_turns_and_removing_a_shift(kernel: Kernel) -> None:
    desk(kernel)
    ids = kernel.ids  # type: ignore[attr-defined]
    boss = client(kernel, "max")
    csrf = web_testing.csrf_of(boss)
    form = {
        "csrf": csrf,
        "firstDay": "2026-03-02",
        "lastDay": "2026-03-04",
        "starts": "18:00",
        "ends": "8:30",
        "person1": str(ids["ann"]),
        "person2": str(ids["bob"]),
    }
    bad_time = boss.post("/admin/duty/desk/series", data=form)
    assert bad_time.status_code == 400 and "Enter a time like 18:00." in bad_time.text
    assert 'value="8:30"' in bad_time.text and 'value="2026-03-04"' in bad_time.text
    nobody = boss.post(
        "/admin/duty/desk/series", data={**form, "ends": "08:30", "person1": "", "person2": ""}
    )
    assert nobody.status_code == 400 and "Fill this in." in nobody.text
    done = boss.post(
        "/admin/duty/desk/series", data={**form, "ends": "08:30"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert [(user, start.hour, end.day) for user, start, end in shifts(kernel)] == [
        (ids["ann"], 10, 3),
        (ids["bob"], 10, 4),
        (ids["ann"], 10, 5),
    ]
    again = boss.post("/admin/duty/desk/series", data={**form, "ends": "08:30"})
    assert again.status_code == 400 and "is already on duty on this rota" in again.text
    assert len(shifts(kernel)) == 3
    with kernel.session() as session:
        first = session.scalars(select(DutyShift.id).order_by(DutyShift.starts_at)).first()
    rex = client(kernel, "rex")
    forbidden = rex.post(
        f"/admin/duty/desk/shifts/{first}/remove", data={"csrf": web_testing.csrf_of(rex)}
    )
    assert forbidden.status_code == 403
    assert boss.post(f"/admin/duty/desk/shifts/{first}/remove", data={}).status_code == 400
    removed = boss.post(
        f"/admin/duty/desk/shifts/{first}/remove",
        data={"csrf": csrf, "week": "2026-03-02"},
        follow_redirects=False,
    )
    assert removed.status_code == 303 and "done=removed" in removed.headers["location"]
    assert len(shifts(kernel)) == 2


def test_editing_a_rota_with_its_version(kernel: Kernel) -> None:
    desk(kernel, "ann")
    boss = client(kernel, "max")
    csrf = web_testing.csrf_of(boss)
    saved = boss.post(
        "/admin/duty/desk",
        data={"csrf": csrf, "version": "1", "name": "Desk nights"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    stale = boss.post("/admin/duty/desk", data={"csrf": csrf, "version": "1", "name": "Other"})
    assert stale.status_code == 409 and 'value="Other"' in stale.text
    page = boss.get("/admin/duty/desk")
    assert "Desk nights" in page.text and "This rota is inactive" in page.text


def test_the_workbench_box_shows_who_is_on_duty_once_rotas_exist(kernel: Kernel) -> None:
    home = client(kernel, "rex").get("/")
    assert 'data-widget="on_duty"' not in home.text  # no rota yet: no box
    desk(kernel, "ann")
    rex = client(kernel, "rex").get("/").text
    assert 'data-widget="on_duty"' in rex
    box = rex.split('data-widget="on_duty"', 1)[1].split("</article>", 1)[0]
    assert 'href="/admin/duty/desk"' in box and "Ann" in box
    pat = client(kernel, "pat").get("/").text  # may read no rota
    assert 'data-widget="on_duty"' not in pat
    zh = client(kernel, "ann").get("/", headers={"accept-language": "zh-CN"})
    assert zh.status_code == 200 and 'data-widget="on_duty"' in zh.text
