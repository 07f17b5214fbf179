"""The checks of a reference to a person, a department or a service unit: what each returns,
and that a missing or inactive one is refused on the caller's field with its own message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openitsm.kernel import Kernel
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation.models import Department, ServiceUnit
from openitsm.kernel.validation import active_department, active_service_unit, active_user

MISSING = 999_999


def test_no_reference_is_no_record(kernel: Kernel) -> None:
    with kernel.session() as session:
        assert active_user(session, None, "caller") is None
        assert active_department(session, None, "group") is None
        assert active_service_unit(session, None) is None


def test_an_active_record_is_returned(kernel: Kernel) -> None:
    with kernel.session() as session:
        user = identity.create_user(session, "present", "Present", password="secret-pw")
        department = Department(code="desk", name="Service desk")
        unit = ServiceUnit(code="acme", name="Acme")
        session.add_all([department, unit])
        session.flush()
        assert active_user(session, user.id, "caller") is user
        assert active_department(session, department.id, "group") is department
        assert active_service_unit(session, unit.id) == unit.id


def test_a_missing_or_inactive_record_is_refused_on_the_field(kernel: Kernel) -> None:
    with kernel.session() as session:
        leaver = identity.create_user(session, "leaver", "Leaver", password="secret-pw")
        leaver.active = False
        closed = Department(code="closed", name="Closed", active=False)
        former = ServiceUnit(code="former", name="Former", active=False)
        session.add_all([closed, former])
        session.flush()
        checks: list[tuple[Callable[[int], object], int, str, str]] = [
            (
                lambda record_id: active_user(session, record_id, "caller"),
                leaver.id,
                "User {id} does not exist or has left (is inactive).",
                "caller",
            ),
            (
                lambda record_id: active_department(session, record_id, "group"),
                closed.id,
                "Department {id} does not exist or is inactive.",
                "group",
            ),
            (
                lambda record_id: active_service_unit(session, record_id),
                former.id,
                "Service unit {id} does not exist or is inactive.",
                "serviceUnit",
            ),
            (
                lambda record_id: active_service_unit(session, record_id, "unit"),
                former.id,
                "Service unit {id} does not exist or is inactive.",
                "unit",
            ),
        ]
        for check, inactive_id, template, field in checks:
            for record_id in (inactive_id, MISSING):
                with pytest.raises(BadUserInput) as refused:
                    check(record_id)
                assert (str(refused.value), refused.value.template) == (
                    template.format(id=record_id),
                    template,
                )
                assert refused.value.extensions["field"] == field
