"""Concurrent steps resolve to exactly one outcome: real threads, each in its own unit of
work, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from openitsm.kernel.errors import Conflict
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.models import ProcessInstance, Transition, WorkItem

from .conftest import Org, flows, process, publish, task


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run `calls` at the same moment; each result is a value or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # the outcome under test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_people_completing_one_item_give_one_outcome(people: Org) -> None:
    kernel = people.kernel
    for _ in range(3):
        with kernel.session() as session:
            instance = runtime.start_process(
                session, kernel, people.actor("rita"), "two_level_approval"
            )
            item = session.scalar(select(WorkItem.id).where(WorkItem.instance_id == instance.id))
            instance_id = instance.id

        def decide(outcome: str, item_id: int = item) -> str:
            with kernel.session() as session:
                runtime.complete_item(
                    session, kernel, people.actor("sally"), item_id, outcome=outcome
                )
            return outcome

        results = race(lambda: decide("approve"), lambda: decide("reject"))
        winners = [r for r in results if isinstance(r, str)]
        assert len(winners) == 1, results
        assert isinstance(next(r for r in results if not isinstance(r, str)), Conflict)
        with kernel.session() as session:
            completions = session.scalar(
                select(func.count())
                .select_from(Transition)
                .where(Transition.instance_id == instance_id, Transition.action == "complete")
            )
            assert completions == 1
            instance = session.get(ProcessInstance, instance_id)
            assert instance is not None
            if winners[0] == "reject":
                assert instance.state == "completed" and instance.end_node == "rejected"
            else:  # the countersign opened once, not twice
                assert (
                    session.scalar(
                        select(func.count())
                        .select_from(WorkItem)
                        .where(
                            WorkItem.instance_id == instance_id,
                            WorkItem.node_id == "it_countersign",
                        )
                    )
                    == 4
                )


def test_countersigners_answering_at_once_are_all_counted_and_decide_once(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    publish(
        kernel,
        process(
            "sign",
            '<bpmn:startEvent id="s" />'
            + task("vote", 'itsm:candidateDepartments="it"', 'itsm:countersign="all"')
            + task("after", 'itsm:assignee="starter"')
            + '<bpmn:endEvent id="e" />'
            + flows("s", "vote", "after", "e"),
        ),
    )
    with kernel.session() as session:
        instance = runtime.start_process(session, kernel, people.actor("rita"), "sign")
        instance_id = instance.id
        items = {
            item.assignee_id: item.id
            for item in session.scalars(select(WorkItem).where(WorkItem.instance_id == instance_id))
        }

    def sign(login: str) -> str:
        with kernel.session() as session:
            runtime.complete_item(
                session, kernel, people.actor(login), items[ids[login]], outcome="approve"
            )
        return login

    results = race(*(lambda login=login: sign(login) for login in ("ivan", "ian", "ina", "ike")))
    assert sorted(results) == ["ian", "ike", "ina", "ivan"], results
    with kernel.session() as session:
        after = session.scalars(
            select(WorkItem.node_id).where(
                WorkItem.instance_id == instance_id, WorkItem.state == "open"
            )
        ).all()
        assert after == ["after"]  # the countersign decided exactly once
