"""Keyset pagination: every ordering walks to the same rows forwards and backwards.

The probe table lives on its own MetaData so it never joins the kernel's models (and so
never shows up in migration drift checks).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import DateTime, Integer, MetaData, String, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from openitsm.kernel.db import create_engine_for
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.graphql.connection import (
    Connection,
    PageRequest,
    SortKey,
    encode_cursor,
    paginate,
)
from openitsm.kernel.testing import build_kernel, error_codes, gql

ROWS = 300


class ProbeBase(DeclarativeBase):
    metadata = MetaData()


class Probe(ProbeBase):
    __tablename__ = "paging_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    name: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """300 probe rows: ranks with duplicates and NULLs, repeated timestamps and names."""
    engine = create_engine_for(database_url)
    ProbeBase.metadata.create_all(engine)
    chance = random.Random(20240601)
    start = dt.datetime(2024, 6, 1, 8, 0)
    with Session(engine) as session:
        session.add_all(
            Probe(
                id=i + 1,
                rank=None if chance.random() < 0.2 else chance.randint(0, 25),
                at=start + dt.timedelta(minutes=chance.randint(0, 60)),
                name="".join(chance.choice("abcde") for _ in range(2)),
            )
            for i in range(ROWS)
        )
        session.commit()
        yield session
    ProbeBase.metadata.drop_all(engine)
    engine.dispose()


def python_order(rows: list[Probe], spec: list[tuple[str, bool]]) -> list[int]:
    """The ids in the expected order: NULL is the largest value, ties broken by id."""

    def compare(a: Probe, b: Probe) -> int:
        for attr, descending in [*spec, ("id", False)]:
            x, y = getattr(a, attr), getattr(b, attr)
            if x == y:
                continue
            if x is None:
                result = 1
            elif y is None:
                result = -1
            else:
                result = -1 if x < y else 1
            return -result if descending else result
        return 0

    return [row.id for row in sorted(rows, key=functools.cmp_to_key(compare))]


ORDERINGS = {
    "string asc": [("name", False)],
    "datetime desc": [("at", True)],
    "nullable asc": [("rank", False)],
    "nullable desc": [("rank", True)],
    "mixed rank asc, at desc": [("rank", False), ("at", True)],
    "mixed name desc, rank asc": [("name", True), ("rank", False)],
    "mixed rank desc, name asc": [("rank", True), ("name", False)],
}


def keys_for(spec: list[tuple[str, bool]]) -> list[SortKey]:
    return [SortKey(getattr(Probe, attr), descending=descending) for attr, descending in spec]


def page(session: Session, keys: list[SortKey], **request: Any) -> Connection[Any]:
    return paginate(
        session, select(Probe), keys=keys, tiebreak=Probe.id, request=PageRequest(**request)
    )


def ids(connection: Connection[Any]) -> list[int]:
    return [edge.node.id for edge in connection.edges]


@pytest.mark.parametrize("ordering", list(ORDERINGS))
def test_walking_every_page_matches_python_sort(session: Session, ordering: str) -> None:
    spec = ORDERINGS[ordering]
    keys = keys_for(spec)
    expected = python_order(list(session.scalars(select(Probe))), spec)
    size = 37

    forward: list[int] = []
    cursor = None
    pages = []
    while True:
        current = page(session, keys, first=size, after=cursor)
        pages.append(current)
        forward.extend(ids(current))
        if not current.page_info.has_next_page:
            break
        cursor = current.page_info.end_cursor
    assert forward == expected
    assert len(pages) == -(-ROWS // size)
    assert pages[0].page_info.has_previous_page is False
    assert all(p.page_info.has_next_page for p in pages[:-1])
    assert all(p.page_info.has_previous_page for p in pages[1:])
    assert pages[0].page_info.start_cursor == pages[0].edges[0].cursor
    assert pages[-1].page_info.end_cursor == pages[-1].edges[-1].cursor

    backward: list[int] = []
    cursor = None
    pages = []
    while True:
        current = page(session, keys, last=size, before=cursor)
        pages.append(current)
        backward = ids(current) + backward
        if not current.page_info.has_previous_page:
            break
        cursor = current.page_info.start_cursor
    assert backward == expected
    assert len(pages) == -(-ROWS // size)
    assert pages[0].page_info.has_next_page is False
    assert all(p.page_info.has_previous_page for p in pages[:-1])
    assert all(p.page_info.has_next_page for p in pages[1:])


@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_later_page_starts_where_the_index_is_at_its_cursor(
    session: Session, direction: str
) -> None:
    """The page after (or before) a cursor seeks to the cursor's value in the index of the
    first sort key instead of reading every row before it: the plan searches a range."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's plans name the index range; PostgreSQL's depend on its statistics")
    keys = keys_for(ORDERINGS["datetime desc"])
    middle = page(session, keys, first=150)
    cursor = middle.page_info.end_cursor
    request = (
        {"first": 20, "after": cursor} if direction == "after" else {"last": 20, "before": cursor}
    )
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        page(session, keys, **request)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = next((s, p) for s, p in sent if s.lstrip().startswith("SELECT"))
    raw = session.connection().connection.driver_connection
    plan = " ".join(
        str(row[-1]) for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
    )
    assert "ix_paging_probe_at (at<?)" in plan or "ix_paging_probe_at (at>?)" in plan, plan


