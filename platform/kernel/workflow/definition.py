"""Process definitions: BPMN 2.0 XML, as bpmn-js draws it, read into a checked graph.

The engine runs a documented subset of BPMN (docs/workflow.md) plus our own attributes in
the `itsm:` namespace. Everything else is refused when a definition is imported, each
problem naming the element's id and the reason, so a diagram either runs as drawn or does
not load at all. The XML is parsed without DTDs or entities (defusedxml) and limited in size.

    definition = parse_definition(xml)          # DefinitionError lists every problem
    definition.process_id, definition.nodes["approve"].assignee
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from openitsm.kernel.calendar import CALENDAR_KEY
from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.workflow.expressions import ExpressionError, compile_expression

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ITSM = "https://openitsm.org/schema/bpmn"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_XML_BYTES = 2 * 1024 * 1024
MAX_NODES = 2_000

NODE_KINDS = (
    "startEvent",
    "endEvent",
    "userTask",
    "serviceTask",
    "exclusiveGateway",
    "parallelGateway",
    "subProcess",
    "callActivity",
    "boundaryEvent",
)
# Children that carry no behaviour: documentation, the diagram's bookkeeping, annotations.
IGNORED = frozenset(
    {"documentation", "extensionElements", "incoming", "outgoing", "textAnnotation",
     "association", "laneSet", "group", "category"}
)  # fmt: skip
# Our attributes, by the elements that may carry them.
ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "userTask": frozenset(
        {
            "assignee",
            "candidateDepartments",
            "candidateRoles",
            "candidateDuty",
            "countersign",
            "veto",
            "deadline",
            "deadlineFallback",
            "escalation",
            "returnTargets",
            "jump",
            "form",
            "chooseNext",
            "fallbackGroup",
            "calendar",
        }
    ),
    "serviceTask": frozenset({"action"}),
    "subProcess": frozenset({"deadline"}),
    "callActivity": frozenset({"deadline"}),
    "boundaryEvent": frozenset({"businessTime"}),
    "process": frozenset({"owner", "next", "calendar"}),
}
COUNTERSIGN = re.compile(r"^(all|any|ratio:(0(\.\d+)?|1(\.0+)?))(/(person|department))?$")
# ISO 8601 durations without years or months (business time has no fixed month length).
DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
CODE = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
# A duty rota's key, as `openitsm.kernel.organisation.duty.KEY` allows it.
DUTY_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ESCALATION = ("reassign", "notify", "boundary")
# A step's deadline taken from the SLA clock of the record its instance drives.
SLA_DEADLINES = ("sla:response", "sla:resolution")
# A name in one of the product's languages beside `name`: itsm:name-en="Approve".
NAME_IN = re.compile(r"^name-(zh-CN|en)$")


@dataclass(frozen=True)
class Problem:
    """Why one element cannot be run: its id (or the tag when it has none) and the reason,
    in English; `template` and `params` give it in the reader's language (`translated`)."""

    element: str
    reason: str
    template: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, element: str, template: str, **params: Any) -> Problem:
        return cls(element, template.format(**params), template, params)

    def translated(self, gettext: Callable[[str], str]) -> str:
        if self.template is None:
            return self.reason
        try:
            return gettext(self.template).format(**self.params)
        except (KeyError, IndexError, ValueError):
            return self.reason


MORE_PROBLEMS = _t(" (and {count} more problems)")


class DefinitionError(BadUserInput):
    """A definition that cannot run; `problems` names every element that is wrong."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(
            _t("The process cannot be imported: {element}: {reason}{more}"),
            field="definition",
            params={"element": first.element, "reason": first.reason, "more": self._more()},
            problems=[{"element": p.element, "reason": p.reason} for p in problems],
        )

    def _more(self, gettext: Callable[[str], str] = str) -> str:
        more = len(self.problems) - 1
        return gettext(MORE_PROBLEMS).format(count=more) if more else ""

    def translated(self, gettext: Callable[[str], str]) -> str:
        first = self.problems[0]
        return gettext(_t("The process cannot be imported: {element}: {reason}{more}")).format(
            element=first.element, reason=first.translated(gettext), more=self._more(gettext)
        )

    def translated_problems(self, gettext: Callable[[str], str]) -> list[dict[str, str]]:
        """Every problem in the reader's language, for a designer to list."""
        return [{"element": p.element, "reason": p.translated(gettext)} for p in self.problems]


