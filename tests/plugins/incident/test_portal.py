"""The incident module on the self-service portal: reporting with files, following,
adding information, rating, and who sees what."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.comments import service as comments
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.db import count_statements
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.references import RecordRef
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ" + b"\x00" * 200


def signed_in(world: World, login: str) -> TestClient:
    return web_testing.signed_in(world.kernel, login, PASSWORD)


def csrf(client: TestClient) -> str:
    return web_testing.csrf_of(client)


def colleague(world: World, login: str = "colleague") -> int:
    """Another end user of the caller's service unit (Acme)."""
    with world.kernel.session() as session:
        user = identity.create_user(session, login, login.title(), password=PASSWORD)
        organisation.update_user(
            session,
            user.id,
            user.version,
            {"role_ids": [world.roles["end_user"]], "service_unit_ids": [world.units["acme"]]},
        )
    world.users[login] = user.id
    return user.id


def category_id(world: World, code: str) -> int:
    with world.kernel.session() as session:
        return session.scalar(  # type: ignore[no-any-return]
            select(DictionaryItem.id)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == "incident_category", DictionaryItem.code == code)
        )


def reported(world: World, login: str = "caller", **values: Any) -> Incident:
    """An incident `login` reported themselves."""
    values.setdefault("caller_id", world.users[login])
    return world.create(login, **values)


def as_agent(world: World, action: Any, incident_id: int, **values: Any) -> None:
    with world.kernel.session(world.actor("agent")) as session:
        action(session, incident_id, **values)


def error_of(html: str, field: str) -> str:
    """The error shown next to the form field `field`."""
    found = re.search(
        rf'for="[^"]*{field}".*?<p class="field-error" role="alert">(.*?)</p>', html, re.S
    )
    assert found is not None, f"no error next to {field}"
    return found.group(1)


def requested(html: str) -> list[int]:
    """The incidents the portal's home page lists, in order."""
    return [int(n) for n in re.findall(r'href="/portal/incidents/(\d+)"', html)]


