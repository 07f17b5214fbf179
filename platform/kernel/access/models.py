"""Access tables that hang off roles: the data scope and the field rules a role grants."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin

SCOPES = ("own", "department", "department_subtree", "service_units", "all")
# From least to most: what a field rule lets a role do with one field.
FIELD_ACCESS = ("hidden", "read_only", "read_write")


class RoleScope(IdMixin, Audited, Base):
    """Which rows of `resource` (a record kind) a role lets its holders see."""

    __tablename__ = "role_scope"
    __record_kind__ = "role_scope"
    __table_args__ = (
        UniqueConstraint("role_id", "resource"),
        CheckConstraint(
            "scope IN ('own', 'department', 'department_subtree', 'service_units', 'all')",
            name="scope",
        ),
    )

    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), index=True)
    resource: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(20))


class FieldRule(IdMixin, Audited, Base):
    """What a role's holders may do with one field of `resource`: read and write it, only
    read it, or not see it at all. A field no role names is read-write."""

    __tablename__ = "field_rule"
    __record_kind__ = "field_rule"
    __table_args__ = (
        UniqueConstraint("role_id", "resource", "field"),
        CheckConstraint("access IN ('hidden', 'read_only', 'read_write')", name="access"),
    )

    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), index=True)
    resource: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(100))
    access: Mapped[str] = mapped_column(String(20))


class DeclaredGrant(Base):
    """A module default for a predefined role that has been given ("action:<role>:<action>",
    "scope:<role>:<record kind>"): given once, so what an administrator takes away stays
    away."""

    __tablename__ = "declared_grant"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
