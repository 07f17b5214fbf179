"""Running processes over GraphQL: the inbox, acting on steps, what others may see, and a
deputy acting on a delegator's steps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from strawberry.relay import to_base64

from openitsm.kernel.access import delegation
from openitsm.kernel.db import utcnow
from openitsm.kernel.organisation import service as org
from openitsm.kernel.testing import error_codes, gql

from .conftest import Org, publish

INBOX = """query($as: ID) { inbox(first: 10, onBehalfOf: $as) { edges { node {
  id nodeId name state version countersign returnTargets form
  assignee { login } instance { title processKey starter { login } }
} } } }"""


def inbox(people: Org, login: str, on_behalf_of: str | None = None) -> list[dict]:
    result = gql(people.kernel, INBOX, {"as": on_behalf_of}, actor=people.actor(login))
    assert "errors" not in result, result
    return [edge["node"] for edge in result["data"]["inbox"]["edges"]]


def test_start_act_and_follow_a_process_over_graphql(people: Org) -> None:
    kernel = people.kernel
    started = gql(
        kernel,
        'mutation { startProcess(key: "two_level_approval", title: "VPN access", '
        'variables: {reason: "remote work"}) { id state title variables canWithdraw '
        "openItems { nodeId assignee { login } } } }",
        actor=people.actor("rita"),
    )
    assert "errors" not in started, started
    instance = started["data"]["startProcess"]
    assert instance["variables"] == {"reason": "remote work"}
    assert instance["canWithdraw"] is True
    assert instance["openItems"] == [{"nodeId": "head_approval", "assignee": {"login": "sally"}}]

    [item] = inbox(people, "sally")
    assert item["instance"] == {
        "title": "VPN access",
        "processKey": "two_level_approval",
        "starter": {"login": "rita"},
    }
    assert item["form"] == "approval.decision" and item["countersign"] is False
    assert inbox(people, "rita") == []

    complete = """mutation($id: ID!, $version: Int) { completeWorkItem(input: {id: $id,
      outcome: "approve", comment: "fine", version: $version}) { state steps { nodeId state }
      log { action actorLabel fromNode outcome comment } } }"""
    stale = gql(
        kernel, complete, {"id": item["id"], "version": item["version"] - 1}, people.actor("sally")
    )
    assert error_codes(stale) == ["CONFLICT"]
    done = gql(
        kernel, complete, {"id": item["id"], "version": item["version"]}, people.actor("sally")
    )
    assert "errors" not in done, done
    after = done["data"]["completeWorkItem"]
    steps = {step["nodeId"]: step["state"] for step in after["steps"]}
    assert steps["head_approval"] == "done" and steps["it_countersign"] == "active"
    assert {"action": "complete", "actorLabel": "Sally", "fromNode": "head_approval",
            "outcome": "approve", "comment": "fine"} in after["log"]  # fmt: skip
    again = gql(kernel, complete, {"id": item["id"], "version": None}, people.actor("sally"))
    assert error_codes(again) == ["CONFLICT"]

    [signer] = inbox(people, "ian")
    assert signer["countersign"] is True and signer["returnTargets"] == ["head_approval"]


def test_others_see_neither_the_instance_nor_its_steps(people: Org) -> None:
    kernel = people.kernel
    started = gql(
        kernel,
        'mutation { startProcess(key: "two_level_approval") { id openItems { id } } }',
        actor=people.actor("rita"),
    )["data"]["startProcess"]
    look = "query($i: ID!, $w: ID!) { i: node(id: $i) { id } w: node(id: $w) { id } }"
    ids = {"i": started["id"], "w": started["openItems"][0]["id"]}
    assert gql(kernel, look, ids, people.actor("otto"))["data"] == {"i": None, "w": None}
    for login in ("rita", "sally", "sam"):  # starter, assignee, supervisor
        seen = gql(kernel, look, ids, people.actor(login))["data"]
        assert seen["i"] is not None and seen["w"] is not None, login


def test_special_actions_need_their_permissions_over_graphql(people: Org) -> None:
    kernel = people.kernel
    started = gql(
        kernel,
        'mutation { startProcess(key: "two_level_approval") { openItems { id } } }',
        actor=people.actor("rita"),
    )["data"]["startProcess"]
    item = started["openItems"][0]["id"]
    dispatch = 'mutation($id: ID!) { dispatchWorkItem(id: $id, departmentCode: "it") { state } }'
    urge = 'mutation($id: ID!) { superviseWorkItem(id: $id, comment: "today please") { urged } }'
    assert error_codes(gql(kernel, dispatch, {"id": item}, people.actor("rita"))) == ["FORBIDDEN"]
    assert error_codes(gql(kernel, urge, {"id": item}, people.actor("dora"))) == ["FORBIDDEN"]
    assert gql(kernel, dispatch, {"id": item}, people.actor("dora"))["data"]
    assert gql(kernel, urge, {"id": item}, people.actor("sam"))["data"] == {
        "superviseWorkItem": {"urged": 1}
    }
    [claimable] = inbox(people, "ina")
    assert claimable["assignee"] is None


def test_a_deputy_works_the_delegators_inbox_on_their_behalf(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    gql(
        kernel,
        'mutation { startProcess(key: "two_level_approval") { id } }',
        actor=people.actor("rita"),
    )
    with kernel.session() as session:
        delegation.create_delegation(
            session,
            people.actor("sally"),
            deputy_id=ids["otto"],
            starts_at=utcnow() - dt.timedelta(hours=1),
            ends_at=utcnow() + dt.timedelta(days=3),
            reason="Holiday",
        )
    sally_global = to_base64("User", ids["sally"])
    assert inbox(people, "otto") == []
    [item] = inbox(people, "otto", on_behalf_of=sally_global)
    done = gql(
        kernel,
        'mutation($id: ID!, $as: ID) { completeWorkItem(input: {id: $id, outcome: "reject", '
        "onBehalfOf: $as}) { state log { action actor { login } onBehalfOf { login } } } }",
        {"id": item["id"], "as": sally_global},
        actor=people.actor("otto"),
    )
    assert "errors" not in done, done
    log = done["data"]["completeWorkItem"]["log"]
    entry = next(e for e in log if e["action"] == "complete")
    assert entry == {
        "action": "complete",
        "actor": {"login": "otto"},
        "onBehalfOf": {"login": "sally"},
    }
    # ina holds no delegation from sally
    refused = gql(kernel, INBOX, {"as": sally_global}, actor=people.actor("ina"))
    assert error_codes(refused) == ["FORBIDDEN"]


MOVE = """mutation($from: Int!, $to: Int!) { moveProcessInstances(key: "two_level_approval",
  fromNumber: $from, toNumber: $to) { moved refused { instanceId missingSteps } } }"""


def test_running_instances_move_to_a_new_version_where_their_steps_exist(people: Org) -> None:
    kernel = people.kernel
    first = gql(kernel, 'mutation { startProcess(key: "two_level_approval") { id } }',
                actor=people.actor("rita"))["data"]["startProcess"]["id"]  # fmt: skip
    sample = (
        Path(__file__).parents[3] / "platform/kernel/workflow/processes/two_level_approval.bpmn"
    )
    redrawn = sample.read_text().replace('name="部门负责人审批"', 'name="Head approves"')
    publish(kernel, redrawn)
    without_head = sample.read_text().replace("head_approval", "boss_approval")
    publish(kernel, without_head)
    refused = gql(kernel, MOVE, {"from": 1, "to": 2}, actor=people.actor("rita"))
    assert error_codes(refused) == ["FORBIDDEN"]
    with kernel.session() as session:
        admin = org.create_user(session, login="root", name="Root", superuser=True)
    root = people.actor("sam").__class__(user_id=admin.id, label="Root", superuser=True)
    moved = gql(kernel, MOVE, {"from": 1, "to": 2}, actor=root)["data"]["moveProcessInstances"]
    assert moved == {"moved": 1, "refused": []}
    stuck = gql(kernel, MOVE, {"from": 2, "to": 3}, actor=root)["data"]["moveProcessInstances"]
    assert stuck == {
        "moved": 0,
        "refused": [{"instanceId": first, "missingSteps": ["head_approval"]}],
    }
    shown = gql(kernel, "query($id: ID!) { node(id: $id) { ... on ProcessInstance { processVersion { number } openItems { name } log { action } } } }",
                {"id": first}, actor=root)["data"]["node"]  # fmt: skip
    assert shown["processVersion"] == {"number": 2}
    # The open step carries on; the steps it opens next follow the new version's drawing.
    assert shown["openItems"] == [{"name": "部门负责人审批"}]
    assert "migrate" in [entry["action"] for entry in shown["log"]]
