"""Delegations (出差授权): a user hands their work to a deputy for a period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned


class Delegation(IdMixin, Timestamped, Versioned, Audited, Base):
    """`deputy` acts with `delegator`'s rights from `starts_at` until (not including) `ends_at`.

    Revoking sets `revoked_at`; rows are never deleted, so history keeps who stood in for whom.
    """

    __tablename__ = "delegation"
    __record_kind__ = "delegation"
    # "Whom does X stand in for now" and "has X handed work on now" both read one index range.
    __table_args__ = (
        Index("ix_delegation_delegator_period", "delegator_id", "starts_at", "ends_at"),
        Index("ix_delegation_deputy_period", "deputy_id", "starts_at", "ends_at"),
    )

    delegator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    revoked_at: Mapped[dt.datetime | None]
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
