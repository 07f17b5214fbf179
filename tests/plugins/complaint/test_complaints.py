"""Complaints: numbering, validation, locking, the state rules, satisfaction, the record
that caused one, data scope, field rules, the feedback notification and the GraphQL API."""

from __future__ import annotations

import base64
import datetime as dt
import re
import threading
from typing import Any

import pytest
from sqlalchemy import select, update

from openitsm.kernel import BadUserInput, Forbidden, NotFound, utcnow
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.notifications.models import Notification
from openitsm.kernel.search import search
from openitsm.kernel.testing import count_statements, error_codes, gql
from openitsm.plugins.complaint import service
from openitsm.plugins.complaint.models import Complaint

from .conftest import World

YEAR = utcnow().year


def gid(kind: str, key: int) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def refused(error: pytest.ExceptionInfo[Any]) -> str:
    return str(error.value.extensions.get("field"))


def answered(world: World, complaint_id: int, login: str = "agent") -> Complaint:
    with world.kernel.session(world.actor(login)) as session:
        return service.give_feedback(session, complaint_id, feedback="<p>Called back</p>")


# --- numbers --------------------------------------------------------------------------


def test_numbers_are_per_year_and_formatted(world: World) -> None:
    first, second = world.create(), world.create(title="Second")
    assert first.number == f"CMP-{YEAR}-000001"
    assert second.number == f"CMP-{YEAR}-000002"
    with world.kernel.session() as session:
        later = dt.datetime(YEAR + 1, 3, 1, tzinfo=dt.UTC)
        assert service.next_number(session, later) == f"CMP-{YEAR + 1}-000001"
        eve = dt.datetime(YEAR + 2, 12, 31, 17, tzinfo=dt.UTC)  # already next year in Beijing
        assert service.next_number(session, eve) == f"CMP-{YEAR + 3}-000001"


def test_concurrent_registrations_never_share_a_number(world: World) -> None:
    actor = world.actor("agent")
    numbers: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def register(worker: int) -> None:
        try:
            start.wait()
            for n in range(3):
                with world.kernel.session(actor) as session:
                    complaint = service.create_complaint(
                        session, title=f"w{worker}-{n}", complainant_id=world.users["caller"]
                    )
                    numbers.append(complaint.number)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=register, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(numbers) == [f"CMP-{YEAR}-{n:06d}" for n in range(1, 13)]


# --- validation -----------------------------------------------------------------------


def test_invalid_input_is_refused_on_its_field(world: World) -> None:
    cases = {
        "title": {"title": "  "},
        "category": {"category": "no-such-category"},
        "channel": {"channel": "fax"},
        "severity": {"severity": "apocalyptic"},
        "complainant": {"complainant_id": world.users["leaver"]},
        "causedBy": {"caused_by": "nothing:1"},
    }
    for field, values in cases.items():
        with pytest.raises(BadUserInput) as error:
            world.create(**values)
        assert refused(error) == field, values
    with pytest.raises(BadUserInput) as department:
        world.create(department_id=10**9)
    assert refused(department) == "department"


def test_registration_fills_in_phone_unit_and_sanitises(world: World) -> None:
    complaint = world.create(
        channel="phone",
        category="attitude",
        description='<p onclick="x()">rude<script>1</script></p>',
    )
    assert complaint.contact_phone == "+86 555 0199"
    assert complaint.service_unit_id == world.units["acme"]
    assert complaint.description == "<p>rude</p>"
    assert (complaint.status, complaint.severity) == ("new", "minor")
    assert complaint.department_id is None  # no department for this category: the desk routes


def test_the_category_routes_to_the_responsible_department(world: World) -> None:
    complaint = world.create(category="billing", severity="major")
    assert complaint.department_id == world.departments["finance"]
    assert (complaint.status, complaint.severity) == ("routed", "major")
    assert complaint.routed_at is not None
    chosen = world.create(category="billing", department_id=world.departments["ops"])
    assert chosen.department_id == world.departments["ops"]  # the desk's choice wins


