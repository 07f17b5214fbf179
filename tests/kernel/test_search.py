"""Search across record kinds: the searcher's scope and field rules, limits, totals, GraphQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openitsm.kernel import Kernel
from openitsm.kernel import search as search_module
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.search import SearchGroup, search
from openitsm.kernel.testing import actor_of, build_kernel, count_statements, error_codes, gql
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables

SEARCH = """
query($text: String!, $kinds: [String!], $first: Int) {
  search(text: $text, kinds: $kinds, first: $first) {
    kind label totalCount records { kind recordId title url }
  }
}"""
JAMS = 25


@dataclass
class Desk:
    kernel: Kernel
    agent: Actor  # tickets of the desk department only; internal notes hidden; no org.read
    blind: Actor  # every ticket, titles hidden
    clerk: Actor  # org.read, phones hidden
    admin: Actor
    ids: dict[str, int]

    def search(self, actor: Actor, text: str, **options: object) -> list[SearchGroup]:
        with self.kernel.session() as session:
            return search(session, self.kernel.record_kinds, actor, text, **options)  # type: ignore[arg-type]


def _role(kernel: Kernel, session: object, code: str, actions: list[str]) -> int:
    role = service.create_role(
        session,  # type: ignore[arg-type]
        action_registry(kernel),
        code=code,
        labels={"en": code.title()},
        actions=actions,
    )
    return role.id


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[Desk]:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    try:
        with kernel.session() as session:
            ours = service.create_department(session, code="desk", name="Service desk")
            theirs = service.create_department(session, code="finance", name="Finance")
            agent_role = _role(kernel, session, "agent", [])
            set_role_scope(session, agent_role, "ticket", "department")
            set_field_rule(
                session, kernel.record_kinds, agent_role, "ticket", "internal_note", "hidden"
            )
            blind_role = _role(kernel, session, "blind", [])
            set_role_scope(session, blind_role, "ticket", "all")
            set_field_rule(session, kernel.record_kinds, blind_role, "ticket", "title", "hidden")
            clerk_role = _role(kernel, session, "clerk", ["org.read"])
            set_field_rule(session, kernel.record_kinds, clerk_role, "user", "phone", "hidden")
            users = {}
            for login, role in (
                ("agent", agent_role),
                ("blind", blind_role),
                ("clerk", clerk_role),
            ):
                user = identity.create_user(session, login, login.title())
                service.update_user(session, user.id, user.version, {"department_id": ours.id})
                service.grant_role(session, user.id, role)
                users[login] = user.id
            admin = identity.create_user(session, "admin", "Admin", superuser=True)
            person = identity.create_user(session, "wanted", "Wanted Person")
            service.update_user(session, person.id, person.version, {"phone": "+86 555 0199"})
            for n in range(JAMS):
                session.add(Ticket(title=f"Printer jam {n:02d}", department_id=ours.id))
            secret = Ticket(title="Printer in the vault", department_id=theirs.id)
            noted = Ticket(title="Scanner", department_id=ours.id, internal_note="needle inside")
            session.add_all([secret, noted])
            session.flush()
            ids = {"secret": secret.id, "noted": noted.id, "person": person.id, "admin": admin.id}
        yield Desk(
            kernel,
            actor_of(kernel, users["agent"]),
            actor_of(kernel, users["blind"]),
            actor_of(kernel, users["clerk"]),
            actor_of(kernel, ids["admin"]),
            ids,
        )
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def by_kind(groups: list[SearchGroup]) -> dict[str, SearchGroup]:
    return {group.kind.name: group for group in groups}


def test_an_out_of_scope_record_is_neither_found_nor_counted(desk: Desk) -> None:
    assert by_kind(desk.search(desk.agent, "vault")) == {}
    assert [r.ref.id for r in by_kind(desk.search(desk.admin, "vault"))["ticket"].records] == [
        desk.ids["secret"]
    ]
    agent = by_kind(desk.search(desk.agent, "printer"))["ticket"]
    admin = by_kind(desk.search(desk.admin, "printer"))["ticket"]
    assert (agent.total_label, admin.total_label) == (str(JAMS), str(JAMS + 1))
    assert desk.ids["secret"] not in {r.ref.id for r in agent.records}


def test_a_value_only_in_a_hidden_field_is_not_found(desk: Desk) -> None:
    assert desk.search(desk.agent, "needle") == []
    found = by_kind(desk.search(desk.admin, "needle"))["ticket"].records
    assert [(r.ref.id, r.title) for r in found] == [(desk.ids["noted"], "Scanner")]


def test_a_title_from_a_hidden_field_shows_as_the_bare_id(desk: Desk) -> None:
    found = by_kind(desk.search(desk.blind, "needle"))["ticket"].records
    assert [(r.title, r.url) for r in found] == [(f"#{desk.ids['noted']}", None)]
    assert desk.search(desk.blind, "printer") == []  # the title itself is not searched


def test_hits_are_limited_per_kind_and_totals_capped(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = by_kind(desk.search(desk.agent, "printer jam", first=4))["ticket"]
    assert len(group.records) == 4 and group.total == JAMS
    newest_first = [r.title for r in group.records]
    assert newest_first == sorted(newest_first, reverse=True)  # opened later, id higher
    monkeypatch.setattr(search_module, "CAP", 10)
    capped = by_kind(desk.search(desk.agent, "printer", first=4))["ticket"]
    assert (capped.total_label, len(capped.records)) == ("10+", 4)
    few = by_kind(desk.search(desk.agent, "jam 0", first=20))["ticket"]
    assert few.total_label == "10" and len(few.records) == 10


def test_an_exact_number_ranks_first(desk: Desk) -> None:
    noted = str(desk.ids["noted"])
    first = by_kind(desk.search(desk.admin, f"#{noted}"))["ticket"].records[0]
    assert (first.ref.id, first.title) == (desk.ids["noted"], "Scanner")
    desk_group = by_kind(desk.search(desk.admin, "DESK"))["department"]
    assert [r.title for r in desk_group.records] == ["Service desk"]


def test_the_kinds_filter_narrows_and_refuses_unknown_kinds(desk: Desk) -> None:
    assert set(by_kind(desk.search(desk.admin, "e"))) >= {"ticket", "user", "department"}
    assert set(by_kind(desk.search(desk.admin, "e", only=["department"]))) == {"department"}
    with pytest.raises(BadUserInput):
        desk.search(desk.admin, "e", only=["nonsense"])
    assert desk.search(desk.admin, "   ") == []


def test_users_are_searched_as_the_users_list_shows_them(desk: Desk) -> None:
    assert "user" not in by_kind(desk.search(desk.agent, "wanted"))  # no org.read
    people = by_kind(desk.search(desk.clerk, "wanted"))["user"].records
    assert [(r.title, r.url) for r in people] == [
        ("Wanted Person", f"/admin/users/{desk.ids['person']}")
    ]
    assert "user" not in by_kind(desk.search(desk.clerk, "555 0199"))  # phone hidden
    assert "user" in by_kind(desk.search(desk.admin, "555 0199"))
    group = by_kind(desk.search(desk.clerk, "wanted"))["user"]
    assert group.more_url("wanted person") == "/admin/users?q=wanted%20person"


def test_statements_do_not_grow_with_the_hits(desk: Desk) -> None:
    desk.search(desk.agent, "printer")  # warm caches
    with count_statements(desk.kernel.engine) as few:
        desk.search(desk.agent, "printer", first=2)
    with count_statements(desk.kernel.engine) as many:
        desk.search(desk.agent, "printer", first=20)
    assert few.count == many.count == 2  # the ticket kind: its hits, and its total


def test_graphql_search(desk: Desk) -> None:
    variables = {"text": "printer", "kinds": ["ticket"], "first": 3}
    result = gql(desk.kernel, SEARCH, variables, actor=desk.agent)
    assert "errors" not in result, result
    [group] = result["data"]["search"]
    assert (group["kind"], group["label"], group["totalCount"]) == ("ticket", "工单", "25")
    assert [r["title"] for r in group["records"]] == [
        "Printer jam 24",
        "Printer jam 23",
        "Printer jam 22",
    ]
    assert group["records"][0]["url"] == f"/tickets/{group['records'][0]['recordId']}"
    assert gql(desk.kernel, SEARCH, {"text": "vault"}, actor=desk.agent)["data"]["search"] == []
    unknown = gql(desk.kernel, SEARCH, {"text": "x", "kinds": ["nonsense"]}, actor=desk.agent)
    assert error_codes(unknown) == ["BAD_USER_INPUT"]
    assert error_codes(gql(desk.kernel, SEARCH, {"text": "x"})) == ["UNAUTHENTICATED"]


def test_graphql_search_describes_hits_without_another_query(desk: Desk) -> None:
    variables = {"text": "printer", "kinds": ["ticket"], "first": 2}
    gql(desk.kernel, SEARCH, variables, actor=desk.agent)
    with count_statements(desk.kernel.engine) as two:
        gql(desk.kernel, SEARCH, variables, actor=desk.agent)
    with count_statements(desk.kernel.engine) as twenty:
        gql(desk.kernel, SEARCH, {**variables, "first": 20}, actor=desk.agent)
    assert len(two.selects()) == len(twenty.selects()) == 2
