"""Users and their sign-in sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.collation import SortedByName
from openitsm.kernel.customfields.models import HasCustomFields
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned, utcnow


class User(IdMixin, Timestamped, Versioned, Audited, HasCustomFields, SortedByName, Base):
    __tablename__ = "user_account"
    __record_kind__ = "user"

    login: Mapped[str] = mapped_column(String(150), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # lists sort people by name
    email: Mapped[str | None] = mapped_column(String(254))
    employee_id: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), index=True
    )
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255), info={"secret": True})
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")


class AuthSession(IdMixin, Base):
    """A signed-in browser or client; the cookie holds a token whose hash is stored here."""

    __tablename__ = "auth_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))
