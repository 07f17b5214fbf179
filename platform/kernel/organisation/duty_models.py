"""Duty rotas (值班): who is on duty for a team, shift by shift."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned


class DutyRota(IdMixin, Timestamped, Versioned, Audited, Base):
    """A rota such as the service desk's night duty; process steps name it by `key`."""

    __tablename__ = "duty_rota"
    __record_kind__ = "duty_rota"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DutyShift(IdMixin, Timestamped, Audited, Base):
    """`user` is on duty on `rota` from `starts_at` until (not including) `ends_at`."""

    __tablename__ = "duty_shift"
    __record_kind__ = "duty_shift"
    # "Who is on duty now" and "my next shifts" each read one index range.
    __table_args__ = (
        Index("ix_duty_shift_rota_period", "rota_id", "starts_at", "ends_at"),
        Index("ix_duty_shift_user_period", "user_id", "starts_at"),
    )

    rota_id: Mapped[int] = mapped_column(ForeignKey("duty_rota.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
