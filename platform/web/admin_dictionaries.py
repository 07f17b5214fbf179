"""Dictionaries (`/admin/dictionaries`): every signed-in user may read them; editing the
items (add, rename, reorder, move, deactivate) needs `dictionary.manage`.

The tree editor loads a dictionary's items in one query and nests them in memory; a drag
posts the item, its new parent, its place among the new siblings and the version the page
showed, and the answer is the tree as stored, also when the move is refused.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access import require
from openitsm.kernel.dictionaries import service as dictionaries
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.errors import BadUserInput, Conflict, OpenITSMError
from openitsm.web.menus import MenuItem
from openitsm.web.pages import STATUS, PageContext, check_csrf, explained, page_context

MANAGE = "dictionary.manage"
# Sort orders are spread in steps so an item can be put between two without renumbering.
STEP = 10


@dataclass
class Node:
    item: DictionaryItem
    depth: int = 0
    children: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class Listed:
    dictionary: Dictionary
    items: int


def _editor(request: Request) -> PageContext | Response:
    return page_context(request, MANAGE)


def list_dictionaries(session: Session) -> list[Listed]:
    counts = (
        select(DictionaryItem.dictionary_id, func.count().label("item_count"))
        .group_by(DictionaryItem.dictionary_id)
        .subquery()
    )
    rows = session.execute(
        select(Dictionary, func.coalesce(counts.c.item_count, 0))
        .outerjoin(counts, counts.c.dictionary_id == Dictionary.id)
        .order_by(Dictionary.code)
    ).all()
    return [Listed(dictionary, int(items)) for dictionary, items in rows]


def load_tree(session: Session, dictionary_id: int) -> list[Node]:
    """The items as a forest in their order, from a single query."""
    items = session.scalars(
        select(DictionaryItem)
        .where(DictionaryItem.dictionary_id == dictionary_id)
        .order_by(DictionaryItem.sort_order, DictionaryItem.id)
    ).all()
    nodes = {item.id: Node(item) for item in items}
    roots: list[Node] = []
    for item in items:
        parent = nodes.get(item.parent_id) if item.parent_id is not None else None
        (parent.children if parent is not None else roots).append(nodes[item.id])

    def set_depth(level: list[Node], depth: int) -> None:
        for node in level:
            node.depth = depth
            set_depth(node.children, depth + 1)

    set_depth(roots, 0)
    return roots


def flattened(nodes: list[Node]) -> list[Node]:
    """The tree in reading order, for the parent choice of the add form."""
    out: list[Node] = []
    for node in nodes:
        out.append(node)
        out.extend(flattened(node.children))
    return out


def _number(text: Any, what: str) -> int:
    value = str(text or "").strip()
    if not value.lstrip("-").isdigit():
        raise BadUserInput(f"The {what} must be a whole number.", field=what)
    return int(value)


def _parent(text: Any) -> int | None:
    value = str(text or "").strip()
    return None if value == "" else _number(value, "parent")


def _labels(form: Mapping[str, Any]) -> dict[str, str]:
    return {"zh-CN": str(form.get("label_zh", "")), "en": str(form.get("label_en", ""))}


# --- pages ----------------------------------------------------------------------------


@explained
async def dictionaries_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page

    def load() -> list[Listed]:
        with page.kernel.session() as session:
            return list_dictionaries(session)

    listed = await run_in_threadpool(load)
    return page.respond("admin/dictionaries.html", listed=listed)


def _tree_values(page: PageContext, code: str) -> dict[str, Any]:
    with page.kernel.session() as session:
        dictionary = dictionaries.get_dictionary(session, code)
        roots = load_tree(session, dictionary.id)
    return {
        "dictionary": dictionary,
        "roots": roots,
        "flat": flattened(roots),
        "may_edit": page.actor.can(MANAGE),
    }


@explained
async def dictionary_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    code = request.path_params["code"]
    values = await run_in_threadpool(_tree_values, page, code)
    added = request.query_params.get("added", "")
    return page.respond("admin/dictionary.html", added=added, typed={}, message="", **values)


@explained
async def add_item(request: Request) -> Response:
    page = _editor(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    code = request.path_params["code"]
    typed = {key: str(form.get(key, "")) for key in ("code", "label_zh", "label_en", "parent")}

    def save() -> None:
        parent_id = _parent(typed["parent"])
        with page.kernel.unit_of_work(actor=page.actor) as session:
            dictionaries.create_item(
                session, code, code=typed["code"], labels=_labels(typed), parent_id=parent_id
            )

    try:
        await run_in_threadpool(save)
    except BadUserInput as error:
        values = await run_in_threadpool(_tree_values, page, code)
        return page.respond(
            "admin/dictionary.html",
            status=400,
            added="",
            typed=typed,
            message=page.explain(error),
            **values,
        )
    added = urllib.parse.urlencode({"added": typed["code"].strip()})
    return RedirectResponse(f"/admin/dictionaries/{urllib.parse.quote(code)}?{added}", 303)


async def move_item(request: Request) -> Response:
    """Move by drag: the answer is the tree as stored, with the reason when refused."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    code = request.path_params["code"]
    item_id = int(request.path_params["item_id"])
    message, status = "", 200
    try:
        form = await request.form()
        check_csrf(request, form)
        require(page.actor, MANAGE)
        parent_id = _parent(form.get("parent_id"))
        position = _number(form.get("position"), "position")
        version = _number(form.get("version"), "version")

        def save() -> None:
            with page.kernel.unit_of_work(actor=page.actor) as session:
                item = dictionaries.get_item(session, item_id)
                if _dictionary_code(session, item) != code:
                    raise BadUserInput("This item is not in this dictionary.", field="id")
                order = _place(session, item, parent_id, position)
                dictionaries.move_item(session, item_id, version, parent_id, order)

        await run_in_threadpool(save)
    except OpenITSMError as error:
        message, status = _explain_move(page, error), STATUS.get(error.code, 400)
    values = await run_in_threadpool(_tree_values, page, code)
    if not request.headers.get("hx-request"):
        if status == 200:
            return RedirectResponse(f"/admin/dictionaries/{urllib.parse.quote(code)}", 303)
        return page.respond("error.html", status=status, message=message)
    return page.respond("admin/dictionary_tree.html", status=status, message=message, **values)


