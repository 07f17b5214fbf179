"""The plugin's one table: greetings that people create, edit and send."""

from __future__ import annotations

from openitsm.kernel import Audited, Base, IdMixin, Timestamped, Versioned
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class Greeting(IdMixin, Timestamped, Versioned, Audited, Base):
    """`Versioned` guards edits against lost updates; `Audited` records every change in history.

    Table names start with the plugin's name so two plugins never want the same table.
    """

    __tablename__ = "hello_greeting"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    message: Mapped[str] = mapped_column(String(500))
    times_greeted: Mapped[int] = mapped_column(Integer, default=0)