def test_reporting_an_issue_with_a_file(world: World) -> None:
    caller = signed_in(world, "caller")
    form = caller.get("/portal/incidents/new")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and 'type="file" name="files"' in form.text
    assert 'value="+86 555 0199"' in form.text  # the caller's own phone, to confirm
    assert 'name="caller_id"' not in form.text and 'name="impact"' not in form.text
    assert 'id="nav"' not in form.text  # the portal's layout, not the agents'
    done = caller.post(
        "/portal/incidents/new",
        data={
            "csrf": csrf(caller),
            "title": "Screen flickers",
            "description": "<p>Since <b>today</b><script>alert(1)</script></p>",
            "category": str(category_id(world, "desktop")),
            "contact_phone": "+86 555 4242",
        },
        files=[("files", ("screen.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    assert done.status_code == 303
    with world.kernel.session() as session:
        incident = session.scalars(select(Incident)).one()
        files = session.scalars(select(Attachment)).all()
    assert done.headers["location"] == f"/portal/incidents/{incident.id}?done=created"
    assert (incident.caller_id, incident.category, incident.contact_phone) == (
        world.users["caller"],
        "desktop",
        "+86 555 4242",
    )
    assert (incident.impact, incident.urgency, incident.level) == ("minor", "medium", "p3")
    assert incident.description == "<p>Since <b>today</b></p>"
    assert [(f.target, f.filename, f.content_type) for f in files] == [
        (RecordRef("incident", incident.id), "screen.png", "image/png")
    ]
    page = caller.get(done.headers["location"]).text
    assert incident.number in page and "Screen flickers" in page
    assert f'href="/attachments/{files[0].id}"' in page
    assert "your issue is reported" in page and "Submitted" in page


def test_a_refused_file_keeps_the_form(world: World) -> None:
    caller = signed_in(world, "caller")
    caller.get("/portal/incidents/new")
    posted = {"csrf": csrf(caller), "title": "Keep what I typed", "contact_phone": "+86 1"}
    refused = caller.post(
        "/portal/incidents/new",
        data=posted,
        files=[
            ("files", ("notes.png", PNG, "image/png")),
            ("files", ("tool.exe", EXE, "application/octet-stream")),
        ],
    )
    assert refused.status_code == 400
    assert 'value="Keep what I typed"' in refused.text and 'value="+86 1"' in refused.text
    assert error_of(refused.text, "files") == (
        "“tool.exe” is a kind of file that is not accepted here."
    )
    missing = caller.post("/portal/incidents/new", data={**posted, "title": ""})
    assert missing.status_code == 400 and error_of(missing.text, "title") == "Fill this in."
    many = [("files", (f"p{n}.png", PNG, "image/png")) for n in range(11)]
    crowded = caller.post("/portal/incidents/new", data=posted, files=many)
    assert crowded.status_code == 400 and "Send at most 10 files at once." in crowded.text
    forged = caller.post("/portal/incidents/new", data={**posted, "csrf": "forged"})
    assert forged.status_code == 400 and 'class="portal-bar"' in forged.text
    with world.kernel.session() as session:
        assert session.scalars(select(Incident)).all() == []
        assert session.scalars(select(Attachment)).all() == []  # the PNG went with the post
    store = world.kernel.settings.attachments_path
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file()]


def test_following_shows_the_public_progress_only(world: World) -> None:
    incident = reported(world, contact_phone="+86 555 7000")
    with world.kernel.session(world.actor("agent")) as session:
        ref = RecordRef("incident", incident.id)
        comments.add_comment(
            session, world.kernel, ref, "<p>We are on it</p>", world.actor("agent")
        )
        comments.add_comment(
            session,
            world.kernel,
            ref,
            "<p>Vendor price 900</p>",
            world.actor("agent"),
            internal=True,
        )
    as_agent(world, service.assign, incident.id, assignee_id=world.users["engineer"])
    as_agent(world, service.start_work, incident.id)
    caller = signed_in(world, "caller")
    page = caller.get(f"/portal/incidents/{incident.id}").text
    assert "We are on it" in page and "Status changed to In progress" in page
    assert "Vendor price 900" not in page  # an internal comment
    assert "Engineer" not in page  # who works on it is the desk's business
    assert 'id="nav"' not in page and "+86 555 7000" in page
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles["end_user"],
            "incident", "contact_phone", "hidden",
        )  # fmt: skip
    assert "+86 555 7000" not in caller.get(f"/portal/incidents/{incident.id}").text


def test_another_persons_incident_is_not_found(world: World) -> None:
    colleague(world)
    theirs = reported(world, "colleague", title="Their printer")
    caller = signed_in(world, "caller")
    token = csrf(caller) if caller.get("/portal").status_code == 200 else ""
    base = f"/portal/incidents/{theirs.id}"
    assert caller.get(base).status_code == 404
    assert caller.post(f"{base}/information", data={"csrf": token, "body": "x"}).status_code == 404
    rated = caller.post(f"{base}/rate", data={"csrf": token, "satisfaction": "5"})
    assert rated.status_code == 404
    assert theirs.id not in requested(caller.get("/portal").text)


def test_adding_information_to_a_waiting_incident_resumes_it(world: World) -> None:
    incident = reported(world)
    as_agent(world, service.assign, incident.id, assignee_id=world.users["agent"])
    as_agent(world, service.start_work, incident.id)
    as_agent(world, service.wait_for_customer, incident.id)
    caller = signed_in(world, "caller")
    base = f"/portal/incidents/{incident.id}"
    page = caller.get(base).text
    assert "waiting for your answer" in page and f'action="{base}/information"' in page
    empty = caller.post(f"{base}/information", data={"csrf": csrf(caller), "body": " "})
    assert empty.status_code == 400
    assert error_of(empty.text, "body") == "Write something or add a file."
    added = caller.post(
        f"{base}/information",
        data={"csrf": csrf(caller), "body": "<p>It is model <i>X-200</i></p>"},
        files=[("files", ("label.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    assert added.status_code == 303
    with world.kernel.session() as session:
        status = session.scalar(select(Incident.status).where(Incident.id == incident.id))
        file_id = session.scalar(select(Attachment.id))
        body = session.scalar(select(Comment.body).where(Comment.target_id == incident.id))
    assert status == "in_progress"
    assert body == (
        f'<p>It is model <i>X-200</i></p><ul><li><a href="/attachments/{file_id}" '
        'rel="noopener noreferrer">label.png</a></li></ul>'
    )
    assert "It is model" in caller.get(base).text
    as_agent(world, service.resolve, incident.id, resolution="<p>Replaced</p>")
    as_agent(world, service.close, incident.id)
    closed = caller.get(base).text
    assert f'action="{base}/information"' not in closed
    late = caller.post(f"{base}/information", data={"csrf": csrf(caller), "body": "more"})
    assert late.status_code == 400 and "takes no more information" in late.text


def test_rating_only_once_resolved_and_only_once(world: World) -> None:
    incident = reported(world)
    caller = signed_in(world, "caller")
    base = f"/portal/incidents/{incident.id}"
    assert f'action="{base}/rate"' not in caller.get(base).text
    early = caller.post(
        f"{base}/rate", data={"csrf": csrf(caller), "version": "1", "satisfaction": "5"}
    )
    assert early.status_code == 400
    assert '<p class="error" role="alert">Satisfaction can be given once' in early.text
    assert "Please rate" not in caller.get("/portal").text
    as_agent(world, service.resolve, incident.id, resolution="<p>Fixed</p>")
    assert "Please rate" in caller.get("/portal").text
    page = caller.get(base).text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None and f'action="{base}/rate"' in page
    bad = caller.post(f"{base}/rate", data={"csrf": csrf(caller), "version": version.group(1)})
    assert bad.status_code == 400 and error_of(bad.text, "satisfaction") == "Fill this in."
    posted = {"csrf": csrf(caller), "version": version.group(1), "satisfaction": "4"}
    # A post from an older copy of the page is a lost update, told atop the form.
    stale = caller.post(f"{base}/rate", data={**posted, "version": str(int(version.group(1)) - 1)})
    assert stale.status_code == 409 and '<p class="error" role="alert">' in stale.text
    rated = caller.post(
        f"{base}/rate", data={**posted, "satisfaction_comment": "Quick"}, follow_redirects=False
    )
    assert rated.status_code == 303
    with world.kernel.session() as session:
        stored = session.get(Incident, incident.id)
        assert stored is not None
        assert (stored.satisfaction, stored.satisfaction_comment) == (4, "Quick")
        version_now = stored.version
    again = caller.post(f"{base}/rate", data={**posted, "version": str(version_now)})
    assert again.status_code == 400 and "You have already rated this incident." in again.text
    home = caller.get("/portal").text
    assert "Please rate" not in home and f'action="{base}/rate"' not in caller.get(base).text


def test_the_service_units_scope_shows_colleagues_incidents(world: World) -> None:
    colleague(world)
    incident = reported(world, title="Shared printer")
    as_agent(world, service.assign, incident.id, assignee_id=world.users["agent"])
    as_agent(world, service.start_work, incident.id)
    as_agent(world, service.wait_for_customer, incident.id)
    mate = signed_in(world, "colleague")
    base = f"/portal/incidents/{incident.id}"
    assert requested(mate.get("/portal").text) == []  # the default end-user scope: own
    assert mate.get(base).status_code == 404
    with world.kernel.session() as session:
        set_role_scope(session, world.roles["end_user"], "incident", "service_units")
    assert requested(mate.get("/portal").text) == [incident.id]
    page = mate.get(base).text
    assert "Shared printer" in page and f'action="{base}/rate"' not in page
    assert "waiting for your answer" not in page  # it waits for the caller, not for them
    added = mate.post(
        f"{base}/information",
        data={"csrf": csrf(mate), "body": "Same here"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    with world.kernel.session() as session:
        status = session.scalar(select(Incident.status).where(Incident.id == incident.id))
    assert status == "waiting_for_customer"  # only the caller's answer resumes it
    other_unit = reported(world, "agent2", title="Globex printer")
    assert other_unit.id not in requested(mate.get("/portal").text)


def test_the_home_page_costs_no_statement_per_incident(world: World) -> None:
    reported(world, title="First")
    caller = signed_in(world, "caller")
    caller.get("/portal")
    with count_statements(world.kernel.engine) as one:
        assert len(requested(caller.get("/portal").text)) == 1
    for n in range(5):
        reported(world, title=f"More {n}")
    with count_statements(world.kernel.engine) as six:
        assert len(requested(caller.get("/portal").text)) == 6
    assert six.count == one.count


def test_an_end_user_lands_on_the_portal_and_an_agent_on_the_workbench(world: World) -> None:
    caller = signed_in(world, "caller")
    home = caller.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/portal"
    portal = caller.get("/portal").text
    assert 'href="/portal/incidents/new"' in portal and "Report an issue" in portal
    assert 'class="portal-workbench"' not in portal
    agent = signed_in(world, "agent")
    workbench = agent.get("/", follow_redirects=False)
    assert workbench.status_code == 200 and 'href="/portal"' in workbench.text
    assert 'href="/portal/incidents/new"' not in workbench.text  # portal items stay off the nav
    assert 'class="portal-workbench"' in agent.get("/portal").text
