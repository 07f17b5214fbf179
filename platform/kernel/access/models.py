"""Access tables that hang off roles: the data scope a role grants per resource."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin

SCOPES = ("own", "department", "department_subtree", "service_units", "all")


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
