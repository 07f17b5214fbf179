"""Excel exports: the data scope and field rules of the reader, real cell types, streaming."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, select

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import count_statements
from openitsm.kernel.errors import BadUserInput, Forbidden
from openitsm.kernel.exports import ExportColumn, export_xlsx
from openitsm.kernel.graphql.connection import SortKey
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.kernel.testing.tickets import TICKET, Ticket, TicketPlugin, create_tables, drop_tables

SECRET = "needle-in-the-internal-note"
OPENED = dt.datetime(2026, 1, 1, 23, 30)  # naive values are UTC

COLUMNS = [
    ExportColumn("id", {"en": "No.", "zh-CN": "编号"}, kind="number"),
    ExportColumn("title", {"en": "Title", "zh-CN": "标题"}),
    ExportColumn("cost", {"en": "Cost", "zh-CN": "费用"}, kind="money"),
    ExportColumn("internal_note", {"en": "Internal note", "zh-CN": "内部备注"}),
    ExportColumn("opened_at", {"en": "Opened", "zh-CN": "创建时间"}, kind="datetime"),
    ExportColumn("due_at", {"en": "Due"}, kind="date"),
    ExportColumn("location", {"zh-CN": "位置"}),
    ExportColumn("urgency", {}),
    ExportColumn("cost", {"en": "Paid"}, value=lambda t: t.cost is not None, kind="bool"),
]


@dataclass
class Desk:
    kernel: Kernel
    agent: Actor  # department "it" only; internal_note hidden, cost read-only
    admin: Actor
    it: int
    other: int


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[Desk]:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    try:
        with kernel.session() as session:
            it = service.create_department(session, code="it", name="IT").id
            other = service.create_department(session, code="other", name="Other").id
            agent = identity.create_user(session, "agent", "Agent")
            service.update_user(session, agent.id, agent.version, {"department_id": it})
            admin = identity.create_user(session, "admin", "Admin", superuser=True)
            role = service.create_role(
                session, action_registry(kernel), code="agent", labels={"en": "Agent"}
            )
            set_role_scope(session, role.id, "ticket", "department")
            for name, access in {"cost": "read_only", "internal_note": "hidden"}.items():
                set_field_rule(session, kernel.record_kinds, role.id, "ticket", name, access)
            service.grant_role(session, agent.id, role.id)
            ids = agent.id, admin.id
        yield Desk(kernel, actor_of(kernel, ids[0]), actor_of(kernel, ids[1]), it, other)
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def add_tickets(desk: Desk, rows: list[dict[str, Any]]) -> None:
    defaults = {"status": "new", "opened_at": OPENED, "version": 1}
    with desk.kernel.session() as session:
        session.execute(insert(Ticket), [{**defaults, **row} for row in rows])


def export(
    desk: Desk, actor: Actor, columns: list[ExportColumn] = COLUMNS, **options: Any
) -> bytes:
    with desk.kernel.session(actor) as session:
        return b"".join(export_xlsx(session, select(Ticket), TICKET, columns, actor, **options))


def cells(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def sheet_xml(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def every_part(content: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


def test_a_restricted_reader_gets_only_their_rows_and_no_trace_of_a_hidden_field(
    desk: Desk,
) -> None:
    add_tickets(
        desk,
        [
            {"title": "IT printer", "cost": 120, "department_id": desk.it, "internal_note": SECRET},
            {"title": "IT laptop", "cost": None, "department_id": desk.it, "internal_note": SECRET},
            {"title": "Other desk", "cost": 7, "department_id": desk.other, "location": "Room 9"},
        ],
    )
    content = export(desk, desk.agent)
    table = cells(content)
    assert table[0] == ["No.", "Title", "Cost", "Opened", "Due", "location", "urgency", "Paid"]
    assert [row[1:3] for row in table[1:]] == [["IT printer", 120], ["IT laptop", None]]
    assert [row[7] for row in table[1:]] == [True, False]
    everything = repr(table) + repr(load_workbook(io.BytesIO(content)).sheetnames)
    assert SECRET not in everything and "Internal note" not in everything
    assert "Other desk" not in everything and "Room 9" not in everything
    raw = every_part(content)
    assert SECRET.encode() not in raw and b"Internal note" not in raw and b"Room 9" not in raw

    full = cells(export(desk, desk.admin))
    assert "Internal note" in full[0]
    assert [row[3] for row in full[1:]] == [SECRET, SECRET, None]
    assert [row[1] for row in full[1:]] == ["IT printer", "IT laptop", "Other desk"]


def test_headers_follow_the_locale_then_english_then_the_field_name(desk: Desk) -> None:
    add_tickets(desk, [{"title": "One", "department_id": desk.it}])
    chinese = load_workbook(io.BytesIO(export(desk, desk.agent, locale="zh-CN"))).active
    assert next(chinese.iter_rows(max_row=1, values_only=True)) == (
        "编号", "标题", "费用", "创建时间", "Due", "位置", "urgency", "Paid",
    )  # fmt: skip
    assert chinese.title == "工单"
    assert chinese.freeze_panes == "A2"
    assert chinese.auto_filter.ref == "A1:H2"
    assert chinese.column_dimensions["B"].width >= len("Title")
    english = load_workbook(io.BytesIO(export(desk, desk.agent, locale="fr", sheet_title="a/b")))
    assert english.sheetnames == ["a b"]
    assert cells(export(desk, desk.agent, locale="fr"))[0][:2] == ["No.", "Title"]


def test_datetimes_are_real_dates_in_the_readers_time_zone(desk: Desk) -> None:
    add_tickets(
        desk,
        [{"title": "Late", "department_id": desk.it, "due_at": dt.datetime(2026, 1, 5, 18, 0)}],
    )
    content = export(desk, desk.agent, time_zone="Asia/Shanghai")
    sheet = load_workbook(io.BytesIO(content)).active
    opened, due = sheet["D2"], sheet["E2"]
    assert opened.value == dt.datetime(2026, 1, 2, 7, 30)  # 23:30 UTC is 07:30 next day
    assert opened.is_date and "yyyy" in opened.number_format and "hh:mm" in opened.number_format
    assert due.value == dt.datetime(2026, 1, 6)  # the date in Shanghai, not in UTC
    assert due.is_date and "hh" not in due.number_format
    assert sheet["C2"].data_type == "n" or sheet["C2"].value is None
    utc = load_workbook(io.BytesIO(export(desk, desk.agent, time_zone="UTC"))).active
    assert utc["D2"].value == OPENED
    own = dataclasses.replace(desk.agent, locale="zh-CN", time_zone="America/New_York")
    own_sheet = load_workbook(io.BytesIO(export(desk, own))).active
    assert own_sheet["D2"].value == dt.datetime(2026, 1, 1, 18, 30)  # the actor's own zone
    assert own_sheet["D1"].value == "创建时间"
    with pytest.raises(BadUserInput):
        export(desk, desk.agent, time_zone="Mars/Olympus")


def test_formula_looking_text_is_stored_as_text(desk: Desk) -> None:
    titles = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3", "@SUM(A1)", "=1+1"]
    long_text = "长" * 5_000
    add_tickets(
        desk,
        [{"title": t, "department_id": desk.it, "cost": 5} for t in titles]
        + [
            {
                "title": "long",
                "description": long_text,
                "department_id": desk.it,
                "location": "=cmd|'/c calc'!A0",
            }
        ],
    )
    content = export(desk, desk.agent, [*COLUMNS, ExportColumn("description")])
    sheet = load_workbook(io.BytesIO(content)).active
    written = [sheet.cell(row, 2) for row in range(2, 2 + len(titles))]
    assert [cell.value for cell in written] == titles
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in written)
    assert sheet["I7"].value == long_text and not sheet["I7"].quotePrefix
    assert sheet["F7"].value == "=cmd|'/c calc'!A0" and sheet["F7"].data_type == "s"
    assert sheet["C2"].value == 5 and sheet["C2"].data_type == "n"
    assert sheet["C2"].number_format == "#,##0.00"
    assert sheet["A2"].data_type == "n"
    xml = sheet_xml(content)
    assert "<f>" not in xml and "<f " not in xml


def test_the_temporary_file_goes_when_the_stream_ends_is_closed_or_fails(
    desk: Desk, tmp_path: Path
) -> None:
    add_tickets(desk, [{"title": f"t{n}", "department_id": desk.it} for n in range(30)])
    folder = tmp_path / "exports"
    folder.mkdir()
    with desk.kernel.session(desk.agent) as session:
        stream = export_xlsx(
            session, select(Ticket), TICKET, COLUMNS, desk.agent, temp_dir=folder, chunk_bytes=512
        )
        assert list(folder.iterdir()) == []  # nothing happens before the first block
        first = next(stream)
        assert len(first) == 512 and first.startswith(b"PK")
        assert len(list(folder.iterdir())) == 1
        rest = b"".join(stream)
        assert list(folder.iterdir()) == []
        assert len(cells(first + rest)) == 31

        closed_early = export_xlsx(
            session, select(Ticket), TICKET, COLUMNS, desk.agent, temp_dir=folder, chunk_bytes=512
        )
        next(closed_early)
        assert len(list(folder.iterdir())) == 1
        closed_early.close()
        assert list(folder.iterdir()) == []

        def broken(ticket: Ticket) -> str:
            if ticket.title == "t20":
                raise RuntimeError("value failed")
            return ticket.title

        failing = export_xlsx(
            session,
            select(Ticket),
            TICKET,
            [ExportColumn("title", value=broken)],
            desk.agent,
            temp_dir=folder,
            chunk_rows=7,
        )
        with pytest.raises(RuntimeError, match="value failed"):
            next(failing)
        assert list(folder.iterdir()) == []


def test_rows_are_read_in_chunks_so_statements_grow_per_chunk_not_per_row(desk: Desk) -> None:
    add_tickets(desk, [{"title": f"small {n}", "department_id": desk.it} for n in range(10)])

    def statements_and_rows(actor: Actor) -> tuple[int, int]:
        with desk.kernel.session(actor) as session, count_statements(desk.kernel.engine) as log:
            content = b"".join(
                export_xlsx(session, select(Ticket), TICKET, COLUMNS, actor, chunk_rows=1000)
            )
        return log.count, len(cells(content)) - 1

    assert statements_and_rows(desk.agent) == (1, 10)
    add_tickets(desk, [{"title": f"big {n}", "department_id": desk.it} for n in range(2_490)])
    add_tickets(desk, [{"title": f"else {n}", "department_id": desk.other} for n in range(600)])
    assert statements_and_rows(desk.agent) == (3, 2_500)  # 1 000 + 1 000 + 500
    assert statements_and_rows(desk.admin) == (4, 3_100)  # ... + 100 + the one that ends it


def test_chunks_follow_the_given_sort_across_ties_and_nulls(desk: Desk) -> None:
    priorities = ["p2", None, "p1", "p2", None, "p1", "p3", "p2"]
    add_tickets(
        desk,
        [
            {"title": f"t{n}", "priority": p, "department_id": desk.it}
            for n, p in enumerate(priorities)
        ],
    )
    columns = [ExportColumn("id", kind="number"), ExportColumn("priority")]
    order = [SortKey(Ticket.priority, descending=True)]
    with count_statements(desk.kernel.engine) as log:
        table = cells(export(desk, desk.agent, columns, order=order, chunk_rows=3))[1:]
    assert log.count == 1  # a sorted export streams one query rather than re-sorting per chunk
    # As in lists: NULL sorts as the largest value, ties go by id, chunk borders change nothing.
    assert [tuple(row) for row in table] == [
        (2, None), (5, None), (7, "p3"), (1, "p2"), (4, "p2"), (8, "p2"), (3, "p1"), (6, "p1"),
    ]  # fmt: skip


def test_unknown_kinds_fields_and_hidden_sorting_are_refused_before_reading(desk: Desk) -> None:
    refused: list[tuple[type[Exception], dict[str, Any]]] = [
        (BadUserInput, {"columns": [ExportColumn("nope")]}),
        (BadUserInput, {"columns": []}),
        (BadUserInput, {"columns": [ExportColumn("title", kind="colour")]}),  # type: ignore[arg-type]
        (BadUserInput, {"kind": "no_such_kind"}),
        (BadUserInput, {"time_zone": "Nowhere/Land"}),
        (Forbidden, {"columns": [ExportColumn("internal_note")]}),
        (Forbidden, {"order": [SortKey(Ticket.internal_note)]}),
    ]
    for error, changes in refused:
        arguments: dict[str, Any] = {"columns": COLUMNS, "kind": TICKET, **changes}
        with desk.kernel.session(desk.agent) as session:
            with count_statements(desk.kernel.engine) as log, pytest.raises(error):
                export_xlsx(
                    session,
                    select(Ticket),
                    arguments.pop("kind"),
                    arguments.pop("columns"),
                    desk.agent,
                    **arguments,
                )
            assert log.count == 0, changes
    with desk.kernel.session(desk.admin) as session:
        stream = export_xlsx(session, select(Ticket), "ticket", [ExportColumn("title")], desk.admin)
        assert cells(b"".join(stream)) == [["title"]]


def test_a_kind_whose_module_is_disabled_cannot_be_exported(
    desk: Desk, tmp_path: Path, database_url: str
) -> None:
    without = build_kernel(tmp_path / "without-tickets", database_url)
    try:
        with without.session(desk.admin) as session, pytest.raises(BadUserInput, match="ticket"):
            export_xlsx(session, select(Ticket), TICKET, COLUMNS, desk.admin)
    finally:
        without.close()