def test_a_stale_version_is_a_conflict(world: World) -> None:
    complaint = world.create()
    mutation = """mutation($id: ID!, $v: Int!, $t: String) {
      updateComplaint(id: $id, version: $v, input: {title: $t}) { complaint { title version } } }"""
    agent = world.actor("agent")
    variables = {"id": gid("Complaint", complaint.id), "v": complaint.version, "t": "A"}
    ok = gql(world.kernel, mutation, variables, agent)
    assert ok["data"]["updateComplaint"]["complaint"]["title"] == "A"
    stale = gql(world.kernel, mutation, {**variables, "t": "B"}, agent)
    assert error_codes(stale) == ["CONFLICT"]
    with world.kernel.session() as session:
        assert session.get(Complaint, complaint.id).title == "A"  # type: ignore[union-attr]


# --- state rules ----------------------------------------------------------------------


def test_the_life_of_a_complaint(world: World) -> None:
    complaint = world.create()
    with world.kernel.session(world.actor("agent")) as session:
        with pytest.raises(BadUserInput, match="with feedback"):
            service.close(session, complaint.id)
        routed = service.assign(session, complaint.id, department_id=world.departments["ops"])
        assert (routed.status, routed.assignee_id) == ("routed", None)
    with world.kernel.session(world.actor("engineer")) as session:
        started = service.start_work(session, complaint.id)
        assert (started.status, started.assignee_id) == ("in_progress", world.users["engineer"])
        assert started.responded_at is not None
        with pytest.raises(BadUserInput) as empty:
            service.give_feedback(session, complaint.id, feedback="<script>x</script>")
        assert refused(empty) == "feedback"
        done = service.give_feedback(session, complaint.id, feedback="<p>Apologised</p>")
        assert (done.status, done.feedback) == ("feedback_given", "<p>Apologised</p>")
    with world.kernel.session(world.actor("agent")) as session:
        closed = service.close(session, complaint.id)
        assert closed.status == "closed" and closed.closed_at is not None
        with pytest.raises(BadUserInput, match="open complaint"):
            service.cancel(session, complaint.id)


def test_satisfaction_comes_after_the_feedback_and_only_once(world: World) -> None:
    complaint = world.create()
    with world.kernel.session(world.actor("caller")) as session:
        with pytest.raises(BadUserInput) as early:
            service.rate(session, complaint.id, satisfaction=5)
        assert refused(early) == "satisfaction"
    answered(world, complaint.id)
    with world.kernel.session(world.actor("caller")) as session:
        with pytest.raises(BadUserInput):
            service.rate(session, complaint.id, satisfaction=6)
        rated = service.rate(session, complaint.id, satisfaction=4, comment="ok")
        assert (rated.satisfaction, rated.satisfaction_comment) == (4, "ok")
    with (
        world.kernel.session(world.actor("caller")) as session,
        pytest.raises(BadUserInput, match="rated already"),
    ):
        service.rate(session, complaint.id, satisfaction=5)
    with world.kernel.session(world.actor("agent")) as session:
        service.close(session, complaint.id)
    with world.kernel.session(world.actor("agent")) as session:
        reopened = service.reopen(session, complaint.id)
        assert (reopened.status, reopened.satisfaction) == ("new", None)  # rated anew next time


def test_reopening_is_allowed_within_the_period_only(world: World) -> None:
    complaint = world.create()
    with (
        world.kernel.session(world.actor("agent")) as session,
        pytest.raises(BadUserInput, match="can be reopened"),
    ):
        service.reopen(session, complaint.id)
    answered(world, complaint.id)
    with world.kernel.session(world.actor("agent")) as session:
        session.execute(
            update(Complaint)
            .where(Complaint.id == complaint.id)
            .values(feedback_at=utcnow() - dt.timedelta(days=15))
        )
    with (
        world.kernel.session(world.actor("agent")) as session,
        pytest.raises(BadUserInput, match="14 days"),
    ):
        service.reopen(session, complaint.id)


