"""Who does a step: the assignee rule, candidate departments and roles, countersigners.

An assignee expression reads views of the people and departments around the instance
(`starter.department.head`, `starter.manager`, `form.reviewer`, `record.owner`) and gives a
person, a login, a user id, or a list of them; a department it gives (`record.department`)
is offered the step as a candidate department (any member may claim it), exactly like
`itsm:candidateDepartments`. Views expose plain values only, so the sandbox has nothing to
reach through. When a rule finds nobody who can act (an empty department included), the
step goes to its fallback group (else the process owner's role) and the owner is told: an
item is never left where no one sees it.

`duty.<rota>` in a rule, and `itsm:candidateDuty` on a step, give the people on duty on a
duty rota (`openitsm.kernel.organisation.duty`) when the step opens.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.duty import on_duty_select
from openitsm.kernel.organisation.models import Department, Role, UserRole
from openitsm.kernel.workflow.definition import Node, ProcessDefinition
from openitsm.kernel.workflow.expressions import ExpressionError, evaluate, names_used
from openitsm.kernel.workflow.models import ProcessInstance

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.workflow.engine import Engine, WorkflowEvent

DEFAULT_OWNER_ROLE = "administrator"
MAX_SIGNERS = 500


class UserView:
    """A person as expressions see them; links load on first use."""

    __slots__ = (
        "_department_id", "_manager_id", "_session", "active", "email", "id", "login", "name"
    )  # fmt: skip

    def __init__(self, session: Session, user: Any) -> None:
        self._session = session
        self.id = user.id
        self.active = user.active
        self.login = user.login
        self.name = user.name
        self.email = user.email
        self._department_id = user.department_id
        self._manager_id = user.manager_id

    @property
    def department(self) -> DepartmentView | None:
        return department_view(self._session, self._department_id)

    @property
    def manager(self) -> UserView | None:
        return user_view(self._session, self._manager_id)

    def __repr__(self) -> str:
        return f"<user {self.login}>"


class DepartmentView:
    __slots__ = ("_admin_id", "_head_id", "_parent_id", "_session", "code", "id", "name")

    def __init__(self, session: Session, department: Any) -> None:
        self._session = session
        self.id = department.id
        self.code = department.code
        self.name = department.name
        self._head_id = department.head_user_id
        self._admin_id = department.admin_user_id
        self._parent_id = department.parent_id

    @property
    def head(self) -> UserView | None:
        return user_view(self._session, self._head_id)

    @property
    def admin(self) -> UserView | None:
        return user_view(self._session, self._admin_id)

    @property
    def parent(self) -> DepartmentView | None:
        return department_view(self._session, self._parent_id)

    def __repr__(self) -> str:
        return f"<department {self.code}>"


# Views read only the columns they show: rules run on every step, and a whole row through
# the ORM costs several times a plain one.
_USER_COLUMNS = (
    User.id, User.login, User.name, User.email, User.active, User.department_id, User.manager_id
)  # fmt: skip
_DEPARTMENT_COLUMNS = (
    Department.id, Department.code, Department.name, Department.head_user_id,
    Department.admin_user_id, Department.parent_id,
)  # fmt: skip


# Built once: every step that names a person runs them, and building a statement costs
# more than running it on SQLite.
_USER_BY_ID = select(*_USER_COLUMNS).where(User.id == bindparam("id"))
_DEPARTMENT_BY_ID = select(*_DEPARTMENT_COLUMNS).where(Department.id == bindparam("id"))


def user_view(session: Session, user_id: int | None) -> UserView | None:
    if not user_id:
        return None
    row = session.execute(_USER_BY_ID, {"id": user_id}).first()
    return UserView(session, row) if row is not None else None


def department_view(session: Session, department_id: int | None) -> DepartmentView | None:
    if not department_id:
        return None
    row = session.execute(_DEPARTMENT_BY_ID, {"id": department_id}).first()
    return DepartmentView(session, row) if row is not None else None


class RecordView(Mapping[str, Any]):
    """A record as expressions see it (what `workflow_record` may return): plain values,
    and links given as functions, each called on first read, so a condition on
    `record.category` reads no person."""

    __slots__ = ("_links", "_values")

    def __init__(self, values: Mapping[str, Any], links: Mapping[str, Callable[[], Any]]) -> None:
        self._values = dict(values)
        self._links = dict(links)

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            self._values[key] = self._links.pop(key)()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._values, *self._links])

    def __len__(self) -> int:
        return len(self._values) + len(self._links)

    def __repr__(self) -> str:
        return "<record>"


class DutyView:
    """The duty rotas as expressions see them: `duty.desk` (or `duty['desk']`) is the list of
    people on duty on rota `desk` at the step's time; an unknown or inactive rota, or one with
    nobody on duty, gives an empty list. Each rota is looked up once, in one statement."""

    __slots__ = ("_at", "_found", "_session")

    def __init__(self, session: Session, at: dt.datetime) -> None:
        self._session = session
        self._at = at
        self._found: dict[str, list[UserView]] = {}

    def __getitem__(self, key: Any) -> list[UserView]:
        if not isinstance(key, str) or key.startswith("_"):
            raise KeyError(key)
        found = self._found.get(key)
        if found is None:
            rows = self._session.execute(on_duty_select(key, self._at, *_USER_COLUMNS)).all()
            found = self._found[key] = [
                UserView(self._session, row) for row in {row.id: row for row in rows}.values()
            ]
        return list(found)

    def __getattr__(self, name: str) -> list[UserView]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def empty_rotas(self) -> list[str]:
        """The rotas read that had nobody on duty (to tell the owner why a step fell back)."""
        return [key for key, people in self._found.items() if not people]

    def __repr__(self) -> str:
        return "<duty rotas>"


NAMES = ("form", "decision", "starter", "record", "instance", "duty")


def expression_names(
    session: Session,
    kernel: Kernel | None,
    instance: ProcessInstance,
    wanted: Iterable[str] = NAMES,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The names conditions and assignee rules read: `form` (the instance's variables),
    `decision` (the last step's outcome), `starter`, `record`, `instance` and `duty` (who is
    on duty at `at`, now by default, per rota); only the `wanted` ones are looked up (the
    others stay unknown to the expression)."""
    wanted = frozenset(wanted)
    variables = {k: v for k, v in (instance.variables or {}).items() if not k.startswith("_")}
    names: dict[str, Any] = {"form": variables, "decision": variables.get("decision")}
    if "starter" in wanted:
        names["starter"] = user_view(session, instance.starter_id)
    if "record" in wanted:
        record: Mapping[str, Any] = {}
        if kernel is not None and instance.record_kind and instance.record_id is not None:
            found = kernel.hook.workflow_record(
                session=session, kind=instance.record_kind, record_id=instance.record_id
            )
            record = found or {}
        names["record"] = record
    if "instance" in wanted:
        names["instance"] = {
            "id": instance.id,
            "title": instance.title,
            "key": instance.process_key,
        }
    if "duty" in wanted:
        names["duty"] = DutyView(session, at or utcnow())
    return names


