"""Checks of a record's input that every module makes the same way.

Each raises BadUserInput naming the GraphQL input field (`field`), so clients and forms can
place the error next to it; a module passes its own field names and dictionary codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, ServiceUnit

__all__ = [
    "active_department",
    "active_service_unit",
    "active_user",
    "dictionary_code",
    "dictionary_codes",
    "text",
]


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
        raise _not_an_item(dictionary, code, field)
    return code


def _not_an_item(dictionary: str, code: str, field: str) -> BadUserInput:
    return BadUserInput(
        _t("'{code}' is not an active item of the dictionary {dictionary}."),
        field=field,
        params={"code": code, "dictionary": dictionary},
    )


# Built once: a registration checks its caller and coded fields on every request.
_USER_BY_ID = select(User).where(User.id == bindparam("id"))
_ACTIVE_ITEMS = (
    select(Dictionary.code.label("dictionary"), DictionaryItem.code.label("code"))
    .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
    .where(
        Dictionary.code.in_(bindparam("dictionaries", expanding=True)),
        DictionaryItem.code.in_(bindparam("codes", expanding=True)),
        DictionaryItem.active.is_(True),
    )
)


def dictionary_codes(
    session: Session, wanted: Mapping[str, tuple[str, str | None]]
) -> dict[str, str | None]:
    """`dictionary_code` for several fields at once (`{field: (dictionary, code)}`), in one
    query; the first field in `wanted`'s order whose code is not an active item is the
    BAD_USER_INPUT."""
    codes = {field: (code or "").strip() or None for field, (_, code) in wanted.items()}
    asked = {(wanted[field][0], code) for field, code in codes.items() if code is not None}
    found: set[tuple[str, str]] = set()
    if asked:
        rows = session.execute(
            _ACTIVE_ITEMS,
            {
                "dictionaries": sorted({dictionary for dictionary, _ in asked}),
                "codes": sorted({code for _, code in asked}),
            },
        )
        found = {(row.dictionary, row.code) for row in rows}
    for field, code in codes.items():
        if code is not None and (wanted[field][0], code) not in found:
            raise _not_an_item(wanted[field][0], code, field)
    return codes


def active_user(session: Session, user_id: int | None, field: str) -> User | None:
    """The user, who must exist and not have left; None for no user."""
    return _active(
        session,
        User,
        user_id,
        _t("User {id} does not exist or has left (is inactive)."),
        field,
        by_id=_USER_BY_ID,
    )


def active_department(session: Session, department_id: int | None, field: str) -> Department | None:
    """The department, which must exist and be active; None for no department."""
    return _active(
        session,
        Department,
        department_id,
        _t("Department {id} does not exist or is inactive."),
        field,
    )


def active_service_unit(
    session: Session, unit_id: int | None, field: str = "serviceUnit"
) -> int | None:
    """`unit_id` when that service unit exists and is active; None for no unit."""
    _active(
        session, ServiceUnit, unit_id, _t("Service unit {id} does not exist or is inactive."), field
    )
    return unit_id


class _Activatable(Protocol):
    @property
    def active(self) -> bool: ...


_Record = TypeVar("_Record", bound=_Activatable)


def _active(
    session: Session,
    model: type[_Record],
    record_id: int | None,
    refusal: str,
    field: str,
    *,
    by_id: Select[_Record] | None = None,
) -> _Record | None:
    """The record of `model` with `record_id`, which must exist and be active (else `refusal`,
    filled in with the id); None for no id. Every reference to a person or an organisation
    unit is checked this one way, so each refuses alike. `by_id`, a statement built once, reads
    the record where a check runs on every request."""
    if record_id is None:
        return None
    if by_id is None:
        record = session.get(model, record_id)
    else:
        with session.no_autoflush:  # as `session.get`, which built its query on every call
            record = session.scalar(by_id, {"id": record_id})
    if record is None or not record.active:
        raise BadUserInput(refusal, field=field, params={"id": record_id})
    return record