def test_actions_need_their_permission(world: World) -> None:
    complaint = world.create()
    with world.kernel.session(world.actor("caller")) as session, pytest.raises(Forbidden):
        service.give_feedback(session, complaint.id, feedback="I sorted it myself")
    with world.kernel.session(world.actor("plain")) as session, pytest.raises(Forbidden):
        service.create_complaint(session, title="x")
    with world.kernel.session(world.actor("caller")) as session, pytest.raises(Forbidden):
        # routing at registration needs complaint.assign, which end users lack
        service.create_complaint(session, title="x", department_id=world.departments["ops"])
    with world.kernel.session(world.actor("engineer")) as session, pytest.raises(Forbidden):
        service.cancel(session, complaint.id)


# --- what caused it -------------------------------------------------------------------


def test_caused_by_names_a_record_the_actor_may_see(world: World) -> None:
    earlier = world.create(title="First time")
    theirs = world.create(login="agent2", title="Globex's", complainant_id=world.users["agent2"])
    again = world.create(title="Again", caused_by=f"complaint:{earlier.id}")
    assert world.cause(again.id) == f"complaint:{earlier.id}"
    by_number = world.create(title="By number", caused_by=f" {earlier.number} ")
    assert world.cause(by_number.id) == f"complaint:{earlier.id}"
    for text in ("incident:1", "complaint:999999", f"complaint:{theirs.id}", "CMP-1999-000001"):
        with pytest.raises(BadUserInput) as error:
            world.create(caused_by=text)
        assert refused(error) == "causedBy", text
    with world.kernel.session(world.actor("agent")) as session:
        with pytest.raises(BadUserInput, match="itself"):
            service.update_complaint(
                session, again.id, again.version, {"caused_by": f"complaint:{again.id}"}
            )
        cleared = service.update_complaint(session, again.id, again.version, {"caused_by": None})
        assert cleared.version == again.version + 1  # a new cause is an edit of the complaint
    assert world.cause(again.id) is None


def cause_links(world: World) -> list[tuple[int, str, int]]:
    """Every stored `caused_by` link: (complaint, target kind, target id)."""
    with world.kernel.session() as session:
        rows = session.execute(
            select(RecordLink.source_id, RecordLink.target_kind, RecordLink.target_id)
            .where(RecordLink.relation == "caused_by")
            .order_by(RecordLink.id)
        )
        return [(source, kind, target) for source, kind, target in rows]


