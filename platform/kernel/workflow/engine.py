"""The stepping engine: moves an instance's tokens through its definition.

State lives only in the tables (`wf_instance`, `wf_token`, `wf_work_item`, `wf_transition`),
so any web process or queue worker can take the next step. Every call changes one instance
under its lock (`lock_instance`): a row lock on PostgreSQL, a write transaction taken before
the first read on SQLite. Two people completing one item, or a timer firing while someone
completes it, therefore resolve to one outcome; the loser sees the item already done.

Tokens follow the BPMN rules of the documented subset: an exclusive gateway takes the first
flow whose condition holds (else its default), a parallel gateway waits for a token on every
incoming flow and then sends one down every outgoing flow, a sub-process runs its own tokens
(`scope_token_id`) and continues when the last of them ends, a call activity waits for a
child instance. The instance ends when its last token does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine as Database
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.actors import SYSTEM, Actor
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import begin_write, flush
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, _t
from openitsm.kernel.queue import outbox
from openitsm.kernel.workflow.definition import (
    Countersign,
    Flow,
    Node,
    ProcessDefinition,
    parse_definition,
)
from openitsm.kernel.workflow.expressions import ExpressionError, condition_holds, names_used
from openitsm.kernel.workflow.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    DONE,
    OPEN,
    PUBLISHED,
    RUNNING,
    TERMINATED,
    WAITING,
    ProcessInstance,
    ProcessVersion,
    Token,
    Transition,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.kernel.workflow.participants import needed_approvals, resolve_participants
from openitsm.kernel.workflow.sla_deadlines import opening_times

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

APPROVE, REJECT = "approve", "reject"
# Steps a token may take within one call before the engine assumes a loop of gateways and
# service tasks that never waits for anyone.
MAX_STEPS = 1_000


@dataclass(frozen=True)
class ServiceAction:
    """What a service task runs: `run(context)` may return variables to merge into the
    instance. It runs inside the step's transaction; slow work belongs in a queue task."""

    name: str
    run: Callable[[ServiceContext], Mapping[str, Any] | None]
    description: str = ""


@dataclass(frozen=True)
class ServiceContext:
    session: Session
    instance: ProcessInstance
    node: Node
    variables: Mapping[str, Any]


OUTBOX_TOPIC = "workflow"


@dataclass(frozen=True)
class WorkflowEvent:
    """Told to `on_workflow_event` after the step commits: `kind` is assigned, urged,
    escalated, reminded, fallback (the assignee rule found nobody) or ended. `event_id`,
    the event's outbox row, is the same if a relay tells it twice: key queued work by it."""

    kind: str
    instance_id: int
    process_key: str
    title: str
    work_item_id: int | None = None
    node_id: str | None = None
    user_ids: tuple[int, ...] = ()
    role_codes: tuple[str, ...] = ()
    department_ids: tuple[int, ...] = ()
    actor_label: str = "system"
    comment: str | None = None
    event_id: int | None = None


# Published versions never change and are never deleted, and instances run only published
# ones: a definition is parsed once per database (engine) and version.
_DEFINITIONS: weakref.WeakKeyDictionary[Database, dict[int, ProcessDefinition]] = (
    weakref.WeakKeyDictionary()
)


def definition_of(session: Session, version_id: int) -> ProcessDefinition:
    """The parsed definition of a published version (read and parsed once)."""
    bind = session.get_bind()
    database = bind if isinstance(bind, Database) else bind.engine
    known = _DEFINITIONS.setdefault(database, {})
    found = known.get(version_id)
    if found is None:
        row = session.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound(_t("No process version {id}."), params={"id": version_id})
        found = parse_definition(row.xml)
        if row.state == PUBLISHED:
            known[version_id] = found
    return found


