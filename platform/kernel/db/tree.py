"""Adjacency-list trees (`parent_id` on the same table): the checks every tree edit needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session


def is_within(session: Session, model: type[Any], node: Any, subtree_root: int) -> bool:
    """Whether `node` is `subtree_root` or lies below it (walks up; stops on a loop)."""
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        if node.id == subtree_root:
            return True
        seen.add(node.id)
        node = session.get(model, node.parent_id) if node.parent_id else None
    return False


def next_position(
    session: Session, model: type[Any], parent_id: int | None, *within: ColumnElement[bool]
) -> int:
    """A sort order after the parent's last child (steps of 10 leave room to insert)."""
    parent = model.parent_id.is_(None) if parent_id is None else model.parent_id == parent_id
    highest = session.scalar(select(func.max(model.sort_order)).where(parent, *within))
    return (highest or 0) + 10
