"""Vendor self-service on the portal: a vendor sees the incidents dispatched to them and no
other, reports progress the desk sees, and finishes their process step through the kernel's
workflow runtime; people whose home is the portal are sent there from the agents' page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel.db import count_statements
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.testing import gql
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.models import OPEN, ProcessInstance, Transition, WorkItem
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident
from openitsm.web import testing as web_testing
from openitsm.web.portal import lands_on_portal

from .conftest import PASSWORD, World

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def vendors(world: World) -> World:
    """Two vendors, each in their own company's department."""
    with world.kernel.session() as session:
        for login, code in (("vendora", "acme_support"), ("vendorb", "globex_support")):
            department = organisation.create_department(session, code=code, name=code.title())
            world.departments[code] = department.id
            user = identity.create_user(session, login, login.title(), password=PASSWORD)
            organisation.update_user(
                session,
                user.id,
                user.version,
                {"department_id": department.id, "role_ids": [world.roles["vendor"]]},
            )
            world.users[login] = user.id
    return world


def signed_in(world: World, login: str) -> TestClient:
    return web_testing.signed_in(world.kernel, login, PASSWORD)


def open_item(world: World, incident: Incident) -> WorkItem:
    with world.kernel.session() as session:
        item = session.scalar(
            select(WorkItem)
            .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
            .where(
                ProcessInstance.record_kind == "incident",
                ProcessInstance.record_id == incident.id,
                WorkItem.state == OPEN,
            )
        )
    assert item is not None
    return item


def at_vendor(world: World, title: str, **dispatch: object) -> tuple[Incident, int]:
    """An incident whose process a supervisor moved to the vendor step (offered to the
    vendor role), then dispatched by the desk as `dispatch` says; with its open item."""
    incident = world.create(title=title)
    item = open_item(world, incident)
    kernel = world.kernel
    with kernel.session(world.actor("supervisor")) as session:
        runtime.jump(session, kernel, world.actor("supervisor"), item.id, "vendor")
    item = open_item(world, incident)
    assert item.node_id == "vendor"
    if dispatch:
        with kernel.session(world.actor("agent")) as session:
            runtime.dispatch_item(session, kernel, world.actor("agent"), item.id, **dispatch)  # type: ignore[arg-type]
    return incident, item.id


def dispatched_list(html: str) -> list[int]:
    """The incidents under "Dispatched to me" on the portal's home page."""
    if "<h2>Dispatched to me</h2>" not in html:
        return []
    section = html.partition("<h2>Dispatched to me</h2>")[2].partition("</ul>")[0]
    return sorted(int(n) for n in re.findall(r'href="/portal/incidents/dispatched/(\d+)"', section))


def test_a_vendor_sees_only_what_is_dispatched_to_them(vendors: World) -> None:
    world = vendors
    mine, _ = at_vendor(world, "Storage array fault", user_id=world.users["vendora"])
    theirs, _ = at_vendor(world, "Switch fault", department_code="globex_support")
    offered, _ = at_vendor(world, "Either vendor")
    assigned = world.create(title="Assigned to the vendor")
    with world.kernel.session(world.actor("agent")) as session:
        service.assign(session, assigned.id, assignee_id=world.users["vendora"])
    at_desk = world.create(title="Still at the desk")

    assert lands_on_portal(world.kernel, world.actor("vendora"))
    vendor_a, vendor_b = signed_in(world, "vendora"), signed_in(world, "vendorb")
    assert vendor_a.get("/").url.path == "/portal"
    home = vendor_a.get("/portal").text
    assert dispatched_list(home) == sorted([mine.id, offered.id, assigned.id])
    assert "Storage array fault" in home and "My requests" not in home
    assert dispatched_list(vendor_b.get("/portal").text) == sorted([theirs.id, offered.id])
    # Agents keep such work in their inbox, not on the portal.
    assert "Dispatched to me" not in signed_in(world, "agent").get("/portal").text

    # The same rule everywhere: the API lists what the portal lists.
    listed = gql(
        world.kernel, "{ incidents { edges { node { title } } } }", {}, world.actor("vendora")
    )
    titles = sorted(edge["node"]["title"] for edge in listed["data"]["incidents"]["edges"])
    assert titles == sorted(["Storage array fault", "Either vendor", "Assigned to the vendor"])

    page = vendor_a.get(f"/portal/incidents/dispatched/{mine.id}")
    assert page.status_code == 200 and "Storage array fault" in page.text
    assert "Finish the step “Vendor”" in page.text and "Send back to “3rd-line expert”" in page.text
    for other in (theirs, at_desk):
        assert vendor_a.get(f"/portal/incidents/dispatched/{other.id}").status_code == 404
        assert vendor_a.get(f"/portal/incidents/{other.id}").status_code == 404
        assert vendor_a.get(f"/incidents/{other.id}").status_code == 404  # via the portal

    # Once one vendor takes the offered step, it is no longer the other's.
    with world.kernel.session(world.actor("vendorb")) as session:
        item = open_item(world, offered)
        runtime.claim_item(session, world.actor("vendorb"), item.id)
    assert dispatched_list(vendor_a.get("/portal").text) == sorted([mine.id, assigned.id])
    assert vendor_a.get(f"/portal/incidents/dispatched/{offered.id}").status_code == 404

    # The list costs the same whatever its length.
    with count_statements(world.kernel.engine) as few:
        vendor_a.get("/portal")
    for n in range(3):
        at_vendor(world, f"More {n}", user_id=world.users["vendora"])
    with count_statements(world.kernel.engine) as more:
        assert len(dispatched_list(vendor_a.get("/portal").text)) == 5
    assert more.count == few.count


