"""Cost of the workflow engine: completing a step, the inbox, the deadline scan.

Targets (SQLite, in-process, CPU time of the process, which runs SQLite too):
- completing a work item, with its transition, log rows and the next item, costs at most
  3 ms, and the same at 500 steps of an instance's history as at 1;
- the first inbox page of one user, with 100,000 open work items in the database: < 20 ms;
- the deadline scan over 100,000 open items of which 1,000 are due: < 1 s.

    openitsm bench workflow [--items 100000] [--due 1000] [--rounds 200] [--profile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import _common as c

COMPLETION_TARGET_MS = 3.0
INBOX_TARGET_MS = 20.0
SCAN_TARGET_S = 1.0
LOOP = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:itsm="https://openitsm.org/schema/bpmn" id="d"><bpmn:process id="bench_loop">'
    '<bpmn:startEvent id="s" />'
    '<bpmn:userTask id="work" name="Work" itsm:assignee="starter" itsm:deadline="PT8H" />'
    '<bpmn:exclusiveGateway id="again" default="again_work" /><bpmn:endEvent id="e" />'
    '<bpmn:sequenceFlow id="s_work" sourceRef="s" targetRef="work" />'
    '<bpmn:sequenceFlow id="work_again" sourceRef="work" targetRef="again" />'
    '<bpmn:sequenceFlow id="again_e" sourceRef="again" targetRef="e">'
    '<bpmn:conditionExpression>decision == "stop"</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="again_work" sourceRef="again" targetRef="work" />'
    "</bpmn:process></bpmn:definitions>"
)


OTHER_PEOPLE = 100
OTHER_DEPARTMENTS = 50


def build_site(root: Path) -> tuple[Any, Any, int, list[int], list[int]]:
    """A kernel with the looping process, the measured user in `it`, and other people and
    departments whose items fill the inbox table."""
    from openitsm.kernel.organisation import service as org
    from openitsm.kernel.testing import actor_of, build_kernel
    from openitsm.kernel.workflow import service as definitions

    # A real queue, as on a site: what the steps hand to it (their notifications) is
    # queued, not run inline as the test kernels do.
    kernel = build_kernel(root, f"sqlite:///{root / 'bench.db'}", queue={"immediate": False})
    with kernel.session() as session:
        it = org.create_department(session, code="it", name="IT")
        user = org.create_user(session, login="worker", name="Worker", department_id=it.id)
        departments = [
            org.create_department(session, code=f"d{n}", name=f"Department {n}").id
            for n in range(OTHER_DEPARTMENTS)
        ]
        others = [
            org.create_user(
                session,
                login=f"p{n}",
                name=f"Person {n}",
                department_id=departments[n % OTHER_DEPARTMENTS],
            ).id
            for n in range(OTHER_PEOPLE)
        ]
        row, _ = definitions.import_definition(session, LOOP)
        definitions.publish(session, row.key, row.number, row.version)
        user_id = user.id
    return kernel, actor_of(kernel, user_id), user_id, others, departments


def start(kernel: Any, actor: Any) -> int:
    from openitsm.kernel.workflow import runtime

    with kernel.session() as session:
        return runtime.start_process(session, kernel, actor, "bench_loop").id


def open_item(kernel: Any, instance_id: int) -> int:
    from sqlalchemy import select

    from openitsm.kernel.workflow.models import WorkItem

    with kernel.session() as session:
        found = session.scalar(
            select(WorkItem.id).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
        )
        assert found is not None
        return found


def complete_once(kernel: Any, actor: Any, item_id: int) -> tuple[float, float, int]:
    """(CPU s, wall s, SQL statements) of one completion in its own unit of work."""
    from openitsm.kernel.testing import count_statements
    from openitsm.kernel.workflow import runtime

    with count_statements(kernel.engine) as log:
        cpu, wall = time.process_time(), time.perf_counter()
        with kernel.session(actor) as session:
            runtime.complete_item(session, kernel, actor, item_id, outcome="again")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, log.count


def measure_completion(
    kernel: Any, actor: Any, rounds: int, history: int
) -> dict[str, tuple[float, float, int]]:
    """Median completion cost on a new instance (1 step of history) and on one with
    `history` steps behind it, measured alternately so both see the same machine."""
    long = start(kernel, actor)
    for _ in range(history - 1):
        complete_once(kernel, actor, open_item(kernel, long))
    samples: dict[str, list[tuple[float, float, int]]] = {"1": [], str(history): []}
    for _ in range(rounds):
        samples["1"].append(complete_once(kernel, actor, open_item(kernel, start(kernel, actor))))
        samples[str(history)].append(complete_once(kernel, actor, open_item(kernel, long)))
    return {
        name: (
            statistics.median(cpu for cpu, _, _ in runs) * 1000,
            statistics.median(wall for _, wall, _ in runs) * 1000,
            runs[-1][2],
        )
        for name, runs in samples.items()
    }


def fill_inbox(
    kernel: Any, user_id: int, others: list[int], departments: list[int], items: int, due: int
) -> None:
    """`items` open work items on 1,000 instances: 50 assigned to the user, the rest to
    other people or offered to other departments; `due` of them past their deadline."""
    from sqlalchemy import insert, select

    from openitsm.kernel.workflow.models import (
        ProcessInstance,
        ProcessVersion,
        Token,
        WorkItem,
        WorkItemCandidate,
    )

    now = dt.datetime.now(dt.UTC)
    with kernel.session() as session:
        version = session.scalar(
            select(ProcessVersion.id).where(ProcessVersion.key == "bench_loop")
        )
        connection = session.connection()
        instances = 1000
        base = session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc())) or 0
        connection.execute(
            insert(ProcessInstance),
            [
                {"id": base + n, "process_key": "bench_loop", "process_version_id": version,
                 "title": f"Request {n}", "state": "running", "starter_id": user_id,
                 "variables": {}, "created_at": now, "updated_at": now, "version": 1}
                for n in range(1, instances + 1)
            ],
        )  # fmt: skip
        first_token = (session.scalar(select(Token.id).order_by(Token.id.desc())) or 0) + 1
        connection.execute(
            insert(Token),
            [
                {"id": first_token + n, "instance_id": base + 1 + n % instances,
                 "node_id": "work", "state": "waiting", "created_at": now}
                for n in range(items)
            ],
        )  # fmt: skip
        first_item = (session.scalar(select(WorkItem.id).order_by(WorkItem.id.desc())) or 0) + 1
        rows = []
        for n in range(items):
            mine = n % (items // 50) == 0
            rows.append(
                {"id": first_item + n, "instance_id": base + 1 + n % instances,
                 "token_id": first_token + n, "node_id": "work", "name": "Work", "state": "open",
                 "assignee_id": user_id if mine else (None if n % 3 == 0 else others[n % 97]),
                 "due_at": now - dt.timedelta(minutes=5) if n < due
                 else now + dt.timedelta(hours=1 + n % 500),
                 "created_at": now, "version": 1, "urged": 0}
            )  # fmt: skip
        connection.execute(insert(WorkItem), rows)
        connection.execute(
            insert(WorkItemCandidate),
            [
                {"work_item_id": row["id"], "department_id": departments[n % len(departments)]}
                for n, row in enumerate(rows)
                if row["assignee_id"] is None
            ],
        )


def measure_inbox(kernel: Any, actor: Any, rounds: int) -> tuple[float, float, int]:
    from openitsm.kernel.graphql.view import execute
    from openitsm.kernel.testing import count_statements

    query = "{ inbox(first: 20) { edges { node { id name dueAt instance { title } } } } }"
    first = execute(kernel, query, {}, actor=actor)
    assert "errors" not in first, first
    assert len(first["data"]["inbox"]["edges"]) == 20
    cpu, wall = [], []
    statements = 0
    for _ in range(rounds):
        with count_statements(kernel.engine) as log:
            c0, w0 = time.process_time(), time.perf_counter()
            execute(kernel, query, {}, actor=actor)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        statements = log.count
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000, statements


def measure_scan(kernel: Any) -> tuple[float, float, Any]:
    from openitsm.kernel.workflow.deadlines import scan

    c0, w0 = time.process_time(), time.perf_counter()
    with kernel.session() as session:
        result = scan(session, kernel)
    return time.process_time() - c0, time.perf_counter() - w0, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="Open work items.")
    parser.add_argument("--due", type=int, default=1_000, help="Of them past their deadline.")
    parser.add_argument("--rounds", type=int, default=200, help="Completions measured.")
    parser.add_argument("--profile", action="store_true", help="cProfile one completion run.")
    args = parser.parse_args(argv)
    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    with c.temporary_site() as site:
        kernel, actor, user_id, others, departments = build_site(site.root)
        try:
            for _ in range(20):  # warm caches: definitions, grants, compiled statements
                complete_once(kernel, actor, open_item(kernel, start(kernel, actor)))
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                measure_completion(kernel, actor, args.rounds, 2)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            completion = measure_completion(kernel, actor, args.rounds, 500)
            short, long = completion["1"], completion["500"]
            fill_inbox(kernel, user_id, others, departments, args.items, args.due)
            inbox = measure_inbox(kernel, actor, args.rounds)
            scan_cpu, scan_wall, scanned = measure_scan(kernel)
        finally:
            kernel.close()
    print(
        f"complete a step, 1 step of history:    {short[0]:6.2f} ms CPU  {short[1]:6.2f} ms wall"
        f"  {short[2]} SQL statements"
    )
    print(
        f"complete a step, 500 steps of history: {long[0]:6.2f} ms CPU  {long[1]:6.2f} ms wall"
        f"  {long[2]} SQL statements"
    )
    print(
        f"inbox first page, {args.items} open items: {inbox[0]:6.2f} ms CPU  "
        f"{inbox[1]:6.2f} ms wall  {inbox[2]} SQL statements"
    )
    print(
        f"deadline scan, {args.due} due of {args.items}: {scan_cpu:6.3f} s CPU  {scan_wall:6.3f} s "
        f"wall  (reminded {scanned.reminded}, escalated {scanned.escalated}, fired {scanned.fired})"
    )
    met = {
        "completion <= 3 ms": max(short[0], long[0]) <= COMPLETION_TARGET_MS,
        "flat with history": long[0] <= short[0] * 1.25 and long[2] <= short[2],
        "inbox < 20 ms": inbox[0] < INBOX_TARGET_MS,
        "scan < 1 s": scan_wall < SCAN_TARGET_S and scanned.escalated == args.due,
    }
    for name, ok in met.items():
        print(f"  {name}: {'met' if ok else 'MISSED'}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
