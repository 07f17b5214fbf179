"""Comments and files at any step: an instance is a record of its own, seen by its starter,
its participants and supervisors, and by nobody else, through every path."""

from __future__ import annotations

from strawberry.relay import to_base64

from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.errors import NotFound
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import error_codes, gql
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.models import WorkItem

from .conftest import Org

COMMENTS = """query($id: Int!) { comments(record: {kind: "process_instance", recordId: $id}) {
  edges { node { body authorId } } } }"""
ADD = """mutation($id: Int!, $body: String!) {
  addComment(record: {kind: "process_instance", recordId: $id}, body: $body) { id } }"""
FILES = """query($id: Int!) { attachments(record: {kind: "process_instance", recordId: $id}) {
  edges { node { filename size } } } }"""


def start(people: Org) -> int:
    with people.kernel.session() as session:
        instance = runtime.start_process(
            session, people.kernel, people.actor("rita"), "two_level_approval", title="VPN"
        )
        return instance.id


def comment(people: Org, login: str, instance_id: int, body: str) -> dict:
    return gql(people.kernel, ADD, {"id": instance_id, "body": body}, actor=people.actor(login))


def bodies(people: Org, login: str, instance_id: int) -> list[str] | list[str | None]:
    result = gql(people.kernel, COMMENTS, {"id": instance_id}, actor=people.actor(login))
    if "errors" in result:
        return error_codes(result)
    return [edge["node"]["body"] for edge in result["data"]["comments"]["edges"]]


def test_participants_comment_at_any_step_and_outsiders_learn_nothing(people: Org) -> None:
    instance_id = start(people)
    assert "errors" not in comment(people, "sally", instance_id, "<p>Which laptop?</p>")
    assert "errors" not in comment(people, "rita", instance_id, "<p>The 14-inch one.</p>")
    expected = ["<p>Which laptop?</p>", "<p>The 14-inch one.</p>"]
    assert bodies(people, "rita", instance_id) == expected
    assert bodies(people, "sam", instance_id) == expected  # a supervisor sees every instance
    # Ian's department has no step yet, Dora only dispatches: the instance does not exist
    # for them, exactly like one that never did.
    for outsider in ("ian", "dora"):
        assert error_codes(comment(people, outsider, instance_id, "hi")) == ["NOT_FOUND"]
        assert bodies(people, outsider, instance_id) == ["NOT_FOUND"]
    assert bodies(people, "sam", 999_999) == ["NOT_FOUND"]

    # Once Sally approves, the IT countersign is offered to IT's members: now they take part.
    with people.kernel.session() as session:
        item = session.query(WorkItem).filter_by(instance_id=instance_id).one()
        runtime.complete_item(
            session, people.kernel, people.actor("sally"), item.id, outcome="approve"
        )
    assert "errors" not in comment(people, "ian", instance_id, "<p>In stock.</p>")
    assert bodies(people, "ike", instance_id)[-1] == "<p>In stock.</p>"
    assert error_codes(comment(people, "dora", instance_id, "hi")) == ["NOT_FOUND"]


def test_the_instance_node_and_its_steps_are_hidden_from_outsiders(people: Org) -> None:
    instance_id = start(people)
    query = "query($id: ID!) { node(id: $id) { ... on ProcessInstance { title } } }"
    global_id = to_base64("ProcessInstance", instance_id)
    seen = gql(people.kernel, query, {"id": global_id}, actor=people.actor("sally"))
    assert seen["data"]["node"] == {"title": "VPN"}
    unseen = gql(people.kernel, query, {"id": global_id}, actor=people.actor("ian"))
    assert unseen["data"]["node"] is None
    ref = RecordRef(runtime.INSTANCE_KIND, instance_id)
    with people.kernel.session() as session:
        steps = runtime.timeline_entries(
            session, people.kernel, people.actor("rita"), ref, None, 50
        )
        assert [entry.data["action"] for entry in steps][-1] == "start"
        hidden = runtime.timeline_entries(
            session, people.kernel, people.actor("ian"), ref, None, 50
        )
        assert hidden == []


def test_files_join_the_instance_for_those_who_see_it(people: Org) -> None:
    instance_id = start(people)
    ref = RecordRef(runtime.INSTANCE_KIND, instance_id)
    kernel = people.kernel
    stored = attachments.write_upload(kernel, [b"quote: 8,999 CNY\n"])
    with kernel.session() as session:
        attachments.record_attachment(
            session, kernel, ref, "quote.txt", "text/plain", stored, people.actor("rita")
        )
    listed = gql(kernel, FILES, {"id": instance_id}, actor=people.actor("sally"))
    assert listed["data"]["attachments"]["edges"] == [
        {"node": {"filename": "quote.txt", "size": 17}}
    ]
    refused = gql(kernel, FILES, {"id": instance_id}, actor=people.actor("ian"))
    assert error_codes(refused) == ["NOT_FOUND"]
    other = attachments.write_upload(kernel, [b"not mine to add"])
    with kernel.session() as session:
        try:
            attachments.record_attachment(
                session, kernel, ref, "x.txt", "text/plain", other, people.actor("ian")
            )
        except NotFound:
            pass
        else:
            raise AssertionError("a non-participant added a file")
    with kernel.session() as session:
        assert [f["filename"] for f in attachments.files_of(session, ref)] == ["quote.txt"]


def test_the_instance_list_holds_what_each_viewer_may_see(people: Org) -> None:
    instance_id = start(people)
    query = '{ processInstances(state: "running") { edges { node { title } } } }'

    def titles(login: str) -> list[str]:
        result = gql(people.kernel, query, actor=people.actor(login))
        return [edge["node"]["title"] for edge in result["data"]["processInstances"]["edges"]]

    assert titles("rita") == titles("sally") == titles("sam") == ["VPN"]
    assert titles("ian") == titles("dora") == []
    assert instance_id
