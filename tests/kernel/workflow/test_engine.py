"""The engine runs processes as drawn: serial steps, routes, parallel branches, countersigns,
department steps, sub-processes, call activities, chained processes, and the fallback when
an assignee rule finds nobody."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.errors import BadUserInput, ConfigurationError, Conflict, Forbidden
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.engine import ServiceAction, ServiceContext
from openitsm.kernel.workflow.expressions import ExpressionError
from openitsm.kernel.workflow.models import ProcessInstance, Token, Transition, WorkItem

from .conftest import Org, conditional, flows, process, publish, task


def start(people: Org, key: str, login: str = "rita", **values: Any) -> int:
    with people.kernel.session() as session:
        instance = runtime.start_process(session, people.kernel, people.actor(login), key, **values)
        return instance.id


def open_items(kernel: Kernel, instance_id: int) -> list[tuple[str, int | None]]:
    """(node, assignee) of the instance's open items, in order."""
    with kernel.session() as session:
        return [
            (item.node_id, item.assignee_id)
            for item in session.scalars(
                select(WorkItem)
                .where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
                .order_by(WorkItem.id)
            )
        ]


def item_of(kernel: Kernel, instance_id: int, node: str, assignee: int | None = None) -> int:
    with kernel.session() as session:
        query = select(WorkItem.id).where(
            WorkItem.instance_id == instance_id, WorkItem.node_id == node, WorkItem.state == "open"
        )
        if assignee is not None:
            query = query.where(WorkItem.assignee_id == assignee)
        found = session.scalars(query.order_by(WorkItem.id)).first()
        assert found is not None, f"no open item at {node}"
        return found


def complete(people: Org, login: str, item_id: int, **values: Any) -> None:
    with people.kernel.session() as session:
        runtime.complete_item(session, people.kernel, people.actor(login), item_id, **values)


def state_of(kernel: Kernel, instance_id: int) -> tuple[str, str | None]:
    with kernel.session() as session:
        instance = session.get(ProcessInstance, instance_id)
        assert instance is not None
        return instance.state, instance.end_node


def actions_of(kernel: Kernel, instance_id: int) -> list[str]:
    with kernel.session() as session:
        return [t.action for t in runtime.instance_log(session, instance_id)]


