"""Dictionary operations: the only code that writes dictionary rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import check_write, written_fields
from openitsm.kernel.db import check_version, tree
from openitsm.kernel.db.session import flush
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.dictionaries.spec import LOCALES, DictionarySpec
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.labels import pick_label

MAX_CODE = 100


def sync_declared(session: Session, specs: Iterable[DictionarySpec]) -> int:
    """Add declared dictionaries and items that are missing; never overwrite edits.

    Returns how many rows were added. Safe to run on every migrate. Rows are flushed one tree
    level at a time (a child needs its parent's id), not one at a time: every migrate and every
    test kernel runs this over all declared dictionaries.
    """
    specs = list(specs)
    dictionaries = {
        row.code: row
        for row in session.scalars(
            select(Dictionary).where(Dictionary.code.in_([spec.code for spec in specs]))
        )
    }
    added = 0
    for spec in specs:
        if spec.code not in dictionaries:
            dictionaries[spec.code] = Dictionary(
                code=spec.code,
                labels=dict(spec.labels),
                description=spec.description,
                owner=spec.owner,
            )
            session.add(dictionaries[spec.code])
            added += 1
    if added:
        flush(session)
    existing = {
        (item.dictionary_id, item.code): item
        for item in session.scalars(
            select(DictionaryItem).where(
                DictionaryItem.dictionary_id.in_([row.id for row in dictionaries.values()])
            )
        )
    }
    levels: list[list[tuple[int, str | None, int, Any]]] = []
    for spec in specs:
        dictionary_id = dictionaries[spec.code].id
        depth_of: dict[str, int] = {}
        for parent_code, position, item in spec.walk():
            depth = depth_of[item.code] = depth_of[parent_code] + 1 if parent_code else 0
            if (dictionary_id, item.code) in existing:
                continue
            while len(levels) <= depth:
                levels.append([])
            levels[depth].append((dictionary_id, parent_code, position, item))
    for level in levels:
        for dictionary_id, parent_code, position, item in level:
            parent = existing.get((dictionary_id, parent_code)) if parent_code else None
            row = DictionaryItem(
                dictionary_id=dictionary_id,
                parent_id=parent.id if parent else None,
                code=item.code,
                labels=dict(item.labels),
                sort_order=(position + 1) * 10,
                builtin=True,
            )
            session.add(row)
            existing[(dictionary_id, item.code)] = row
            added += 1
        if level:
            flush(session)
    return added


def get_dictionary(session: Session, code: str) -> Dictionary:
    dictionary = session.scalar(select(Dictionary).where(Dictionary.code == code))
    if dictionary is None:
        raise NotFound(
            _t("No dictionary with code '{code}'."), field="dictionary", params={"code": code}
        )
    return dictionary


def item_code(session: Session, dictionary: str, item_id: int | None) -> str | None:
    """The code of item `item_id` of `dictionary` (what a picker posts), or None when there
    is none such: a form stores codes, pickers choose items."""
    if item_id is None:
        return None
    return session.scalar(  # type: ignore[no-any-return]
        select(DictionaryItem.code)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(DictionaryItem.id == item_id, Dictionary.code == dictionary)
    )


# An item's labels by codes, built once: record pages name their coded fields with it.
_ITEM_LABELS = (
    select(DictionaryItem.labels)
    .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
    .where(Dictionary.code == bindparam("dictionary"), DictionaryItem.code == bindparam("code"))
)


def item_label(session: Session, dictionary: str, code: str | None, locale: str) -> str | None:
    """The label of `code` in `dictionary` in `locale` (the code itself when it has none)."""
    if not code:
        return None
    labels = session.scalar(_ITEM_LABELS, {"dictionary": dictionary, "code": code})
    return pick_label(labels or {}, locale, code)


def get_item(session: Session, item_id: int) -> DictionaryItem:
    item = session.get(DictionaryItem, item_id)
    if item is None:
        raise NotFound(_t("No dictionary item with id {id}."), field="id", params={"id": item_id})
    return item


def _check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    unknown = [locale for locale in labels if locale not in LOCALES]
    if unknown:
        raise BadUserInput(
            _t("Unknown locale {locale}; use {choices}."),
            field="labels",
            params={"locale": repr(unknown[0]), "choices": " or ".join(LOCALES)},
        )
    cleaned = {locale: text.strip() for locale, text in labels.items()}
    if not any(cleaned.values()):
        raise BadUserInput(_t("Give the item a name in at least one language."), field="labels")
    if any(len(text) > 200 for text in cleaned.values()):
        raise BadUserInput(_t("Names are limited to 200 characters."), field="labels")
    return cleaned


def _check_code(code: str) -> str:
    code = code.strip()
    if not code or len(code) > MAX_CODE or not all(c.isalnum() or c in "_-." for c in code):
        raise BadUserInput(_t("Codes are 1 to 100 letters, digits, '_', '-' or '.'."), field="code")
    return code


def _check_parent(
    session: Session, dictionary_id: int, parent_id: int | None, moving: int | None = None
) -> None:
    if parent_id is None:
        return
    parent = session.get(DictionaryItem, parent_id)
    if parent is None or parent.dictionary_id != dictionary_id:
        raise BadUserInput(_t("The parent item is not in this dictionary."), field="parentId")
    if moving is not None and tree.is_within(session, DictionaryItem, parent, moving):
        raise BadUserInput(
            _t("An item cannot be moved under itself or its descendants."), field="parentId"
        )


def _next_position(session: Session, dictionary_id: int, parent_id: int | None) -> int:
    return tree.next_position(
        session, DictionaryItem, parent_id, DictionaryItem.dictionary_id == dictionary_id
    )


def create_item(
    session: Session,
    dictionary_code: str,
    *,
    code: str,
    labels: Mapping[str, str],
    parent_id: int | None = None,
    sort_order: int | None = None,
) -> DictionaryItem:
    values = {"code": code, "labels": labels, "parent_id": parent_id, "sort_order": sort_order}
    check_write(session, "dictionary_item", written_fields(values))
    dictionary = get_dictionary(session, dictionary_code)
    code = _check_code(code)
    cleaned = _check_labels(labels)
    _check_parent(session, dictionary.id, parent_id)
    duplicate = session.scalar(
        select(DictionaryItem.id).where(
            DictionaryItem.dictionary_id == dictionary.id, DictionaryItem.code == code
        )
    )
    if duplicate is not None:
        raise BadUserInput(
            _t("This dictionary already has an item with code '{code}'."),
            field="code",
            params={"code": code},
        )
    item = DictionaryItem(
        dictionary_id=dictionary.id,
        parent_id=parent_id,
        code=code,
        labels=cleaned,
        sort_order=sort_order
        if sort_order is not None
        else _next_position(session, dictionary.id, parent_id),
    )
    session.add(item)
    flush(session)
    return item


def update_item(
    session: Session, item_id: int, version: int, changes: Mapping[str, Any]
) -> DictionaryItem:
    """Change labels, order or active state; the version guards against lost updates."""
    check_write(session, "dictionary_item", written_fields(changes))
    item = get_item(session, item_id)
    check_version(item, version, "dictionary item")
    if "labels" in changes and changes["labels"] is not None:
        item.labels = {**item.labels, **_check_labels(changes["labels"])}
    if changes.get("sort_order") is not None:
        item.sort_order = int(changes["sort_order"])
    if changes.get("active") is not None:
        item.active = bool(changes["active"])
    flush(session)
    return item


def move_item(
    session: Session,
    item_id: int,
    version: int,
    parent_id: int | None,
    sort_order: int | None = None,
) -> DictionaryItem:
    moved = {"parent_id": parent_id, "sort_order": sort_order}
    check_write(session, "dictionary_item", written_fields(moved, links=("parent_id",)))
    item = get_item(session, item_id)
    check_version(item, version, "dictionary item")
    _check_parent(session, item.dictionary_id, parent_id, moving=item.id)
    item.parent_id = parent_id
    item.sort_order = (
        sort_order
        if sort_order is not None
        else _next_position(session, item.dictionary_id, parent_id)
    )
    flush(session)
    return item
