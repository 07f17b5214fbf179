"""Custom fields: definitions an administrator adds to a resource, and the column that holds
their values on each record of that resource."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, Versioned
from openitsm.kernel.labels import pick_label

VALUES_TYPE = JSON().with_variant(JSONB(), "postgresql")


class HasCustomFields:
    """Mixin for a model whose records carry custom field values, keyed by field name
    (`{"cf_seat": "B-204"}`). History records each custom field as a field of its own."""

    @declared_attr
    def custom_fields(cls) -> Mapped[dict[str, Any]]:
        return mapped_column(
            VALUES_TYPE,
            default=dict,
            server_default=text("'{}'"),
            info={"custom_fields": True},
        )


class CustomField(IdMixin, Timestamped, Versioned, Audited, Base):
    """One field an administrator added to a resource, without code.

    `name` is how rules, forms, lists, exports and the API refer to it (always `cf_…`, so it
    can never collide with a field a module adds later). A retired field (`active` false)
    keeps its values and history but no longer appears in forms, lists or the API.
    """

    __tablename__ = "custom_field"
    __record_kind__ = "custom_field"
    __table_args__ = (
        UniqueConstraint("resource", "name"),
        Index("ix_custom_field_resource", "resource", "position"),
    )

    resource: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    # For `choice`: [{"value": "a", "labels": {"zh-CN": …, "en": …}}, …]
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dictionary: Mapped[str | None] = mapped_column(String(100))
    max_length: Mapped[int | None] = mapped_column(Integer)
    help: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)
