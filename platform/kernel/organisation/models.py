"""Organisation tables: the department tree, roles and their actions, service units."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.collation import SortedByName
from openitsm.kernel.customfields.models import HasCustomFields
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned
from openitsm.kernel.labels import pick_label


class Department(IdMixin, Timestamped, Versioned, Audited, HasCustomFields, Base):
    """One node of the department tree (adjacency list, any depth)."""

    __tablename__ = "department"
    __record_kind__ = "department"
    __table_args__ = (Index("ix_department_tree", "parent_id", "sort_order"),)

    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True
    )
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    head_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL", use_alter=True), index=True
    )
    admin_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL", use_alter=True), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Role(IdMixin, Timestamped, Versioned, Audited, Base):
    __tablename__ = "role"
    __record_kind__ = "role"

    code: Mapped[str] = mapped_column(String(100), unique=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(500), default="")

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.code)


class RoleAction(IdMixin, Audited, Base):
    """An action a role grants."""

    __tablename__ = "role_action"
    __record_kind__ = "role_action"
    __table_args__ = (UniqueConstraint("role_id", "action"),)

    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(100))


class UserRole(IdMixin, Audited, Base):
    __tablename__ = "user_role"
    __record_kind__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), index=True)


class ServiceUnit(IdMixin, Timestamped, Versioned, Audited, HasCustomFields, SortedByName, Base):
    """A customer company served by the IT organisation (服务单位)."""

    __tablename__ = "service_unit"
    __record_kind__ = "service_unit"

    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceUnitContact(IdMixin, Timestamped, Versioned, Audited, Base):
    __tablename__ = "service_unit_contact"
    __record_kind__ = "service_unit_contact"

    service_unit_id: Mapped[int] = mapped_column(
        ForeignKey("service_unit.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(254))
    position: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )


class UserServiceUnit(IdMixin, Audited, Base):
    __tablename__ = "user_service_unit"
    __record_kind__ = "user_service_unit"
    __table_args__ = (UniqueConstraint("user_id", "service_unit_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    service_unit_id: Mapped[int] = mapped_column(
        ForeignKey("service_unit.id", ondelete="CASCADE"), index=True
    )


class GrantsVersion(Base):
    """One row counting changes to who holds which role, action or service unit.

    Every process caches actors' grants; it reads this counter with each session lookup
    and drops its cache when the counter moved, so a grant changed anywhere applies at once.
    """

    __tablename__ = "grants_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