@dataclass(frozen=True)
class Flow:
    id: str
    source: str
    target: str
    condition: str | None = None
    default: bool = False
    name: str = ""


@dataclass(frozen=True)
class Countersign:
    """How several signers decide: all of them, any one, or a share (`ratio`), counted per
    person or per department; with `veto` one rejection ends it at once."""

    mode: str  # all, any, ratio
    ratio: float = 1.0
    per: str = "person"
    veto: bool = False


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    name: str = ""
    scope: str | None = None  # the embedded sub-process it belongs to (None: the process)
    assignee: str | None = None  # an expression
    candidate_departments: tuple[str, ...] = ()
    candidate_roles: tuple[str, ...] = ()
    candidate_duty: tuple[str, ...] = ()  # duty rota keys: whoever is on duty is offered it
    names: tuple[tuple[str, str], ...] = ()  # (locale, name) from itsm:name-<locale>
    countersign: Countersign | None = None
    deadline: str | None = None  # ISO 8601 duration in business time, or sla:<target>
    deadline_fallback: str | None = None  # with an SLA deadline: used while the clock has none
    escalation: str | None = None
    return_targets: tuple[str, ...] = ()
    jump: bool = False
    form: str | None = None
    choose_next: bool = False
    fallback_group: str | None = None
    action: str | None = None  # serviceTask
    called: str | None = None  # callActivity: the process id it starts
    attached_to: str | None = None  # boundaryEvent
    timer: str | None = None  # boundaryEvent: ISO 8601 duration
    business_time: bool = True
    cancel_activity: bool = True
    calendar: str | None = None  # the business calendar its deadline counts on (its key)

    @property
    def sla_target(self) -> str | None:
        """`response` or `resolution` when the deadline comes from the record's SLA clock."""
        if self.deadline is not None and self.deadline in SLA_DEADLINES:
            return self.deadline.removeprefix("sla:")
        return None


@dataclass(frozen=True)
class ProcessDefinition:
    process_id: str
    name: str
    nodes: Mapping[str, Node]
    flows: tuple[Flow, ...]
    owner: str | None = None
    next_process: str | None = None  # chained: started when this one ends
    xml: str = field(default="", repr=False)
    names: tuple[tuple[str, str], ...] = ()  # (locale, name) from itsm:name-<locale>

    def label(self, locale: str | None) -> str:
        """The process's name in `locale`, else its `name`."""
        return dict(self.names).get(locale or "") or self.name

    def node_label(self, node_id: str, locale: str | None) -> str:
        """A step's name in `locale`, else its `name`, else its id."""
        node = self.nodes.get(node_id)
        if node is None:
            return node_id
        return dict(node.names).get(locale or "") or node.name or node_id

    calendar: str | None = None  # the business calendar of its deadlines (None: the default)

    def calendar_of(self, node_id: str) -> str | None:
        """The calendar key a step's deadlines and timers count on: its own, else the
        process's; None for the site's default calendar."""
        node = self.nodes.get(node_id)
        return (node.calendar if node is not None else None) or self.calendar

    def outgoing(self, node_id: str) -> list[Flow]:
        return [flow for flow in self.flows if flow.source == node_id]

    def incoming(self, node_id: str) -> list[Flow]:
        return [flow for flow in self.flows if flow.target == node_id]

    def start(self, scope: str | None = None) -> Node:
        return next(n for n in self.nodes.values() if n.kind == "startEvent" and n.scope == scope)

    def boundaries(self, node_id: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.attached_to == node_id]


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


