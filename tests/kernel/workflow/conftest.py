"""An organisation to run processes in, and a small builder for BPMN test processes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.organisation import service as org
from openitsm.kernel.testing import actor_of
from openitsm.kernel.workflow import service as definitions

HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:itsm="https://openitsm.org/schema/bpmn" id="d">'
)


def process(key: str, body: str, attributes: str = "") -> str:
    return f'{HEAD}<bpmn:process id="{key}" {attributes}>{body}</bpmn:process></bpmn:definitions>'


def flows(*path: str) -> str:
    """Sequence flows along `path` ("a", "b", "c" gives a→b and b→c)."""
    return "".join(
        f'<bpmn:sequenceFlow id="{a}_{b}" sourceRef="{a}" targetRef="{b}" />'
        for a, b in itertools.pairwise(path)
    )


def conditional(source: str, target: str, condition: str) -> str:
    return (
        f'<bpmn:sequenceFlow id="{source}_{target}" sourceRef="{source}" targetRef="{target}">'
        f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


def task(node_id: str, who: str, extra: str = "") -> str:
    return f'<bpmn:userTask id="{node_id}" name="{node_id.title()}" {who} {extra} />'


@dataclass
class Org:
    """Sales (head: sally; requester: rita), IT (head: ivan; members ian, ina, ike) and a
    supervisor (sam, role supervisor) and a desk agent (dora, role service_desk_agent)."""

    kernel: Kernel
    ids: dict[str, int]

    def actor(self, login: str) -> Actor:
        return actor_of(self.kernel, self.ids[login])


def publish(kernel: Kernel, xml: str) -> None:
    with kernel.session() as session:
        row, _ = definitions.import_definition(session, xml)
        definitions.publish(session, row.key, row.number, row.version)


@pytest.fixture
def people(kernel: Kernel) -> Org:
    ids: dict[str, int] = {}
    with kernel.session() as session:
        sales = org.create_department(session, code="sales", name="Sales")
        it = org.create_department(session, code="it", name="IT")
        ops = org.create_department(session, code="ops", name="Operations")
        for login, department in (
            ("sally", sales),
            ("rita", sales),
            ("ivan", it),
            ("ian", it),
            ("ina", it),
            ("ike", it),
            ("otto", ops),
            ("sam", None),
            ("dora", None),
        ):
            user = org.create_user(
                session,
                login=login,
                name=login.title(),
                department_id=department.id if department else None,
            )
            ids[login] = user.id
        rita = org.get_user(session, ids["rita"])
        org.update_user(session, rita.id, rita.version, {"manager_id": ids["sally"]})
        org.update_department(session, sales.id, sales.version, {"head_user_id": ids["sally"]})
        org.update_department(session, it.id, it.version, {"head_user_id": ids["ivan"]})
        org.grant_role(session, ids["sam"], org.role_by_code(session, "supervisor").id)
        org.grant_role(session, ids["dora"], org.role_by_code(session, "service_desk_agent").id)
        ids["sales"], ids["it"], ids["ops"] = sales.id, it.id, ops.id
    return Org(kernel, ids)
