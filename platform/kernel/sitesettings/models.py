"""One row per value set in the UI: a plugin's setting, or the kernel's choice of modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned

# The row holding the enabled modules: plugin "kernel", key "modules".
MODULES = ("kernel", "modules")


class SiteSetting(IdMixin, Timestamped, Versioned, Audited, Base):
    """A value an administrator set on /admin/site.

    Secrets live only in `encrypted` (Fernet, keyed from the site's secret key), a column the
    audit history records as changed without its values; `value` stays empty for them.
    """

    __tablename__ = "site_setting"
    __record_kind__ = "site_setting"
    __table_args__ = (UniqueConstraint("plugin", "key"),)

    plugin: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    encrypted: Mapped[str | None] = mapped_column(Text, info={"secret": True})
    updated_by: Mapped[int | None]
