"""What the directory sync keeps beside the kernel's users.

`ad_ou_department` links each OU to the kernel department it is mirrored as, and
`ad_role_grant` records which of a user's kernel roles the directory granted: those, and only
those, the directory revokes again.
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


class DirectoryRoleGrant(Base):
    """A kernel role held because of group membership (not granted by an administrator)."""

    __tablename__ = "ad_role_grant"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("role.id", ondelete="CASCADE"), primary_key=True
    )


class OuDepartment(IdMixin, Base):
    """The department an OU is mirrored as; found again by GUID after a rename or move."""

    __tablename__ = "ad_ou_department"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), unique=True
    )
    guid: Mapped[str | None] = mapped_column(String(64), unique=True)
    dn: Mapped[str] = mapped_column(String(1000))
    dn_key: Mapped[str] = mapped_column(String(1000), index=True)
    # False once the OU is gone from the directory (its department is then inactive).
    present: Mapped[bool] = mapped_column(Boolean, default=True)


class DirectorySyncState(IdMixin, Base):
    """One row: when the last sync started and finished, and what it reported."""

    __tablename__ = "ad_sync_state"

    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