class _Reader:
    """One pass over the XML collecting nodes, flows and every problem found."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []

    def problem(self, element: str, reason: str, **params: Any) -> None:
        self.problems.append(Problem.of(element, reason, **params))

    def read_scope(self, parent: Element, scope: str | None) -> None:
        for child in parent:
            namespace, tag = _local(child.tag)
            element_id = child.get("id") or tag
            if namespace != BPMN or tag in IGNORED:
                continue  # diagram interchange and other tools' extensions carry no behaviour
            if tag == "sequenceFlow":
                self.read_flow(child)
            elif tag in NODE_KINDS:
                self.read_node(child, tag, scope)
            else:
                self.problem(element_id, _unsupported(tag), tag=tag)

    def read_flow(self, element: Element) -> None:
        flow_id = element.get("id", "")
        condition = None
        for child in element:
            namespace, tag = _local(child.tag)
            if namespace == BPMN and tag == "conditionExpression":
                condition = (child.text or "").strip() or None
        if condition is not None:
            try:
                compile_expression(condition)
            except ExpressionError as error:
                self.problem(flow_id, _t("{problem}"), problem=error.message)
        self.flows.append(
            Flow(
                flow_id,
                element.get("sourceRef", ""),
                element.get("targetRef", ""),
                condition,
                name=element.get("name", ""),
            )
        )

    def read_node(self, element: Element, tag: str, scope: str | None) -> None:
        node_id = element.get("id", "")
        if not node_id:
            self.problem(tag, _t("has no id"))
            return
        if node_id in self.nodes:
            self.problem(node_id, _t("this id is used twice"))
            return
        attributes = self.own_attributes(element, tag, node_id)
        values: dict[str, Any] = {"name": element.get("name", ""), "names": _names(attributes)}
        definitions = [
            _local(child.tag)[1]
            for child in element
            if _local(child.tag)[0] == BPMN and _local(child.tag)[1].endswith("EventDefinition")
        ]
        if tag in ("startEvent", "endEvent") and definitions:
            self.problem(
                node_id,
                _t(
                    "a {tag} with a {definition} is not supported; use a plain {tag} "
                    "(timers are boundary events on a task)"
                ),
                tag=tag,
                definition=definitions[0],
            )
        if tag == "userTask":
            values.update(self.user_task(node_id, attributes))
        elif tag == "serviceTask":
            values["action"] = attributes.get("action")
            if not values["action"] or not CODE.match(values["action"]):
                self.problem(node_id, _t("a serviceTask names the action it runs (itsm:action)"))
        elif tag == "callActivity":
            values["called"] = element.get("calledElement")
            if not values["called"]:
                self.problem(
                    node_id, _t("a callActivity names the process it starts (calledElement)")
                )
        elif tag == "boundaryEvent":
            values.update(self.boundary(element, node_id, definitions, attributes))
        if tag in ("subProcess", "callActivity") and "deadline" in attributes:
            values["deadline"] = self.duration(node_id, "itsm:deadline", attributes["deadline"])
        if tag == "subProcess":
            if element.get("triggeredByEvent") == "true":
                self.problem(node_id, _t("event sub-processes are not supported"))
            self.read_scope(element, node_id)
        self.nodes[node_id] = Node(node_id, tag, scope=scope, **values)

    def own_attributes(self, element: Element, tag: str, node_id: str) -> dict[str, str]:
        allowed = ATTRIBUTES.get(tag, frozenset())
        found: dict[str, str] = {}
        for name, value in element.attrib.items():
            namespace, local = _local(name)
            if namespace != ITSM:
                continue
            if NAME_IN.match(local):
                found[local] = value.strip()
                continue
            if local not in allowed:
                close = get_close_matches(local, sorted(allowed), n=1)
                if close:
                    self.problem(
                        node_id,
                        _t("a {tag} has no attribute itsm:{name}; did you mean itsm:{close}?"),
                        tag=tag,
                        name=local,
                        close=close[0],
                    )
                else:
                    self.problem(
                        node_id, _t("a {tag} has no attribute itsm:{name}"), tag=tag, name=local
                    )
                continue
            found[local] = value.strip()
        return found

    def user_task(self, node_id: str, attributes: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "assignee" in attributes:
            try:
                compile_expression(attributes["assignee"])
                values["assignee"] = attributes["assignee"]
            except ExpressionError as error:
                self.problem(node_id, _t("itsm:assignee: {problem}"), problem=error.message)
        for key, target in (
            ("candidateDepartments", "candidate_departments"),
            ("candidateRoles", "candidate_roles"),
            ("candidateDuty", "candidate_duty"),
            ("returnTargets", "return_targets"),
        ):
            items = _items(attributes.get(key, ""))
            if key == "candidateDuty":
                for item in items:
                    if not DUTY_KEY.match(item):
                        self.problem(
                            node_id, _t("itsm:candidateDuty: '{item}' is not a rota key"), item=item
                        )
            elif key != "returnTargets":
                for item in items:
                    if not CODE.match(item):
                        self.problem(
                            node_id, _t("itsm:{name}: '{item}' is not a code"), name=key, item=item
                        )
            values[target] = items
        if not (
            values.get("assignee")
            or values["candidate_departments"]
            or values["candidate_roles"]
            or values["candidate_duty"]
        ):
            self.problem(
                node_id,
                _t(
                    "a userTask says who does it: itsm:assignee, itsm:candidateDepartments, "
                    "itsm:candidateRoles or itsm:candidateDuty"
                ),
            )
        if "countersign" in attributes:
            values["countersign"] = self.countersign(node_id, attributes)
        elif "veto" in attributes:
            self.problem(node_id, _t("itsm:veto goes with itsm:countersign"))
        if "deadline" in attributes:
            values["deadline"] = self.deadline(node_id, attributes["deadline"])
        if "deadlineFallback" in attributes:
            if attributes.get("deadline") not in SLA_DEADLINES:
                self.problem(
                    node_id,
                    _t(
                        "itsm:deadlineFallback goes with an sla:response or sla:resolution deadline"
                    ),
                )
            values["deadline_fallback"] = self.duration(
                node_id, "itsm:deadlineFallback", attributes["deadlineFallback"]
            )
        if "escalation" in attributes:
            if attributes["escalation"] not in ESCALATION:
                self.problem(
                    node_id,
                    _t("itsm:escalation is one of {choices}"),
                    choices=", ".join(ESCALATION),
                )
            elif "deadline" not in attributes and attributes["escalation"] != "boundary":
                self.problem(node_id, _t("itsm:escalation needs an itsm:deadline"))
            values["escalation"] = attributes["escalation"]
        for key, target in (("jump", "jump"), ("chooseNext", "choose_next")):
            if key in attributes:
                values[target] = self.flag(node_id, key, attributes[key])
        if "form" in attributes:
            if not CODE.match(attributes["form"]):
                self.problem(
                    node_id, _t("itsm:form: '{form}' is not a form key"), form=attributes["form"]
                )
            values["form"] = attributes["form"]
        if "fallbackGroup" in attributes:
            values["fallback_group"] = attributes["fallbackGroup"]
        if "calendar" in attributes:
            values["calendar"] = self.calendar(node_id, attributes["calendar"])
        return values

    def calendar(self, element: str, key: str) -> str | None:
        if not CALENDAR_KEY.match(key):
            self.problem(element, _t("itsm:calendar: '{key}' is not a calendar key"), key=key)
            return None
        return key

    def countersign(self, node_id: str, attributes: Mapping[str, str]) -> Countersign | None:
        text = attributes["countersign"].replace(" ", "")
        match = COUNTERSIGN.match(text)
        if match is None:
            self.problem(
                node_id,
                _t("itsm:countersign is all, any or ratio:0.6, optionally /person or /department"),
            )
            return None
        mode, _, per = text.partition("/")
        ratio = 1.0
        if mode.startswith("ratio:"):
            ratio = float(mode.split(":", 1)[1])
            mode = "ratio"
            if ratio <= 0:
                self.problem(node_id, _t("itsm:countersign: a ratio is above 0"))
        veto = self.flag(node_id, "veto", attributes["veto"]) if "veto" in attributes else False
        return Countersign(mode, ratio, per or "person", veto)

    def boundary(
        self, element: Element, node_id: str, definitions: list[str], attributes: Mapping[str, str]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "attached_to": element.get("attachedToRef"),
            "cancel_activity": element.get("cancelActivity", "true") != "false",
        }
        if definitions != ["timerEventDefinition"]:
            self.problem(node_id, _t("only timer boundary events (deadlines) are supported"))
            return values
        duration = None
        for child in element.iter():
            namespace, tag = _local(child.tag)
            if namespace == BPMN and tag in ("timeDate", "timeCycle"):
                self.problem(
                    node_id, _t("a timer with {tag} is not supported; use timeDuration"), tag=tag
                )
            if namespace == BPMN and tag == "timeDuration":
                duration = (child.text or "").strip()
        if duration is None:
            self.problem(node_id, _t("a timer boundary event has a timeDuration (e.g. PT4H)"))
        else:
            values["timer"] = self.duration(node_id, "timeDuration", duration)
        if "businessTime" in attributes:
            values["business_time"] = self.flag(node_id, "businessTime", attributes["businessTime"])
        return values

    def deadline(self, node_id: str, text: str) -> str | None:
        """A user task's deadline: a duration, or the SLA target of the step's record."""
        if text in SLA_DEADLINES:
            return text
        match = DURATION.match(text)
        if match is None or not any(match.groups()):
            self.problem(
                node_id,
                _t(
                    "itsm:deadline: '{text}' is not a duration like PT4H, P2D or P1DT12H, "
                    "nor sla:response or sla:resolution"
                ),
                text=text,
            )
            return None
        return text

    def duration(self, node_id: str, name: str, text: str) -> str | None:
        match = DURATION.match(text)
        if match is None or not any(match.groups()):
            self.problem(
                node_id,
                _t("{name}: '{text}' is not a duration like PT4H, P2D or P1DT12H"),
                name=name,
                text=text,
            )
            return None
        return text

    def flag(self, node_id: str, name: str, text: str) -> bool:
        if text not in ("true", "false"):
            self.problem(node_id, _t("itsm:{name} is true or false"), name=name)
        return text == "true"


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


# What to draw instead of an element outside the subset; `{tag}` is the element's name.
_INSTEAD = {
    "inclusiveGateway": _t("{tag} is not supported; use parallel and exclusive gateways"),
    "eventBasedGateway": _t("{tag} is not supported; use an exclusive gateway with conditions"),
    "intermediateCatchEvent": _t(
        "{tag} is not supported; put a timer boundary event on a task instead"
    ),
    "intermediateThrowEvent": _t("{tag} is not supported; use a service task"),
    "scriptTask": _t(
        "{tag} is not supported; scripts are not run; use a service task naming an action"
    ),
    "task": _t("{tag} is not supported; use a userTask or a serviceTask"),
    "manualTask": _t("{tag} is not supported; use a userTask"),
    "sendTask": _t("{tag} is not supported; use a serviceTask naming a notification action"),
    "receiveTask": _t("{tag} is not supported; use a userTask"),
    "businessRuleTask": _t("{tag} is not supported; use an exclusive gateway with conditions"),
    "complexGateway": _t("{tag} is not supported; use parallel and exclusive gateways"),
    "transaction": _t("{tag} is not supported; use an embedded subProcess"),
    "adHocSubProcess": _t("{tag} is not supported; use an embedded subProcess"),
}


def _unsupported(tag: str) -> str:
    """The template refusing `tag`, with what to use instead when there is something."""
    return _INSTEAD.get(tag, _t("{tag} is not supported"))


def parse_definition(xml: str | bytes) -> ProcessDefinition:
    """The process in `xml`, checked; DefinitionError lists every problem found."""
    raw = xml.encode() if isinstance(xml, str) else xml
    if len(raw) > MAX_XML_BYTES:
        raise DefinitionError([Problem.of("definitions", _t("the file is larger than 2 MB"))])
    try:
        root = fromstring(raw, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as error:
        raise DefinitionError(
            [Problem.of("definitions", _t("not well-formed XML: {problem}"), problem=str(error))]
        ) from None
    namespace, tag = _local(root.tag)
    if namespace != BPMN or tag != "definitions":
        raise DefinitionError(
            [Problem.of(tag, _t("the document is not BPMN 2.0 (bpmn:definitions)"))]
        )
    processes = [child for child in root if _local(child.tag) == (BPMN, "process")]
    others = [
        child for child in root
        if _local(child.tag)[0] == BPMN
        and _local(child.tag)[1] not in ("process", "collaboration", "message", "signal")
    ]  # fmt: skip
    if len(processes) != 1:
        raise DefinitionError(
            [
                Problem.of(
                    "definitions",
                    _t("a definition holds exactly one process (found {count})"),
                    count=len(processes),
                )
            ]
        )
    process = processes[0]
    reader = _Reader()
    for other in others:
        other_tag = _local(other.tag)[1]
        reader.problem(other.get("id") or other_tag, _unsupported(other_tag), tag=other_tag)
    process_id = process.get("id", "")
    if not process_id or not CODE.match(process_id.lower()):
        reader.problem(
            process_id or "process", _t("the process id is a code (letters, digits, _ . -)")
        )
    attributes = reader.own_attributes(process, "process", process_id or "process")
    reader.read_scope(process, None)
    if len(reader.nodes) > MAX_NODES:
        reader.problem(process_id, _t("a process has at most {limit} elements"), limit=MAX_NODES)
    definition = ProcessDefinition(
        process_id=process_id,
        name=process.get("name", "") or process_id,
        nodes=reader.nodes,
        flows=tuple(reader.flows),
        owner=attributes.get("owner"),
        next_process=attributes.get("next"),
        xml=raw.decode("utf-8", errors="replace"),
        names=_names(attributes),
        calendar=(
            reader.calendar(process_id or "process", attributes["calendar"])
            if "calendar" in attributes
            else None
        ),
    )
    defaults = _defaults(process)
    if defaults:
        definition = _with_defaults(definition, defaults)
    reader.problems.extend(check_graph(definition))
    if reader.problems:
        raise DefinitionError(reader.problems)
    return definition


def _names(attributes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The element's names by locale (`itsm:name-en`, `itsm:name-zh-CN`)."""
    return tuple(
        sorted(
            (key[len("name-") :], value)
            for key, value in attributes.items()
            if NAME_IN.match(key) and value
        )
    )


