"""A page of rows loads the links it is asked for before any row resolves: one query per
linked model, no DataLoader batch on the event loop, nothing loaded that was not asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from strawberry.dataloader import DataLoader

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.identity.models import User
from openitsm.kernel.identity.service import create_user
from openitsm.kernel.organisation.service import create_department
from openitsm.kernel.testing import count_statements, gql

LINKS = """
{ users(first: 50) { edges { node { login department { code } manager { login } } } } }
"""
THROUGH_FRAGMENTS = """
query {
  users(first: 50) {
    edges { node { ...who } }
    nodes { ... on User { login manager { login } } }
  }
}
fragment who on User { login department { code } }
"""
NO_LINKS = "{ users(first: 50) { edges { node { login } } } }"


@pytest.fixture
def staff(kernel: Kernel) -> list[str]:
    """Twelve people in three departments, each but the first managed by the one before."""
    logins = []
    with kernel.session() as session:
        departments = [
            create_department(session, code=f"d{n}", name=f"Department {n}") for n in range(3)
        ]
        previous: User | None = None
        for n in range(12):
            user = create_user(session, f"person{n:02}", f"Person {n}")
            user.department_id = departments[n % 3].id
            user.manager_id = previous.id if previous else None
            session.flush()
            previous = user
            logins.append(user.login)
    return logins


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every key a DataLoader was asked to load during the test."""
    asked: list[Any] = []
    original = DataLoader.load

    def load(self: DataLoader[Any, Any], key: Any) -> Any:
        asked.append(key)
        return original(self, key)

    monkeypatch.setattr(DataLoader, "load", load)
    yield asked


def users_by_login(result: dict[str, Any], path: str = "edges") -> dict[str, Any]:
    connection = result["data"]["users"]
    rows = [edge["node"] for edge in connection["edges"]] if path == "edges" else connection[path]
    return {row["login"]: row for row in rows}


def test_a_page_resolves_its_links_without_a_batch_per_row(
    kernel: Kernel, admin: Actor, staff: list[str], loads: list[Any]
) -> None:
    with count_statements(kernel.engine) as log:
        result = gql(kernel, LINKS, actor=admin)
    assert "errors" not in result, result
    rows = users_by_login(result)
    assert rows["person04"]["department"] == {"code": "d1"}
    assert rows["person04"]["manager"] == {"login": "person03"}
    assert rows["person00"]["manager"] is None
    assert loads == []  # every link was there before its row resolved
    departments = [s for s in log.selects() if "FROM department" in s]
    managers = [s for s in log.selects() if "FROM user_account" in s and " IN (" in s]
    assert len(departments) == 1 and len(managers) == 1, log.statements


def test_fragments_and_nodes_are_prefetched_too(
    kernel: Kernel, admin: Actor, staff: list[str], loads: list[Any]
) -> None:
    result = gql(kernel, THROUGH_FRAGMENTS, actor=admin)
    assert "errors" not in result, result
    assert users_by_login(result)["person07"]["department"] == {"code": "d1"}
    assert users_by_login(result, "nodes")["person07"]["manager"] == {"login": "person06"}
    assert loads == []


def test_links_not_asked_for_are_not_loaded(kernel: Kernel, admin: Actor, staff: list[str]) -> None:
    with count_statements(kernel.engine) as asked:
        gql(kernel, LINKS, actor=admin)
    with count_statements(kernel.engine) as plain:
        result = gql(kernel, NO_LINKS, actor=admin)
    assert set(users_by_login(result)) >= set(staff)
    assert not [s for s in plain.selects() if "FROM department" in s]
    assert plain.count == asked.count - 2