def _explain_move(page: PageContext, error: OpenITSMError) -> str:
    if isinstance(error, Conflict):
        return page.gettext(
            "Someone else changed this item meanwhile; the tree below is as stored now. "
            "Drag it again."
        )
    if error.code == "BAD_USER_INPUT" and "under itself" in error.message:
        return page.gettext("An item cannot be moved under itself or one of its own sub-items.")
    return page.explain(error)


def _dictionary_code(session: Session, item: DictionaryItem) -> str:
    return str(session.scalar(select(Dictionary.code).where(Dictionary.id == item.dictionary_id)))


def _place(session: Session, item: DictionaryItem, parent_id: int | None, position: int) -> int:
    """The sort order putting `item` at `position` among its new siblings.

    Between two neighbours when there is room; otherwise the siblings are renumbered in
    steps first (through the service, so each keeps its history).
    """
    parent = (
        DictionaryItem.parent_id.is_(None)
        if parent_id is None
        else DictionaryItem.parent_id == parent_id
    )
    siblings = list(
        session.scalars(
            select(DictionaryItem)
            .where(
                DictionaryItem.dictionary_id == item.dictionary_id,
                parent,
                DictionaryItem.id != item.id,
            )
            .order_by(DictionaryItem.sort_order, DictionaryItem.id)
        )
    )
    position = max(0, min(position, len(siblings)))
    before = siblings[position - 1].sort_order if position > 0 else None
    after = siblings[position].sort_order if position < len(siblings) else None
    if before is None and after is None:
        return STEP
    if before is None:
        return int(after) - STEP  # type: ignore[arg-type]
    if after is None:
        return int(before) + STEP
    if after - before >= 2:
        return (before + after) // 2
    for index, sibling in enumerate(siblings):
        wanted = (index + 1 + (1 if index >= position else 0)) * STEP
        if sibling.sort_order != wanted:
            dictionaries.update_item(session, sibling.id, sibling.version, {"sort_order": wanted})
    return (position + 1) * STEP