def _defaults(process: Element) -> dict[str, str]:
    """{gateway id: its default flow id}, from every scope."""
    found: dict[str, str] = {}
    for element in process.iter():
        namespace, tag = _local(element.tag)
        if namespace == BPMN and tag == "exclusiveGateway" and element.get("default"):
            found[element.get("id", "")] = element.get("default", "")
    return found


def _with_defaults(definition: ProcessDefinition, defaults: Mapping[str, str]) -> ProcessDefinition:
    chosen = set(defaults.values())
    flows = tuple(
        Flow(f.id, f.source, f.target, f.condition, f.id in chosen, f.name)
        for f in definition.flows
    )
    return replace(definition, flows=flows)


def check_graph(definition: ProcessDefinition) -> list[Problem]:
    """Problems of the graph itself: dangling flows, starts and ends, gateways' routes,
    return targets, and nodes that cannot be reached or cannot finish."""
    problems: list[Problem] = []
    nodes = definition.nodes
    scopes = {None} | {n.id for n in nodes.values() if n.kind == "subProcess"}
    for flow in definition.flows:
        source, target = nodes.get(flow.source), nodes.get(flow.target)
        if source is None or target is None:
            missing = flow.source if source is None else flow.target
            problems.append(
                Problem.of(
                    flow.id,
                    _t("points at '{missing}', which is not in the process"),
                    missing=missing,
                )
            )
            continue
        if source.scope != target.scope:
            problems.append(Problem.of(flow.id, _t("a flow stays inside its sub-process")))
        if flow.default and flow.condition:
            problems.append(Problem.of(flow.id, _t("the default flow has no condition")))
    for scope in scopes:
        starts = [n for n in nodes.values() if n.kind == "startEvent" and n.scope == scope]
        ends = [n for n in nodes.values() if n.kind == "endEvent" and n.scope == scope]
        where = scope or definition.process_id
        if len(starts) != 1:
            problems.append(
                Problem.of(
                    where, _t("has exactly one start event (found {count})"), count=len(starts)
                )
            )
        if not ends:
            problems.append(Problem.of(where, _t("has at least one end event")))
    for node in nodes.values():
        problems.extend(_node_problems(definition, node))
    if not problems:
        problems.extend(_reachability(definition, scopes))
    return problems


