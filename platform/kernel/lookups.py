"""Checks that a submitted id names a record a form may point at, for `check_submission`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.forms import FormField
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department


def record_lookups(
    session: Session, current: Mapping[str, Any] | None = None
) -> dict[str, Callable[[FormField, Any], bool]]:
    """A posted id names an active user, department or item of the field's dictionary.
    The record's `current` value of a field passes while it exists, so a record whose head
    has left can still be saved."""
    current = current or {}

    def kept(spec: FormField, value: Any) -> bool:
        return current.get(spec.name) == value

    def user(spec: FormField, value: Any) -> bool:
        active = session.scalar(select(User.active).where(User.id == value))
        return active is True or (active is not None and kept(spec, value))

    def department(spec: FormField, value: Any) -> bool:
        active = session.scalar(select(Department.active).where(Department.id == value))
        return active is True or (active is not None and kept(spec, value))

    def dictionary(spec: FormField, value: Any) -> bool:
        active = session.scalar(
            select(DictionaryItem.active)
            .join(Dictionary, DictionaryItem.dictionary_id == Dictionary.id)
            .where(DictionaryItem.id == value, Dictionary.code == spec.dictionary)
        )
        return active is True or (active is not None and kept(spec, value))

    return {"user": user, "department": department, "dictionary": dictionary}
