"""Lists of any resource: filters, sorting, keyset pages, a column chooser, saved views,
bulk actions and the Excel export, all under the viewer's data scope and field rules.

A page declares a `ListView` (its columns, filters and sort keys over one record kind) and
calls `render_list`; the view's state lives in the query string (`?q=…&active=1&sort=name
&cols=login,name&after=…`), so a view can be bookmarked, shared and saved by name. Columns,
filters and sort keys on fields hidden from the viewer are not offered, and a request
naming one anyway is refused: a filter or an order would reveal the values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import JSON, ForeignKey, Integer, Select, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.db import Base, IdMixin
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.exports import ExportColumn
from openitsm.kernel.graphql.connection import PageRequest, SortKey, paginate
from openitsm.kernel.labels import pick_label

if TYPE_CHECKING:
    from openitsm.kernel.references import RecordKind
    from openitsm.web.pages import PageContext

PAGE_SIZE = 50
MAX_SAVED_VIEWS = 30
# Query-string keys that are the list's own, never filters.
RESERVED = frozenset({"sort", "desc", "cols", "after", "before", "view"})


@dataclass(frozen=True)
class Column:
    """A column showing one resource field. `show(row, extra)` gives its display value
    (default: the attribute), `extra` being what the view's `prepare` loaded once for the
    request; `sort` is the column to order by when sorting is offered."""

    field: str
    labels: Mapping[str, str]
    show: Callable[[Any, Mapping[str, Any]], Any] | None = None
    sort: Any = None  # a column, or a SortKey for an expression (a custom field)
    default: bool = True
    link: bool = False
    kind: str = "text"  # for the export: text, number, money, date, datetime, bool
    # The fields a derived column (`field` then not a resource field) reveals: hidden ones
    # hide it, and the first names it to the export's field rules.
    needs: tuple[str, ...] = ()

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.field)


@dataclass(frozen=True)
class Filter:
    """A filter from the query string key `key` on the resource field `field`.

    `apply(statement, value)` narrows the statement; `choices` ([(value, labels)]) makes it
    a select, `type="search"` a text box over `search_fields` (hidden ones left out),
    `type="text"` a text box matching part of the field, `type="date"` a date box (the
    value is checked to be YYYY-MM-DD), `type="user"` the user picker (a user id), and
    `options(session, actor, locale)` ([(value, label)], loaded when the list is drawn) a
    select whose choices come from the database (departments, dictionary items).
    """

    key: str
    field: str
    labels: Mapping[str, str]
    apply: Callable[[Select[Any], str, FieldAccess], Select[Any]]
    choices: tuple[tuple[str, Mapping[str, str]], ...] = ()
    type: str = "choice"
    options: Callable[[Session, Any, str], list[tuple[str, str]]] | None = None

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


@dataclass(frozen=True)
class BulkAction:
    """An action on the ticked rows; `run(session, ids, page)` returns how many it changed."""

    key: str
    labels: Mapping[str, str]
    action: str
    run: Callable[[Session, list[int], PageContext], int]

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


@dataclass(frozen=True)
class ListView:
    key: str
    kind: str  # the record kind (resource) listed
    labels: Mapping[str, str]
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...] = ()
    default_sort: str | None = None
    detail_url: str | None = None  # "/admin/users/{id}"
    bulk_actions: tuple[BulkAction, ...] = ()
    export_action: str | None = "list.export"
    base: Callable[[PageContext], Select[Any]] | None = None
    # Loaded once per page or export (say, department names by id), never per row.
    prepare: Callable[[Session], Mapping[str, Any]] | None = None
    # Loaded once per page of rows (or per chunk of an export): names of linked records.
    prepare_rows: Callable[[Session, Sequence[Any]], Mapping[str, Any]] | None = None

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


class SavedView(IdMixin, Base):
    """A list's filters, order and columns, saved under a name by one user."""

    __tablename__ = "web_saved_view"
    __table_args__ = (UniqueConstraint("user_id", "list_key", "name"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    list_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)


@dataclass
class ListState:
    """What the query string asks for, checked against the view and the field rules."""

    filters: dict[str, str]
    sort: str | None
    descending: bool
    columns: list[Column]
    after: str | None
    before: str | None
    offered_columns: list[Column] = field(default_factory=list)
    offered_filters: list[Filter] = field(default_factory=list)

    def query(self, **changes: Any) -> str:
        """This state as a query string, with `changes` applied (None removes a key)."""
        values: dict[str, str] = dict(self.filters)
        if self.sort:
            values["sort"] = self.sort
        if self.descending:
            values["desc"] = "1"
        values["cols"] = ",".join(c.field for c in self.columns)
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = str(value)
        return urllib.parse.urlencode(values)


def read_state(view: ListView, params: Mapping[str, str], access: FieldAccess) -> ListState:
    offered_columns = [
        c for c in view.columns if all(access.readable(n) for n in (c.field, *c.needs))
    ]
    offered_filters = [f for f in view.filters if access.readable(f.field) or f.type == "search"]
    filters: dict[str, str] = {}
    known = {f.key: f for f in view.filters}
    for key, value in params.items():
        if key in RESERVED or not value:
            continue
        spec = known.get(key)
        if spec is None:
            continue  # unknown parameters (from another version of the page) are ignored
        if spec.type != "search":
            access.check_read([spec.field])
            if spec.choices and value not in {choice for choice, _ in spec.choices}:
                raise BadUserInput(f"'{value}' is not a choice of this filter.", field=key)
            if spec.type == "user" and not value.isdigit():
                raise BadUserInput("Pick a user.", field=key)
            if spec.type == "date":
                try:
                    dt.date.fromisoformat(value)
                except ValueError:
                    raise BadUserInput("Give a date as YYYY-MM-DD.", field=key) from None
        filters[key] = value
    sortable = {c.field: c for c in view.columns if c.sort is not None}
    sort = params.get("sort") or view.default_sort
    if sort is not None:
        if sort not in sortable:
            raise BadUserInput(f"This list cannot be sorted by '{sort}'.", field="sort")
        if not access.readable(sort):
            if params.get("sort"):
                access.check_read([sort], "sort by")
            sort = None  # the default order is on a hidden field: fall back to the id
    wanted = [name for name in params.get("cols", "").split(",") if name]
    by_field = {c.field: c for c in offered_columns}
    if wanted:
        for name in wanted:
            if name not in by_field:
                needs = next((c.needs for c in view.columns if c.field == name), ())
                access.check_read([name, *needs])  # hidden: FORBIDDEN; else unknown
                raise BadUserInput(f"This list has no column '{name}'.", field="cols")
        columns = [by_field[name] for name in wanted]
    else:
        columns = [c for c in offered_columns if c.default]
    return ListState(
        filters,
        sort,
        params.get("desc") == "1",
        columns,
        params.get("after") or None,
        params.get("before") or None,
        offered_columns,
        offered_filters,
    )


def statement_for(
    view: ListView, page: PageContext, state: ListState, kind: RecordKind
) -> Select[Any]:
    base = view.base(page) if view.base is not None else select(kind.model)
    statement = visible(base, page.actor, kind)
    access = field_access(page.actor, view.kind)
    by_key = {f.key: f for f in view.filters}
    for key, value in state.filters.items():
        statement = by_key[key].apply(statement, value, access)
    return statement


def sort_keys(view: ListView, state: ListState) -> list[SortKey]:
    if state.sort is None:
        return []
    column = next(c for c in view.columns if c.field == state.sort)
    if isinstance(column.sort, SortKey):
        return [dataclasses.replace(column.sort, descending=state.descending)]
    return [SortKey(column.sort, descending=state.descending)]


def render_list(page: PageContext, view: ListView, params: Mapping[str, str]) -> Markup:
    """The list as HTML for `params` (the query string), one page of rows."""
    kind = page.kernel.record_kinds.get(view.kind)
    access = field_access(page.actor, view.kind)
    with page.kernel.session() as session:
        view = with_custom_fields(session, view, kind, page.locale)
        state = read_state(view, params, access)
        statement = statement_for(view, page, state, kind)
        limits = page.kernel.settings.graphql
        connection = paginate(
            session,
            statement,
            keys=sort_keys(view, state),
            tiebreak=kind.model.id,
            request=PageRequest(
                first=None if state.before else PAGE_SIZE,
                last=PAGE_SIZE if state.before else None,
                after=state.after,
                before=state.before,
            ),
            default_size=PAGE_SIZE,
            max_size=limits.max_page_size,
            count_cap=limits.count_cap,
        )
        rows = [edge.node for edge in connection.edges]
        total = connection.total_count()
        extra = dict(view.prepare(session)) if view.prepare is not None else {}
        if view.prepare_rows is not None:
            extra.update(view.prepare_rows(session, rows))
        cells = [[_cell(column, row, extra) for column in state.columns] for row in rows]
        saved = _saved_views(session, page.actor.user_id, view.key)  # type: ignore[arg-type]
        filter_options = _filter_options(session, page, state)
    bulk = [a for a in view.bulk_actions if page.actor.can(a.action)]
    exportable = view.export_action is None or page.actor.can(view.export_action)
    return page.render(
        "lists/list.html",
        view=view,
        state=state,
        rows=list(zip(rows, cells, strict=True)),
        total=total,
        info=connection.page_info,
        saved=saved,
        bulk=bulk,
        exportable=exportable,
        path=page.request.url.path,
        filter_options=filter_options,
    )


def _filter_options(session: Session, page: PageContext, state: ListState) -> dict[str, Any]:
    """What the offered filters' controls show, by key: the options of an `options` filter,
    the picked user (or None) of a `user` filter — one query for all the user filters."""
    from openitsm.kernel.identity.models import User
    from openitsm.web.pickers import user_label

    found: dict[str, Any] = {}
    users = {
        spec.key: int(state.filters[spec.key])
        for spec in state.offered_filters
        if spec.type == "user" and state.filters.get(spec.key, "").isdigit()
    }
    if users:
        user_access = field_access(page.actor, "user")
        rows = session.scalars(select(User).where(User.id.in_(set(users.values()))))
        picked = {user.id: user_label(user, user_access) for user in rows}
        found.update({key: picked.get(user_id) for key, user_id in users.items()})
    for spec in state.offered_filters:
        if spec.options is not None:
            found[spec.key] = spec.options(session, page.actor, page.locale)
    return found


def with_custom_fields(session: Session, view: ListView, kind: RecordKind, locale: str) -> ListView:
    """The view with its resource's custom fields as columns and filters."""
    from openitsm.web.customfields import list_view

    return list_view(session, view, kind.model, locale)


def _cell(column: Column, row: Any, extra: Mapping[str, Any]) -> Any:
    return column.show(row, extra) if column.show is not None else getattr(row, column.field, None)


def _saved_views(session: Session, user_id: int, list_key: str) -> list[SavedView]:
    return list(
        session.scalars(
            select(SavedView)
            .where(SavedView.user_id == user_id, SavedView.list_key == list_key)
            .order_by(SavedView.position, SavedView.name)
        )
    )


def save_view(
    session: Session, user_id: int, view: ListView, name: str, query: Mapping[str, str]
) -> SavedView:
    """Save (or overwrite) a named view of a list for one user."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadUserInput("Name the view (at most 100 characters).", field="name")
    kept = {k: v for k, v in query.items() if k not in ("after", "before", "view") and v}
    existing = session.scalar(
        select(SavedView).where(
            SavedView.user_id == user_id, SavedView.list_key == view.key, SavedView.name == name
        )
    )
    if existing is None:
        count = len(_saved_views(session, user_id, view.key))
        if count >= MAX_SAVED_VIEWS:
            raise BadUserInput(f"At most {MAX_SAVED_VIEWS} saved views per list.", field="name")
        existing = SavedView(user_id=user_id, list_key=view.key, name=name, position=count)
        session.add(existing)
    existing.query = kept
    flush(session)
    return existing


def delete_view(session: Session, user_id: int, view_id: int) -> None:
    found = session.get(SavedView, view_id)
    if found is None or found.user_id != user_id:
        raise BadUserInput("There is no such saved view.", field="view")
    session.delete(found)
    flush(session)


def export_columns(
    view: ListView, state: ListState, extra: Mapping[str, Any]
) -> list[ExportColumn]:
    """The shown columns as export columns (hidden ones are dropped by the export too)."""

    def getter(column: Column) -> Callable[[Any], Any] | None:
        show = column.show
        if show is None:
            return None
        return lambda row: show(row, extra)

    return [
        ExportColumn(
            c.needs[0] if c.needs else c.field,
            c.labels,
            value=getter(c),
            kind=c.kind,  # type: ignore[arg-type]
        )
        for c in state.columns
    ]


def checked_ids(values: Iterable[str]) -> list[int]:
    ids = sorted({int(v) for v in values if v.isdigit()})
    if not ids:
        raise BadUserInput("Tick at least one row.", field="ids")
    return ids


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def query_params(request: Request) -> dict[str, str]:
    """The query string, with the column chooser's repeated `cols` joined."""
    params = dict(request.query_params.items())
    columns = request.query_params.getlist("cols")
    if len(columns) > 1:
        params["cols"] = ",".join(columns)
    return params


@dataclass(frozen=True)
class ListRoutes:
    """The routes every list page has besides the page itself, at `path`: the Excel export,
    the bulk actions and the saved views. `action` is what reading the list needs."""

    view: ListView
    path: str
    action: str
    # The view with cell values in a locale, for lists whose cells are worded (an export
    # is read by the person who asked for it); without it every reader gets `view`.
    localised: Callable[[str], ListView] | None = None

    def viewer(self, request: Request, *also: str) -> PageContext | Response:
        from openitsm.web.pages import page_context

        return page_context(request, self.action, *also)

    def routes(self) -> list[Route]:
        from openitsm.web.pages import explained

        return [
            Route(f"{self.path}/export.xlsx", explained(self.export), methods=["GET"]),
            Route(f"{self.path}/bulk", explained(self.bulk), methods=["POST"]),
            Route(f"{self.path}/views", explained(self.keep_view), methods=["POST"]),
            Route(
                f"{self.path}/views/{{view_id:int}}/delete",
                explained(self.drop_view),
                methods=["POST"],
            ),
        ]

    async def export(self, request: Request) -> Response:
        """The list as the viewer sees it (filters, order, columns) as an xlsx file, streamed."""
        from openitsm.kernel.exports import export_xlsx
        from openitsm.web.pages import PageContext

        view = self.view
        page = self.viewer(request, *([view.export_action] if view.export_action else []))
        if not isinstance(page, PageContext):
            return page
        if self.localised is not None:
            view = self.localised(page.locale)
        kind = page.kernel.record_kinds.get(view.kind)
        with page.kernel.session() as session:
            view = with_custom_fields(session, view, kind, page.locale)
        state = read_state(view, query_params(request), field_access(page.actor, view.kind))
        unit = page.kernel.unit_of_work

        def stream() -> Iterator[bytes]:
            # Everything is read in the first step (the file is built then); an export writes
            # nothing, so its session is rolled back when the stream ends.
            session = unit.open(page.actor)
            try:
                extra = dict(view.prepare(session)) if view.prepare is not None else {}
                prepare_rows = view.prepare_rows

                def on_chunk(rows: Sequence[Any]) -> None:
                    if prepare_rows is not None:
                        extra.update(prepare_rows(session, rows))

                yield from export_xlsx(
                    session,
                    statement_for(view, page, state, kind),
                    kind,
                    export_columns(view, state, extra),
                    page.actor,
                    locale=page.locale,
                    time_zone=page.time_zone,
                    sheet_title=view.label(page.locale),
                    order=sort_keys(view, state),
                    on_chunk=on_chunk,
                )
            finally:
                unit.close(session, succeeded=False)

        filename = f"{view.key}.xlsx"
        return StreamingResponse(
            stream(),
            media_type=XLSX,
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )

    async def bulk(self, request: Request) -> Response:
        from openitsm.web.pages import PageContext, check_csrf

        page = self.viewer(request)
        if not isinstance(page, PageContext):
            return page
        form = await request.form()
        check_csrf(request, form)
        chosen = next((a for a in self.view.bulk_actions if a.key == form.get("action")), None)
        if chosen is None:
            raise BadUserInput("Choose an action.", field="action")
        from openitsm.kernel.access import require

        require(page.actor, chosen.action)
        ids = checked_ids(str(v) for v in form.getlist("ids"))

        def run() -> None:
            with page.kernel.unit_of_work(actor=page.actor) as session:
                chosen.run(session, ids, page)

        await run_in_threadpool(run)
        return RedirectResponse(f"{self.path}?{form.get('back', '')}", status_code=303)

    async def keep_view(self, request: Request) -> Response:
        from openitsm.web.pages import PageContext, check_csrf

        page = self.viewer(request)
        if not isinstance(page, PageContext):
            return page
        form = await request.form()
        check_csrf(request, form)
        query = dict(urllib.parse.parse_qsl(str(form.get("query", ""))))
        name = str(form.get("name", ""))

        def save() -> None:
            with page.kernel.unit_of_work(actor=page.actor) as session:
                save_view(session, page.actor.user_id, self.view, name, query)  # type: ignore[arg-type]

        await run_in_threadpool(save)
        return RedirectResponse(f"{self.path}?{urllib.parse.urlencode(query)}", status_code=303)

    async def drop_view(self, request: Request) -> Response:
        from openitsm.web.pages import PageContext, check_csrf

        page = self.viewer(request)
        if not isinstance(page, PageContext):
            return page
        form = await request.form()
        check_csrf(request, form)
        view_id = int(request.path_params["view_id"])

        def delete() -> None:
            with page.kernel.unit_of_work(actor=page.actor) as session:
                delete_view(session, page.actor.user_id, view_id)  # type: ignore[arg-type]

        await run_in_threadpool(delete)
        return RedirectResponse(self.path, status_code=303)
