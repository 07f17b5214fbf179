"""The organisation of a benchmark site: a department tree, agents in the predefined ITSM
roles, service units (customer companies) and the callers who report things.

Written in bulk like the modules' records, without history: a real site's organisation
comes from a directory sync, not from people typing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from openitsm.kernel.benchseed.site import BenchSite, Person
from openitsm.kernel.collation import stored_sort_key
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import (
    Department,
    GrantsVersion,
    Role,
    ServiceUnit,
    UserRole,
    UserServiceUnit,
)

ROOT = "bench"  # the root department's code marks a seeded site
DESK = "service_desk_agent"
SECOND = "second_line_engineer"
THIRD = "third_line_expert"
SUPERVISOR = "supervisor"
END_USER = "end_user"
# Share of the agents in each role.
AGENT_SHARES = ((DESK, 0.35), (SECOND, 0.45), (THIRD, 0.15), (SUPERVISOR, 0.05))
SECOND_LINE_GROUPS = (
    ("network", "网络组 Network"),
    ("server", "服务器组 Servers"),
    ("apps", "应用组 Applications"),
    ("desktop", "桌面组 Desktop"),
    ("security", "安全组 Security"),
    ("database", "数据库组 Databases"),
    ("mail", "邮件组 Mail"),
    ("print", "打印组 Printing"),
)
THIRD_LINE_GROUPS = (
    ("net-experts", "网络专家组 Network experts"),
    ("sys-experts", "系统专家组 System experts"),
    ("app-experts", "应用专家组 Application experts"),
)
BUSINESS = (
    ("finance", "财务部 Finance", ()),
    ("hr", "人力资源部 HR", ()),
    ("sales", "销售部 Sales", ("north", "east", "south", "west")),
    ("production", "生产部 Production", ("plant1", "plant2", "plant3")),
    ("rnd", "研发部 R&D", ("hw", "sw")),
    ("purchasing", "采购部 Purchasing", ()),
    ("legal", "法务部 Legal", ()),
    ("marketing", "市场部 Marketing", ()),
    ("support", "客服部 Customer care", ()),
    ("logistics", "物流部 Logistics", ()),
)
CITIES = (
    "北京 Beijing", "上海 Shanghai", "广州 Guangzhou", "深圳 Shenzhen", "成都 Chengdu",
    "武汉 Wuhan", "西安 Xi'an", "南京 Nanjing", "杭州 Hangzhou", "重庆 Chongqing",
    "天津 Tianjin", "苏州 Suzhou", "长沙 Changsha", "郑州 Zhengzhou", "青岛 Qingdao",
    "沈阳 Shenyang", "大连 Dalian", "厦门 Xiamen", "合肥 Hefei", "昆明 Kunming",
)  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞宇浩然思雨佳欣怡晨阳子涵梓轩文博"
)
UNITS_PER_DESK_AGENT = 3
DEPARTMENT_COLUMNS = (
    "id", "parent_id", "sort_order", "code", "name", "active", "custom_fields", "created_at",
    "updated_at", "version",
)  # fmt: skip
UNIT_COLUMNS = (
    "id", "code", "name", "sort_name", "active", "custom_fields", "created_at", "updated_at",
    "version",
)  # fmt: skip
USER_COLUMNS = (
    "id", "login", "name", "sort_name", "email", "employee_id", "phone", "department_id",
    "password_hash", "is_superuser", "active", "time_zone", "custom_fields", "created_at",
    "updated_at", "version",
)  # fmt: skip


def seed_organisation(site: BenchSite, password_hash: str | None) -> None:
    """Departments, service units, agents with their roles and units, callers; every
    person gets `password_hash` (one hash shared by all, computed once)."""
    roles = dict(site.connection.execute(select(Role.code, Role.id)).all())
    missing = [code for code in (DESK, SECOND, THIRD, SUPERVISOR, END_USER) if code not in roles]
    if missing:
        raise RuntimeError(f"the predefined roles {missing} are missing; run `openitsm migrate`")
    _departments(site)
    _service_units(site)
    agents = _agents(site)
    callers = _callers(site)
    _write_people(site, [*agents, *callers], roles, password_hash)
    heads = [{"id": department, "head": head} for department, head in site.department_head.items()]
    for row in heads:
        site.connection.execute(
            update(Department).where(Department.id == row["id"]).values(head_user_id=row["head"])
        )
    bumped = site.connection.execute(
        update(GrantsVersion).where(GrantsVersion.id == 1).values(value=GrantsVersion.value + 1)
    )
    if not bumped.rowcount:
        site.insert(GrantsVersion.__table__, ("id", "value"), [(1, 1)])  # type: ignore[arg-type]
    site.report("departments", len(site.departments))
    site.report("agents", len(agents))
    site.report("callers", len(callers))
    site.checkpoint()


def _departments(site: BenchSite) -> None:
    tree: list[tuple[str, str, str | None]] = [
        (ROOT, "演示集团 Bench Group", None),
        ("bench-it", "信息技术中心 IT", ROOT),
        ("bench-desk", "服务台 Service desk", "bench-it"),
        ("bench-l2", "二线支持 2nd line", "bench-it"),
        ("bench-l3", "三线专家 3rd line", "bench-it"),
        ("bench-ops", "运维管理 IT operations management", "bench-it"),
        ("bench-biz", "业务部门 Business", ROOT),
    ]
    desk_agents = _role_count(site, DESK)
    for n in range(max(1, desk_agents // 40)):
        tree.append((f"bench-desk-{n + 1}", f"服务台{n + 1}组 Desk team {n + 1}", "bench-desk"))
    for code, name in SECOND_LINE_GROUPS:
        tree.append((f"bench-l2-{code}", name, "bench-l2"))
    for code, name in THIRD_LINE_GROUPS:
        tree.append((f"bench-l3-{code}", name, "bench-l3"))
    for code, name, children in BUSINESS:
        tree.append((f"bench-{code}", name, "bench-biz"))
        for child in children:
            tree.append((f"bench-{code}-{child}", f"{name.split()[0]} {child}", f"bench-{code}"))
    table = Department.__table__
    first = site.reserve(table, len(tree))  # type: ignore[arg-type]
    now = site.timestamp(site.epoch(site.start))
    rows = []
    positions: dict[str | None, int] = {}
    for offset, (code, name, parent) in enumerate(tree):
        department_id = first + offset
        site.departments[code] = department_id
        parent_id = site.departments[parent] if parent else None
        site.department_parent[department_id] = parent_id
        positions[parent] = positions.get(parent, -1) + 1
        position = positions[parent]
        active = site.flag(True)
        rows.append((department_id, parent_id, position, code, name, active, "{}", now, now, 1))
    site.insert(table, DEPARTMENT_COLUMNS, rows)  # type: ignore[arg-type]
    leaves = {
        DESK: [i for c, i in site.departments.items() if c.startswith("bench-desk-")]
        or [site.departments["bench-desk"]],
        SECOND: [i for c, i in site.departments.items() if c.startswith("bench-l2-")],
        THIRD: [i for c, i in site.departments.items() if c.startswith("bench-l3-")],
        SUPERVISOR: [site.departments["bench-ops"]],
    }
    business = [
        site.departments[code]
        for name, _, children in BUSINESS
        for code in (f"bench-{name}", *(f"bench-{name}-{child}" for child in children))
    ]
    site.groups = {**leaves, END_USER: business}


def _role_count(site: BenchSite, role: str) -> int:
    counts = _split(site.scale.agents)
    return counts[role]


def _split(agents: int) -> dict[str, int]:
    counts = {role: max(1, int(agents * share)) for role, share in AGENT_SHARES}
    counts[SECOND] += max(0, agents - sum(counts.values()))
    return counts


def _service_units(site: BenchSite) -> None:
    table = ServiceUnit.__table__
    first = site.reserve(table, len(CITIES))  # type: ignore[arg-type]
    now = site.timestamp(site.epoch(site.start))
    rows = []
    for offset, city in enumerate(CITIES):
        name = f"{city.split()[0]}分公司 {city.split(' ', 1)[1]} branch"
        code = f"bench-unit-{offset + 1:02}"
        key = stored_sort_key(name)
        rows.append((first + offset, code, name, key, site.flag(True), "{}", now, now, 1))
        site.service_units.append(first + offset)
    site.insert(table, UNIT_COLUMNS, rows)  # type: ignore[arg-type]


def _name(site: BenchSite) -> str:
    rng = site.rng
    given = "".join(rng.choice(GIVEN) for _ in range(1 + (rng.random() < 0.7)))
    return rng.choice(SURNAMES) + given


def _phone(site: BenchSite) -> str:
    rng = site.rng
    return f"+86 1{rng.randint(30, 99)} {rng.randint(0, 9999):04} {rng.randint(0, 9999):04}"


def _agents(site: BenchSite) -> list[tuple[str, Person]]:
    table = User.__table__
    counts = _split(site.scale.agents)
    first = site.reserve(table, sum(counts.values()))  # type: ignore[arg-type]
    found: list[tuple[str, Person]] = []
    number = 0
    units = site.service_units
    for role, count in counts.items():
        groups = site.groups[role]
        site.agents[role] = []
        for n in range(count):
            user_id = first + number
            number += 1
            department = groups[n % len(groups)]
            if department not in site.department_head:
                site.department_head[department] = user_id
            served: tuple[int, ...] = ()
            if role == DESK:
                served = tuple(
                    units[(n * UNITS_PER_DESK_AGENT + k) % len(units)]
                    for k in range(UNITS_PER_DESK_AGENT)
                )
            person = Person(user_id, _name(site), department, role, served, _phone(site))
            site.agents[role].append(person)
            site.people[user_id] = person
            found.append((f"agent{number:04}", person))
    return found


def _callers(site: BenchSite) -> list[tuple[str, Person]]:
    table = User.__table__
    count = site.scale.caller_count
    first = site.reserve(table, count)  # type: ignore[arg-type]
    business = site.groups[END_USER]
    units = site.service_units
    found = []
    for n in range(count):
        unit = units[int(site.rng.random() * len(units))]
        department = business[int(site.rng.random() * len(business))]
        phone = _phone(site) if site.rng.random() < 0.8 else None
        person = Person(first + n, _name(site), department, None, (unit,), phone)
        site.callers.append(person)
        site.people[person.id] = person
        found.append((f"user{n + 1:06}", person))
    return found


def _write_people(
    site: BenchSite,
    people: Sequence[tuple[str, Person]],
    roles: dict[str, int],
    password_hash: str | None,
) -> None:
    now = site.timestamp(site.epoch(site.start))
    users: list[tuple[Any, ...]] = []
    user_roles: list[tuple[int, int]] = []
    user_units: list[tuple[int, int]] = []
    for login, person in people:
        users.append(
            (
                person.id, login, person.name, stored_sort_key(person.name),
                f"{login}@bench.example", f"B{person.id:08}", person.phone,
                person.department_id, password_hash, site.flag(False), site.flag(True),
                "Asia/Shanghai", "{}", now, now, 1,
            )
        )  # fmt: skip
        user_roles.append((person.id, roles[person.role or END_USER]))
        user_units.extend((person.id, unit) for unit in person.service_unit_ids)
    site.insert(User.__table__, USER_COLUMNS, users)  # type: ignore[arg-type]
    first = site.reserve(UserRole.__table__, len(user_roles))  # type: ignore[arg-type]
    site.insert(
        UserRole.__table__,  # type: ignore[arg-type]
        ("id", "user_id", "role_id"),
        [(first + n, *row) for n, row in enumerate(user_roles)],
    )
    first = site.reserve(UserServiceUnit.__table__, len(user_units))  # type: ignore[arg-type]
    site.insert(
        UserServiceUnit.__table__,  # type: ignore[arg-type]
        ("id", "user_id", "service_unit_id"),
        [(first + n, *row) for n, row in enumerate(user_units)],
    )
