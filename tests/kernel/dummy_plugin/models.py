"""The dummy plugin's one table."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel import Audited, Base, IdMixin, Versioned


class DummyNote(IdMixin, Versioned, Audited, Base):
    __tablename__ = "dummy_note"

    text: Mapped[str] = mapped_column(String(200))
