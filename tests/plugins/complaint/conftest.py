"""A kernel with the complaint module, an organisation and people in the predefined roles.

Every test taking `world` runs on SQLite and on PostgreSQL (the `database_url` fixture).
Complaints of the category `billing` are routed to the department `finance`
(`category_departments`). `world` starts no process for new complaints, so that the rules of
the record are tested on their own; `process_world` runs the shipped complaint process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openitsm.kernel import Actor, Kernel
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Role
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.plugins.complaint import plugin, service

PASSWORD = "complaint-pw-123"
ROUTES = {"billing": "finance"}
SETTINGS = {"complaint": {"category_departments": ROUTES, "process": ""}}
PROCESS_SETTINGS = {"complaint": {"category_departments": ROUTES}}


@dataclass
class World:
    kernel: Kernel
    users: dict[str, int] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)

    def actor(self, login: str) -> Actor:
        return actor_of(self.kernel, self.users[login])

    def create(self, login: str = "agent", **values: Any) -> Any:
        """A complaint registered by `login` (the complainant `caller` unless given)."""
        values.setdefault("title", "Nobody called back")
        values.setdefault("complainant_id", self.users["caller"])
        with self.kernel.session(self.actor(login)) as session:
            return service.create_complaint(session, **values)

    def cause(self, complaint_id: int) -> str | None:
        """The complaint's `caused_by` link as `kind:id` (the one store of its cause)."""
        with self.kernel.session() as session:
            found = service.cause_of(session, complaint_id)
            return str(found) if found is not None else None


def populate(kernel: Kernel) -> World:
    world = World(kernel)
    with kernel.session() as session:
        world.roles = {r.code: r.id for r in session.scalars(select(Role))}
        desk = organisation.create_department(session, code="desk", name="Service desk")
        ops = organisation.create_department(session, code="ops", name="Operations")
        finance = organisation.create_department(session, code="finance", name="Finance")
        world.departments = {"desk": desk.id, "ops": ops.id, "finance": finance.id}
        acme = organisation.create_service_unit(session, code="acme", name="Acme")
        globex = organisation.create_service_unit(session, code="globex", name="Globex")
        world.units = {"acme": acme.id, "globex": globex.id}
        people = (
            ("agent", desk.id, "service_desk_agent", acme.id, "+86 555 0001", "E001"),
            ("agent2", desk.id, "service_desk_agent", globex.id, None, None),
            ("engineer", ops.id, "second_line_engineer", acme.id, None, None),
            ("engineer2", ops.id, "second_line_engineer", acme.id, None, None),
            ("clerk", finance.id, "second_line_engineer", None, None, None),
            ("caller", None, "end_user", acme.id, "+86 555 0199", "E199"),
            ("supervisor", None, "supervisor", None, None, None),
            ("plain", None, None, None, None, None),
            ("leaver", None, "end_user", acme.id, None, None),
        )
        for login, department, role, unit, phone, employee in people:
            user = identity.create_user(session, login, login.title(), password=PASSWORD)
            changes: dict[str, Any] = {"department_id": department, "phone": phone}
            if employee:
                changes["employee_id"] = employee
            if role:
                changes["role_ids"] = [world.roles[role]]
            if unit:
                changes["service_unit_ids"] = [unit]
            organisation.update_user(session, user.id, user.version, changes)
            world.users[login] = user.id
        leaver = organisation.get_user(session, world.users["leaver"])
        organisation.update_user(session, leaver.id, leaver.version, {"active": False})
    return world


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    kernel = build_kernel(
        tmp_path, database_url, plugins={"complaint": plugin}, plugin_settings=SETTINGS
    )
    yield populate(kernel)
    kernel.close()


@pytest.fixture
def process_world(tmp_path: Path, database_url: str) -> Iterator[World]:
    kernel = build_kernel(
        tmp_path, database_url, plugins={"complaint": plugin}, plugin_settings=PROCESS_SETTINGS
    )
    yield populate(kernel)
    kernel.close()