def test_the_sample_runs_head_approval_then_a_majority_countersign(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    instance = start(people, "two_level_approval", title="New laptop")
    # The requester's head of department approves first.
    assert open_items(kernel, instance) == [("head_approval", ids["sally"])]
    with pytest.raises(Forbidden):
        complete(people, "rita", item_of(kernel, instance, "head_approval"), outcome="approve")
    complete(people, "sally", item_of(kernel, instance, "head_approval"), outcome="approve")
    # Then every IT member countersigns; half of them decide.
    signers = open_items(kernel, instance)
    assert sorted(a for _, a in signers) == sorted(ids[n] for n in ("ivan", "ian", "ina", "ike"))
    complete(
        people, "ian", item_of(kernel, instance, "it_countersign", ids["ian"]), outcome="approve"
    )
    assert state_of(kernel, instance) == ("running", None)
    complete(
        people, "ina", item_of(kernel, instance, "it_countersign", ids["ina"]), outcome="approve"
    )
    assert state_of(kernel, instance) == ("completed", "approved")
    assert open_items(kernel, instance) == []  # the two who did not sign are cancelled
    log = actions_of(kernel, instance)
    assert log[0] == "start" and log[-1] == "end"
    assert log.count("complete") == 3 and "countersign" in log


def test_a_veto_ends_the_countersign_at_once(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    instance = start(people, "two_level_approval")
    complete(people, "sally", item_of(kernel, instance, "head_approval"), outcome="approve")
    complete(
        people, "ian", item_of(kernel, instance, "it_countersign", ids["ian"]), outcome="approve"
    )
    complete(
        people, "ike", item_of(kernel, instance, "it_countersign", ids["ike"]), outcome="reject"
    )
    assert state_of(kernel, instance) == ("completed", "rejected")


def test_the_head_rejecting_takes_the_default_route(people: Org) -> None:
    instance = start(people, "two_level_approval")
    complete(people, "sally", item_of(people.kernel, instance, "head_approval"), outcome="reject")
    assert state_of(people.kernel, instance) == ("completed", "rejected")


COUNTERSIGN = process(
    "sign",
    '<bpmn:startEvent id="s" />'
    + task("vote", 'itsm:candidateDepartments="it"', 'itsm:countersign="{mode}"')
    + '<bpmn:exclusiveGateway id="g" default="g_no" /><bpmn:endEvent id="yes" />'
    + '<bpmn:endEvent id="no" />'
    + flows("s", "vote", "g")
    + conditional("g", "yes", 'decision == "approve"')
    + flows("g", "no").replace('id="g_no"', 'id="g_no"'),
)


@pytest.mark.parametrize(
    ("mode", "answers", "expected"),
    [
        ("all", ["approve"] * 3, None),  # the fourth is still missing
        ("all", ["approve"] * 4, "yes"),
        ("all", ["approve", "reject"], "no"),  # all can no longer be reached
        ("any", ["reject", "approve"], "yes"),
        ("any", ["reject"] * 4, "no"),
        ("ratio:0.75", ["approve", "approve", "reject"], None),  # three of four may still
        ("ratio:0.75", ["approve", "approve", "reject", "approve"], "yes"),
        ("ratio:0.75", ["reject", "reject"], "no"),
        ("ratio:0.75", ["approve", "reject"], None),
    ],
)
def test_countersign_modes(
    people: Org, mode: str, answers: list[str], expected: str | None
) -> None:
    publish(people.kernel, COUNTERSIGN.replace("{mode}", mode))
    instance = start(people, "sign")
    signers = ["ivan", "ian", "ina", "ike"]
    for login, answer in zip(signers, answers, strict=False):
        item = item_of(people.kernel, instance, "vote", people.ids[login])
        complete(people, login, item, outcome=answer)
    state, end = state_of(people.kernel, instance)
    assert (end if state == "completed" else None) == expected


def test_a_countersign_per_department_gives_each_department_one_claimable_item(
    people: Org,
) -> None:
    publish(
        people.kernel,
        process(
            "depts",
            '<bpmn:startEvent id="s" />'
            + task(
                "vote",
                'itsm:candidateDepartments="it,sales,ops"',
                'itsm:countersign="all/department"',
            )
            + '<bpmn:endEvent id="e" />'
            + flows("s", "vote", "e"),
        ),
    )
    instance = start(people, "depts")
    items = open_items(people.kernel, instance)
    assert items == [("vote", None)] * 3  # one per department, offered to its members
    for login in ("ian", "rita", "otto"):
        with people.kernel.session() as session:
            inbox = runtime.inbox(session, people.actor(login))
            assert len(inbox) == 1
            runtime.claim_item(session, people.actor(login), inbox[0].id)
        complete(people, login, inbox[0].id, outcome="approve")
    assert state_of(people.kernel, instance) == ("completed", "e")


def test_countersign_answers_are_approve_or_reject(people: Org) -> None:
    publish(people.kernel, COUNTERSIGN.replace("{mode}", "all"))
    instance = start(people, "sign")
    with pytest.raises(BadUserInput):
        complete(
            people,
            "ian",
            item_of(people.kernel, instance, "vote", people.ids["ian"]),
            outcome="maybe",
        )


DEPARTMENT_STEP = process(
    "desk",
    '<bpmn:startEvent id="s" />'
    + task("handle", 'itsm:candidateDepartments="it"')
    + '<bpmn:endEvent id="e" />'
    + flows("s", "handle", "e"),
)


def test_a_department_step_is_claimed_by_one_member(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, DEPARTMENT_STEP)
    instance = start(people, "desk")
    item = item_of(kernel, instance, "handle")
    with kernel.session() as session:
        assert [i.id for i in runtime.inbox(session, people.actor("ian"))] == [item]
        assert runtime.inbox(session, people.actor("rita")) == []
    with pytest.raises(Forbidden), kernel.session() as session:
        runtime.complete_item(session, kernel, people.actor("ian"), item)  # claim first
    with pytest.raises(Forbidden), kernel.session() as session:
        runtime.claim_item(session, people.actor("rita"), item)  # not offered to her
    with kernel.session() as session:
        runtime.claim_item(session, people.actor("ian"), item)
    with pytest.raises(Conflict), kernel.session() as session:
        runtime.claim_item(session, people.actor("ina"), item)
    with kernel.session() as session:  # claimed: gone from the others' inboxes
        assert runtime.inbox(session, people.actor("ina")) == []
        runtime.release_item(session, people.actor("ian"), item)
    with kernel.session() as session:
        assert [i.id for i in runtime.inbox(session, people.actor("ina"))] == [item]
        runtime.claim_item(session, people.actor("ina"), item)
    complete(people, "ina", item)
    assert state_of(kernel, instance) == ("completed", "e")
    assert actions_of(kernel, instance).count("claim") == 2


ROUTES = process(
    "routes",
    '<bpmn:startEvent id="s" />'
    + task("ask", 'itsm:assignee="starter"')
    + '<bpmn:exclusiveGateway id="g" default="g_small" />'
    + task("big", 'itsm:assignee="starter.department.head"')
    + '<bpmn:endEvent id="small" /><bpmn:endEvent id="done" />'
    + flows("s", "ask", "g")
    + conditional("g", "big", "form.amount &gt; 1000")
    + flows("g", "small")
    + flows("big", "done"),
)


def test_routes_follow_conditions_on_form_values_or_the_default(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, ROUTES)
    big = start(people, "routes")
    complete(people, "rita", item_of(kernel, big, "ask"), variables={"amount": 5000})
    assert open_items(kernel, big) == [("big", people.ids["sally"])]
    small = start(people, "routes")
    complete(people, "rita", item_of(kernel, small, "ask"), variables={"amount": 10})
    assert state_of(kernel, small) == ("completed", "small")


def test_a_condition_that_fails_moves_nothing(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, ROUTES)
    instance = start(people, "routes")
    item = item_of(kernel, instance, "ask")
    with pytest.raises(ExpressionError):  # form.amount is missing: an error, not a route
        complete(people, "rita", item)
    assert open_items(kernel, instance) == [("ask", people.ids["rita"])]
    assert actions_of(kernel, instance).count("complete") == 0


PARALLEL = process(
    "parallel",
    '<bpmn:startEvent id="s" /><bpmn:parallelGateway id="split" />'
    + task("a", "itsm:assignee=\"'ian'\"", 'itsm:returnTargets="prepare"')
    + task("b", "itsm:assignee=\"'ina'\"")
    + task("prepare", 'itsm:assignee="starter"')
    + '<bpmn:parallelGateway id="join" />'
    + task("check", 'itsm:assignee="starter.department.head"')
    + '<bpmn:endEvent id="e" />'
    + flows("s", "prepare", "split", "a", "join", "check", "e")
    + flows("split", "b", "join"),
)


def test_parallel_branches_split_and_join(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    publish(kernel, PARALLEL)
    instance = start(people, "parallel")
    complete(people, "rita", item_of(kernel, instance, "prepare"))
    assert open_items(kernel, instance) == [("a", ids["ian"]), ("b", ids["ina"])]
    complete(people, "ina", item_of(kernel, instance, "b"))
    assert open_items(kernel, instance) == [("a", ids["ian"])]  # the join waits for a
    complete(people, "ian", item_of(kernel, instance, "a"))
    assert open_items(kernel, instance) == [("check", ids["sally"])]
    complete(people, "sally", item_of(kernel, instance, "check"))
    assert state_of(kernel, instance) == ("completed", "e")


def test_send_back_ends_every_parallel_branch_and_restarts_at_the_target(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    publish(kernel, PARALLEL)
    instance = start(people, "parallel")
    complete(people, "rita", item_of(kernel, instance, "prepare"))
    complete(people, "ina", item_of(kernel, instance, "b"))  # b is done, a still open
    with pytest.raises(BadUserInput), kernel.session() as session:  # not an allowed target
        runtime.send_back(session, kernel, people.actor("ian"), item_of(kernel, instance, "a"), "b")
    with kernel.session() as session:
        runtime.send_back(
            session,
            kernel,
            people.actor("ian"),
            item_of(kernel, instance, "a"),
            "prepare",
            comment="Missing the budget",
        )
    assert open_items(kernel, instance) == [("prepare", ids["rita"])]
    with kernel.session() as session:  # no token is left waiting at the join
        waiting = session.scalars(
            select(Token.node_id).where(Token.instance_id == instance, Token.state == "waiting")
        ).all()
        assert waiting == ["prepare"]
    complete(people, "rita", item_of(kernel, instance, "prepare"))
    assert open_items(kernel, instance) == [("a", ids["ian"]), ("b", ids["ina"])]  # redone
    assert "send_back" in actions_of(kernel, instance)


def test_jump_needs_the_action_and_a_step_that_allows_it(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    publish(
        kernel,
        process(
            "jumpy",
            '<bpmn:startEvent id="s" />'
            + task("one", 'itsm:assignee="starter"', 'itsm:jump="true"')
            + task("two", 'itsm:assignee="starter"')
            + task("three", 'itsm:assignee="starter.department.head"')
            + '<bpmn:endEvent id="e" />'
            + flows("s", "one", "two", "three", "e"),
        ),
    )
    instance = start(people, "jumpy")
    with pytest.raises(Forbidden), kernel.session() as session:
        runtime.jump(
            session, kernel, people.actor("rita"), item_of(kernel, instance, "one"), "three"
        )
    with pytest.raises(BadUserInput), kernel.session() as session:
        runtime.jump(
            session, kernel, people.actor("sam"), item_of(kernel, instance, "one"), "nowhere"
        )
    with kernel.session() as session:
        runtime.jump(
            session, kernel, people.actor("sam"), item_of(kernel, instance, "one"), "three"
        )
    assert open_items(kernel, instance) == [("three", ids["sally"])]
    with pytest.raises(BadUserInput), kernel.session() as session:  # three allows no jump
        runtime.jump(
            session, kernel, people.actor("sam"), item_of(kernel, instance, "three"), "one"
        )


def test_a_loop_runs_until_its_condition_lets_go(people: Org) -> None:
    kernel = people.kernel
    publish(
        kernel,
        process(
            "loop",
            '<bpmn:startEvent id="s" />'
            + task("draft", 'itsm:assignee="starter"')
            + task("review", 'itsm:assignee="starter.department.head"')
            + '<bpmn:exclusiveGateway id="ok" default="ok_draft" /><bpmn:endEvent id="e" />'
            + flows("s", "draft", "review", "ok")
            + conditional("ok", "e", 'decision == "approve"')
            + flows("ok", "draft"),
        ),
    )
    instance = start(people, "loop")
    for answer in ("reject", "reject", "approve"):
        complete(people, "rita", item_of(kernel, instance, "draft"))
        complete(people, "sally", item_of(kernel, instance, "review"), outcome=answer)
    assert state_of(kernel, instance) == ("completed", "e")
    assert actions_of(kernel, instance).count("complete") == 6


def test_sub_processes_call_activities_and_chained_processes(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    publish(
        kernel,
        process(
            "child",
            '<bpmn:startEvent id="cs" />'
            + task("fix", "itsm:assignee=\"'ian'\"")
            + '<bpmn:endEvent id="ce" />'
            + flows("cs", "fix", "ce"),
        ),
    )
    publish(
        kernel,
        process(
            "after",
            '<bpmn:startEvent id="as" />'
            + task("survey", 'itsm:assignee="starter"')
            + '<bpmn:endEvent id="ae" />'
            + flows("as", "survey", "ae"),
        ),
    )
    publish(
        kernel,
        process(
            "parent",
            '<bpmn:startEvent id="s" /><bpmn:subProcess id="inner">'
            '<bpmn:startEvent id="is" />'
            + task("check", 'itsm:assignee="starter"')
            + '<bpmn:endEvent id="ie" />'
            + flows("is", "check", "ie")
            + "</bpmn:subProcess>"
            '<bpmn:callActivity id="call" calledElement="child" /><bpmn:endEvent id="e" />'
            + flows("s", "inner", "call", "e"),
            'itsm:next="after"',
        ),
    )
    instance = start(people, "parent")
    complete(people, "rita", item_of(kernel, instance, "check"), variables={"note": "ok"})
    with kernel.session() as session:
        child = session.scalar(
            select(ProcessInstance).where(ProcessInstance.parent_instance_id == instance)
        )
        assert child is not None and child.process_key == "child"
        assert child.variables["note"] == "ok"  # the child starts with the parent's variables
        child_id = child.id
    assert state_of(kernel, instance) == ("running", None)
    complete(people, "ian", item_of(kernel, child_id, "fix"), variables={"fixed": True})
    assert state_of(kernel, child_id) == ("completed", "ce")
    assert state_of(kernel, instance) == ("completed", "e")
    with kernel.session() as session:
        chained = session.scalar(
            select(ProcessInstance).where(ProcessInstance.process_key == "after")
        )
        assert chained is not None and chained.starter_id == ids["rita"]
        assert chained.variables["fixed"] is True  # what the child decided came back
    assert "chain" in actions_of(kernel, instance)


def test_hook_on_workflow_event(people: Org) -> None:
    """An assignee rule finding nobody sends the step to the fallback group; the owner's
    role is told through on_workflow_event."""
    kernel = people.kernel
    heard: list[Any] = []

    class Listener:
        @hookimpl
        def on_workflow_event(self, event: Any) -> None:
            heard.append(event)

    kernel.plugins.pm.register(Listener(), name="listener")
    instance = start(people, "two_level_approval", login="sam")  # sam has no department
    assert open_items(kernel, instance) == [("head_approval", None)]
    with kernel.session() as session:  # offered to the fallback group: supervisors
        assert [i.node_id for i in runtime.inbox(session, people.actor("sam"))] == ["head_approval"]
    assert "fallback" in actions_of(kernel, instance)
    fallback = [e for e in heard if e.kind == "fallback"]
    assert fallback and fallback[0].role_codes == ("administrator",)


def test_withdraw_is_the_starters_until_someone_else_acts(people: Org) -> None:
    kernel = people.kernel
    first = start(people, "two_level_approval")
    with pytest.raises(Forbidden), kernel.session() as session:
        runtime.withdraw(session, kernel, people.actor("sally"), first)
    with kernel.session() as session:
        runtime.withdraw(session, kernel, people.actor("rita"), first, comment="Not needed")
    assert state_of(kernel, first) == ("withdrawn", None)
    assert open_items(kernel, first) == []
    second = start(people, "two_level_approval")
    complete(people, "sally", item_of(kernel, second, "head_approval"), outcome="approve")
    with pytest.raises(BadUserInput), kernel.session() as session:
        runtime.withdraw(session, kernel, people.actor("rita"), second)


def test_delegate_dispatch_and_supervise(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    heard: list[Any] = []

    class Listener:
        @hookimpl
        def on_workflow_event(self, event: Any) -> None:
            heard.append(event)

    kernel.plugins.pm.register(Listener(), name="listener")
    instance = start(people, "two_level_approval")
    item = item_of(kernel, instance, "head_approval")
    with kernel.session() as session:
        runtime.delegate_item(session, kernel, people.actor("sally"), item, ids["otto"])
    assert open_items(kernel, instance) == [("head_approval", ids["otto"])]
    with pytest.raises(Forbidden), kernel.session() as session:  # sally gave it away
        runtime.complete_item(session, kernel, people.actor("sally"), item, outcome="approve")
    with pytest.raises(Forbidden), kernel.session() as session:
        runtime.dispatch_item(session, kernel, people.actor("rita"), item, user_id=ids["ivan"])
    with kernel.session() as session:
        runtime.dispatch_item(session, kernel, people.actor("dora"), item, department_code="it")
    assert open_items(kernel, instance) == [("head_approval", None)]
    with pytest.raises(Forbidden), kernel.session() as session:
        runtime.supervise_item(session, kernel, people.actor("rita"), item, "Hurry")
    with kernel.session() as session:
        runtime.supervise_item(session, kernel, people.actor("sam"), item, "Please decide today")
    urged = [e for e in heard if e.kind == "urged"]
    assert urged and urged[0].department_ids == (ids["it"],)
    assert urged[0].comment == "Please decide today"
    log = actions_of(kernel, instance)
    assert [a for a in log if a in ("delegate", "dispatch", "urge")] == [
        "delegate",
        "dispatch",
        "urge",
    ]


def test_the_completer_may_choose_the_next_assignee_where_the_step_allows(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    publish(
        kernel,
        process(
            "choose",
            '<bpmn:startEvent id="s" />'
            + task("triage", 'itsm:assignee="starter"', 'itsm:chooseNext="true"')
            + task("work", 'itsm:candidateDepartments="it"')
            + '<bpmn:endEvent id="e" />'
            + flows("s", "triage", "work", "e"),
        ),
    )
    instance = start(people, "choose")
    complete(people, "rita", item_of(kernel, instance, "triage"), next_assignee_id=ids["ike"])
    assert open_items(kernel, instance) == [("work", ids["ike"])]
    with pytest.raises(BadUserInput):  # work does not allow choosing
        complete(people, "ike", item_of(kernel, instance, "work"), next_assignee_id=ids["ian"])


def test_an_action_on_a_finished_item_is_a_conflict(people: Org) -> None:
    kernel = people.kernel
    instance = start(people, "two_level_approval")
    item = item_of(kernel, instance, "head_approval")
    complete(people, "sally", item, outcome="reject")
    with pytest.raises(Conflict):
        complete(people, "sally", item, outcome="approve")
    with kernel.session() as session:
        assert session.scalar(
            select(Transition.id)
            .where(Transition.instance_id == instance)
            .order_by(Transition.id.desc())
        )


class RecordsAndActions:
    """A module whose records drive processes and whose service tasks stamp them."""

    stamped: ClassVar[list[int]] = []

    @hookimpl
    def workflow_record(self, session: Any, kind: str, record_id: int) -> dict[str, Any] | None:
        if kind != "gadget":
            return None
        return {"category": "network" if record_id == 1 else "desktop", "id": record_id}

    @hookimpl
    def register_service_actions(self) -> list[ServiceAction]:
        def stamp(context: ServiceContext) -> dict[str, Any]:
            self.stamped.append(context.instance.id)
            return {"stamped": True}

        return [ServiceAction("gadgets.stamp", stamp, "Marks the gadget as handled.")]


ROUTED_BY_RECORD = process(
    "gadget_flow",
    '<bpmn:startEvent id="s" /><bpmn:serviceTask id="stamp" itsm:action="gadgets.stamp" />'
    '<bpmn:exclusiveGateway id="g" default="g_desk" />'
    + task("net", 'itsm:candidateDepartments="it"')
    + '<bpmn:endEvent id="desk" /><bpmn:endEvent id="done" />'
    + flows("s", "stamp", "g")
    + conditional("g", "net", 'record.category == "network" and form.stamped')
    + flows("g", "desk")
    + flows("net", "done"),
)


@pytest.fixture
def gadget_kernel(tmp_path: Any, database_url: str) -> Any:
    kernel = build_kernel(tmp_path, database_url, plugins={"gadgets": RecordsAndActions()})
    yield kernel
    kernel.close()


def test_hook_workflow_record(gadget_kernel: Kernel) -> None:
    """Conditions read the driving record as the owning module describes it."""
    publish(gadget_kernel, ROUTED_BY_RECORD)
    with gadget_kernel.session() as session:
        network = runtime.start_process(
            session, gadget_kernel, SYSTEM, "gadget_flow", record_kind="gadget", record_id=1
        ).id
        desktop = runtime.start_process(
            session, gadget_kernel, SYSTEM, "gadget_flow", record_kind="gadget", record_id=2
        ).id
    assert open_items(gadget_kernel, network) == [("net", None)]
    assert state_of(gadget_kernel, desktop) == ("completed", "desk")


def test_hook_register_service_actions(gadget_kernel: Kernel) -> None:
    """Service tasks run the named action in the step's transaction and merge what it
    returns; an action no module provides stops the step with a clear error."""
    publish(gadget_kernel, ROUTED_BY_RECORD)
    RecordsAndActions.stamped.clear()
    with gadget_kernel.session() as session:
        instance = runtime.start_process(
            session, gadget_kernel, SYSTEM, "gadget_flow", record_kind="gadget", record_id=1
        )
        assert instance.variables["stamped"] is True
    assert RecordsAndActions.stamped == [instance.id]
    assert "gadgets.stamp" in gadget_kernel.service_actions
    publish(
        gadget_kernel,
        process(
            "missing",
            '<bpmn:startEvent id="s" /><bpmn:serviceTask id="x" itsm:action="nobody.here" />'
            '<bpmn:endEvent id="e" />' + flows("s", "x", "e"),
        ),
    )
    with pytest.raises(BadUserInput, match=r"nobody\.here"), gadget_kernel.session() as session:
        runtime.start_process(session, gadget_kernel, SYSTEM, "missing")
    with gadget_kernel.session() as session:  # nothing half-started
        assert (
            session.scalar(
                select(ProcessInstance.id).where(ProcessInstance.process_key == "missing")
            )
            is None
        )


def test_two_modules_declaring_one_service_action_stop_start_up(
    tmp_path: Any, database_url: str
) -> None:
    class Twin:
        @hookimpl
        def register_service_actions(self) -> list[ServiceAction]:
            return [ServiceAction("gadgets.stamp", lambda context: None)]

    kernel = build_kernel(
        tmp_path, database_url, plugins={"gadgets": RecordsAndActions(), "twin": Twin()}
    )
    try:
        with pytest.raises(ConfigurationError, match=r"gadgets\.stamp"):
            _ = kernel.service_actions
    finally:
        kernel.close()
