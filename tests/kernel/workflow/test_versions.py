"""Process versions: drafts are checked and replaceable, published versions never change, and
the processes modules ship are published once and never overwrite a redrawn one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.workflow import service as workflow
from openitsm.kernel.workflow.definition import DefinitionError
from openitsm.kernel.workflow.models import ProcessVersion

SAMPLE = Path(__file__).parents[3] / "platform/kernel/workflow/processes/two_level_approval.bpmn"


def review(task_name: str = "Review") -> str:
    return (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:itsm="https://openitsm.org/schema/bpmn" id="d"><bpmn:process id="review">'
        f'<bpmn:startEvent id="s" /><bpmn:userTask id="t" name="{task_name}" '
        'itsm:candidateRoles="reviewer" /><bpmn:endEvent id="e" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" /></bpmn:process>'
        "</bpmn:definitions>"
    )


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url)
    yield built
    built.close()


def test_a_draft_is_replaced_until_published_then_a_new_version_begins(kernel: Kernel) -> None:
    with kernel.session() as session:
        draft, definition = workflow.import_definition(session, review())
        assert (draft.key, draft.number, draft.state) == ("review", 1, "draft")
        assert definition.nodes["t"].name == "Review"
        with pytest.raises(Conflict):  # a second import must say it replaces the draft
            workflow.import_definition(session, review("Check"))
        replaced, _ = workflow.import_definition(
            session, review("Check"), draft_version=draft.version
        )
        assert replaced.id == draft.id and "Check" in replaced.xml
        with pytest.raises(Conflict):  # a stale version of the draft
            workflow.import_definition(session, review("Again"), draft_version=draft.version - 1)
        with pytest.raises(NotFound):
            workflow.current(session, "review")
        published = workflow.publish(session, "review", 1, replaced.version)
        assert workflow.current(session, "review").id == published.id
        with pytest.raises(BadUserInput):
            workflow.publish(session, "review", 1, published.version)
        second, _ = workflow.import_definition(session, review("Approve"))
        assert (second.number, second.state) == (2, "draft")
        assert workflow.current(session, "review").number == 1  # running on 1 until 2 is out
        workflow.publish(session, "review", 2, second.version)
        assert workflow.current(session, "review").number == 2
        assert [v.number for v in workflow.versions(session, "review")] == [2, 1]
        assert "Check" in workflow.versions(session, "review")[1].xml  # version 1 unchanged
        with pytest.raises(BadUserInput):
            workflow.discard_draft(session, "review", 1, published.version)


def test_an_invalid_diagram_stores_nothing(kernel: Kernel) -> None:
    broken = review().replace('itsm:candidateRoles="reviewer"', 'itsm:countersign="most"')
    with kernel.session() as session:
        with pytest.raises(DefinitionError) as refused:
            workflow.import_definition(session, broken)
        assert {p.element for p in refused.value.problems} == {"t"}
        assert (
            session.scalar(select(ProcessVersion.id).where(ProcessVersion.key == "review")) is None
        )


def test_publishing_and_drafts_are_audited_without_the_xml(kernel: Kernel) -> None:
    with kernel.session() as session:
        draft, _ = workflow.import_definition(session, review())
        workflow.publish(session, "review", 1, draft.version)
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.record_kind == "process_version", AuditEvent.record_id == draft.id
            )
        ).all()
    assert [e.action for e in events] == ["create", "update"]


def test_shipped_processes_are_published_once_and_a_redrawn_one_is_kept(kernel: Kernel) -> None:
    shipped = kernel.shipped_processes
    assert [(plugin, spec.path.name) for plugin, spec in shipped] == [
        ("kernel.workflow", "two_level_approval.bpmn")
    ]
    with kernel.session() as session:  # migrate published it; once is enough
        assert workflow.sync_shipped(session, shipped) == 0
        first = workflow.current(session, "two_level_approval")
        assert first.source == "plugin:kernel.workflow"
        redrawn = SAMPLE.read_text().replace("PT8H", "PT4H")
        draft, _ = workflow.import_definition(session, redrawn)
        workflow.publish(session, draft.key, draft.number, draft.version)
        assert workflow.sync_shipped(session, shipped) == 0
        assert "PT4H" in workflow.current(session, "two_level_approval").xml


IMPORT = """mutation($xml: String!, $draft: Int) {
  importProcess(xml: $xml, draftVersion: $draft) { id key number state version }
}"""
PUBLISH = """mutation($key: String!, $number: Int!, $version: Int!) {
  publishProcess(key: $key, number: $number, version: $version) { number state }
}"""


def test_graphql_imports_publishes_and_lists_under_the_process_actions(kernel: Kernel) -> None:
    from openitsm.kernel.access import action_registry
    from openitsm.kernel.identity import service as identity
    from openitsm.kernel.organisation import service as organisation
    from openitsm.kernel.testing import actor_of, error_codes, gql

    with kernel.session() as session:
        designer = identity.create_user(session, "designer", "Designer")
        reader = identity.create_user(session, "reader", "Reader")
        role = organisation.create_role(
            session, action_registry(kernel), code="designer", labels={"en": "Designer"},
            actions=["process.read", "process.manage"],
        )  # fmt: skip
        organisation.grant_role(session, designer.id, role.id)
        ids = designer.id, reader.id
    designer_actor, reader_actor = actor_of(kernel, ids[0]), actor_of(kernel, ids[1])
    refused = gql(kernel, IMPORT, {"xml": review()}, actor=reader_actor)
    assert error_codes(refused) == ["FORBIDDEN"]
    broken = gql(kernel, IMPORT, {"xml": review().replace("reviewer", "")}, actor=designer_actor)
    assert error_codes(broken) == ["BAD_USER_INPUT"]
    assert broken["errors"][0]["extensions"]["problems"][0]["element"] == "t"
    draft = gql(kernel, IMPORT, {"xml": review()}, actor=designer_actor)["data"]["importProcess"]
    assert (draft["key"], draft["number"], draft["state"]) == ("review", 1, "draft")
    done = gql(
        kernel, PUBLISH, {"key": "review", "number": 1, "version": draft["version"]},
        actor=designer_actor,
    )  # fmt: skip
    assert done["data"]["publishProcess"] == {"number": 1, "state": "published"}
    listed = gql(
        kernel, "{ processes { key current { number } draft { number } versions } }",
        actor=designer_actor,
    )  # fmt: skip
    assert listed["data"]["processes"] == [
        {"key": "review", "current": {"number": 1}, "draft": None, "versions": 1},
        {"key": "two_level_approval", "current": {"number": 1}, "draft": None, "versions": 1},
    ]
    node = "query($id: ID!) { node(id: $id) { ... on ProcessVersion { key } } }"
    assert gql(kernel, node, {"id": draft["id"]}, actor=reader_actor)["data"]["node"] is None
    assert gql(kernel, node, {"id": draft["id"]}, actor=designer_actor)["data"]["node"] == {
        "key": "review"
    }
