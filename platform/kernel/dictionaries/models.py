"""Dictionary tables: a dictionary and its items, as an adjacency-list tree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned
from openitsm.kernel.labels import pick_label


class Dictionary(IdMixin, Timestamped, Versioned, Audited, Base):
    __tablename__ = "dictionary"
    __record_kind__ = "dictionary"

    code: Mapped[str] = mapped_column(String(100), unique=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(500), default="")
    owner: Mapped[str] = mapped_column(String(100), default="")

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.code)


class DictionaryItem(IdMixin, Timestamped, Versioned, Audited, Base):
    __tablename__ = "dictionary_item"
    __record_kind__ = "dictionary_item"
    __table_args__ = (
        UniqueConstraint("dictionary_id", "code"),
        Index("ix_dictionary_item_tree", "dictionary_id", "parent_id", "sort_order"),
    )

    dictionary_id: Mapped[int] = mapped_column(ForeignKey("dictionary.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("dictionary_item.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.code)
