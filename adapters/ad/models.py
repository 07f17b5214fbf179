"""What the directory sync keeps beside the kernel's users.

`ad_user_roles` holds role codes derived from group membership and `ad_ou` the directory's
OU tree; both become links to the organisation's roles and departments once those exist.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel import Base, IdMixin
from openitsm.kernel.db import utcnow


class DirectoryAccount(IdMixin, Base):
    """The directory entry a local user mirrors; the link that makes the user directory-managed."""

    __tablename__ = "ad_account"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    dn: Mapped[str] = mapped_column(String(1000))
    # The DN as directories compare it (`dn_key`), for look-ups.
    dn_key: Mapped[str] = mapped_column(String(1000), index=True)
    guid: Mapped[str | None] = mapped_column(String(64), unique=True)
    employee_id: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DirectoryUserRole(Base):
    __tablename__ = "ad_user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role_code: Mapped[str] = mapped_column(String(100), primary_key=True)


class DirectoryOu(IdMixin, Base):
    __tablename__ = "ad_ou"

    dn: Mapped[str] = mapped_column(String(1000))
    parent_dn: Mapped[str | None] = mapped_column(String(1000))
    name: Mapped[str] = mapped_column(String(200))
    present: Mapped[bool] = mapped_column(Boolean, default=True)


class DirectorySyncState(IdMixin, Base):
    """One row: when the last sync started and finished, and what it reported."""

    __tablename__ = "ad_sync_state"

    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