def test_the_cause_is_one_link_that_create_and_update_replace(world: World) -> None:
    first, second = world.create(title="First"), world.create(title="Second")
    with pytest.raises(BadUserInput):  # refused after the link was made: nothing is kept
        world.create(caused_by=f"complaint:{first.id}", department_id=10**9)
    assert cause_links(world) == []
    complaint = world.create(title="Third", caused_by=first.number)
    assert cause_links(world) == [(complaint.id, "complaint", first.id)]
    agent = world.actor("agent")
    mutation = """mutation($id: ID!, $v: Int!, $cause: RecordReferenceInput) {
      updateComplaint(id: $id, version: $v, input: {causedBy: $cause}) {
        complaint { version causedBy { kind recordId title } } } }"""
    variables = {
        "id": gid("Complaint", complaint.id),
        "v": complaint.version,
        "cause": {"kind": "complaint", "recordId": second.id},
    }
    moved = gql(world.kernel, mutation, variables, agent)
    assert moved["data"]["updateComplaint"]["complaint"] == {
        "version": complaint.version + 1,
        "causedBy": {
            "kind": "complaint",
            "recordId": second.id,
            "title": f"{second.number} Second",
        },
    }
    assert cause_links(world) == [(complaint.id, "complaint", second.id)]
    stale = gql(world.kernel, mutation, {**variables, "cause": None}, agent)
    assert error_codes(stale) == ["CONFLICT"]
    assert cause_links(world) == [(complaint.id, "complaint", second.id)]  # undone with it
    cleared = gql(world.kernel, mutation, {**variables, "v": complaint.version + 1, "cause": None}, agent)  # fmt: skip
    assert cleared["data"]["updateComplaint"]["complaint"]["causedBy"] is None
    assert cause_links(world) == []
    # every link and unlink is in the history of both records
    history = """query($ref: RecordReferenceInput!) { history(record: $ref) { edges { node {
      action changes { field newValue oldValue } } } } }"""

    def linked(ref: dict[str, Any]) -> list[tuple[str, str, str]]:
        found = gql(world.kernel, history, {"ref": ref}, agent)["data"]["history"]["edges"]
        return [
            (node["action"], value["direction"], value["record"])
            for node in (edge["node"] for edge in found)
            for change in node["changes"]
            if change["field"] == "linked_record"
            for value in [change["newValue"] or change["oldValue"]]
        ]

    assert linked({"kind": "complaint", "recordId": complaint.id}) == [
        ("UNLINK", "outgoing", f"complaint:{second.id}"),
        ("LINK", "outgoing", f"complaint:{second.id}"),
        ("UNLINK", "outgoing", f"complaint:{first.id}"),
        ("LINK", "outgoing", f"complaint:{first.id}"),
    ]
    assert linked({"kind": "complaint", "recordId": first.id}) == [
        ("UNLINK", "incoming", f"complaint:{complaint.id}"),
        ("LINK", "incoming", f"complaint:{complaint.id}"),
    ]


# --- scope and field rules ------------------------------------------------------------


def test_an_outsider_gets_not_found(world: World) -> None:
    complaint = world.create()
    query = """query($id: ID!) { complaint(id: $id) { number }
      complaints { edges { node { number } } } }"""
    variables = {"id": gid("Complaint", complaint.id)}
    mine = gql(world.kernel, query, variables, world.actor("agent"))["data"]
    assert mine["complaint"] == {"number": complaint.number}
    theirs = gql(world.kernel, query, variables, world.actor("agent2"))["data"]
    assert theirs == {"complaint": None, "complaints": {"edges": []}}
    with world.kernel.session(world.actor("agent2")) as session:
        with pytest.raises(NotFound):
            service.get_complaint(session, complaint.id)
        with pytest.raises(NotFound):
            service.give_feedback(session, complaint.id, feedback="x")
        kinds = world.kernel.record_kinds
        assert search(session, kinds, world.actor("agent2"), complaint.number) == []
    caller = gql(world.kernel, query, variables, world.actor("caller"))["data"]
    assert caller["complaint"] == {"number": complaint.number}  # their own
    # the engineer sees it once it is their department's
    assert gql(world.kernel, query, variables, world.actor("engineer"))["data"]["complaint"] is None
    with world.kernel.session(world.actor("agent")) as session:
        service.assign(session, complaint.id, department_id=world.departments["ops"])
    engineer = gql(world.kernel, query, variables, world.actor("engineer"))["data"]
    assert engineer["complaint"] == {"number": complaint.number}


def test_a_hidden_field_is_neither_read_nor_filtered_nor_written(world: World) -> None:
    world.create(category="resolution")
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles["service_desk_agent"],
            "complaint", "category", "hidden",
        )  # fmt: skip
    agent = world.actor("agent")
    read = gql(world.kernel, "{ complaints { edges { node { category } } } }", None, agent)
    assert error_codes(read) == ["FORBIDDEN"]
    filtered = gql(
        world.kernel, '{ complaints(filter: {category: "resolution"}) { edges { node { number } } } }',
        None, agent,
    )  # fmt: skip
    assert error_codes(filtered) == ["FORBIDDEN"]
    with world.kernel.session(agent) as session, pytest.raises(Forbidden):
        service.create_complaint(session, title="x", category="resolution")
    allowed = gql(world.kernel, "{ complaints { edges { node { category } } } }", None, world.actor("supervisor"))  # fmt: skip
    assert allowed["data"]["complaints"]["edges"] == [{"node": {"category": "resolution"}}]


