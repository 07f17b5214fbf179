"""Excel (xlsx) exports of any record kind that honour data scopes and field rules.

An export is a list read by someone, so it obeys the same rules as the list: the actor's
data scope is added to the statement itself (the database never returns a row the actor may
not see), and a column whose field is hidden from the actor is left out entirely, header
and all, so neither its values nor an empty column hint at it.

Exports can be large (100 000 rows and more) and must not cost memory in proportion to
their size. Rows are read in chunks (by primary key, one short query per chunk; or, sorted
otherwise, streamed from one query), so only one chunk is alive at a time;
xlsxwriter writes in `constant_memory` mode to a temporary file, which is then streamed
in blocks and removed when the stream ends, fails or is closed.

    columns = [ExportColumn("title", {"en": "Title", "zh-CN": "标题"}),
               ExportColumn("opened_at", {"en": "Opened"}, kind="datetime")]
    chunks = export_xlsx(session, select(Ticket), TICKET, columns, actor,
                         locale="zh-CN", time_zone="Asia/Shanghai")
    return StreamingResponse(chunks, media_type=XLSX_MEDIA_TYPE)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import os
import re
import shutil
import tempfile
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Select
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.actors import Actor
from openitsm.kernel.customfields.service import resource_fields
from openitsm.kernel.customfields.values import is_custom
from openitsm.kernel.errors import BadUserInput, Forbidden
from openitsm.kernel.graphql.connection import SortKey, keyset_order, rows_after
from openitsm.kernel.labels import pick_label
from openitsm.kernel.references import RecordKind

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ColumnKind = Literal["text", "number", "money", "date", "datetime", "bool"]
COLUMN_KINDS: tuple[ColumnKind, ...] = ("text", "number", "money", "date", "datetime", "bool")
CHUNK_ROWS = 1_000
CHUNK_BYTES = 64 * 1024
# A spreadsheet treats a cell typed with these first characters as a formula; stored as text
# with a quote prefix, editing the cell later does not turn it into one either.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_TEXT = 32_767
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Column widths in characters: enough for the header and the first chunk's values, capped so
# one long description does not push every other column off the screen.
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_FIXED_WIDTH: dict[ColumnKind, int] = {"date": 11, "datetime": 17, "bool": 8}


@dataclasses.dataclass(frozen=True)
class ExportColumn:
    """One column of an export: the resource field it shows and how to write it.

    `field` is what field rules are checked against, so `value` must show nothing but that
    field (a column reading `assignee_id` to print the assignee's name names `assignee_id`).
    `value` defaults to reading the attribute named `field` from the row.
    """

    field: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    value: Callable[[Any], Any] | None = None
    kind: ColumnKind = "text"

    def header(self, locale: str | None) -> str:
        return pick_label(self.labels, locale, self.field)

    def read(self, row: Any) -> Any:
        return self.value(row) if self.value is not None else getattr(row, self.field)


def shown_columns(
    kind: RecordKind,
    columns: Sequence[ExportColumn],
    actor: Actor,
    fields: frozenset[str] | None = None,
) -> list[ExportColumn]:
    """The columns the actor may see, after refusing unknown fields and column kinds.

    A misspelt field is refused rather than dropped like a hidden one, so a typo never
    quietly yields a file with a column missing.
    """
    if not columns:
        raise BadUserInput("An export needs at least one column.", field="columns")
    known = (kind.fields if fields is None else fields) | {"id"}
    for column in columns:
        if column.field not in known:
            raise BadUserInput(
                f"'{kind.name}' has no field '{column.field}'. "
                f"Its fields: {', '.join(sorted(known))}.",
                field="columns",
            )
        if column.kind not in COLUMN_KINDS:
            raise BadUserInput(
                f"Unknown column kind {column.kind!r}; choose one of {', '.join(COLUMN_KINDS)}.",
                field="columns",
            )
    access = field_access(actor, kind.name)
    shown = [column for column in columns if access.readable(column.field)]
    if not shown:
        raise Forbidden(
            f"Your roles hide every field of this {kind.name} export.", resource=kind.name
        )
    return shown


def export_xlsx(
    session: Session,
    statement: Select[Any],
    kind: RecordKind | str,
    columns: Sequence[ExportColumn],
    actor: Actor,
    *,
    locale: str | None = None,
    time_zone: str | None = None,
    sheet_title: str | None = None,
    order: Sequence[SortKey] = (),
    chunk_rows: int = CHUNK_ROWS,
    chunk_bytes: int = CHUNK_BYTES,
    temp_dir: str | Path | None = None,
    on_chunk: Callable[[Sequence[Any]], None] | None = None,
) -> Iterator[bytes]:
    """The xlsx file of `statement`'s rows visible to `actor`, as a stream of byte blocks.

    `statement` is a `select(kind.model)` with the caller's filters; its own ORDER BY is
    replaced by `order` (the list's sort keys, the primary key appended). The caller checks
    its filters with `FieldAccess.check_read`, as for a list; sorting by a hidden field is
    refused here. `kind` may be given by name; a name or kind the kernel does not know, an
    unknown field or column kind, or an unknown time zone is refused with BAD_USER_INPUT
    before anything is read. `locale` and `time_zone` default to the actor's own. The file
    is built on the first `next()` and read from `session` then; naive datetimes are UTC.
    """
    locale = locale or actor.locale or "en"
    record_kind = _known_kind(session, kind)
    # Custom field names are read from the database only when a column asks for one.
    asks_custom = any(is_custom(column.field) for column in columns)
    fields = resource_fields(session, record_kind) if asks_custom else record_kind.fields
    shown = shown_columns(record_kind, columns, actor, fields)
    zone = _zone(time_zone or actor.time_zone or "UTC")
    descriptions = statement.column_descriptions
    if len(descriptions) != 1 or descriptions[0].get("entity") is not record_kind.model:
        raise ValueError(f"an export of '{record_kind.name}' reads select({record_kind.model})")
    access = field_access(actor, record_kind.name)
    access.check_read([key.name for key in order], purpose="sort by")
    if chunk_rows < 1 or chunk_bytes < 1:
        raise ValueError("chunk sizes must be positive")
    scoped = visible(statement, actor, record_kind)
    title = _sheet_title(sheet_title or record_kind.label(locale))
    keys = [*order, SortKey(record_kind.model.id, nullable=False)]
    rows = _chunked_rows(session, scoped, keys, chunk_rows)
    if on_chunk is not None:
        rows = _announced(rows, on_chunk)
    headers = [column.header(locale) for column in shown]
    return _stream(rows, shown, headers, zone, title, chunk_bytes, temp_dir)


def _known_kind(session: Session, kind: RecordKind | str) -> RecordKind:
    """The registered kind: a kind of a disabled module is unknown, as everywhere else."""
    kernel = session.info.get("kernel")
    if kernel is None:
        if isinstance(kind, str):
            raise BadUserInput(f"Unknown record kind '{kind}'.", field="kind")
        return kind
    name = kind if isinstance(kind, str) else kind.name
    registered: RecordKind = kernel.record_kinds.get(name)
    if not isinstance(kind, str) and registered is not kind:
        raise BadUserInput(f"Record kind '{name}' is not the registered one.", field="kind")
    return registered


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadUserInput(f"Unknown time zone '{name}'.", field="time_zone") from None


def _sheet_title(text: str) -> str:
    """Excel refuses some characters in sheet names and more than 31 of them."""
    cleaned = _SHEET_TITLE_FORBIDDEN.sub(" ", text).strip().strip("'")[:31].strip()
    return cleaned or "Export"


def _chunked_rows(
    session: Session, statement: Select[Any], keys: Sequence[SortKey], size: int
) -> Iterator[Sequence[Any]]:
    """The statement's rows in chunks of `size`; memory holds one chunk at a time.

    In primary-key order each chunk is its own short query resuming after the last row
    (an index walk; no cursor stays open between chunks). A sort on other columns would make
    every such query sort the whole result again, so then one query streams its rows instead
    (`yield_per`: a server-side cursor on PostgreSQL, stepped rows on SQLite).
    """
    ordered = statement.order_by(None).order_by(*keyset_order(keys, False))
    if len(keys) > 1:
        yield from session.scalars(ordered.execution_options(yield_per=size)).partitions()
        return
    ordered = ordered.limit(size)
    last: list[Any] | None = None
    while True:
        page = ordered if last is None else ordered.where(rows_after(keys, last, False))
        chunk = list(session.scalars(page))
        if chunk:
            yield chunk
        if len(chunk) < size:
            return
        last = [getattr(chunk[-1], key.name) for key in keys]


def _announced(
    chunks: Iterator[Sequence[Any]], on_chunk: Callable[[Sequence[Any]], None]
) -> Iterator[Sequence[Any]]:
    """Each chunk, after `on_chunk` has seen it (to load names its rows point at, say)."""
    for chunk in chunks:
        on_chunk(chunk)
        yield chunk


def _stream(
    chunks: Iterator[Sequence[Any]],
    columns: Sequence[ExportColumn],
    headers: Sequence[str],
    zone: zoneinfo.ZoneInfo,
    title: str,
    chunk_bytes: int,
    temp_dir: str | Path | None,
) -> Iterator[bytes]:
    """Build the file in a private temporary folder (xlsxwriter's own scratch files too),
    then hand it out in blocks; the folder goes when the stream ends, fails or is closed."""
    folder = tempfile.mkdtemp(prefix="openitsm-export-", dir=temp_dir)
    try:
        path = os.path.join(folder, "export.xlsx")
        _write(path, folder, chunks, columns, headers, zone, title)
        with open(path, "rb") as file:
            while block := file.read(chunk_bytes):
                yield block
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write(
    path: str,
    folder: str,
    chunks: Iterator[Sequence[Any]],
    columns: Sequence[ExportColumn],
    headers: Sequence[str],
    zone: zoneinfo.ZoneInfo,
    title: str,
) -> None:
    import xlsxwriter  # only when a file is written: web processes start without it

    workbook = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            "tmpdir": folder,
            # Only the explicit write_* calls below decide a cell's type.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    try:
        sheet = workbook.add_worksheet(title)
        bold = workbook.add_format({"bold": True})
        formats = {
            "quoted": workbook.add_format({"quote_prefix": True}),
            "money": workbook.add_format({"num_format": "#,##0.00"}),
            "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
            "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        }
        writers = [_writer(column.kind, formats, zone) for column in columns]
        for index, header in enumerate(headers):
            sheet.write_string(0, index, header, bold)
        widths = [_display_width(header) for header in headers]
        row_number = 0
        for chunk in chunks:
            first_chunk = row_number == 0
            for row in chunk:
                row_number += 1
                for index, column in enumerate(columns):
                    value = column.read(row)
                    if value is not None:
                        shown = writers[index](sheet, row_number, index, value)
                        if first_chunk and shown:
                            widths[index] = max(widths[index], _display_width(shown))
        for index, column in enumerate(columns):
            width = max(widths[index] + 2, _FIXED_WIDTH.get(column.kind, _MIN_WIDTH))
            sheet.set_column(index, index, min(width, _MAX_WIDTH))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, row_number, len(columns) - 1)
    finally:
        workbook.close()


# A writer puts one non-None value in a cell and returns the text it shows (for the width of
# the first chunk's columns) or "" when the width is fixed.
Writer = Callable[["Worksheet", int, int, Any], str]


def _writer(kind: ColumnKind, formats: Mapping[str, Format], zone: zoneinfo.ZoneInfo) -> Writer:
    quoted, money, date, moment = (
        formats[name] for name in ("quoted", "money", "date", "datetime")
    )

    def text(sheet: Worksheet, row: int, col: int, value: Any) -> str:
        if isinstance(value, enum.Enum):
            value = value.value
        shown = value if isinstance(value, str) else str(value)
        shown = shown[:EXCEL_MAX_TEXT]
        if shown.startswith(FORMULA_STARTS):
            sheet.write_string(row, col, shown, quoted)
        else:
            sheet.write_string(row, col, shown)
        return shown[:_MAX_WIDTH]

    def number(sheet: Worksheet, row: int, col: int, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            return text(sheet, row, col, value)
        if kind == "money":
            sheet.write_number(row, col, float(value), money)
            return f"{value:,.2f}"
        sheet.write_number(row, col, float(value) if isinstance(value, decimal.Decimal) else value)
        return str(value)

    def local(value: dt.datetime) -> dt.datetime:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(zone).replace(tzinfo=None)

    def datetime(sheet: Worksheet, row: int, col: int, value: Any) -> str:
        if not isinstance(value, dt.datetime):
            return text(sheet, row, col, value)
        sheet.write_datetime(row, col, local(value), moment)
        return ""

    def day(sheet: Worksheet, row: int, col: int, value: Any) -> str:
        if isinstance(value, dt.datetime):
            value = local(value).date()
        if not isinstance(value, dt.date):
            return text(sheet, row, col, value)
        sheet.write_datetime(row, col, value, date)
        return ""

    def boolean(sheet: Worksheet, row: int, col: int, value: Any) -> str:
        if not isinstance(value, bool):
            return text(sheet, row, col, value)
        sheet.write_boolean(row, col, value)
        return ""

    writers: dict[ColumnKind, Writer] = {
        "text": text,
        "number": number,
        "money": number,
        "date": day,
        "datetime": datetime,
        "bool": boolean,
    }
    return writers[kind]


def _display_width(text: str) -> int:
    """Characters a cell needs: CJK characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
