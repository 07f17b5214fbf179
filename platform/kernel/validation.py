"""Checks of a record's input that every module makes the same way.

Each raises BadUserInput naming the GraphQL input field (`field`), so clients and forms can
place the error next to it; a module passes its own field names and dictionary codes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, ServiceUnit

__all__ = ["active_department", "active_service_unit", "active_user", "dictionary_code", "text"]


def text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    """`value` stripped, None when blank (an error when `required`), at most `limit` characters."""
    stripped = (value or "").strip()
    if not stripped:
        if required:
            raise BadUserInput(_t("Fill in {field}."), field=field, params={"field": field})
        return None
    if len(stripped) > limit:
        raise BadUserInput(
            _t("{field} is limited to {limit} characters."),
            field=field,
            params={"field": field, "limit": limit},
        )
    return stripped


def dictionary_code(session: Session, dictionary: str, code: str | None, field: str) -> str | None:
    """`code` stripped when it is an active item of `dictionary`, None when blank."""
    code = (code or "").strip()
    if not code:
        return None
    found = session.scalar(
        select(DictionaryItem.id)
        .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
        .where(
            Dictionary.code == dictionary,
            DictionaryItem.code == code,
            DictionaryItem.active.is_(True),
        )
    )
    if found is None:
        raise BadUserInput(
            _t("'{code}' is not an active item of the dictionary {dictionary}."),
            field=field,
            params={"code": code, "dictionary": dictionary},
        )
    return code


def active_user(session: Session, user_id: int | None, field: str) -> User | None:
    """The user, who must exist and not have left; None for no user."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise BadUserInput(
            _t("User {id} does not exist or has left (is inactive)."),
            field=field,
            params={"id": user_id},
        )
    return user


def active_department(session: Session, department_id: int | None, field: str) -> Department | None:
    """The department, which must exist and be active; None for no department."""
    if department_id is None:
        return None
    department = session.get(Department, department_id)
    if department is None or not department.active:
        raise BadUserInput(
            _t("Department {id} does not exist or is inactive."),
            field=field,
            params={"id": department_id},
        )
    return department


def active_service_unit(
    session: Session, unit_id: int | None, field: str = "serviceUnit"
) -> int | None:
    """`unit_id` when that service unit exists and is active; None for no unit."""
    if unit_id is None:
        return None
    unit = session.get(ServiceUnit, unit_id)
    if unit is None or not unit.active:
        raise BadUserInput(
            _t("Service unit {id} does not exist or is inactive."),
            field=field,
            params={"id": unit_id},
        )
    return unit_id