def _item_values(page: PageContext, code: str, item_id: int) -> dict[str, Any]:
    with page.kernel.session() as session:
        dictionary = dictionaries.get_dictionary(session, code)
        item = dictionaries.get_item(session, item_id)
        if item.dictionary_id != dictionary.id:
            raise BadUserInput("This item is not in this dictionary.", field="id")
        parent = dictionaries.get_item(session, item.parent_id) if item.parent_id else None
    return {"dictionary": dictionary, "item": item, "parent": parent}


def _typed_of(item: DictionaryItem) -> dict[str, str]:
    return {
        "label_zh": str(item.labels.get("zh-CN", "")),
        "label_en": str(item.labels.get("en", "")),
        "sort_order": str(item.sort_order),
        "active": "on" if item.active else "",
    }


@explained
async def item_page(request: Request) -> Response:
    page = _editor(request)
    if not isinstance(page, PageContext):
        return page
    code, item_id = request.path_params["code"], int(request.path_params["item_id"])
    values = await run_in_threadpool(_item_values, page, code, item_id)
    item = values["item"]
    return page.respond(
        "admin/dictionary_item.html",
        typed=_typed_of(item),
        version=item.version,
        message="",
        conflict=None,
        **values,
    )


@explained
async def save_item(request: Request) -> Response:
    page = _editor(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    code, item_id = request.path_params["code"], int(request.path_params["item_id"])
    typed = {
        key: str(form.get(key, "")) for key in ("label_zh", "label_en", "sort_order", "active")
    }
    version = _number(form.get("version"), "version")

    def save() -> None:
        labels = _labels(typed)
        wanted: dict[str, Any] = {
            "labels": labels,
            "sort_order": _number(typed["sort_order"], "sort order"),
            "active": typed["active"] in ("on", "1", "true"),
        }
        with page.kernel.unit_of_work(actor=page.actor) as session:
            item = dictionaries.get_item(session, item_id)
            if _dictionary_code(session, item) != code:
                raise BadUserInput("This item is not in this dictionary.", field="id")
            merged = {**item.labels, **{k: v.strip() for k, v in labels.items()}}
            stored = {"labels": item.labels, "sort_order": item.sort_order, "active": item.active}
            changes = {
                key: value
                for key, value in wanted.items()
                if (merged if key == "labels" else value) != stored[key]
            }
            # Unchanged fields are left out (one may be read-only); the version is checked
            # all the same.
            dictionaries.update_item(session, item_id, version, changes)

    try:
        await run_in_threadpool(save)
    except (BadUserInput, Conflict) as error:
        values = await run_in_threadpool(_item_values, page, code, item_id)
        conflict = isinstance(error, Conflict)
        return page.respond(
            "admin/dictionary_item.html",
            status=409 if conflict else 400,
            typed=typed,
            version=values["item"].version if conflict else version,
            message="" if conflict else page.explain(error),
            conflict=_typed_of(values["item"]) if conflict else None,
            **values,
        )
    return RedirectResponse(f"/admin/dictionaries/{code}", 303)


ROUTES = [
    Route("/admin/dictionaries", dictionaries_page, methods=["GET"]),
    Route("/admin/dictionaries/{code}", dictionary_page, methods=["GET"]),
    Route("/admin/dictionaries/{code}/items", add_item, methods=["POST"]),
    Route("/admin/dictionaries/{code}/items/{item_id:int}", item_page, methods=["GET"]),
    Route("/admin/dictionaries/{code}/items/{item_id:int}", save_item, methods=["POST"]),
    Route("/admin/dictionaries/{code}/items/{item_id:int}/move", move_item, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.dictionaries",
        {"zh-CN": "参数字典", "en": "Dictionaries"},
        "/admin/dictionaries",
        "admin",
        None,
        40,
    ),
]
