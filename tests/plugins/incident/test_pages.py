"""The incident pages: list, registration, one incident with its actions, the widget."""

from __future__ import annotations

import re

from sqlalchemy import event, select
from starlette.testclient import TestClient

from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.comments.service import add_comment
from openitsm.kernel.db import count_statements
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.notifications.service import notify, unread_count
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.references import RecordRef
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident
from openitsm.plugins.incident.notifications import SLA_WARNING
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World


def signed_in(world: World, login: str) -> TestClient:
    return web_testing.signed_in(world.kernel, login, PASSWORD)


def item_id(world: World, dictionary: str, code: str) -> int:
    with world.kernel.session() as session:
        return session.scalar(  # type: ignore[no-any-return]
            select(DictionaryItem.id)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == dictionary, DictionaryItem.code == code)
        )


def numbers(html: str) -> list[str]:
    return re.findall(r"INC-\d{4}-\d{6}", html)


def rows(html: str) -> list[int]:
    """The incidents a list page links to."""
    return [int(n) for n in re.findall(r'href="/incidents/(\d+)"', html)]


def test_pages_need_the_actions(world: World) -> None:
    plain = signed_in(world, "plain")
    assert plain.get("/incidents").status_code == 403
    assert plain.get("/incidents/new").status_code == 403
    caller = signed_in(world, "caller")
    assert caller.get("/incidents").status_code == 200
    engineer = signed_in(world, "engineer")
    assert engineer.get("/incidents/new").status_code == 403  # no incident.create


def test_registering_through_the_form(world: World) -> None:
    agent = signed_in(world, "agent")
    form = agent.get("/incidents/new")
    assert form.status_code == 200 and 'name="caller_id"' in form.text
    csrf = web_testing.csrf_of(agent)
    posted = {
        "csrf": csrf,
        "caller_id": str(world.users["caller"]),
        "title": "",
        "contact_phone": "+86 555 7777",
        "category": str(item_id(world, "incident_category", "printer")),
    }
    missing = agent.post("/incidents/new", data=posted)
    assert missing.status_code == 400
    assert "Fill this in." in missing.text and "+86 555 7777" in missing.text  # typing kept
    forged = agent.post("/incidents/new", data={**posted, "title": "x", "csrf": "nope"})
    assert forged.status_code == 400
    done = agent.post(
        "/incidents/new", data={**posted, "title": "Paper jam"}, follow_redirects=False
    )
    assert done.status_code == 303
    page = agent.get(done.headers["location"])
    assert page.status_code == 200
    assert "Paper jam" in page.text and numbers(page.text)
    with world.kernel.session() as session:
        incident = session.scalars(select(Incident)).one()
        assert (incident.category, incident.contact_phone) == ("printer", "+86 555 7777")
    assert f'action="/incidents/{incident.id}/resolve"' in page.text
    assert f'action="/incidents/{incident.id}/rate"' not in page.text


def test_the_action_forms_follow_state_and_permission(world: World) -> None:
    incident = world.create()
    agent, caller = signed_in(world, "agent"), signed_in(world, "caller")
    csrf = web_testing.csrf_of(agent)
    base = f"/incidents/{incident.id}"
    refused = agent.post(f"{base}/resolve", data={"csrf": csrf, "version": "1", "resolution": ""})
    assert refused.status_code == 400 and "Fill this in." in refused.text
    resolved = agent.post(
        f"{base}/resolve",
        data={"csrf": csrf, "version": "1", "resolution": "<p>Fixed</p>", "cost": "5"},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    stale = agent.post(f"{base}/close", data={"csrf": csrf, "version": "1"})
    assert stale.status_code == 409
    page = caller.get(base)  # a caller whose home is the portal follows it there
    assert page.url.path == f"/portal{base}"
    assert f'action="/portal{base}/rate"' in page.text and f"{base}/close" not in page.text
    assert (
        caller.post(f"{base}/close", data={"csrf": web_testing.csrf_of(caller)}).status_code == 403
    )
    rated = caller.post(
        f"{base}/rate",
        data={"csrf": web_testing.csrf_of(caller), "satisfaction": "5"},
        follow_redirects=False,
    )
    assert rated.status_code == 303
    assert signed_in(world, "agent2").get(base).status_code == 404


def test_the_list_honours_scope_and_hidden_fields(world: World) -> None:
    mine = world.create(title="Paper jam", category="printer")
    agent, other = signed_in(world, "agent"), signed_in(world, "agent2")
    assert rows(agent.get("/incidents").text) == [mine.id]
    assert rows(other.get("/incidents").text) == []
    assert rows(other.get(f"/incidents?q={mine.number}").text) == []
    assert rows(agent.get(f"/incidents?q={mine.number}").text) == [mine.id]
    assert "<td>Printer</td>" in agent.get("/incidents").text
    assert "<dd>Printer</dd>" in agent.get(f"/incidents/{mine.id}").text
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles["service_desk_agent"],
            "incident", "category", "hidden",
        )  # fmt: skip
    hidden = agent.get("/incidents").text
    assert rows(hidden) == [mine.id] and "Printer" not in hidden
    assert agent.get("/incidents?cols=number,category").status_code == 403
    assert "Printer" not in agent.get(f"/incidents/{mine.id}").text