# --- telling the complainant ----------------------------------------------------------


def test_the_complainant_hears_of_the_feedback_with_a_link_to_rate(world: World) -> None:
    complaint = world.create()
    answered(world, complaint.id)
    with world.kernel.session() as session:
        told = session.scalars(select(Notification)).all()
    mine = [n for n in told if n.event == service.FEEDBACK_EVENT]
    assert [n.user_id for n in mine] == [world.users["caller"]]
    message = mine[0]
    assert complaint.number in message.subject
    assert "Called back" in message.body_text and "<p>" not in message.body_text
    assert "#rate" in message.body_html
    assert message.url is not None and message.url.endswith(f"/complaints/{complaint.id}#rate")


# --- GraphQL --------------------------------------------------------------------------

CREATE = """mutation($input: CreateComplaintInput!) {
  createComplaint(input: $input) { complaint {
    id number status severity version complainant { login } department { code }
    channel category nature causedBy { kind recordId exists title url } } } }"""
ACT = """mutation($id: ID!, $d: ID, $who: ID) {
  assignComplaint(id: $id, department: $d, assignee: $who) {
    complaint { status department { code } assignee { login } } }
  startComplaint(id: $id) { complaint { status respondedAt } }
  giveComplaintFeedback(id: $id, feedback: "<p>Refunded</p>") { complaint { status feedback } }
  rateComplaint(id: $id, satisfaction: 5, comment: "Fair") { complaint { satisfaction } }
  closeComplaint(id: $id) { complaint { status closedAt } }
  reopenComplaint(id: $id) { complaint { status closedAt satisfaction } }
  cancelComplaint(id: $id) { complaint { status } }
}"""


def test_the_graphql_api_registers_and_works_a_complaint(world: World) -> None:
    agent = world.actor("agent")
    earlier = world.create(title="Earlier")
    created = gql(
        world.kernel,
        CREATE,
        {"input": {"title": "Charged twice", "complainant": gid("User", world.users["caller"]),
                   "category": "resolution", "channel": "email", "nature": "serious",
                   "severity": "SERIOUS", "causedBy": {"kind": "complaint", "recordId": earlier.id}}},
        agent,
    )  # fmt: skip
    assert "errors" not in created, created
    complaint = created["data"]["createComplaint"]["complaint"]
    assert re.fullmatch(rf"CMP-{YEAR}-\d{{6}}", complaint["number"])
    assert (complaint["status"], complaint["severity"]) == ("NEW", "SERIOUS")
    assert complaint["complainant"] == {"login": "caller"}
    assert (complaint["channel"], complaint["category"], complaint["nature"]) == (
        "email", "resolution", "serious",
    )  # fmt: skip
    assert complaint["causedBy"] == {
        "kind": "complaint", "recordId": earlier.id, "exists": True,
        "title": f"{earlier.number} Earlier", "url": f"/complaints/{earlier.id}",
    }  # fmt: skip
    done = gql(
        world.kernel,
        ACT,
        {"id": complaint["id"], "d": gid("Department", world.departments["ops"]),
         "who": gid("User", world.users["engineer"])},
        agent,
    )  # fmt: skip
    data = done["data"]
    assert data["assignComplaint"]["complaint"] == {
        "status": "ROUTED", "department": {"code": "ops"}, "assignee": {"login": "engineer"}
    }  # fmt: skip
    assert data["startComplaint"]["complaint"]["status"] == "IN_PROGRESS"
    assert data["giveComplaintFeedback"]["complaint"]["status"] == "FEEDBACK_GIVEN"
    assert data["rateComplaint"]["complaint"] == {"satisfaction": 5}
    assert data["closeComplaint"]["complaint"]["status"] == "CLOSED"
    assert data["reopenComplaint"]["complaint"] == {
        "status": "IN_PROGRESS", "closedAt": None, "satisfaction": None
    }  # fmt: skip
    assert data["cancelComplaint"]["complaint"]["status"] == "CANCELLED"
    for field in ("category", "channel", "nature"):
        bad = gql(world.kernel, CREATE, {"input": {"title": "x", field: "gone"}}, agent)
        assert error_codes(bad) == ["BAD_USER_INPUT"]
        assert bad["errors"][0]["extensions"]["field"] == field