def _node_problems(definition: ProcessDefinition, node: Node) -> Iterable[Problem]:
    nodes = definition.nodes
    outgoing, incoming = definition.outgoing(node.id), definition.incoming(node.id)
    if node.kind == "boundaryEvent":
        host = nodes.get(node.attached_to or "")
        if host is None or host.kind not in ("userTask", "subProcess", "callActivity"):
            yield Problem.of(
                node.id, _t("a timer is attached to a userTask, subProcess or callActivity")
            )
        elif host.scope != node.scope:
            yield Problem.of(node.id, _t("a boundary event sits in its task's scope"))
        if incoming:
            yield Problem.of(node.id, _t("nothing flows into a boundary event"))
        if len(outgoing) != 1:
            yield Problem.of(node.id, _t("a boundary event has one outgoing flow (the path taken)"))
        return
    if node.kind == "startEvent":
        if incoming:
            yield Problem.of(node.id, _t("nothing flows into a start event"))
    elif not incoming:
        yield Problem.of(node.id, _t("nothing flows into it"))
    if node.kind == "endEvent":
        if outgoing:
            yield Problem.of(node.id, _t("an end event has no outgoing flow"))
        return
    if not outgoing:
        yield Problem.of(node.id, _t("has no outgoing flow"))
    if node.kind in ("userTask", "serviceTask", "startEvent", "subProcess", "callActivity"):
        if len(outgoing) > 1:
            yield Problem.of(node.id, _t("splits into several flows; use a gateway"))
        for flow in outgoing:
            if flow.condition:
                yield Problem.of(
                    flow.id, _t("only flows leaving an exclusive gateway have conditions")
                )
    if node.kind == "parallelGateway":
        for flow in outgoing:
            if flow.condition:
                yield Problem.of(flow.id, _t("a parallel gateway takes every flow: no conditions"))
    if node.kind == "exclusiveGateway" and len(outgoing) > 1:
        defaults = [f for f in outgoing if f.default]
        for flow in outgoing:
            if not flow.condition and not flow.default:
                yield Problem.of(
                    flow.id,
                    _t("leaves an exclusive gateway: give it a condition or make it the default"),
                )
        if len(defaults) > 1:
            yield Problem.of(node.id, _t("has one default flow at most"))
    if node.escalation == "boundary" and not definition.boundaries(node.id):
        yield Problem.of(
            node.id, _t("itsm:escalation=boundary needs a timer boundary event on the task")
        )
    for target in node.return_targets:
        found = nodes.get(target)
        if found is None or found.kind != "userTask":
            yield Problem.of(
                node.id,
                _t("itsm:returnTargets: '{target}' is not a user task of this process"),
                target=target,
            )


