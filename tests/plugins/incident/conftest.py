"""A kernel with the incident module, an organisation and people in the predefined roles.

Every test taking `world` runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openitsm.kernel import Actor, Kernel
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.plugins.incident import plugin, service

PASSWORD = "incident-pw-123"


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
        """An incident registered by `login` (the caller `caller` unless given)."""
        values.setdefault("title", "Printer jams")
        values.setdefault("caller_id", self.users["caller"])
        with self.kernel.session(self.actor(login)) as session:
            return service.create_incident(session, **values)


@pytest.fixture
def extra_plugins() -> dict[str, Any]:
    """Plugins enabled beside the incident module; a test module overrides this fixture."""
    return {}


@pytest.fixture
def world(tmp_path: Path, database_url: str, extra_plugins: dict[str, Any]) -> Iterator[World]:
    kernel = build_kernel(tmp_path, database_url, plugins={"incident": plugin, **extra_plugins})
    world = World(kernel)
    with kernel.session() as session:
        from sqlalchemy import select

        from openitsm.kernel.organisation.models import Role

        world.roles = {r.code: r.id for r in session.scalars(select(Role))}
        desk = organisation.create_department(session, code="desk", name="Service desk")
        ops = organisation.create_department(session, code="ops", name="Operations")
        world.departments = {"desk": desk.id, "ops": ops.id}
        acme = organisation.create_service_unit(session, code="acme", name="Acme")
        globex = organisation.create_service_unit(session, code="globex", name="Globex")
        world.units = {"acme": acme.id, "globex": globex.id}
        people = (
            ("agent", desk.id, "service_desk_agent", acme.id, "+86 555 0001", "E001"),
            ("agent2", desk.id, "service_desk_agent", globex.id, None, None),
            ("engineer", ops.id, "second_line_engineer", acme.id, None, None),
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
    yield world
    kernel.close()
