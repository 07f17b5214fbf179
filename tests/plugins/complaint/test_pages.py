"""The complaint pages: list, registration, one complaint with its actions, the widget."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.db import count_statements
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.plugins.complaint import service
from openitsm.plugins.complaint.models import Complaint
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World


def signed_in(world: World, login: str, **headers: str) -> TestClient:
    return web_testing.signed_in(world.kernel, login, PASSWORD, headers=headers or None)


def item_id(world: World, dictionary: str, code: str) -> int:
    with world.kernel.session() as session:
        return session.scalar(  # type: ignore[no-any-return]
            select(DictionaryItem.id)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == dictionary, DictionaryItem.code == code)
        )


def rows(html: str) -> list[int]:
    """The complaints a list page links to."""
    return [int(n) for n in re.findall(r'href="/complaints/(\d+)"', html)]


def test_pages_need_the_actions(world: World) -> None:
    plain = signed_in(world, "plain")
    assert plain.get("/complaints").status_code == 403
    assert plain.get("/complaints/new").status_code == 403
    assert signed_in(world, "caller").get("/complaints").status_code == 200
    assert signed_in(world, "engineer").get("/complaints/new").status_code == 403


def test_registering_through_the_form(world: World) -> None:
    earlier = world.create(title="Earlier")
    agent = signed_in(world, "agent")
    form = agent.get(f"/complaints/new?caused_by={earlier.number}")
    assert form.status_code == 200
    assert 'name="complainant_id"' in form.text and 'name="department_id"' in form.text
    assert 'name="nature"' in form.text
    assert f'value="{earlier.number}"' in form.text  # the caused-by field is filled in
    csrf = web_testing.csrf_of(agent)
    posted = {
        "csrf": csrf,
        "complainant_id": str(world.users["caller"]),
        "title": "",
        "contact_phone": "+86 555 7777",
        "channel": str(item_id(world, "complaint_source", "walk_in")),
        "category": str(item_id(world, "complaint_type", "attitude")),
        "nature": str(item_id(world, "complaint_nature", "general")),
        "severity": "serious",
        "caused_by": earlier.number,
    }
    missing = agent.post("/complaints/new", data=posted)
    assert missing.status_code == 400
    assert "Fill this in." in missing.text and "+86 555 7777" in missing.text  # typing kept
    unknown = agent.post("/complaints/new", data={**posted, "title": "x", "caused_by": "nope:1"})
    assert unknown.status_code == 400 and "names no record" in unknown.text
    forged = agent.post("/complaints/new", data={**posted, "title": "x", "csrf": "nope"})
    assert forged.status_code == 400
    done = agent.post(
        "/complaints/new", data={**posted, "title": "Rude engineer"}, follow_redirects=False
    )
    assert done.status_code == 303
    page = agent.get(done.headers["location"])
    assert page.status_code == 200
    assert "Rude engineer" in page.text and "The complaint is registered." in page.text
    with world.kernel.session() as session:
        complaint = session.scalars(
            select(Complaint).where(Complaint.title == "Rude engineer")
        ).one()
        assert (complaint.channel, complaint.category, complaint.nature, complaint.severity) == (
            "walk_in", "attitude", "general", "serious",
        )  # fmt: skip
    assert world.cause(complaint.id) == f"complaint:{earlier.id}"
    # the record behind it is a link, titled as the viewer may see it
    assert f'<a href="/complaints/{earlier.id}">{earlier.number} Earlier</a>' in page.text
    assert f'action="/complaints/{complaint.id}/feedback"' in page.text
    assert f'action="/complaints/{complaint.id}/rate"' not in page.text


def test_the_end_user_registers_without_routing(world: World) -> None:
    caller = signed_in(world, "caller")
    form = caller.get("/complaints/new").text
    assert 'name="department_id"' not in form  # routing is the desk's
    done = caller.post(
        "/complaints/new",
        data={
            "csrf": web_testing.csrf_of(caller),
            "complainant_id": str(world.users["caller"]),
            "title": "Waited a week",
            "severity": "minor",
            "department_id": str(world.departments["ops"]),  # forged: dropped
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    with world.kernel.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        assert complaint.department_id is None


def test_the_action_forms_follow_state_and_permission(world: World) -> None:
    complaint = world.create()
    agent, caller = signed_in(world, "agent"), signed_in(world, "caller")
    csrf = web_testing.csrf_of(agent)
    base = f"/complaints/{complaint.id}"
    empty = agent.post(f"{base}/feedback", data={"csrf": csrf, "version": "1", "feedback": ""})
    assert empty.status_code == 400 and "Fill this in." in empty.text
    given = agent.post(
        f"{base}/feedback",
        data={"csrf": csrf, "version": "1", "feedback": "<p>We apologised</p>"},
        follow_redirects=False,
    )
    assert given.status_code == 303
    stale = agent.post(f"{base}/close", data={"csrf": csrf, "version": "1"})
    assert stale.status_code == 409
    page = caller.get(base).text
    assert "We apologised" in page
    assert f'action="{base}/rate"' in page and 'id="rate"' in page  # where the mail links to
    assert f'action="{base}/close"' not in page
    assert (
        caller.post(f"{base}/close", data={"csrf": web_testing.csrf_of(caller)}).status_code == 403
    )
    rated = caller.post(
        f"{base}/rate",
        data={"csrf": web_testing.csrf_of(caller), "satisfaction": "5"},
        follow_redirects=False,
    )
    assert rated.status_code == 303
    assert f'action="{base}/rate"' not in caller.get(base).text  # once only
    assert signed_in(world, "agent2").get(base).status_code == 404


def test_the_list_honours_scope_and_hidden_fields(world: World) -> None:
    mine = world.create(title="Rude engineer", category="attitude")
    agent, other = signed_in(world, "agent"), signed_in(world, "agent2")
    assert rows(agent.get("/complaints").text) == [mine.id]
    assert rows(other.get("/complaints").text) == []
    assert rows(other.get(f"/complaints?q={mine.number}").text) == []
    assert rows(agent.get("/complaints?category=attitude").text) == [mine.id]
    assert rows(agent.get("/complaints?category=billing").text) == []
    assert "<td>Service attitude</td>" in agent.get("/complaints").text
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles["service_desk_agent"],
            "complaint", "category", "hidden",
        )  # fmt: skip
    hidden = agent.get("/complaints").text
    assert rows(hidden) == [mine.id] and "Service attitude" not in hidden
    assert agent.get("/complaints?cols=number,category").status_code == 403
    assert "Service attitude" not in agent.get(f"/complaints/{mine.id}").text
    export = agent.get("/complaints/export.xlsx")
    assert export.status_code == 200 and export.content[:2] == b"PK"


def test_the_list_costs_no_statement_per_row(world: World) -> None:
    for n in range(6):
        world.create(
            title=f"Case {n}",
            assignee_id=world.users["engineer"],
            department_id=world.departments["ops"],
        )
    agent = signed_in(world, "agent")
    agent.get("/complaints")
    with count_statements(world.kernel.engine) as six:
        assert len(rows(agent.get("/complaints").text)) == 6
    with count_statements(world.kernel.engine) as one:
        assert len(rows(agent.get("/complaints?q=Case%203").text)) == 1
    assert six.count == one.count


def test_the_workbench_widget_counts_open_complaints(world: World) -> None:
    world.create(severity="serious")
    world.create(severity="serious", department_id=world.departments["ops"])
    done = world.create(severity="minor")
    with world.kernel.session(world.actor("agent")) as session:
        service.give_feedback(session, done.id, feedback="done")
    agent = signed_in(world, "agent")
    page = agent.get("/").text
    assert "Open complaints" in page
    assert 'href="/complaints?open=1&amp;severity=serious"' in page
    table = page[page.index("complaints-open") :]
    serious = table[table.index("severity=serious") :].split("</tr>")[0]
    assert re.findall(r"<td>(\d+)</td>", serious) == ["1", "1", "0", "2"]
    minor = table[table.index("severity=minor") :].split("</tr>")[0]
    assert re.findall(r"<td>(\d+)</td>", minor) == ["0", "0", "0", "0"]
    assert signed_in(world, "plain").get("/").status_code == 200


def test_the_pages_speak_chinese(world: World) -> None:
    complaint = world.create(category="billing")
    agent = signed_in(world, "agent", **{"accept-language": "zh-CN"})
    listing = agent.get("/complaints").text
    assert "已转办" in listing and "费用" in listing
    detail = agent.get(f"/complaints/{complaint.id}").text
    assert "责任部门" in detail and "Finance" in detail
    assert "投诉" in agent.get("/complaints/new").text