@dataclass
class Offer:
    """One work item to open: assigned to a person, or offered to candidates."""

    assignee_id: int | None = None
    signer_department_id: int | None = None
    department_ids: tuple[int, ...] = ()
    role_codes: tuple[str, ...] = ()
    user_ids: tuple[int, ...] = ()

    def candidates(self, item_id: int) -> list[dict[str, Any]]:
        """The rows (`wf_work_item_candidate`) offering the (inserted) item to its
        candidates, for one INSERT; none when assigned."""
        if self.assignee_id is not None:
            return []
        empty = {"work_item_id": item_id, "department_id": None, "role_code": None, "user_id": None}
        return (
            [{**empty, "department_id": d} for d in self.department_ids]
            + [{**empty, "role_code": r} for r in self.role_codes]
            + [{**empty, "user_id": u} for u in self.user_ids]
        )


@dataclass
class Participants:
    offers: list[Offer] = field(default_factory=list)
    fallback: bool = False
    roles: tuple[str, ...] = ()
    owner_roles: tuple[str, ...] = ()
    problem: str | None = None  # why the assignee rule found nobody, when it failed

    def assigned_events(
        self, engine: Engine, instance: ProcessInstance, node: Node
    ) -> list[WorkflowEvent]:
        events = []
        for offer in self.offers:
            events.append(
                engine.event(
                    "assigned",
                    instance,
                    node_id=node.id,
                    user_ids=(offer.assignee_id,) if offer.assignee_id else offer.user_ids,
                    role_codes=offer.role_codes,
                    department_ids=offer.department_ids,
                )
            )
        return events


