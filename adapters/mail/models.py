"""What the mail intake remembers: each mail taken from the support mailbox, and how the
last reading of the mailbox went.

A mail is remembered by its Message-ID (`message_key`, unique), so reading it twice, or two
workers reading it at once, hands it to the modules once. Its raw bytes are kept until a
module has taken it: a refused or failed mail can be tried again without the mailbox.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel import Base, IdMixin, RecordRef, Timestamped, UTCDateTime

# What became of a mail.
PROCESSING = "processing"  # a worker holds it (since `claimed_at`)
DONE = "done"  # a module made (or commented on) the record `record_kind`/`record_id`
REFUSED = "refused"  # a module refused it, or none took it: an administrator decides
FAILED = "failed"  # an error; tried again after `next_attempt_at`, then left to an administrator
IGNORED = "ignored"  # an automatic message (out of office, bounce): never a record
DISMISSED = "dismissed"  # an administrator put a refused or failed mail aside
STATES = (PROCESSING, DONE, REFUSED, FAILED, IGNORED, DISMISSED)
SETTLED = (DONE, REFUSED, FAILED, IGNORED, DISMISSED)  # the mailbox copy may be put away
NEEDS_ATTENTION = (REFUSED, FAILED, PROCESSING)


class InboundMessage(IdMixin, Timestamped, Base):
    """One mail read from the support mailbox."""

    __tablename__ = "mail_inbound"

    message_key: Mapped[str] = mapped_column(String(255), unique=True)
    message_id: Mapped[str] = mapped_column(String(1000))
    mailbox: Mapped[str] = mapped_column(String(500), default="")
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    size: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Why it was refused or failed: English text, and the `_t` template with its values so
    # the administrators' page can show it in the reader's language.
    error: Mapped[str | None] = mapped_column(Text)
    error_template: Mapped[str | None] = mapped_column(Text)
    error_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    record_kind: Mapped[str | None] = mapped_column(String(100))
    record_id: Mapped[int | None]
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    @property
    def record(self) -> RecordRef | None:
        if self.record_kind and self.record_id is not None:
            return RecordRef(self.record_kind, self.record_id)
        return None


class IntakeStatus(Base):
    """How the last reading of the support mailbox went (one row), for the admin page."""

    __tablename__ = "mail_intake_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    mailbox: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str | None] = mapped_column(Text)
    taken: Mapped[int] = mapped_column(Integer, default=0)