def test_progress_from_the_vendor_shows_on_the_agents_timeline(vendors: World) -> None:
    world = vendors
    incident, _ = at_vendor(world, "Disk failure", user_id=world.users["vendora"])
    vendor = signed_in(world, "vendora")
    url = f"/portal/incidents/dispatched/{incident.id}"
    vendor.get(url)
    empty = vendor.post(f"{url}/progress", data={"csrf": web_testing.csrf_of(vendor), "body": "  "})
    assert empty.status_code == 400 and "Write something or add a file." in empty.text
    done = vendor.post(
        f"{url}/progress",
        data={"csrf": web_testing.csrf_of(vendor), "body": "<p>Replacement disk ordered</p>"},
        files=[("files", ("quote.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, f"{url}?done=progress")
    assert "Replacement disk ordered" in vendor.get(done.headers["location"]).text

    agent_page = signed_in(world, "agent").get(f"/incidents/{incident.id}").text
    assert "Replacement disk ordered" in agent_page and "quote.png" in agent_page
    assert "Vendora" in agent_page  # who said it
    forged = vendor.post(f"{url}/progress", data={"csrf": "forged", "body": "x"})
    assert forged.status_code == 400


def test_finishing_the_vendor_step_moves_the_process(vendors: World) -> None:
    world = vendors
    back, back_item = at_vendor(world, "Back to the experts", user_id=world.users["vendora"])
    offered, offered_item = at_vendor(world, "Resolved by the vendor")
    other, other_item = at_vendor(world, "Not theirs", department_code="globex_support")
    vendor = signed_in(world, "vendora")
    url = f"/portal/incidents/dispatched/{back.id}"
    vendor.get(url)
    token = web_testing.csrf_of(vendor)
    with world.kernel.session() as session:
        version = session.get(WorkItem, back_item).version  # type: ignore[union-attr]

    missing = vendor.post(
        f"{url}/step",
        data={"csrf": token, "item": back_item, "version": version, "result": "back:third_line"},
    )
    assert missing.status_code == 400 and "Say what was done, or why it goes back." in missing.text
    unknown = vendor.post(
        f"{url}/step",
        data={"csrf": token, "item": back_item, "version": version, "result": "back:desk",
              "comment": "x"},
    )  # fmt: skip
    assert unknown.status_code == 400 and "Choose how the step ends." in unknown.text
    stale = vendor.post(
        f"{url}/step",
        data={"csrf": token, "item": back_item, "version": version + 1,
              "result": "resolved", "comment": "x"},
    )  # fmt: skip
    assert stale.status_code == 409
    assert (
        vendor.post(
            f"{url}/step",
            data={"csrf": token, "item": other_item, "result": "resolved", "comment": "x"},
        ).status_code
        == 404
    )  # another vendor's step, through an incident of ours
    sent = vendor.post(
        f"{url}/step",
        data={"csrf": token, "item": back_item, "version": version, "result": "back:third_line",
              "comment": "Firmware bug on your side"},
        follow_redirects=False,
    )  # fmt: skip
    assert (sent.status_code, sent.headers["location"]) == (303, "/portal?done=step")
    assert "Your step is done." in vendor.get("/portal?done=step").text
    assert open_item(world, back).node_id == "third_line"
    assert vendor.get(url).status_code == 404  # no longer theirs
    agent_page = signed_in(world, "agent").get(f"/incidents/{back.id}").text
    assert "Firmware bug on your side" in agent_page

    # An offered step is taken and completed at once; the process ends "resolved".
    page = vendor.get(f"/portal/incidents/dispatched/{offered.id}").text
    assert "This step is offered to you; finishing it takes it." in page
    done = vendor.post(
        f"/portal/incidents/dispatched/{offered.id}/step",
        data={"csrf": token, "item": offered_item, "result": "resolved",
              "comment": "Replaced the controller"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    with world.kernel.session() as session:
        instance = session.scalar(
            select(ProcessInstance).where(
                ProcessInstance.record_kind == "incident", ProcessInstance.record_id == offered.id
            )
        )
        assert instance is not None
        assert (instance.state, instance.end_node) == ("completed", "resolved")
        actions = session.scalars(
            select(Transition.action).where(Transition.instance_id == instance.id)
        ).all()
        assert "claim" in actions and "complete" in actions
        item = session.get(WorkItem, offered_item)
        assert item is not None
        assert (item.outcome, item.completed_by_id) == ("resolved", world.users["vendora"])
    assert open_item(world, other).node_id == "vendor"  # untouched


def test_portal_people_are_sent_from_the_agents_page_to_theirs(vendors: World) -> None:
    world = vendors
    incident, _ = at_vendor(world, "Printer contract", user_id=world.users["vendora"])
    caller = signed_in(world, "caller")
    answer = caller.get(f"/incidents/{incident.id}", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/portal/incidents/{incident.id}",
    )
    assert "Printer contract" in caller.get(f"/incidents/{incident.id}").text
    vendor = signed_in(world, "vendora")
    answer = vendor.get(f"/incidents/{incident.id}", follow_redirects=False)
    assert answer.headers["location"] == f"/portal/incidents/dispatched/{incident.id}"
    agent = signed_in(world, "agent").get(f"/incidents/{incident.id}", follow_redirects=False)
    assert agent.status_code == 200  # agents keep their page