_ITEMS = WorkItem.__table__
_INSERT_ITEMS = insert(_ITEMS).returning(_ITEMS.c.id, sort_by_parameter_order=True)
_INSERT_CANDIDATES = insert(WorkItemCandidate.__table__)
_INSERT_TRANSITIONS = insert(Transition.__table__)


def lock_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The instance, locked against every other step of it until this transaction ends.

    On SQLite the transaction holds the database's write lock (`begin_write`), so what it
    read before is still current; on PostgreSQL, rows read before the lock may be stale and
    are read again by the caller."""
    statement = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    if session.get_bind().dialect.name == "sqlite":
        begin_write(session)
    else:
        statement = statement.with_for_update()
    instance = session.scalar(statement.execution_options(populate_existing=True))
    if instance is None:
        raise NotFound(_t("No process instance {id}."), params={"id": instance_id})
    return instance


@dataclass
class Engine:
    """One step of one instance (and of the instances it starts or finishes) for `actor`."""

    session: Session
    actor: Actor = SYSTEM
    kernel: Kernel | None = None
    services: Mapping[str, ServiceAction] = field(default_factory=dict)
    now: dt.datetime = field(default_factory=utcnow)
    events: list[WorkflowEvent] = field(default_factory=list)
    log_rows: list[dict[str, Any]] = field(default_factory=list)

    # --- entry points -----------------------------------------------------------------

    def start(
        self,
        version: ProcessVersion,
        *,
        title: str = "",
        record_kind: str | None = None,
        record_id: int | None = None,
        variables: Mapping[str, Any] | None = None,
        starter_id: int | None = None,
        parent: tuple[ProcessInstance, Token] | None = None,
    ) -> ProcessInstance:
        definition = definition_of(self.session, version.id)
        instance = ProcessInstance(
            process_key=version.key,
            process_version_id=version.id,
            title=(title or definition.name)[:300],
            state=RUNNING,
            record_kind=record_kind,
            record_id=record_id,
            starter_id=starter_id,
            variables=dict(variables or {}),
            parent_instance_id=parent[0].id if parent else None,
            parent_token_id=parent[1].id if parent else None,
        )
        self.session.add(instance)
        flush(self.session)
        start = definition.start()
        self.log(instance, "start", to_node=start.id)
        token = self.new_token(instance, start.id, None)
        # As in `complete`: the token is written once, where it first waits, not at the
        # start event and again at every node the first query would have flushed it at.
        with self.session.no_autoflush:
            self.run(instance, definition, [token])
        return instance

    def run(
        self, instance: ProcessInstance, definition: ProcessDefinition, tokens: list[Token]
    ) -> None:
        """Move `tokens` until each waits for someone or ends."""
        todo = list(tokens)
        steps = 0
        while todo:
            token = todo.pop(0)
            steps += 1
            if steps > MAX_STEPS:
                raise BadUserInput(
                    _t("Process '{key}' loops at '{node}' without waiting for anyone."),
                    params={"key": instance.process_key, "node": token.node_id},
                )
            todo.extend(self.enter(instance, definition, token))
            if instance.state != RUNNING:
                return

    # --- one node ---------------------------------------------------------------------

    def enter(
        self, instance: ProcessInstance, definition: ProcessDefinition, token: Token
    ) -> list[Token]:
        node = definition.nodes[token.node_id]
        kind = node.kind
        if kind == "startEvent":
            return [self.follow(token, self.only_flow(definition, node))]
        if kind == "endEvent":
            token.state = DONE
            self.log(
                instance, "end" if token.scope_token_id is None else "leave", from_node=node.id
            )
            return self.scope_finished(instance, definition, token.scope_token_id, node.id)
        if kind == "userTask":
            token.state = WAITING
            self.arm_timers(definition, token, node)
            self.open_items(instance, definition, token, node)
            return []
        if kind == "serviceTask":
            self.run_service(instance, node)
            return [self.follow(token, self.only_flow(definition, node))]
        if kind == "exclusiveGateway":
            return [self.follow(token, self.choose(instance, definition, node))]
        if kind == "parallelGateway":
            return self.parallel(instance, definition, token, node)
        if kind == "subProcess":
            token.state = WAITING
            self.arm_timers(definition, token, node)
            self.log(instance, "enter", to_node=node.id)
            flush(self.session)
            return [self.new_token(instance, definition.start(node.id).id, token.id)]
        if kind == "callActivity":
            token.state = WAITING
            self.arm_timers(definition, token, node)
            flush(self.session)
            from openitsm.kernel.workflow.service import current

            child = self.start(
                current(self.session, node.called or ""),
                title=instance.title,
                record_kind=instance.record_kind,
                record_id=instance.record_id,
                variables=instance.variables,
                starter_id=instance.starter_id,
                parent=(instance, token),
            )
            self.log(instance, "call", to_node=node.id, details={"child": child.id})
            return []
        raise BadUserInput(
            _t("'{node}' cannot be entered."), params={"node": node.id}
        )  # pragma: no cover - boundary events are never entered by a flow

    def arm_timers(self, definition: ProcessDefinition, token: Token, node: Node) -> None:
        """A token waiting at a task with timer boundary events is due when the first fires."""
        from openitsm.kernel.workflow.deadlines import timer_due

        token.entered_at = self.now
        timers = [
            timer_due(
                self.session,
                boundary.timer,
                self.now,
                business_time=boundary.business_time,
                calendar_key=definition.calendar_of(node.id),
            )
            for boundary in definition.boundaries(node.id)
            if boundary.timer
        ]
        token.due_at = min(timers) if timers else None

    def only_flow(self, definition: ProcessDefinition, node: Node) -> Flow:
        return definition.outgoing(node.id)[0]

    def follow(self, token: Token, flow: Flow) -> Token:
        token.node_id = flow.target
        token.arrived_via = flow.id
        token.state = ACTIVE
        token.due_at = None
        return token

    def new_token(
        self, instance: ProcessInstance, node_id: str, scope_token_id: int | None
    ) -> Token:
        token = Token(
            instance_id=instance.id,
            node_id=node_id,
            state=ACTIVE,
            scope_token_id=scope_token_id,
            created_at=self.now,
        )
        self.session.add(token)
        return token

    def names(self, instance: ProcessInstance, sources: list[str]) -> dict[str, Any]:
        """What the expressions `sources` read (only those names are looked up)."""
        from openitsm.kernel.workflow.participants import expression_names

        wanted = frozenset().union(*(names_used(source) for source in sources))
        return expression_names(self.session, self.kernel, instance, wanted, self.now)

    def choose(self, instance: ProcessInstance, definition: ProcessDefinition, node: Node) -> Flow:
        flows = definition.outgoing(node.id)
        if len(flows) == 1 and not flows[0].condition:
            return flows[0]
        names = self.names(instance, [flow.condition for flow in flows if flow.condition])
        for flow in flows:
            if flow.condition and condition_holds(flow.condition, names):
                return flow
        for flow in flows:
            if flow.default:
                return flow
        raise ExpressionError(
            _t("No route out of '{node}' holds and it has no default route."),
            params={"node": node.id},
        )

    def parallel(
        self, instance: ProcessInstance, definition: ProcessDefinition, token: Token, node: Node
    ) -> list[Token]:
        incoming = definition.incoming(node.id)
        if len(incoming) > 1:
            token.state = WAITING
            flush(self.session)
            waiting = self.session.scalars(
                select(Token)
                .where(
                    Token.instance_id == instance.id,
                    Token.node_id == node.id,
                    Token.state == WAITING,
                    Token.scope_token_id.is_(None)
                    if token.scope_token_id is None
                    else Token.scope_token_id == token.scope_token_id,
                )
                .order_by(Token.id)
            ).all()
            arrived: dict[str, Token] = {}
            for other in waiting:
                arrived.setdefault(other.arrived_via or "", other)
            if any(flow.id not in arrived for flow in incoming):
                return []
            for other in arrived.values():
                other.state = DONE
            token = self.new_token(instance, node.id, token.scope_token_id)
            self.log(instance, "join", to_node=node.id)
        outgoing = definition.outgoing(node.id)
        continuing = [self.follow(token, outgoing[0])]
        for flow in outgoing[1:]:
            branch = self.new_token(instance, node.id, token.scope_token_id)
            continuing.append(self.follow(branch, flow))
        return continuing

    def scope_finished(
        self,
        instance: ProcessInstance,
        definition: ProcessDefinition,
        scope_token_id: int | None,
        end_node: str,
    ) -> list[Token]:
        """After a token ends: finish its scope (sub-process or instance) when it was the
        last one running there."""
        flush(self.session)
        running = self.session.scalar(
            select(Token.id)
            .where(
                Token.instance_id == instance.id,
                Token.state.in_((ACTIVE, WAITING)),
                Token.scope_token_id.is_(None)
                if scope_token_id is None
                else Token.scope_token_id == scope_token_id,
            )
            .limit(1)
        )
        if running is not None:
            return []
        if scope_token_id is not None:
            scope = self.session.get(Token, scope_token_id)
            assert scope is not None
            subprocess = definition.nodes[scope.node_id]
            self.log(instance, "leave", from_node=subprocess.id)
            return [self.follow(scope, self.only_flow(definition, subprocess))]
        self.finish(instance, COMPLETED, end_node)
        return []

    def finish(self, instance: ProcessInstance, state: str, end_node: str | None) -> None:
        instance.state = state
        instance.end_node = end_node
        instance.ended_at = self.now
        self.cancel_tokens(instance, None, everything=True)
        self.events.append(self.event("ended", instance))
        if state != COMPLETED:
            return
        if instance.parent_instance_id is not None and instance.parent_token_id is not None:
            self.resume_parent(instance)
        definition = definition_of(self.session, instance.process_version_id)
        if definition.next_process:
            from openitsm.kernel.workflow.service import current

            chained = self.start(
                current(self.session, definition.next_process),
                record_kind=instance.record_kind,
                record_id=instance.record_id,
                variables=instance.variables,
                starter_id=instance.starter_id,
            )
            self.log(instance, "chain", details={"next": chained.id})

    def resume_parent(self, child: ProcessInstance) -> None:
        parent = lock_instance(self.session, child.parent_instance_id or 0)
        token = self.session.get(Token, child.parent_token_id)
        if parent.state != RUNNING or token is None or token.state != WAITING:
            return
        definition = definition_of(self.session, parent.process_version_id)
        parent.variables = {**parent.variables, **child.variables}
        node = definition.nodes[token.node_id]
        self.log(parent, "return", from_node=node.id, details={"child": child.id})
        self.run(parent, definition, [self.follow(token, self.only_flow(definition, node))])

    def run_service(self, instance: ProcessInstance, node: Node) -> None:
        action = self.services.get(node.action or "")
        if action is None:
            raise BadUserInput(
                _t("Step '{node}' runs '{action}', which no enabled module provides."),
                params={"node": node.id, "action": node.action},
            )
        result = action.run(ServiceContext(self.session, instance, node, dict(instance.variables)))
        if result:
            instance.variables = {**instance.variables, **dict(result)}
        self.log(instance, "service", to_node=node.id, details={"action": action.name})

    # --- work items -------------------------------------------------------------------

    def open_items(
        self, instance: ProcessInstance, definition: ProcessDefinition, token: Token, node: Node
    ) -> None:
        from openitsm.kernel.workflow.deadlines import due_times

        chosen = instance.variables.get("_chosen", {}).get(node.id) if instance.variables else None
        found = resolve_participants(
            self.session,
            self.kernel,
            instance,
            node,
            definition,
            chosen_user_id=chosen,
            at=self.now,
        )
        if chosen is not None:
            instance.variables = {
                **instance.variables,
                "_chosen": {k: v for k, v in instance.variables["_chosen"].items() if k != node.id},
            }
        if found.fallback:
            self.log(
                instance,
                "fallback",
                to_node=node.id,
                details={
                    "rule": node.assignee,
                    "roles": list(found.roles),
                    "problem": found.problem,
                },
            )
            self.events.append(
                self.event(
                    "fallback",
                    instance,
                    node_id=node.id,
                    role_codes=found.owner_roles,
                    comment=found.problem,
                )
            )
        sla_target = node.sla_target
        calendar_key = definition.calendar_of(node.id)
        if sla_target is None:
            due_at, remind_at = due_times(self.session, node.deadline, self.now, calendar_key)
            fallback_due, fallback_remind = None, None
        else:
            fallback_due, fallback_remind = due_times(
                self.session, node.deadline_fallback, self.now, calendar_key
            )
            due_at, remind_at = opening_times(
                self.session, instance, sla_target, (fallback_due, fallback_remind)
            )
        if token.id is None:
            flush(self.session)
        # The items and their candidates go out as two INSERTs, not through the unit of
        # work: nothing in the step holds an item, and a flush of one cost three INSERTs'
        # worth. Later reads in the step find them in the database.
        rows = [
            {
                "instance_id": instance.id,
                "token_id": token.id,
                "node_id": node.id,
                "name": node.name[:200],
                "state": OPEN,
                "assignee_id": offer.assignee_id,
                "signer_department_id": offer.signer_department_id,
                "due_at": due_at,
                "remind_at": remind_at,
                "sla_target": sla_target,
                "fallback_due_at": fallback_due,
                "fallback_remind_at": fallback_remind,
                "created_at": self.now,
            }
            for offer in found.offers
        ]
        connection = self.session.connection()
        item_ids = connection.execute(_INSERT_ITEMS, rows).scalars().all() if rows else []
        candidates = [
            row
            for offer, item_id in zip(found.offers, item_ids, strict=True)
            for row in offer.candidates(item_id)
        ]
        if candidates:
            connection.execute(_INSERT_CANDIDATES, candidates)
        self.log(instance, "assign", to_node=node.id, details={"items": len(found.offers)})
        self.events.extend(found.assigned_events(self, instance, node))

    def complete(
        self,
        instance: ProcessInstance,
        item: WorkItem,
        token: Token,
        *,
        outcome: str | None = None,
        variables: Mapping[str, Any] | None = None,
        comment: str | None = None,
        next_assignee_id: int | None = None,
    ) -> ProcessInstance:
        """Complete `item` of the locked `instance` (see `runtime.complete_item`)."""
        check_open(item)
        definition = definition_of(self.session, instance.process_version_id)
        node = definition.nodes[item.node_id]
        if outcome is not None and (not outcome.strip() or len(outcome) > 50):
            raise BadUserInput(_t("An outcome is 1 to 50 characters."), field="outcome")
        if node.countersign is not None and outcome not in (APPROVE, REJECT):
            raise BadUserInput(
                _t("A countersign step is answered with approve or reject."), field="outcome"
            )
        if next_assignee_id is not None and not node.choose_next:
            raise BadUserInput(
                _t("Step '{node}' does not let you choose who does the next step."),
                params={"node": node.name or node.id},
                field="nextAssignee",
            )
        item.state = DONE
        item.outcome = outcome
        item.comment = comment
        item.completed_at = self.now
        item.completed_by_id = self.actor.user_id
        if variables:
            instance.variables = {**instance.variables, **dict(variables)}
        self.log(
            instance,
            "complete",
            item=item,
            from_node=node.id,
            outcome=outcome,
            comment=comment,
        )
        if node.countersign is not None:
            decision = self.tally(item, node.countersign)
            if decision is None:
                flush(self.session)
                return instance
            self.cancel_items([token.id])
            outcome = decision
            self.log(instance, "countersign", from_node=node.id, outcome=decision)
        instance.variables = {**instance.variables, "decision": outcome}
        if next_assignee_id is not None:
            following = self.next_user_task(definition, node)
            if following is not None:
                chosen = dict(instance.variables.get("_chosen", {}))
                chosen[following] = next_assignee_id
                instance.variables = {**instance.variables, "_chosen": chosen}
        # The engine flushes where a query must see its own changes; everything else goes
        # out in one flush at the end of the step.
        with self.session.no_autoflush:
            self.run(instance, definition, [self.follow(token, self.only_flow(definition, node))])
        flush(self.session)
        return instance

    def next_user_task(self, definition: ProcessDefinition, node: Node) -> str | None:
        """The user task the step leads to directly (through gateways with one way out)."""
        target = self.only_flow(definition, node).target
        for _ in range(50):
            following = definition.nodes[target]
            if following.kind == "userTask":
                return following.id
            flows = definition.outgoing(target)
            if following.kind not in ("exclusiveGateway", "parallelGateway") or len(flows) != 1:
                return None
            target = flows[0].target
        return None

    def tally(self, item: WorkItem, countersign: Countersign) -> str | None:
        """approve or reject once the countersign is decided, else None."""
        flush(self.session)
        answers = self.session.execute(
            select(WorkItem.state, WorkItem.outcome).where(
                WorkItem.token_id == item.token_id, WorkItem.state != CANCELLED
            )
        ).all()
        total = len(answers)
        approvals = sum(1 for state, outcome in answers if state == DONE and outcome == APPROVE)
        rejections = sum(1 for state, outcome in answers if state == DONE and outcome == REJECT)
        if countersign.veto and rejections:
            return REJECT
        needed = needed_approvals(countersign.mode, countersign.ratio, total)
        if approvals >= needed:
            return APPROVE
        if total - rejections < needed:
            return REJECT
        return None

    # --- ending paths -----------------------------------------------------------------

    def cancel_items(self, token_ids: list[int]) -> None:
        """Cancel the open items of these tokens (a decided countersign, an interrupted or
        ended path)."""
        self.session.execute(
            update(WorkItem)
            .where(WorkItem.token_id.in_(token_ids), WorkItem.state == OPEN)
            .values(state=CANCELLED, completed_at=self.now, version=WorkItem.version + 1)
            .execution_options(synchronize_session="fetch")
        )

    def cancel_tokens(
        self, instance: ProcessInstance, scope_token_id: int | None, *, everything: bool = False
    ) -> None:
        """End every running token of a scope (with their scopes, items and child
        instances); `everything` ends all of the instance's."""
        flush(self.session)
        query = select(Token).where(
            Token.instance_id == instance.id, Token.state.in_((ACTIVE, WAITING))
        )
        running = self.session.scalars(query).all()
        if not everything:
            inside = {scope_token_id}
            chosen: list[Token] = []
            changed = True
            while changed:
                changed = False
                for token in running:
                    if token not in chosen and token.scope_token_id in inside:
                        chosen.append(token)
                        inside.add(token.id)
                        changed = True
            running = chosen
        if not running:
            return
        ids = [token.id for token in running]
        for token in running:
            token.state = CANCELLED
        self.cancel_items(ids)
        self.terminate_children(instance, ids)

    def terminate_children(self, instance: ProcessInstance, token_ids: list[int]) -> None:
        """End the child instances the call activities at `token_ids` wait for."""
        children = self.session.scalars(
            select(ProcessInstance).where(
                ProcessInstance.parent_instance_id == instance.id,
                ProcessInstance.parent_token_id.in_(token_ids),
                ProcessInstance.state == RUNNING,
            )
        ).all()
        for child in children:
            self.log(child, "terminate", details={"parent": instance.id})
            child.state = TERMINATED
            child.ended_at = self.now
            self.cancel_tokens(child, None, everything=True)

    def interrupt(self, instance: ProcessInstance, token: Token) -> None:
        """Stop what a waiting token is doing (its items, its sub-process's paths, its child
        instance) so it can leave by another way; the token itself stays."""
        self.cancel_items([token.id])
        self.cancel_tokens(instance, token.id)
        self.terminate_children(instance, [token.id])

    def restart_at(
        self,
        instance: ProcessInstance,
        definition: ProcessDefinition,
        from_token: Token,
        target: str,
    ) -> None:
        """Send the instance back, or on, to `target`: every path running in the target's
        scope ends (parallel branches included) and one token starts again there."""
        target_node = definition.nodes.get(target)
        if target_node is None or target_node.kind in ("startEvent", "boundaryEvent"):
            raise BadUserInput(
                _t("'{target}' is not a step of this process."),
                params={"target": target},
                field="target",
            )
        scope_token_id = from_token.scope_token_id
        # Walk out through the sub-processes the item stands in until the target's scope.
        while True:
            scope = self.session.get(Token, scope_token_id) if scope_token_id else None
            if (scope.node_id if scope else None) == target_node.scope:
                break
            if scope is None:
                raise BadUserInput(
                    _t("'{target}' lies in a sub-process that is not running."),
                    params={"target": target},
                    field="target",
                )
            scope_token_id = scope.scope_token_id
        self.cancel_tokens(instance, scope_token_id)
        token = self.new_token(instance, target, scope_token_id)
        flush(self.session)
        self.run(instance, definition, [token])

    # --- log and events ---------------------------------------------------------------

    def log(
        self,
        instance: ProcessInstance,
        action: str,
        *,
        item: WorkItem | None = None,
        from_node: str | None = None,
        to_node: str | None = None,
        outcome: str | None = None,
        comment: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Note a log entry; `end_step` writes a step's entries in one statement."""
        self.log_rows.append(
            {
                "instance_id": instance.id,
                "work_item_id": item.id if item is not None else None,
                "at": self.now,
                "action": action,
                "actor_id": self.actor.user_id,
                "on_behalf_of_id": self.actor.on_behalf_of,
                "actor_label": self.actor.label[:200],
                "from_node": from_node,
                "to_node": to_node,
                "outcome": outcome,
                "comment": comment,
                "details": dict(details or {}),
            }
        )

    def event(self, kind: str, instance: ProcessInstance, **values: Any) -> WorkflowEvent:
        return WorkflowEvent(
            kind=kind,
            instance_id=instance.id,
            process_key=instance.process_key,
            title=instance.title,
            actor_label=self.actor.label,
            **values,
        )

    def end_step(self) -> None:
        """End the step: write its log, and its events to the outbox in the same
        transaction (relayed to `on_workflow_event` listeners once it commits)."""
        flush(self.session)
        rows, self.log_rows = self.log_rows, []
        if rows:
            self.session.connection().execute(_INSERT_TRANSITIONS, rows)
        events, self.events = self.events, []
        if events and self.kernel is not None:
            outbox.write(self.session, OUTBOX_TOPIC, [dataclasses.asdict(e) for e in events])


@outbox.on_topic(OUTBOX_TOPIC)
def tell_listeners(kernel: Kernel, event_id: int, payload: Mapping[str, Any]) -> None:
    """Relay one step's event to `on_workflow_event` (lists back to tuples, and the outbox
    row's id, which keys what listeners queue)."""
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()}
    values["event_id"] = event_id
    kernel.hook.on_workflow_event(event=WorkflowEvent(**values), kernel=kernel)


def check_open(item: WorkItem) -> None:
    if item.state == OPEN:
        return
    if item.state == DONE:
        message = _t("This step was already completed; reload to see where the process stands.")
    else:
        message = _t("This step was cancelled; reload to see where the process stands.")
    raise Conflict(message, state=item.state)
