"""Complaints on the self-service portal: making one, following it, rating it, and the
person's complaints on the portal's home page."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel.notifications.models import Notification
from openitsm.plugins.complaint import service
from openitsm.plugins.complaint.models import Complaint
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World


def signed_in(world: World, login: str) -> TestClient:
    return web_testing.signed_in(world.kernel, login, PASSWORD)


def test_a_person_makes_a_complaint_on_the_portal(world: World) -> None:
    earlier = world.create(title="Earlier")  # the caller's own, so they may name it
    caller = signed_in(world, "caller")
    home = caller.get("/portal").text
    assert 'href="/portal/complaints/new"' in home and "Make a complaint" in home
    form = caller.get("/portal/complaints/new")
    assert form.status_code == 200
    assert 'value="+86 555 0199"' in form.text  # their own phone, to confirm
    assert 'name="complainant_id"' not in form.text and 'name="department_id"' not in form.text
    csrf = web_testing.csrf_of(caller)
    missing = caller.post("/portal/complaints/new", data={"csrf": csrf, "title": ""})
    assert missing.status_code == 400 and "Fill this in." in missing.text
    unknown = caller.post(
        "/portal/complaints/new", data={"csrf": csrf, "title": "x", "caused_by": "INC-1-000001"}
    )
    assert unknown.status_code == 400 and "names no record" in unknown.text
    done = caller.post(
        "/portal/complaints/new",
        data={
            "csrf": csrf,
            "title": "Waited all week",
            "description": "<p>Nobody came</p>",
            "caused_by": earlier.number,
        },
        files={"files": ("photo.txt", b"the queue", "text/plain")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = caller.get(done.headers["location"]).text
    assert "Waited all week" in page and "your complaint is registered" in page
    assert "photo.txt" in page
    with world.kernel.session() as session:
        made = session.scalars(select(Complaint).where(Complaint.title == "Waited all week")).one()
        assert (made.complainant_id, made.channel) == (world.users["caller"], "portal")
    assert world.cause(made.id) == f"complaint:{earlier.id}"
    assert made.number in caller.get("/portal").text


def test_only_the_complainant_follows_and_rates_it_once(world: World) -> None:
    complaint = world.create(title="Charged twice")
    base = f"/portal/complaints/{complaint.id}"
    caller = signed_in(world, "caller")
    page = caller.get(base).text
    assert "Charged twice" in page and f'action="{base}/rate"' not in page
    early = caller.post(
        f"{base}/rate", data={"csrf": web_testing.csrf_of(caller), "satisfaction": "5"}
    )
    assert early.status_code == 400
    with world.kernel.session(world.actor("agent")) as session:
        service.give_feedback(session, complaint.id, feedback="<p>Refunded</p>")
    with world.kernel.session() as session:
        told = session.scalars(
            select(Notification).where(Notification.event == service.FEEDBACK_EVENT)
        ).one()
    assert told.url is not None and told.url.endswith(f"{base}#rate")  # their home: the portal
    home = caller.get("/portal").text
    assert re.search(rf'href="{base}".*?Please rate', home, re.S)
    page = caller.get(base).text
    assert "Refunded" in page and f'action="{base}/rate"' in page and 'id="rate"' in page
    assert signed_in(world, "agent").get(base).status_code == 404  # not theirs to follow
    rated = caller.post(
        f"{base}/rate",
        data={"csrf": web_testing.csrf_of(caller), "satisfaction": "4"},
        follow_redirects=False,
    )
    assert rated.status_code == 303
    page = caller.get(rated.headers["location"]).text
    assert "Thank you for your rating." in page and f'action="{base}/rate"' not in page
    again = caller.post(
        f"{base}/rate", data={"csrf": web_testing.csrf_of(caller), "satisfaction": "1"}
    )
    assert again.status_code == 400 and "rated already" in again.text
    with world.kernel.session() as session:
        assert session.get(Complaint, complaint.id).satisfaction == 4  # type: ignore[union-attr]


def test_the_desk_is_sent_to_the_agents_page_to_rate(world: World) -> None:
    complaint = world.create(complainant_id=world.users["agent"])
    with world.kernel.session(world.actor("agent")) as session:
        service.give_feedback(session, complaint.id, feedback="<p>Done</p>")
    with world.kernel.session() as session:
        told = session.scalars(select(Notification.url)).one()
    assert told is not None and told.endswith(f"/complaints/{complaint.id}#rate")
    assert "/portal/" not in told