def test_the_list_costs_no_statement_per_row(world: World) -> None:
    for n in range(6):
        world.create(title=f"Case {n}", assignee_id=world.users["engineer"])
    agent = signed_in(world, "agent")
    agent.get("/incidents")
    with count_statements(world.kernel.engine) as six:
        assert len(rows(agent.get("/incidents").text)) == 6
    with count_statements(world.kernel.engine) as one:
        assert len(rows(agent.get("/incidents?q=Case%203").text)) == 1
    assert six.count == one.count


def test_the_detail_page_costs_the_same_for_five_comments_or_twenty_five(world: World) -> None:
    """For an engineer whose scope is their department's subtree: the record's scope is
    checked once for the page (and once for its parent and children), not again by each
    part that hangs off it, and the number of statements does not follow the comments."""
    ops = world.departments["ops"]
    engineer = world.actor("engineer")
    counts = []
    for many in (5, 25):
        parent, incident, *children = (world.create(group_id=ops) for _ in range(4))
        with world.kernel.session(engineer) as session:
            service.link_parent(session, incident.id, parent.id)
            for child in children:
                service.link_parent(session, child.id, incident.id)
            for n in range(many):
                body = f"<p>Note {n} of {many}</p>"
                ref = RecordRef("incident", incident.id)
                add_comment(session, world.kernel, ref, body, engineer, internal=n % 5 == 0)
        client = signed_in(world, "engineer")
        client.get(f"/incidents/{incident.id}")
        with count_statements(world.kernel.engine) as log:
            html = client.get(f"/incidents/{incident.id}").text
        assert html.count('class="timeline-comment') == many
        assert f"Note {many - 1} of {many}" in html
        assert all(i.number in html for i in (parent, *children))
        assert sum("scope_department_tree" in s for s in log.statements) <= 2
        counts.append(log.count)
    assert counts[0] == counts[1]


def test_the_workbench_widget_counts_open_incidents_by_level(world: World) -> None:
    world.create(impact="extensive", urgency="critical")
    world.create(impact="minor", urgency="low")
    agent = signed_in(world, "agent")
    page = agent.get("/").text
    assert "Open incidents by level" in page
    assert 'href="/incidents?open=1&amp;level=p1"' in page
    assert signed_in(world, "plain").get("/").status_code == 200


def test_the_detail_page_follows_a_change_of_the_viewers_scope_at_once(world: World) -> None:
    """The page's statements are kept per viewer, never past a change of what they see."""
    ops, desk = world.departments["ops"], world.departments["desk"]
    theirs, other = world.create(group_id=ops), world.create(group_id=desk)
    client = signed_in(world, "engineer")
    assert client.get(f"/incidents/{theirs.id}").status_code == 200
    assert client.get(f"/incidents/{other.id}").status_code == 404
    with world.kernel.session() as session:  # the engineer moves to the service desk
        user = organisation.get_user(session, world.users["engineer"])
        organisation.update_user(session, user.id, user.version, {"department_id": desk})
    assert client.get(f"/incidents/{theirs.id}").status_code == 404
    assert client.get(f"/incidents/{other.id}").status_code == 200
    with world.kernel.session() as session:  # and their role comes to see every incident
        set_role_scope(session, world.roles["second_line_engineer"], "incident", "all")
    assert client.get(f"/incidents/{theirs.id}").status_code == 200


def test_the_detail_page_reads_in_one_transaction_with_the_bell(world: World) -> None:
    engineer = world.users["engineer"]
    incident = world.create(group_id=world.departments["ops"], assignee_id=engineer)
    with world.kernel.session() as session:
        for target in ("response", "resolution"):
            values = {"target": target, "due_at": None}
            ref = RecordRef("incident", incident.id)
            notify(session, SLA_WARNING, [engineer], record=ref, values=values)
    with world.kernel.session() as session:
        unread = unread_count(session, engineer)
    assert unread == 2
    client = signed_in(world, "engineer")
    client.get(f"/incidents/{incident.id}")
    begun: list[object] = []

    def begin(connection: object) -> None:
        begun.append(connection)

    event.listen(world.kernel.engine, "begin", begin)
    try:
        html = client.get(f"/incidents/{incident.id}").text
    finally:
        event.remove(world.kernel.engine, "begin", begin)
    assert f'data-unread="{unread}"' in html
    assert len(begun) == 1
