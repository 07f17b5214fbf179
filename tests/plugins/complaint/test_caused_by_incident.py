"""A complaint linked to the incident that caused it, with the incident module enabled: the
complaint module reaches incidents only through the kernel's record kinds, and the cause is
the complaint's `caused_by` record link — shown on both records, as far as the reader may
see the other record and read the field."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openitsm.kernel import BadUserInput, Forbidden
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.testing import build_kernel, error_codes, gql
from openitsm.plugins.complaint import demo, plugin, service
from openitsm.plugins.complaint.models import Complaint
from openitsm.plugins.incident import plugin as incident_plugin
from openitsm.plugins.incident import service as incidents
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World, populate

# Neither module starts its process here: what is tested is the link between the records.
SETTINGS = {"complaint": {"process": ""}, "incident": {"process": ""}}


@pytest.fixture
def both(tmp_path: Path, database_url: str) -> Iterator[World]:
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"complaint": plugin, "incident": incident_plugin},
        plugin_settings=SETTINGS,
    )
    yield populate(kernel)
    kernel.close()


def incident(world: World, login: str = "agent", **values: Any) -> Any:
    values.setdefault("caller_id", world.users["caller"])
    with world.kernel.session(world.actor(login)) as session:
        return incidents.create_incident(session, title="Printer jams", **values)


def test_a_complaint_points_at_the_incident_behind_it(both: World) -> None:
    world = both
    cause = incident(world)
    complaint = world.create(caused_by=f"incident:{cause.id}")
    assert world.cause(complaint.id) == f"incident:{cause.id}"
    by_number = world.create(caused_by=cause.number)
    assert world.cause(by_number.id) == f"incident:{cause.id}"
    hidden = incident(world, login="agent2", caller_id=world.users["agent2"])
    with pytest.raises(BadUserInput) as error:
        world.create(caused_by=f"incident:{hidden.id}")
    assert error.value.extensions["field"] == "causedBy"
    query = """query($id: ID!) { complaint(id: $id) {
      causedBy { kind recordId exists title url kindLabel } } }"""
    gid = base64.b64encode(f"Complaint:{complaint.id}".encode()).decode()
    answer = gql(world.kernel, query, {"id": gid}, world.actor("agent"))
    assert answer["data"]["complaint"]["causedBy"] == {
        "kind": "incident",
        "recordId": cause.id,
        "exists": True,
        "title": f"{cause.number} Printer jams",
        "url": f"/incidents/{cause.id}",
        "kindLabel": "事件",  # the site's language: the actor chose none
    }
    page = web_testing.signed_in(world.kernel, "agent", PASSWORD).get(f"/complaints/{complaint.id}")
    assert f'Incident: <a href="/incidents/{cause.id}">' in page.text
    # the engineer sees the complaint once it is their department's, but not the incident:
    # an outsider to the incident sees no cause at all, not even its reference
    with world.kernel.session(world.actor("agent")) as session:
        service.assign(session, complaint.id, department_id=world.departments["ops"])
    engineer = web_testing.signed_in(world.kernel, "engineer", PASSWORD)
    seen = engineer.get(f"/complaints/{complaint.id}").text
    assert complaint.number in seen
    assert f"/incidents/{cause.id}" not in seen and "Printer jams" not in seen
    assert f"incident:{cause.id}" not in seen
    outsider = gql(world.kernel, query, {"id": gid}, world.actor("engineer"))
    assert outsider["data"]["complaint"] == {"causedBy": None}


def test_the_demo_links_a_complaint_to_an_incident(both: World) -> None:
    world = both
    cause = incident(world)
    with world.kernel.session() as session:
        demo.load(session, world.kernel)
    with world.kernel.session() as session:
        linked = session.execute(
            select(RecordLink.source_kind, RecordLink.target_kind, RecordLink.target_id).where(
                RecordLink.relation == "caused_by"
            )
        )
        assert list(linked) == [("complaint", "incident", cause.id)]
        assert len(session.scalars(select(Complaint)).all()) == len(demo.SAMPLES)
    with world.kernel.session() as session:
        demo.load(session, world.kernel)  # again: nothing more
        assert len(session.scalars(select(Complaint)).all()) == len(demo.SAMPLES)


def test_the_incident_lists_the_complaints_it_caused(both: World) -> None:
    from openitsm.kernel import RecordRef
    from openitsm.kernel.links import service as links

    world = both
    first, second = incident(world), incident(world)
    complaint = world.create(caused_by=f"incident:{first.id}")
    agent = world.actor("agent")

    def causes(incident_id: int) -> list[tuple[str, str, int]]:
        with world.kernel.session(agent) as session:
            found = links.links_of(session, RecordRef("incident", incident_id), agent)
            return [(v.relation.name, v.direction, v.record.ref.id) for v in found]

    assert causes(first.id) == [("caused_by", "incoming", complaint.id)]
    with world.kernel.session(agent) as session:
        service.update_complaint(
            session, complaint.id, complaint.version, {"caused_by": second.number}
        )
    assert world.cause(complaint.id) == f"incident:{second.id}"
    assert causes(first.id) == []
    assert causes(second.id) == [("caused_by", "incoming", complaint.id)]
    # the complainant holds no `record.link`: their complaint is linked all the same
    own = world.create(login="caller", caused_by=f"incident:{first.id}")
    assert causes(first.id) == [("caused_by", "incoming", own.id)]
    page = web_testing.signed_in(world.kernel, "agent", PASSWORD).get(f"/incidents/{second.id}")
    assert complaint.number in page.text


def sections(html: str) -> tuple[str, str]:
    """The linked-records panel and the timeline of a record page."""
    panel = html[html.index('id="record-links"') :]
    panel = panel[: panel.index("</section>")]
    timeline = html[html.index('id="timeline"') :]
    return panel, timeline[: timeline.index("</ol>")]


def test_the_cause_shows_on_both_records_and_in_their_history(both: World) -> None:
    world = both
    cause = incident(world)
    complaint = world.create(title="Rude on the phone", caused_by=cause.number)
    agent = web_testing.signed_in(world.kernel, "agent", PASSWORD)
    panel, timeline = sections(agent.get(f"/complaints/{complaint.id}").text)
    printer = f'<a href="/incidents/{cause.id}">{cause.number} Printer jams</a>'
    assert "Caused by" in panel and printer in panel
    assert '<span class="field">Caused by</span>' in timeline
    assert f"{cause.number} Printer jams" in timeline
    panel, timeline = sections(agent.get(f"/incidents/{cause.id}").text)
    rude = f'<a href="/complaints/{complaint.id}">{complaint.number} Rude on the phone</a>'
    assert "Causes" in panel and rude in panel
    assert '<span class="field">Causes</span>' in timeline
    assert f"{complaint.number} Rude on the phone" in timeline


def test_a_role_that_may_not_read_the_cause_finds_it_nowhere(both: World) -> None:
    world = both
    cause = incident(world)
    complaint = world.create(title="Rude on the phone", caused_by=f"incident:{cause.id}")
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles["service_desk_agent"],
            "complaint", "caused_by", "hidden",
        )  # fmt: skip
    agent = web_testing.signed_in(world.kernel, "agent", PASSWORD)
    page = agent.get(f"/complaints/{complaint.id}").text
    assert "Rude on the phone" in page
    assert "Printer jams" not in page and f"/incidents/{cause.id}" not in page
    page = agent.get(f"/incidents/{cause.id}").text
    assert "Printer jams" in page
    assert complaint.number not in page and f"/complaints/{complaint.id}" not in page
    query = """query($id: ID!) { complaint(id: $id) { causedBy { kind } } }"""
    gid = base64.b64encode(f"Complaint:{complaint.id}".encode()).decode()
    answer = gql(world.kernel, query, {"id": gid}, world.actor("agent"))
    assert error_codes(answer) == ["FORBIDDEN"]
    links = """query($r: String!) { recordLinks(record: $r) { relation } }"""
    for ref in (f"complaint:{complaint.id}", f"incident:{cause.id}"):
        seen = gql(world.kernel, links, {"r": ref}, world.actor("agent"))
        assert seen["data"]["recordLinks"] == [], ref
    with pytest.raises(Forbidden), world.kernel.session(world.actor("agent")) as session:
        service.update_complaint(session, complaint.id, complaint.version, {"caused_by": None})
    assert world.cause(complaint.id) == f"incident:{cause.id}"
    # the supervisor's role hides nothing: the cause is there for them
    answer = gql(world.kernel, query, {"id": gid}, world.actor("supervisor"))
    assert answer["data"]["complaint"] == {"causedBy": {"kind": "incident"}}