def _users_of(session: Session, value: Any) -> list[int]:
    """User ids from what an assignee rule gave: people, ids, logins, lists of them."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | set | frozenset):
        found: list[int] = []
        for entry in value:
            found.extend(uid for uid in _users_of(session, entry) if uid not in found)
        return found
    if isinstance(value, UserView):
        return [value.id] if value.active else []
    if isinstance(value, bool) or not isinstance(value, int | str):
        return []
    which = User.id == value if isinstance(value, int) else User.login == value.strip()
    return list(session.scalars(select(User.id).where(which, User.active.is_(True))).all())


def _departments_of(value: Any) -> list[DepartmentView]:
    """The departments an assignee rule gave (`record.department`, in a list or alone): each
    is offered the step as a candidate department, as `itsm:candidateDepartments` does."""
    if isinstance(value, DepartmentView):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        found: dict[int, DepartmentView] = {}
        for entry in value:
            for department in _departments_of(entry):
                found.setdefault(department.id, department)
        return list(found.values())
    return []


def _ruled_departments(
    session: Session, views: Sequence[DepartmentView]
) -> tuple[list[int], str | None]:
    """The active departments among `views` when one of them has an active member, else none
    and why (the step then falls back, as for any rule that finds nobody)."""
    if not views:
        return [], None
    ids = [view.id for view in views]
    active = set(
        session.scalars(
            select(Department.id).where(Department.id.in_(ids), Department.active.is_(True))
        )
    )
    ruled = [department_id for department_id in ids if department_id in active]
    if ruled and _staffed(session, ruled, ()):
        return ruled, None
    codes = ", ".join(view.code for view in views)
    return [], f"The department {codes} named by the rule has no active members (or is inactive)."


def _on_duty(session: Session, rota_keys: Sequence[str], at: dt.datetime) -> list[int]:
    """Who is on duty on these rotas at `at` (active people, active rotas), in one query."""
    if not rota_keys:
        return []
    return list(dict.fromkeys(session.scalars(on_duty_select(rota_keys, at, User.id))))


def _departments(session: Session, codes: Sequence[str]) -> list[int]:
    if not codes:
        return []
    rows = session.execute(
        select(Department.id, Department.code).where(
            Department.code.in_(codes), Department.active.is_(True)
        )
    ).all()
    by_code = {code: department_id for department_id, code in rows}
    return [by_code[code] for code in codes if code in by_code]


def _members(session: Session, department_ids: Iterable[int]) -> list[tuple[int, int | None]]:
    ids = list(department_ids)
    if not ids:
        return []
    return [
        (user_id, department_id)
        for user_id, department_id in session.execute(
            select(User.id, User.department_id)
            .where(User.department_id.in_(ids), User.active.is_(True))
            .order_by(User.id)
        ).all()
    ]


def _holders(session: Session, role_codes: Iterable[str]) -> list[tuple[int, int | None]]:
    codes = list(role_codes)
    if not codes:
        return []
    return [
        (user_id, department_id)
        for user_id, department_id in session.execute(
            select(User.id, User.department_id)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Role, Role.id == UserRole.role_id)
            .where(Role.code.in_(codes), User.active.is_(True))
            .order_by(User.id)
            .distinct()
        ).all()
    ]


def _staffed(session: Session, department_ids: Iterable[int], role_codes: Iterable[str]) -> bool:
    """Whether any active person is in one of the departments or holds one of the roles: one
    row at most, however many hold a role (a desk of 700 agents cost 9 ms a step read whole)."""
    ids, codes = list(department_ids), list(role_codes)
    if ids and session.scalar(_ANY_MEMBER, {"ids": ids}) is not None:
        return True
    return bool(codes) and session.scalar(_ANY_HOLDER, {"codes": codes}) is not None


# Built once: every step offered to a role or a department asks.
_ANY_MEMBER = (
    select(User.id)
    .where(User.department_id.in_(bindparam("ids", expanding=True)), User.active.is_(True))
    .limit(1)
)
_ANY_HOLDER = (
    select(User.id)
    .join(UserRole, UserRole.user_id == User.id)
    .join(Role, Role.id == UserRole.role_id)
    .where(Role.code.in_(bindparam("codes", expanding=True)), User.active.is_(True))
    .limit(1)
)


def resolve_participants(
    session: Session,
    kernel: Kernel | None,
    instance: ProcessInstance,
    node: Node,
    definition: ProcessDefinition,
    *,
    chosen_user_id: int | None = None,
    at: dt.datetime | None = None,
) -> Participants:
    """The work items a user task opens, by its rules; the fallback when nobody is found.

    `at` is the moment the step opens (now by default): who is on duty then is offered it.
    """
    if chosen_user_id is not None and _users_of(session, chosen_user_id):
        return Participants([Offer(assignee_id=chosen_user_id)])
    at = at or utcnow()
    assigned: list[int] = []
    ruled: list[int] = []  # departments the rule gave: a department step, any member claims
    problem = None
    unstaffed: list[str] = []  # rotas the step looked at with nobody on duty
    if node.assignee:
        # A rule that fails (a starter without a department has no head) finds nobody: the
        # step falls back, and the owner is told why, rather than the process stopping.
        try:
            names = expression_names(session, kernel, instance, names_used(node.assignee), at)
            value = evaluate(node.assignee, names)
        except ExpressionError as error:
            value, problem = None, error.message
        else:
            if isinstance(names.get("duty"), DutyView):
                unstaffed.extend(names["duty"].empty_rotas())
        assigned = _users_of(session, value)
        ruled, empty = _ruled_departments(session, _departments_of(value))
        if not assigned and problem is None:
            problem = empty
    department_ids = _departments(session, node.candidate_departments)
    role_codes = tuple(node.candidate_roles)
    on_duty = _on_duty(session, node.candidate_duty, at)
    if node.candidate_duty and not on_duty:
        unstaffed.extend(node.candidate_duty)
    if node.countersign is not None:
        signers = assigned + [user_id for user_id in on_duty if user_id not in assigned]
        departments = department_ids + [d for d in ruled if d not in department_ids]
        offers = _countersigners(session, node, signers, departments, role_codes)
    elif assigned or ruled:
        offers = [
            Offer(assignee_id=assigned[0])
            if len(assigned) == 1 and not ruled
            else Offer(user_ids=tuple(assigned[:MAX_SIGNERS]), department_ids=tuple(ruled))
        ]
    elif on_duty or _staffed(session, department_ids, role_codes):
        offers = [
            Offer(
                department_ids=tuple(department_ids),
                role_codes=role_codes,
                user_ids=tuple(on_duty[:MAX_SIGNERS]),
            )
        ]
    else:
        offers = []
    if offers:
        return Participants(offers)
    if problem is None and unstaffed:
        rotas = ", ".join(dict.fromkeys(unstaffed))
        problem = f"Nobody is on duty on the rota {rotas} (or the rota is unknown or inactive)."
    owner_roles = (definition.owner or DEFAULT_OWNER_ROLE,)
    groups = tuple(
        code
        for code in ((node.fallback_group,) if node.fallback_group else ()) + owner_roles
        if _staffed(session, (), (code,))
    )
    roles = groups[:1] or owner_roles
    return Participants(
        [Offer(role_codes=roles)],
        fallback=True,
        roles=roles,
        owner_roles=owner_roles,
        problem=problem,
    )


def _countersigners(
    session: Session,
    node: Node,
    assigned: list[int],
    department_ids: list[int],
    role_codes: tuple[str, ...],
) -> list[Offer]:
    people: dict[int, int | None] = {}
    for user_id in assigned:
        people.setdefault(user_id, None)
    for user_id, department_id in _members(session, department_ids) + _holders(session, role_codes):
        people.setdefault(user_id, department_id)
    assert node.countersign is not None
    if node.countersign.per == "department":
        if assigned:
            for user_id, department_id in session.execute(
                select(User.id, User.department_id).where(User.id.in_(assigned))
            ).all():
                people[user_id] = department_id
        departments: list[int] = list(department_ids)
        for department_id in people.values():
            if department_id is not None and department_id not in departments:
                departments.append(department_id)
        staffed = {department_id for department_id in people.values() if department_id}
        return [
            Offer(department_ids=(department_id,), signer_department_id=department_id)
            for department_id in departments[:MAX_SIGNERS]
            if department_id in staffed
        ]
    return [Offer(assignee_id=user_id) for user_id in list(people)[:MAX_SIGNERS]]


def needed_approvals(mode: str, ratio: float, total: int) -> int:
    """How many approvals decide a countersign of `total` signers."""
    if mode == "all":
        return total
    if mode == "any":
        return 1
    return max(1, math.ceil(ratio * total - 1e-9))