def test_graphql_filters_and_pages(world: World) -> None:
    first = world.create(title="Rude", category="attitude", severity="major")
    world.create(title="Slow", category="response_time", complainant_id=world.users["agent"])
    world.create(title="Bill", category="billing", caused_by=f"complaint:{first.id}")
    answered(world, first.id)
    query = """query($f: ComplaintFilter, $first: Int, $after: String) {
      complaints(filter: $f, first: $first, after: $after, orderBy: {field: NUMBER, direction: ASC}) {
        edges { node { title } } pageInfo { hasNextPage endCursor } } }"""

    def titles(f: dict[str, Any]) -> list[str]:
        result = gql(world.kernel, query, {"f": f}, world.actor("agent"))
        assert "errors" not in result, result
        return [e["node"]["title"] for e in result["data"]["complaints"]["edges"]]

    assert titles({}) == ["Rude", "Slow", "Bill"]
    assert titles({"status": ["FEEDBACK_GIVEN"]}) == ["Rude"]
    assert titles({"openOnly": True}) == ["Slow", "Bill"]
    assert titles({"severity": ["MAJOR"]}) == ["Rude"]
    assert titles({"category": "billing"}) == ["Bill"]
    assert titles({"department": gid("Department", world.departments["finance"])}) == ["Bill"]
    assert titles({"complainant": gid("User", world.users["agent"])}) == ["Slow"]
    assert titles({"causedBy": {"kind": "complaint", "recordId": first.id}}) == ["Bill"]
    assert titles({"text": "lo"}) == ["Slow"]
    assert titles({"openedUntil": (utcnow() - dt.timedelta(hours=1)).isoformat()}) == []
    page = gql(world.kernel, query, {"first": 2}, world.actor("agent"))["data"]["complaints"]
    assert [e["node"]["title"] for e in page["edges"]] == ["Rude", "Slow"]
    rest = gql(world.kernel, query, {"first": 2, "after": page["pageInfo"]["endCursor"]}, world.actor("agent"))  # fmt: skip
    assert [e["node"]["title"] for e in rest["data"]["complaints"]["edges"]] == ["Bill"]


def test_a_list_costs_the_same_statements_for_5_and_20_rows(world: World) -> None:
    first = world.create(title="Cause")
    for n in range(19):
        world.create(
            title=f"Case {n}",
            complainant_id=world.users["caller" if n % 2 else "agent"],
            department_id=world.departments["ops" if n % 3 else "finance"],
            assignee_id=world.users["engineer"] if n % 2 else None,
            caused_by=f"complaint:{first.id}",
        )
    query = """query($n: Int) { complaints(first: $n) { edges { node {
      number status severity complainant { name } assignee { name } department { name }
      serviceUnit { name } causedBy { kind title url exists } } } } }"""
    agent = world.actor("agent")
    gql(world.kernel, query, {"n": 5}, agent)
    with count_statements(world.kernel.engine) as five:
        small = gql(world.kernel, query, {"n": 5}, agent)
    with count_statements(world.kernel.engine) as twenty:
        large = gql(world.kernel, query, {"n": 20}, agent)
    assert "errors" not in large, large
    assert len(small["data"]["complaints"]["edges"]) == 5
    assert len(large["data"]["complaints"]["edges"]) == 20
    assert twenty.count == five.count
