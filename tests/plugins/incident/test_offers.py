"""Escalating an incident to a problem and archiving it to knowledge: offered only while a
module answers the hook, under the incident's own actions, linked on the incident's page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel import RecordRef
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.testing import error_codes, gql
from openitsm.plugins.incident import offers, service
from openitsm.web import testing as web_testing

from .conftest import World
from .peers import FakeArticle, FakeProblem, create_tables, peers
from .test_pages import signed_in

ESCALATE = """mutation($id: ID!, $v: Int!) { escalateIncidentToProblem(id: $id, version: $v) {
  incident { number } problem { kind recordId title url } } }"""
ARCHIVE = """mutation($id: ID!, $v: Int!) { archiveIncidentToKnowledge(id: $id, version: $v) {
  incident { number } knowledge { kind recordId title } } }"""


def gid(key: int) -> str:
    from strawberry.relay import to_base64

    return to_base64("Incident", key)


def links_of(world: World, incident_id: int) -> list[tuple[str, str, int]]:
    with world.kernel.session() as session:
        rows = session.execute(
            select(RecordLink.relation, RecordLink.target_kind, RecordLink.target_id).where(
                RecordLink.source_kind == "incident", RecordLink.source_id == incident_id
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def resolve(world: World, incident_id: int, resolution: str = "<p>Reseated the toner</p>") -> Any:
    with world.kernel.session(world.actor("agent")) as session:
        return service.resolve(session, incident_id, resolution=resolution)


def test_nothing_is_offered_without_a_module_that_answers(world: World) -> None:
    incident = world.create(description="<p>Jams on every page</p>")
    resolve(world, incident.id)
    page = signed_in(world, "agent").get(f"/incidents/{incident.id}").text
    assert "/escalate_problem" not in page and "/archive_knowledge" not in page
    agent = world.actor("agent")
    for mutation in (ESCALATE, ARCHIVE):
        answer = gql(world.kernel, mutation, {"id": gid(incident.id), "v": 2}, agent)
        assert error_codes(answer) == ["BAD_USER_INPUT"], answer
    client = signed_in(world, "agent")
    posted = client.post(
        f"/incidents/{incident.id}/escalate_problem",
        data={"csrf": web_testing.csrf_of(client), "version": "2"},
    )
    assert posted.status_code == 400 and "No enabled module takes this" in posted.text


class TestWithAnsweringModules:
    @pytest.fixture
    def extra_plugins(self) -> dict[str, Any]:
        return peers()

    @pytest.fixture
    def peered(self, world: World, extra_plugins: dict[str, Any]) -> World:
        create_tables(world.kernel.engine)
        return world

    def test_escalating_opens_one_problem_and_links_it(
        self, peered: World, extra_plugins: dict[str, Any]
    ) -> None:
        world, problems = peered, extra_plugins["problems"]
        incident = world.create(
            title="Printer jams",
            description='<p onclick="x()">Jams on every page</p>',
            category="printer",
            impact="minor",
            urgency="high",
        )
        agent = signed_in(world, "agent")
        base = f"/incidents/{incident.id}"
        page = agent.get(base).text
        assert f'action="{base}/escalate_problem"' in page
        assert f'action="{base}/archive_knowledge"' not in page  # not resolved yet
        done = agent.post(
            f"{base}/escalate_problem",
            data={"csrf": web_testing.csrf_of(agent), "version": str(incident.version)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        shown = agent.get(done.headers["location"]).text
        assert "escalated to a problem" in shown
        assert "Escalated to" in shown and 'href="/problems/1"' in shown and "PRB-000001" in shown

        actor, draft = problems.drafts[0]
        assert actor.user_id == world.users["agent"]
        assert draft.source == RecordRef("incident", incident.id) and draft.title == "Printer jams"
        assert draft.body_html == "<p>Jams on every page</p>"
        assert draft.fields == {
            "category": "printer",
            "impact": "minor",
            "urgency": "high",
            "caller": world.users["caller"],
        }
        # Asked again (GraphQL, say a second click): the same problem, still one link.
        answer = gql(
            world.kernel,
            ESCALATE,
            {"id": gid(incident.id), "v": incident.version},
            world.actor("agent"),
        )
        assert "errors" not in answer, answer
        assert answer["data"]["escalateIncidentToProblem"]["problem"] == {
            "kind": "problem",
            "recordId": 1,
            "title": "PRB-000001 Printer jams",
            "url": "/problems/1",
        }
        assert links_of(world, incident.id) == [("escalated_to", "problem", 1)]
        with world.kernel.session() as session:
            assert session.scalar(select(func.count()).select_from(FakeProblem)) == 1
            assert offers.linked_to(session, incident.id, "escalated_to") == [
                RecordRef("problem", 1)
            ]

    def test_escalating_needs_the_action_and_a_visible_current_incident(
        self, peered: World, extra_plugins: dict[str, Any]
    ) -> None:
        world = peered
        incident = world.create()
        variables = {"id": gid(incident.id), "v": incident.version}
        caller = gql(world.kernel, ESCALATE, variables, world.actor("caller"))
        assert error_codes(caller) == ["FORBIDDEN"]  # end users may read, not escalate
        page = signed_in(world, "caller").get(f"/incidents/{incident.id}").text
        assert "escalate_problem" not in page
        other_unit = gql(world.kernel, ESCALATE, variables, world.actor("agent2"))
        assert error_codes(other_unit) == ["NOT_FOUND"]
        stale = gql(
            world.kernel, ESCALATE, {**variables, "v": incident.version + 5}, world.actor("agent")
        )
        assert error_codes(stale) == ["CONFLICT"]
        assert extra_plugins["problems"].drafts == [] and links_of(world, incident.id) == []

    def test_a_refusal_of_the_other_module_undoes_both_sides(
        self, peered: World, extra_plugins: dict[str, Any]
    ) -> None:
        world = peered
        extra_plugins["problems"].refuse = True
        incident = world.create()
        answer = gql(
            world.kernel,
            ESCALATE,
            {"id": gid(incident.id), "v": incident.version},
            world.actor("agent"),
        )
        assert error_codes(answer) == ["FORBIDDEN"]
        assert links_of(world, incident.id) == []
        with world.kernel.session() as session:
            assert session.scalar(select(func.count()).select_from(FakeProblem)) == 0

    def test_archiving_a_resolved_incident_to_knowledge(
        self, peered: World, extra_plugins: dict[str, Any]
    ) -> None:
        world, knowledge = peered, extra_plugins["knowledge"]
        # Given to the second line (their scope is their group's incidents).
        incident = world.create(
            title="VPN drops",
            description="<p>Every hour</p>",
            urgency="low",
            group_id=world.departments["ops"],
        )
        agent = world.actor("agent")
        refused = gql(world.kernel, ARCHIVE, {"id": gid(incident.id), "v": incident.version}, agent)
        assert error_codes(refused) == ["BAD_USER_INPUT"]
        assert refused["errors"][0]["extensions"]["field"] == "status"
        resolved = resolve(world, incident.id, "<p>New <script>x</script>client</p>")
        # The second line may not read the description: it stays out of what they hand over.
        with world.kernel.session() as session:
            set_field_rule(
                session, world.kernel.record_kinds, world.roles["second_line_engineer"],
                "incident", "description", "hidden",
            )  # fmt: skip
        engineer = signed_in(world, "engineer")
        page = engineer.get(f"/incidents/{incident.id}").text
        assert f'action="/incidents/{incident.id}/archive_knowledge"' in page
        done = engineer.post(
            f"/incidents/{incident.id}/archive_knowledge",
            data={"csrf": web_testing.csrf_of(engineer), "version": str(resolved.version)},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        shown = engineer.get(done.headers["location"]).text
        assert "Archived to" in shown and "KB-000001 VPN drops" in shown
        draft = knowledge.drafts[0]
        assert draft.title == "VPN drops" and "Every hour" not in draft.body_html
        assert draft.body_html.startswith("<h3>") and draft.body_html.endswith("<p>New client</p>")
        assert (
            draft.fields["resolution"] == "<p>New client</p>" and draft.fields["urgency"] == "low"
        )
        again = gql(world.kernel, ARCHIVE, {"id": gid(incident.id), "v": resolved.version}, agent)
        assert error_codes(again) == ["BAD_USER_INPUT"]  # one draft per incident
        assert links_of(world, incident.id) == [("archived_to", "knowledge", 1)]
        with world.kernel.session() as session:
            assert session.scalar(select(func.count()).select_from(FakeArticle)) == 1