def _reachability(definition: ProcessDefinition, scopes: set[str | None]) -> Iterable[Problem]:
    """Every node can be reached from its scope's start, and can reach one of its ends."""
    forward: dict[str, set[str]] = {node_id: set() for node_id in definition.nodes}
    for flow in definition.flows:
        forward[flow.source].add(flow.target)
    for node in definition.nodes.values():
        if node.kind == "boundaryEvent" and node.attached_to in forward:
            forward[node.attached_to].add(node.id)
    backward: dict[str, set[str]] = {node_id: set() for node_id in definition.nodes}
    for source, targets in forward.items():
        for target in targets:
            backward[target].add(source)
    for scope in scopes:
        members = {n.id for n in definition.nodes.values() if n.scope == scope}
        start = definition.start(scope).id
        ends = {n for n in members if definition.nodes[n].kind == "endEvent"}
        reached = _walk({start}, forward)
        finishing = _walk(ends, backward)
        for node_id in sorted(members):
            if node_id not in reached:
                yield Problem.of(node_id, _t("cannot be reached from the start event"))
            elif node_id not in finishing:
                yield Problem.of(node_id, _t("no path leads from it to an end event"))


def _walk(first: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen, todo = set(first), list(first)
    while todo:
        for following in edges[todo.pop()]:
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return seen