def test_after_and_before_together_give_the_rows_between(session: Session) -> None:
    spec = ORDERINGS["mixed rank asc, at desc"]
    keys = keys_for(spec)
    expected = python_order(list(session.scalars(select(Probe))), spec)
    whole = page(session, keys, first=200)
    after, before = whole.edges[40].cursor, whole.edges[120].cursor
    assert ids(page(session, keys, first=200, after=after, before=before)) == expected[41:120]
    assert ids(page(session, keys, first=10, after=after, before=before)) == expected[41:51]
    assert ids(page(session, keys, last=10, after=after, before=before)) == expected[110:120]
    bare_before = page(session, keys, before=before)
    assert ids(bare_before) == expected[70:120]  # the default page just before the cursor


def test_default_size_is_fifty_and_zero_only_reports_more(session: Session) -> None:
    keys = keys_for([("rank", False)])
    first = page(session, keys)
    assert len(first.edges) == 50
    assert first.page_info.has_next_page is True
    empty = page(session, keys, first=0)
    assert empty.edges == []
    assert empty.page_info.has_next_page is True
    assert empty.page_info.start_cursor is None


def forged(keys: list[SortKey], values: list[Any]) -> str:
    """A cursor with the right fingerprint but values of our choosing."""
    real = json.loads(base64.urlsafe_b64decode(encode_cursor([1] * len(keys), keys) + "=="))
    raw = json.dumps([real[0], *values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    ],
)
def test_garbage_cursor_is_bad_user_input(session: Session, cursor: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        page(session, keys_for([("rank", False)]), after=cursor)
    assert caught.value.extensions["field"] == "after"
    with pytest.raises(BadUserInput) as caught:
        page(session, keys_for([("rank", False)]), last=5, before=cursor)
    assert caught.value.extensions["field"] == "before"


def test_cursor_of_another_ordering_is_refused(session: Session) -> None:
    by_name = page(session, keys_for([("name", False)]), first=3)
    with pytest.raises(BadUserInput):
        page(session, keys_for([("name", True)]), after=by_name.page_info.end_cursor)
    with pytest.raises(BadUserInput):
        page(session, keys_for([("rank", False)]), after=by_name.page_info.end_cursor)


@pytest.mark.parametrize(
    "values",
    [["text", 1], [1, "text"], [True, 1], [1, None], [2**70, 1], [{"dt": "2024"}, 1]],
    ids=["string-for-int", "string-for-pk", "bool", "null-pk", "huge", "datetime-for-int"],
)
def test_forged_cursor_values_never_reach_the_database(session: Session, values: list[Any]) -> None:
    keys = keys_for([("rank", False)])
    all_keys = [*keys, SortKey(Probe.id, nullable=False)]
    with pytest.raises(BadUserInput):
        page(session, keys, after=forged(all_keys, values))


def test_page_size_limits(session: Session) -> None:
    keys = keys_for([("name", False)])
    assert len(page(session, keys, first=200).edges) == 200
    with pytest.raises(BadUserInput) as caught:
        page(session, keys, first=201)
    assert caught.value.extensions["field"] == "first"
    with pytest.raises(BadUserInput) as caught:
        page(session, keys, last=201)
    assert caught.value.extensions["field"] == "last"
    with pytest.raises(BadUserInput):
        page(session, keys, first=-1)
    with pytest.raises(BadUserInput, match="either first or last"):
        page(session, keys, first=5, last=5)


def test_total_count_is_capped_unless_exact(session: Session) -> None:
    def connection(statement: Any) -> Connection[Any]:
        return paginate(
            session,
            statement,
            keys=keys_for([("at", True)]),
            tiebreak=Probe.id,
            request=PageRequest(first=5),
            count_cap=100,
        )

    capped = connection(select(Probe)).total_count(exact=False)
    assert (capped.value, capped.capped, capped.display()) == (100, True, "100+")
    exact = connection(select(Probe)).total_count(exact=True)
    assert (exact.value, exact.capped, exact.display()) == (ROWS, False, str(ROWS))

    nulls = select(Probe).where(Probe.rank.is_(None))
    expected = len(list(session.scalars(nulls)))
    assert 0 < expected < 100
    small = connection(nulls).total_count(exact=False)
    assert (small.value, small.capped, small.display()) == (expected, False, str(expected))


# --- through GraphQL: the kernel's `dictionaries` connection -------------------------------

DICTIONARY_PAGE = """
query ($first: Int, $after: String) {
  dictionaries(first: $first, after: $after) {
    edges { cursor node { code } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
    totalCount { value capped display }
  }
}
"""


def test_dictionaries_page_through_graphql(kernel: Any, admin: Any) -> None:
    codes: list[str] = []
    after = None
    while True:
        result = gql(kernel, DICTIONARY_PAGE, {"first": 4, "after": after}, actor=admin)
        assert "errors" not in result, result
        connection = result["data"]["dictionaries"]
        assert connection["totalCount"] == {"value": 15, "capped": False, "display": "15"}
        codes.extend(edge["node"]["code"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(codes) == 15
    assert codes == sorted(codes)


def test_dictionaries_refuse_page_over_maximum(kernel: Any, admin: Any) -> None:
    result = gql(kernel, DICTIONARY_PAGE, {"first": 201}, actor=admin)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "first"
    assert "200" in result["errors"][0]["message"]


def test_dictionaries_refuse_a_bad_cursor(kernel: Any, admin: Any) -> None:
    result = gql(kernel, DICTIONARY_PAGE, {"after": "bm9wZQ"}, actor=admin)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "after"


def test_dictionaries_default_page_size_comes_from_settings(
    kernel: Any, admin: Any, tmp_path: Any, database_url: str
) -> None:
    whole = gql(kernel, DICTIONARY_PAGE, actor=admin)["data"]["dictionaries"]
    assert len(whole["edges"]) == 15  # under the default of 50
    assert whole["pageInfo"]["hasNextPage"] is False
    small = build_kernel(
        tmp_path / "small",
        database_url,
        migrate=False,
        graphql={"default_page_size": 4, "max_page_size": 10},
    )
    try:
        page_of_four = gql(small, DICTIONARY_PAGE, actor=admin)["data"]["dictionaries"]
        assert len(page_of_four["edges"]) == 4
        assert page_of_four["pageInfo"]["hasNextPage"] is True
        refused = gql(small, DICTIONARY_PAGE, {"first": 11}, actor=admin)
        assert error_codes(refused) == ["BAD_USER_INPUT"]
    finally:
        small.close()
