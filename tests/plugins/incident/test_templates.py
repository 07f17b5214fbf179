"""Incident templates: kept by the service desk, used by whoever registers incidents, their
values checked again at each use, through the service, GraphQL and the pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update
from strawberry.relay import to_base64

from openitsm.kernel import BadUserInput, Conflict, Forbidden, NotFound
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.testing import error_codes, gql
from openitsm.plugins.incident import incident_templates as templates
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident, IncidentTemplate
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World


def make(world: World, login: str = "agent", **values: object) -> IncidentTemplate:
    values.setdefault("name", "Printer jam")
    with world.kernel.session(world.actor(login)) as session:
        template = templates.create_template(session, **values)
        session.flush()
        session.expunge(template)
        return template


def retire(world: World, dictionary: str, code: str) -> None:
    with world.kernel.session() as session:
        dictionary_id = session.scalar(select(Dictionary.id).where(Dictionary.code == dictionary))
        session.execute(
            update(DictionaryItem)
            .where(DictionaryItem.dictionary_id == dictionary_id, DictionaryItem.code == code)
            .values(active=False)
        )


def register(
    world: World, template_id: int | None, login: str = "agent", **given: object
) -> Incident:
    given.setdefault("caller_id", world.users["caller"])
    with world.kernel.session(world.actor(login)) as session:
        values = templates.with_template(session, template_id, given)
        incident = service.create_incident(session, **values)
        session.flush()
        session.expunge(incident)
        return incident


def test_templates_are_kept_by_their_managers(world: World) -> None:
    template = make(
        world,
        title="Printer jams",
        description='<p onclick="x()">Paper stuck</p>',
        category="printer",
        impact="minor",
        urgency="low",
        group_id=world.departments["ops"],
    )
    assert template.description == "<p>Paper stuck</p>" and template.active
    for login in ("engineer", "caller"):  # no incident.manage_templates
        with pytest.raises(Forbidden):
            make(world, login, name="Mine")
    refusals = [
        ({"name": " "}, "name"),
        ({"name": "printer JAM"}, "name"),  # taken among the active ones
        ({"name": "Other", "category": "no-such-category"}, "category"),
        ({"name": "Other", "group_id": 999_999}, "group"),
        ({"name": "Other", "level": "p1"}, "level"),
    ]
    for values, field in refusals:
        with pytest.raises(BadUserInput) as error:
            make(world, **values)
        assert error.value.extensions["field"] == field
    with world.kernel.session(world.actor("agent")) as session:
        changed = templates.update_template(session, template.id, 1, {"title": "Printer jammed"})
        assert changed.version == 2
    with world.kernel.session(world.actor("agent")) as session, pytest.raises(Conflict):
        templates.update_template(session, template.id, 1, {"title": "stale"})
    with world.kernel.session(world.actor("agent")) as session:
        templates.deactivate_template(session, template.id, 2)
    make(world, name="Printer jam")  # the name is free again among the active ones
    with world.kernel.session(world.actor("caller")) as session:
        assert [t.name for t in templates.list_templates(session, include_inactive=True)] == [
            "Printer jam"
        ]
        with pytest.raises(NotFound):
            templates.get_template(session, template.id)
    with world.kernel.session(world.actor("agent")) as session:
        assert len(templates.list_templates(session, include_inactive=True)) == 2
    with world.kernel.session(world.actor("plain")) as session, pytest.raises(Forbidden):
        templates.list_templates(session)


def test_registering_from_a_template(world: World) -> None:
    template = make(
        world,
        title="Printer jams",
        description="<p>Paper stuck</p>",
        category="printer",
        impact="minor",
        urgency="low",
        group_id=world.departments["ops"],
    )
    incident = register(world, template.id)
    assert (incident.title, incident.description, incident.category) == (
        "Printer jams",
        "<p>Paper stuck</p>",
        "printer",
    )
    assert (incident.impact, incident.urgency, incident.group_id) == (
        "minor",
        "low",
        world.departments["ops"],
    )
    mine = register(world, template.id, title="Toner empty", urgency="critical", category=None)
    assert (mine.title, mine.urgency, mine.category, mine.impact) == (
        "Toner empty",
        "critical",
        None,
        "minor",
    )
    by_caller = register(world, template.id, "caller")  # no incident.assign: no group
    assert by_caller.group_id is None and by_caller.category == "printer"
    retire(world, "incident_category", "printer")
    with pytest.raises(BadUserInput) as error:
        register(world, template.id)
    assert error.value.extensions["field"] == "category"
    assert "template" in str(error.value)
    assert register(world, template.id, category="laptop").category == "laptop"
    with world.kernel.session(world.actor("agent")) as session:
        templates.deactivate_template(session, template.id, 1)
    for missing in (template.id, 999_999):
        with pytest.raises(BadUserInput) as error:
            register(world, missing)
        assert error.value.extensions["field"] == "template"


CREATE = """mutation($input: CreateIncidentInput!) {
  createIncident(input: $input) { incident { title category impact urgency group { name } } } }"""


def test_templates_through_graphql(world: World) -> None:
    agent = world.actor("agent")
    created = gql(
        world.kernel,
        """mutation($input: IncidentTemplateInput!) {
          createIncidentTemplate(input: $input) { template { id name category version } } }""",
        {
            "input": {
                "name": "Mail down",
                "title": "Mail is down",
                "category": "printer",
                "impact": "significant",
                "urgency": "high",
                "group": to_base64("Department", world.departments["ops"]),
            }
        },
        agent,
    )
    template = created["data"]["createIncidentTemplate"]["template"]
    assert template["name"] == "Mail down" and template["version"] == 1
    caller = to_base64("User", world.users["caller"])
    answer = gql(
        world.kernel,
        CREATE,
        {"input": {"template": template["id"], "caller": caller, "urgency": "low"}},
        agent,
    )
    assert answer["data"]["createIncident"]["incident"] == {
        "title": "Mail is down",
        "category": "printer",
        "impact": "significant",
        "urgency": "low",
        "group": {"name": "Operations"},
    }
    listed = gql(
        world.kernel, "{ incidentTemplates { nodes { name } } }", {}, world.actor("caller")
    )
    assert listed["data"]["incidentTemplates"]["nodes"] == [{"name": "Mail down"}]
    refused = gql(
        world.kernel,
        """mutation($input: IncidentTemplateInput!) {
          createIncidentTemplate(input: $input) { template { id } } }""",
        {"input": {"name": "Nope"}},
        world.actor("engineer"),
    )
    assert error_codes(refused) == ["FORBIDDEN"]
    retire(world, "incident_category", "printer")
    stale = gql(
        world.kernel, CREATE, {"input": {"template": template["id"], "caller": caller}}, agent
    )
    assert error_codes(stale) == ["BAD_USER_INPUT"]
    assert stale["errors"][0]["extensions"]["field"] == "category"
    gone = gql(
        world.kernel,
        """mutation($id: ID!) { deactivateIncidentTemplate(id: $id, version: 1) {
          template { active } } }""",
        {"id": template["id"]},
        agent,
    )
    assert gone["data"]["deactivateIncidentTemplate"]["template"] == {"active": False}
    for chosen in (template["id"], to_base64("IncidentTemplate", 999_999)):
        answer = gql(
            world.kernel,
            CREATE,
            {"input": {"template": chosen, "caller": caller, "title": "x"}},
            agent,
        )
        assert error_codes(answer) == ["BAD_USER_INPUT"]
        assert answer["errors"][0]["extensions"]["field"] == "template"
    listed = gql(
        world.kernel, "{ incidentTemplates { nodes { name } } }", {}, world.actor("caller")
    )
    assert listed["data"]["incidentTemplates"]["nodes"] == []
    inactive = gql(
        world.kernel, "{ incidentTemplates(includeInactive: true) { nodes { name } } }", {}, agent
    )
    assert inactive["data"]["incidentTemplates"]["nodes"] == [{"name": "Mail down"}]


def test_template_pages_and_registering_from_one(world: World) -> None:
    agent = web_testing.signed_in(world.kernel, "agent", PASSWORD)
    caller = web_testing.signed_in(world.kernel, "caller", PASSWORD)
    assert caller.get("/incidents/templates").status_code == 403
    assert agent.get("/incidents/templates").status_code == 200
    with world.kernel.session() as session:
        printer = session.scalar(
            select(DictionaryItem.id)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == "incident_category", DictionaryItem.code == "printer")
        )
    csrf = web_testing.csrf_of(agent)
    posted = {"csrf": csrf, "name": "", "title": "Printer jams", "category": str(printer)}
    missing = agent.post("/incidents/templates/new", data=posted)
    assert missing.status_code == 400 and "Printer jams" in missing.text
    assert (
        agent.post(
            "/incidents/templates/new", data={**posted, "name": "x", "csrf": "no"}
        ).status_code
        == 400
    )
    done = agent.post(
        "/incidents/templates/new", data={**posted, "name": "Printer"}, follow_redirects=False
    )
    assert done.status_code == 303
    with world.kernel.session() as session:
        template = session.scalars(select(IncidentTemplate)).one()
    assert (template.title, template.category) == ("Printer jams", "printer")
    listing = agent.get("/incidents/templates").text
    assert f'href="/incidents/templates/{template.id}"' in listing
    edit = agent.get(f"/incidents/templates/{template.id}").text
    assert 'value="Printer jams"' in edit
    saved = agent.post(
        f"/incidents/templates/{template.id}",
        data={**posted, "name": "Printer", "title": "Printer jammed", "version": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    stale = agent.post(
        f"/incidents/templates/{template.id}",
        data={**posted, "name": "Printer", "version": "1"},
    )
    assert stale.status_code == 409
    # Registering: the chooser offers it and `?template=` fills the form in.
    form = agent.get("/incidents/new").text
    assert re.search(rf'<option value="{template.id}"[^>]*>Printer</option>', form)
    filled = agent.get(f"/incidents/new?template={template.id}").text
    assert 'value="Printer jammed"' in filled
    assert re.search(rf'<option value="{printer}"[^>]*selected', filled)
    retire(world, "incident_category", "printer")
    marked = agent.get(f"/incidents/new?template={template.id}").text
    assert 'value="Printer jammed"' in marked and "Please correct the marked fields." in marked
    gone = agent.post(
        f"/incidents/templates/{template.id}/deactivate",
        data={"csrf": csrf, "version": "2"},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    refused = agent.get(f"/incidents/new?template={template.id}").text
    assert "no longer exists or has been deactivated" in refused
    assert 'id="incident-template"' not in refused  # no active template left to offer
