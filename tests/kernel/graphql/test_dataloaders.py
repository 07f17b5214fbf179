"""Per-request DataLoaders: the statement count of a list does not grow with its size.

The counts below are checked-in baselines. A larger number means a resolver started
querying per row (an N+1 regression); a smaller one is welcome, lower the baseline.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.dictionaries.service import create_item, update_item
from openitsm.kernel.testing import count_statements, gql

DICTIONARY_TREE = """
{
  dictionaries(first: 15) {
    edges { node { code items { code parent { code } children { code } } } }
  }
}
"""


def run_counted(kernel: Kernel, query: str, actor: Actor, variables: Any = None) -> Any:
    with count_statements(kernel.engine) as log:
        result = gql(kernel, query, variables, actor=actor)
    assert "errors" not in result, result
    return result, log


def item_count(result: Any) -> int:
    return sum(len(e["node"]["items"]) for e in result["data"]["dictionaries"]["edges"])


def add_items(kernel: Kernel, count: int) -> None:
    """Items spread over every dictionary: roots, children of shipped items, grandchildren."""
    with kernel.session() as session:
        dictionaries = list(session.scalars(select(Dictionary).order_by(Dictionary.id)))
        for n in range(count):
            dictionary = dictionaries[n % len(dictionaries)]
            parent = None
            if n % 3:
                parent = session.scalars(
                    select(DictionaryItem)
                    .where(DictionaryItem.dictionary_id == dictionary.id)
                    .order_by(DictionaryItem.id.desc())
                ).first()
            create_item(
                session,
                dictionary.code,
                code=f"extra_{n}",
                labels={"en": f"Extra {n}"},
                parent_id=parent.id if parent else None,
            )


def test_dictionary_tree_costs_a_constant_number_of_statements(
    kernel: Kernel, member: Actor
) -> None:
    before, log = run_counted(kernel, DICTIONARY_TREE, member)
    # Baseline: the page, then one IN query each for items, parents and children.
    assert log.count == 4, log.statements
    add_items(kernel, 50)
    after, log = run_counted(kernel, DICTIONARY_TREE, member)
    assert item_count(after) == item_count(before) + 50
    assert log.count == 4, log.statements
    nested = [
        item
        for edge in after["data"]["dictionaries"]["edges"]
        for item in edge["node"]["items"]
        if item["code"].startswith("extra_") and item["parent"]
    ]
    assert nested  # the extra items do exercise parent and children


HISTORY = """
query ($id: Int!) {
  history(record: {kind: "dictionary_item", recordId: $id}, first: 200) {
    edges { node { action actorLabel changes { field oldValue newValue }
                   record { kind title exists kindLabel } } }
  }
}
"""


def edit(kernel: Kernel, item_id: int, times: int) -> None:
    for _ in range(times):
        with kernel.session() as session:
            item = session.get(DictionaryItem, item_id)
            assert item is not None
            update_item(
                session,
                item_id,
                item.version,
                {"sort_order": item.sort_order + 1, "labels": {"en": f"v{item.version}"}},
            )


def test_history_costs_a_constant_number_of_statements(kernel: Kernel, admin: Actor) -> None:
    with kernel.session() as session:
        item = create_item(session, "incident_category", code="audited", labels={"en": "A"})
        item_id = item.id
    edit(kernel, item_id, 10)
    before, log = run_counted(kernel, HISTORY, admin, {"id": item_id})
    events = before["data"]["history"]["edges"]
    assert len(events) == 11
    assert all(event["node"]["changes"] for event in events)
    # Baseline: the record's existence check, the page, one IN query for every event's
    # changes and one for describing the referenced records.
    assert log.count == 4, log.statements
    edit(kernel, item_id, 50)
    after, log = run_counted(kernel, HISTORY, admin, {"id": item_id})
    assert len(after["data"]["history"]["edges"]) == 61
    assert log.count == 4, log.statements
