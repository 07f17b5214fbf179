"""Importing BPMN: the documented subset loads as drawn; anything else is refused with the
element's id and the reason, and a definition's expressions cannot leave their sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from openitsm.kernel.workflow.definition import DefinitionError, parse_definition
from openitsm.kernel.workflow.expressions import ExpressionError, condition_holds, evaluate

SAMPLE = Path(__file__).parents[3] / "platform/kernel/workflow/processes/two_level_approval.bpmn"
HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:itsm="https://openitsm.org/schema/bpmn" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d">'
    '<bpmn:process id="p" isExecutable="true">'
)
TAIL = "</bpmn:process></bpmn:definitions>"


def process(body: str) -> str:
    return HEAD + body + TAIL


def simple(task: str = '<bpmn:userTask id="t" itsm:assignee="starter" />', extra: str = "") -> str:
    return process(
        '<bpmn:startEvent id="s" />'
        + task
        + '<bpmn:endEvent id="e" />'
        + '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />'
        + '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" />'
        + extra
    )


def problems(xml: str) -> dict[str, str]:
    """{element: its reasons, one a line}."""
    with pytest.raises(DefinitionError) as refused:
        parse_definition(xml)
    assert refused.value.code == "BAD_USER_INPUT"
    found: dict[str, str] = {}
    for problem in refused.value.problems:
        found[problem.element] = "\n".join(
            filter(None, [found.get(problem.element), problem.reason])
        )
    return found


def has(reasons: str, expected: str) -> bool:
    return any(line.startswith(expected) for line in reasons.splitlines())


def test_the_sample_process_loads_with_every_attribute() -> None:
    definition = parse_definition(SAMPLE.read_bytes())
    assert definition.process_id == "two_level_approval"
    head = definition.nodes["head_approval"]
    assert head.assignee == "starter.department.head" and head.deadline == "PT8H"
    assert head.escalation == "notify" and head.fallback_group == "supervisor"
    countersign = definition.nodes["it_countersign"]
    assert countersign.candidate_departments == ("it",)
    assert countersign.countersign is not None
    assert (countersign.countersign.mode, countersign.countersign.ratio) == ("ratio", 0.5)
    assert countersign.countersign.veto and countersign.return_targets == ("head_approval",)
    assert [b.id for b in definition.boundaries("it_countersign")] == ["countersign_overdue"]
    assert definition.nodes["countersign_overdue"].timer == "P1D"
    flows = {f.id: f for f in definition.outgoing("head_decision")}
    assert flows["head_rejected"].default and flows["head_approved"].condition
    assert definition.start().id == "submitted"


def test_the_simplest_process_loads() -> None:
    definition = parse_definition(simple())
    assert [n.kind for n in definition.nodes.values()] == ["startEvent", "userTask", "endEvent"]


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ('<bpmn:inclusiveGateway id="x" />', "inclusiveGateway is not supported; use parallel"),
        ('<bpmn:scriptTask id="x" />', "scriptTask is not supported; scripts are not run"),
        ('<bpmn:intermediateCatchEvent id="x" />', "intermediateCatchEvent is not supported"),
        ('<bpmn:task id="x" />', "task is not supported"),
        ('<bpmn:dataObject id="x" />', "dataObject is not supported"),
    ],
)
def test_elements_outside_the_subset_are_refused_by_id(element: str, expected: str) -> None:
    found = problems(simple(extra=element))
    assert has(found["x"], expected), found


def test_events_beyond_plain_start_end_and_timer_boundaries_are_refused() -> None:
    timer_start = simple().replace(
        '<bpmn:startEvent id="s" />',
        '<bpmn:startEvent id="s"><bpmn:timerEventDefinition /></bpmn:startEvent>',
    )
    assert "timerEventDefinition is not supported" in problems(timer_start)["s"]
    message = simple(
        extra='<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:messageEventDefinition />'
        '</bpmn:boundaryEvent><bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="e" />'
    )
    assert problems(message)["b"] == "only timer boundary events (deadlines) are supported"
    cycle = simple(
        extra='<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition>'
        "<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="e" />'
    )
    assert "timeCycle is not supported" in problems(cycle)["b"]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            'itsm:asignee="starter"',
            "a userTask has no attribute itsm:asignee; did you mean itsm:assignee?",
        ),
        (
            'itsm:assignee="starter" itsm:countersign="most"',
            "itsm:countersign is all, any or ratio",
        ),
        (
            'itsm:assignee="starter" itsm:countersign="ratio:1.5"',
            "itsm:countersign is all, any or ratio",
        ),
        ('itsm:assignee="starter" itsm:deadline="P1M"', "itsm:deadline: 'P1M' is not a duration"),
        ('itsm:assignee="starter" itsm:jump="yes"', "itsm:jump is true or false"),
        (
            'itsm:assignee="starter" itsm:escalation="notify"',
            "itsm:escalation needs an itsm:deadline",
        ),
        ('itsm:assignee="starter" itsm:veto="true"', "itsm:veto goes with itsm:countersign"),
        ('itsm:assignee="starter" itsm:returnTargets="nowhere"', "itsm:returnTargets: 'nowhere'"),
        ('itsm:assignee="starter.(("', "itsm:assignee: The expression"),
        ("", "a userTask says who does it"),
    ],
)
def test_our_attributes_are_checked(attributes: str, expected: str) -> None:
    found = problems(simple(f'<bpmn:userTask id="t" {attributes} />'))
    assert has(found["t"], expected), found


def test_the_graph_is_checked() -> None:
    dangling = simple(extra='<bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="ghost" />')
    assert problems(dangling)["f3"] == "points at 'ghost', which is not in the process"
    island = simple(extra='<bpmn:userTask id="lost" itsm:assignee="starter" />'
                    '<bpmn:sequenceFlow id="f3" sourceRef="lost" targetRef="e" />')  # fmt: skip
    assert problems(island)["lost"] == "nothing flows into it"
    loop = process(
        '<bpmn:startEvent id="s" /><bpmn:userTask id="a" itsm:assignee="starter" />'
        '<bpmn:userTask id="b" itsm:assignee="starter" /><bpmn:endEvent id="e" />'
        '<bpmn:exclusiveGateway id="g" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="a"><bpmn:conditionExpression>'
        "x</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="e"><bpmn:conditionExpression>'
        "not x</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="b" />'
        '<bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="a" />'
    )
    found = problems(loop)
    assert found["a"] == found["b"] == "no path leads from it to an end event"
    unguarded = process(
        '<bpmn:startEvent id="s" /><bpmn:exclusiveGateway id="g" /><bpmn:endEvent id="e" />'
        '<bpmn:endEvent id="e2" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="e" />'
        '<bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="e2" />'
    )
    found = problems(unguarded)
    assert found["f2"].startswith("leaves an exclusive gateway: give it a condition")
    split = simple(extra='<bpmn:endEvent id="e2" />'
                   '<bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="e2" />')  # fmt: skip
    assert problems(split)["t"] == "splits into several flows; use a gateway"
    no_end = process('<bpmn:startEvent id="s" /><bpmn:userTask id="t" itsm:assignee="a" />'
                     '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />')  # fmt: skip
    assert problems(no_end)["p"] == "has at least one end event"


def test_an_embedded_subprocess_is_checked_as_its_own_scope() -> None:
    inner = (
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="s2" />'
        '<bpmn:userTask id="t2" itsm:candidateRoles="supervisor" /><bpmn:endEvent id="e2" />'
        '<bpmn:sequenceFlow id="g1" sourceRef="s2" targetRef="t2" />'
        '<bpmn:sequenceFlow id="g2" sourceRef="t2" targetRef="e2" /></bpmn:subProcess>'
    )
    definition = parse_definition(simple(inner.replace('id="sub"', 'id="t"')))
    assert definition.nodes["t2"].scope == "t" and definition.start("t").id == "s2"
    crossing = inner.replace('targetRef="e2" />', 'targetRef="e" />')
    assert (
        "a flow stays inside its sub-process"
        in problems(simple(crossing.replace('id="sub"', 'id="t"')))["g2"]
    )


def test_not_bpmn_malformed_dtds_and_entities_are_refused() -> None:
    assert "not well-formed XML" in problems("<bpmn:definitions")["definitions"]
    assert "not BPMN 2.0" in problems("<definitions />")["definitions"]
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>' + simple().replace("starter", "&lol2;")
    )
    assert "not well-formed XML" in problems(bomb)["definitions"]
    external = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + simple()
    )
    assert "not well-formed XML" in problems(external)["definitions"]
    assert "larger than 2 MB" in problems(" " * (3 * 1024 * 1024))["definitions"]
    two = (
        HEAD
        + TAIL.replace("</bpmn:definitions>", "")
        + '<bpmn:process id="q" /></bpmn:definitions>'
    )
    assert "exactly one process" in problems(two)["definitions"]


def test_every_problem_is_listed_at_once() -> None:
    xml = simple('<bpmn:userTask id="t" itsm:deadline="soon" itsm:jump="maybe" />')
    with pytest.raises(DefinitionError) as refused:
        parse_definition(xml)
    reasons = [p.reason for p in refused.value.problems if p.element == "t"]
    assert len(reasons) == 3  # no performer, bad deadline, bad flag
    assert refused.value.extensions["problems"][0]["element"] == "t"


# --- the sandbox ----------------------------------------------------------------------


def test_expressions_read_only_what_they_are_given() -> None:
    names = {"record": {"priority": "high", "cost": 12}, "decision": "approve"}
    assert condition_holds('decision == "approve" and record.priority == "high"', names)
    assert evaluate("record.cost * 2 + 1", names) == 25
    with pytest.raises(ExpressionError, match="names something unknown"):
        evaluate("reporter.manager", names)


@pytest.mark.parametrize(
    "source",
    [
        "().__class__.__base__.__subclasses__()",
        "record.__class__",
        "record['__class__']",
        "lipsum.__globals__",
        "cycler.__init__.__globals__.os",
        "self.__init__.__globals__",
        "namespace.__init__.__globals__['__builtins__']['open']('/etc/passwd').read()",
        "joiner.__init__.__globals__['__builtins__']['__import__']('socket')",
        "range.__self__",
        "'x' * 1000000",
        "2 ** 100000",
        "[1] * 200000",
        "range(10**9) | list",
        "record.clear()",
        "record.update({'a': 1})",
    ],
)
def test_expressions_cannot_reach_python_internals_files_or_the_network(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source, {"record": {"priority": "high"}})


def test_names_in_each_language_beside_the_name() -> None:
    from .conftest import flows, process

    definition = parse_definition(
        process(
            "named",
            '<bpmn:startEvent id="s" name="开始" itsm:name-en="Start" />'
            '<bpmn:userTask id="t" name="审批" itsm:name-en="Approve" itsm:assignee="starter" />'
            '<bpmn:endEvent id="e" />' + flows("s", "t", "e"),
            'name="流程" itsm:name-en="Process" itsm:name-zh-CN="审批流程"',
        )
    )
    assert definition.node_label("t", "en") == "Approve"
    assert definition.node_label("t", "zh-CN") == "审批"  # no zh-CN name: the name
    assert definition.node_label("e", "en") == "e"  # no name at all: the id
    assert definition.label("zh-CN") == "审批流程" and definition.label("fr") == "流程"
    with pytest.raises(DefinitionError) as raised:
        parse_definition(
            process(
                "named",
                '<bpmn:startEvent id="s" itsm:name-fr="Début" /><bpmn:endEvent id="e" />'
                + flows("s", "e"),
            )
        )
    assert "itsm:name-fr" in str(raised.value.problems)
