"""Incidents for `openitsm bench seed`: years of them, as a service desk would have them.

Opened mostly on working days and hours, a little more each year; categories, natures,
impacts and urgencies in the proportions a desk sees (the level follows from impact and
urgency, as at registration). `open_share` of them are still open, most of those recent,
spread over new, assigned, in progress and waiting; the rest were resolved (response and
resolution times by level), closed a few days later, or cancelled, and some were rated.
About one in a hundred sits under a parent incident.

Each incident gets the history the service would have written (creation with every field
set, assignment, escalation, start of work, waiting, resolution, rating, closing), numbers
`INC-<year>-<n>` with the year counters to match, and, when open, its process instance with
the open step in the right inbox and its SLA clock, computed from that history.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import marshal
import math
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select

from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.benchseed import BenchScale, BenchSite, Person
from openitsm.kernel.benchseed.sla import COLUMNS as CLOCK_COLUMNS
from openitsm.kernel.benchseed.sla import FinishedClocks, HistoryRow, RunningClocks
from openitsm.kernel.sla.models import SlaClock
from openitsm.kernel.workflow.models import (
    PUBLISHED,
    ProcessInstance,
    ProcessVersion,
    Token,
    Transition,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.plugins.incident.models import Incident, IncidentCounter
from openitsm.plugins.incident.service import LEVELS, table_level

CHUNK = 25_000
DAY = 86_400.0
HOUR = 3_600.0
OPEN_AGE_DAYS = 45.0  # open incidents are mostly recent: weight exp(-age / this)

# (category, weight, second-line group, third-line group): how often each comes, and which
# groups take it when the desk escalates.
CATEGORIES: tuple[tuple[str, float, str, str], ...] = (
    ("desktop", 6, "desktop", "sys-experts"),
    ("laptop", 8, "desktop", "sys-experts"),
    ("printer", 7, "print", "sys-experts"),
    ("peripheral", 4, "desktop", "sys-experts"),
    ("server_hw", 2, "server", "sys-experts"),
    ("os", 6, "desktop", "sys-experts"),
    ("office", 9, "desktop", "app-experts"),
    ("business_app", 10, "apps", "app-experts"),
    ("email", 8, "mail", "app-experts"),
    ("lan", 4, "network", "net-experts"),
    ("wan", 2, "network", "net-experts"),
    ("wifi", 5, "network", "net-experts"),
    ("vpn", 6, "network", "net-experts"),
    ("password", 12, "apps", "app-experts"),
    ("permission", 7, "apps", "app-experts"),
    ("virus", 1.5, "security", "sys-experts"),
    ("intrusion", 0.5, "security", "net-experts"),
    ("facility", 1.5, "desktop", "sys-experts"),
    ("other", 3, "desktop", "app-experts"),
)
TITLES: dict[str, tuple[str, ...]] = {
    "desktop": (
        "台式机无法开机 PC does not start",
        "电脑运行缓慢 PC is slow",
        "蓝屏 Blue screen",
    ),
    "laptop": (
        "笔记本电脑无法开机 Laptop does not start",
        "笔记本电池不充电 Battery not charging",
        "屏幕闪烁 Screen flickers",
    ),
    "printer": (
        "打印机卡纸 Printer jams",
        "打印机脱机 Printer offline",
        "打印质量差 Faded prints",
    ),
    "peripheral": (
        "显示器无信号 Monitor shows no signal",
        "键盘失灵 Keyboard not working",
        "扫描仪无法使用 Scanner fails",
    ),
    "server_hw": (
        "服务器硬盘告警 Server disk alarm",
        "服务器风扇故障 Server fan failure",
    ),
    "os": (
        "系统更新失败 Update fails",
        "无法登录 Windows Cannot log on to Windows",
    ),
    "office": (
        "Excel 崩溃 Excel crashes",
        "Word 无法保存 Word cannot save",
        "Office 激活失败 Office activation fails",
    ),
    "business_app": (
        "ERP 报错 ERP shows an error",
        "报销系统打不开 Expense system down",
        "OA 审批卡住 OA approval stuck",
        "CRM 数据不同步 CRM out of sync",
    ),
    "email": (
        "邮箱容量已满 Mailbox is full",
        "收不到外部邮件 No external mail",
        "Outlook 无法启动 Outlook does not start",
    ),
    "lan": (
        "网络断开 Network down",
        "网口无法上网 Wall socket dead",
    ),
    "wan": (
        "分公司专线中断 Branch line down",
        "访问总部缓慢 Slow link to HQ",
    ),
    "wifi": (
        "无线网络连不上 Wi-Fi does not connect",
        "会议室无线信号弱 Weak Wi-Fi in meeting room",
    ),
    "vpn": (
        "VPN 无法连接 VPN does not connect",
        "VPN 频繁掉线 VPN keeps dropping",
    ),
    "password": (
        "忘记密码 Forgot my password",
        "账号被锁定 Account locked",
    ),
    "permission": (
        "申请共享盘权限 Access to a share",
        "系统权限开通 Application access",
    ),
    "virus": (
        "电脑中毒 Virus found",
        "杀毒软件告警 Antivirus alert",
    ),
    "intrusion": (
        "可疑登录 Suspicious sign-in",
        "钓鱼邮件 Phishing mail",
    ),
    "facility": (
        "会议室投影故障 Projector fault",
        "门禁卡失效 Badge not working",
    ),
    "other": (
        "其他问题 Other problem",
        "咨询 Question",
    ),
}
SECURITY = frozenset({"virus", "intrusion", "security"})
NATURES = (("fault", 55.0), ("service_request", 30.0), ("consultation", 12.0), ("complaint", 3.0))
IMPACTS = (("extensive", 2.0), ("significant", 10.0), ("moderate", 38.0), ("minor", 50.0))
URGENCIES = (("critical", 3.0), ("high", 17.0), ("medium", 45.0), ("low", 35.0))
OPEN_STATUSES = (
    ("new", 12.0),
    ("assigned", 28.0),
    ("in_progress", 42.0),
    ("waiting_for_customer", 18.0),
)
# Which line resolves it: the desk, the 2nd line, the 3rd line.
TIERS = (("desk", 55.0), ("second", 34.0), ("third", 11.0))
# Median first response and resolution (seconds) by level; both log-normal.
RESPONSE = {"p1": 5 * 60, "p2": 15 * 60, "p3": 30 * 60, "p4": 60 * 60, None: 60 * 60}
RESOLUTION = {"p1": 3 * HOUR, "p2": 8 * HOUR, "p3": 1.5 * DAY, "p4": 3 * DAY, None: 3 * DAY}
SATISFACTION = ((5, 55.0), (4, 28.0), (3, 10.0), (2, 4.0), (1, 3.0))
RATING_COMMENTS = ("很快 Quick, thanks", "态度很好 Friendly", "还行 OK", "太慢了 Too slow")
RESOLUTIONS = (
    "<p>已远程处理 Fixed remotely.</p>",
    "<p>更换配件后恢复 Replaced a part; works again.</p>",
    "<p>重置配置后恢复 Reset the configuration.</p>",
    "<p>指导用户操作 Walked the caller through it.</p>",
    "<p>重启服务后恢复 Restarted the service.</p>",
)
# The open step of the incident process by the line that holds it: node, name, the flow it
# came by, and roughly its deadline in wall-clock time (the process counts business time).
STEPS = {
    "desk": ("desk", "一线处理", "to_desk", 2 * HOUR),
    "second": ("second_line", "二线处理", "desk_escalated", 1 * DAY),
    "third": ("third_line", "三线专家处理", "second_escalated", 3 * DAY),
}
FLOORS = ("A", "B", "C", "D")
JSON_TEXT = {text: json.dumps(text) for text in (*RESOLUTIONS, *RATING_COMMENTS)}
# The JSON text of the codes a history change names, made once.
QUOTED = {
    code: json.dumps(code)
    for code in (
        *(c[0] for c in CATEGORIES),
        *(value for value, _ in (*NATURES, *IMPACTS, *URGENCIES)),
        *LEVELS,
    )
}

INCIDENT_COLUMNS = (
    "id", "number", "title", "description", "caller_id", "contact_phone", "category", "nature",
    "impact", "urgency", "level", "status", "assignee_id", "group_id", "service_unit_id",
    "parent_id", "opened_at", "responded_at", "resolved_at", "closed_at", "resolution", "cost",
    "work_hours", "satisfaction", "satisfaction_comment", "created_at", "updated_at",
    "version", "custom_fields",
)  # fmt: skip
EVENT_COLUMNS = ("id", "at", "record_kind", "record_id", "action", "actor_id", "actor_label")
CHANGE_COLUMNS = ("event_id", "field", "old_value", "new_value")
INSTANCE_COLUMNS = (
    "id", "process_key", "process_version_id", "title", "state", "record_kind", "record_id",
    "starter_id", "variables", "created_at", "updated_at", "version",
)  # fmt: skip
TOKEN_COLUMNS = ("id", "instance_id", "node_id", "state", "arrived_via", "entered_at", "created_at")
ITEM_COLUMNS = (
    "id", "instance_id", "token_id", "node_id", "name", "state", "assignee_id", "due_at",
    "remind_at", "escalated_at", "urged", "created_at", "version",
)  # fmt: skip
CANDIDATE_COLUMNS = ("work_item_id", "role_code")
TRANSITION_COLUMNS = (
    "instance_id", "at", "action", "actor_id", "actor_label", "from_node", "to_node", "details",
)  # fmt: skip
NULL = "null"
# What `_Writer.batches` hands over for each batch: how many incidents are made up so far
# (None for the year counters), the rows (table name, columns, rows) in the order they are
# written, the last id the batch gave out in each table whose ids rows name, and the
# counts to report. Tuples, lists and dicts of text and numbers: `marshal` carries them.
Made = tuple[
    int | None,
    list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]],
    dict[str, int],
    list[tuple[str, int]],
]
Batches = Generator[Made, None, None]
TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Incident.__table__, AuditEvent.__table__, AuditChange.__table__,
        ProcessInstance.__table__, Token.__table__, WorkItem.__table__,
        WorkItemCandidate.__table__, Transition.__table__, SlaClock.__table__,
        IncidentCounter.__table__,
    )
}  # fmt: skip


def seed(site: BenchSite, scale: BenchScale) -> None:
    """Write `scale.incidents` incidents with everything that hangs off them.

    Making up an incident costs about as much as writing it. On SQLite, where the system
    forks, a child process makes up the batches while this one writes the one before (see
    `_made_apart`); elsewhere one batch is made up, then written. A second thread would
    not do: the driver takes Python's lock back for every row it binds, and a thread
    writing while another made up the next batch was measured slower than one doing both."""
    total = scale.incidents
    if total <= 0:
        return
    writer = _Writer(site, scale)
    opened = writer.opening_times(total)
    still_open = writer.choose_open(opened, round(total * scale.open_share))
    first = site.reserve(Incident.__table__, total)  # type: ignore[arg-type]
    made = writer.batches(first, opened, still_open)
    if _forks(site):
        site.checkpoint()  # the child inherits a connection with nothing left to write
        made = _made_apart(made)
    with contextlib.closing(made):
        for done, tables, last, reports in made:
            for name, columns, rows in tables:
                table = TABLES[name]
                if name in last:
                    _advance(site, table, last[name], len(rows))
                site.insert(table, columns, rows)
            for what, count in reports:
                site.report(what, count)
            site.checkpoint()
            if done is not None:
                site.echo(f"  incidents: {done:,} of {total:,}")
    site.report("incidents", total)
    site.checkpoint()


def _advance(site: BenchSite, table: Table, last: int, used: int) -> None:
    """Take a batch's `used` ids of `table` from the site's reservation; they must be the
    ones the batch gave out, up to `last` (nothing else writes these tables meanwhile)."""
    first = site.reserve(table, used)
    if first != last - used + 1:
        raise RuntimeError(f"ids of {table.name} were taken while incidents were seeded")


def _forks(site: BenchSite) -> bool:
    """Whether a child process makes up the batches: on SQLite, whose rows are plain text
    and numbers (what `marshal` carries), on Linux, where forking is safe, and with a second
    processor to run it on (on one, the handing over would only cost)."""
    return (
        site.dialect == "sqlite"
        and sys.platform.startswith("linux")
        and len(os.sched_getaffinity(0)) > 1
    )


def _made_apart(made: Batches) -> Batches:
    """The batches of `made`, made up in a child process that hands each over as soon as
    it is made and starts on the next while this process writes it.

    The child touches no database (`_Writer` read everything beforehand), never returns
    (`os._exit`: nothing it inherited is cleaned up, so no connection of this process is
    closed or rolled back from there), and is killed if this process stops reading."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    child = os.fork()
    if child == 0:
        status = 1
        try:
            receiving.close()
            for batch in made:
                sending.send_bytes(marshal.dumps(("batch", batch)))
            sending.send_bytes(marshal.dumps(("end", None)))
            status = 0
        except BaseException:
            with contextlib.suppress(BaseException):
                sending.send_bytes(marshal.dumps(("failed", traceback.format_exc())))
        finally:
            os._exit(status)
    sending.close()
    ended = False
    try:
        while True:
            try:
                kind, value = marshal.loads(receiving.recv_bytes())
            except EOFError:
                raise RuntimeError("the process making up incidents stopped") from None
            if kind == "failed":
                raise RuntimeError(f"making up incidents failed in a child process:\n{value}")
            if kind == "end":
                ended = True
                return
            yield value
    finally:
        receiving.close()
        if not ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


@dataclass
class _Batch:
    incidents: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    instances: list[tuple[Any, ...]] = field(default_factory=list)
    tokens: list[tuple[Any, ...]] = field(default_factory=list)
    items: list[tuple[Any, ...]] = field(default_factory=list)
    candidates: list[tuple[Any, ...]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    histories: dict[int, list[HistoryRow]] = field(default_factory=dict)
    finished: list[tuple[Any, ...] | None] = field(default_factory=list)


@dataclass(slots=True)
class _Life:
    """One incident as it is being made up: its facts, and when each step happened."""

    incident_id: int
    opened: float
    still_open: bool
    caller: Person = None  # type: ignore[assignment]
    registrar: Person = None  # type: ignore[assignment]
    holder: Person | None = None
    first_holder: Person | None = None
    unit: int | None = None
    number: str = ""
    title: str = ""
    title_json: str = ""
    description: str | None = None
    description_json: str | None = None
    category: str = ""
    nature: str = ""
    impact: str = ""
    urgency: str = ""
    level: str | None = None
    tier: str = "desk"
    status: str = "new"
    parent_id: int | None = None
    assigned_at: float | None = None
    escalated_at: float | None = None
    started_at: float | None = None
    waited_at: float | None = None
    resumed_at: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    rated_at: float | None = None
    resolution: str | None = None
    cost: str | None = None
    hours: str | None = None
    satisfaction: int | None = None
    comment: str | None = None


class _Writer:
    """The state of one seed: who may do what, the counters, the ids given out."""

    def __init__(self, site: BenchSite, scale: BenchScale) -> None:
        self.site, self.scale, self.rng = site, scale, site.rng
        self.start = site.epoch(site.start)
        self.now = site.epoch(site.now)
        self.sqlite = site.dialect == "sqlite"
        self.zone = ZoneInfo(_time_zone(site))
        self.version_id = site.connection.scalar(
            select(ProcessVersion.id)
            .where(ProcessVersion.key == "incident", ProcessVersion.state == PUBLISHED)
            .order_by(ProcessVersion.number.desc())
            .limit(1)
        )
        self.desk = site.agents["service_desk_agent"]
        self.second = _by_group(site, "second_line_engineer")
        self.third = _by_group(site, "third_line_expert")
        self.desk_by_unit: dict[int, list[Person]] = {}
        for agent in self.desk:
            for unit in agent.service_unit_ids:
                self.desk_by_unit.setdefault(unit, []).append(agent)
        self.labels = {person.id: json.dumps(person.name) for person in site.people.values()}
        self.categories = [c[0] for c in CATEGORIES]
        self.category_weights = _cumulative(c[1] for c in CATEGORIES)
        self.category_info = {c[0]: c for c in CATEGORIES}
        self.titles = {code: [(t, json.dumps(t)) for t in TITLES[code]] for code in TITLES}
        self.years: list[tuple[float, int]] = []
        year = dt.datetime.fromtimestamp(self.start, self.zone).year
        while True:
            begins = dt.datetime(year, 1, 1, tzinfo=self.zone).timestamp()
            if begins > self.now:
                break
            self.years.append((begins, year))
            year += 1
        self.counters: dict[int, int] = {}
        self._format = site.timestamp_function()
        self.finished = FinishedClocks(site, "incident")
        self.running = RunningClocks(site, "incident")
        self._stamps: dict[float, Any] = {}
        self.statuses = bytearray()  # 1 = open, 0 = finished, by incident index
        self.first_incident = 0
        # The last id given out per table; rows name each other's ids while being made, and
        # `seed` takes each batch's ids from the site's reservation.
        self.event_id = site.reserve(AuditEvent.__table__, 0) - 1  # type: ignore[arg-type]
        self.instance_id = site.reserve(ProcessInstance.__table__, 0) - 1  # type: ignore[arg-type]
        self.token_id = site.reserve(Token.__table__, 0) - 1  # type: ignore[arg-type]
        self.item_id = site.reserve(WorkItem.__table__, 0) - 1  # type: ignore[arg-type]

    # --- when ---------------------------------------------------------------------------

    def opening_times(self, total: int) -> list[float]:
        """`total` instants between `start` and `now`, sorted: working days weigh four
        times a weekend day, office hours most, and the load grows by a third over the
        span."""
        rng, zone = self.rng, self.zone
        first_day = dt.datetime.fromtimestamp(self.start, zone).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        days = math.ceil((self.now - first_day.timestamp()) / DAY) + 1
        weights = []
        starts = []
        for n in range(days):
            day = first_day + dt.timedelta(days=n)
            weights.append((1.0 if day.weekday() < 5 else 0.25) * (1 + n / days / 3))
            starts.append(day.timestamp())
        hour_weights = (
            1,
            1,
            1,
            1,
            1,
            2,
            4,
            10,
            30,
            45,
            42,
            35,
            18,
            25,
            38,
            36,
            30,
            20,
            10,
            7,
            5,
            4,
            2,
            1,
        )
        day_of = rng.choices(range(days), weights=weights, k=total)
        hour_of = rng.choices(range(24), weights=hour_weights, k=total)
        times = []
        for day, hour in zip(day_of, hour_of, strict=True):
            moment = starts[day] + hour * HOUR + rng.random() * HOUR
            if moment >= self.now or moment < self.start:
                moment = self.now - rng.random() * 30 * DAY
            times.append(round(moment, 6))
        times.sort()
        return times

    def choose_open(self, opened: Sequence[float], count: int) -> bytearray:
        """Which incidents are still open: `count` of them drawn with weight
        exp(-age / 45 days) (Efraimidis-Spirakis keys), so most are recent and a few old."""
        rng = self.rng
        keys = [
            math.log(rng.random() or 1e-12)
            * math.exp(min(700.0, (self.now - t) / DAY / OPEN_AGE_DAYS))
            for t in opened
        ]
        chosen = bytearray(len(opened))
        if count <= 0:
            return chosen
        order = sorted(range(len(opened)), key=keys.__getitem__, reverse=True)
        for index in order[:count]:
            chosen[index] = 1
        return chosen

    def _year(self, moment: float) -> int:
        return self.years[max(0, bisect.bisect_right(self.years, (moment, 10**6)) - 1)][1]

    def _stamp(self, moment: float | None) -> Any:
        """`moment` as stored; each instant of one incident is formatted once."""
        if moment is None:
            return None
        found = self._stamps.get(moment)
        if found is None:
            found = self._stamps[moment] = self._format(moment)
        return found

    def _lognormal(self, median: float, sigma: float = 1.0) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    # --- one incident -------------------------------------------------------------------

    def incident(self, batch: _Batch, incident_id: int, opened: float, still_open: bool) -> None:
        rng, site = self.rng, self.site
        if not self.statuses:
            self.first_incident = incident_id
        self._stamps = {}
        life = _Life(incident_id=incident_id, opened=opened, still_open=still_open)
        life.caller = caller = site.pick(site.callers)
        life.unit = caller.service_unit_ids[0] if caller.service_unit_ids else None
        category = self.categories[
            bisect.bisect(self.category_weights, rng.random() * self.category_weights[-1])
        ]
        life.category = category
        info = self.category_info[category]
        life.nature = "fault" if category in SECURITY else _choose(rng, NATURES)
        life.impact, life.urgency = _choose(rng, IMPACTS), _choose(rng, URGENCIES)
        life.level = table_level(life.impact, life.urgency)
        titles = self.titles[category]
        life.title, life.title_json = titles[int(rng.random() * len(titles))]
        if rng.random() < 0.5:
            where = f" ({FLOORS[int(rng.random() * 4)]}{1 + int(rng.random() * 20)})"
            life.title += where
            life.title_json = life.title_json[:-1] + where + '"'  # `where` is plain ASCII
        if rng.random() < 0.6:
            life.description = f"<p>{caller.name}: {life.title}</p>"
            name = self.labels[caller.id][1:-1]
            life.description_json = f'"<p>{name}: {life.title_json[1:-1]}</p>"'
        desks = self.desk_by_unit.get(life.unit or 0) or self.desk
        life.registrar = caller if rng.random() < 0.15 else site.pick(desks)
        desk_agent = life.registrar if life.registrar.role else site.pick(desks)
        life.tier = "second" if category in SECURITY else _choose(rng, TIERS)
        if life.tier == "desk":
            assignee = desk_agent
        elif life.tier == "second":
            assignee = site.pick(self.second[info[2]])
        else:
            assignee = site.pick(self.third[info[3]])
        year = self._year(opened)
        self.counters[year] = self.counters.get(year, 0) + 1
        life.number = f"INC-{year}-{self.counters[year]:06d}"
        self._timeline(life)
        if life.assigned_at is not None:
            life.holder = assignee
            # Escalated: the desk held it first (security goes to the 2nd line at once).
            escalates = life.tier != "desk" and category not in SECURITY
            life.first_holder = desk_agent if escalates else assignee
            if not escalates:
                life.escalated_at = None
        else:
            life.escalated_at = None
        life.parent_id = self._parent(incident_id, still_open)
        self._outcome(life)
        version, updated = self._history(batch, life)
        holder = life.holder
        batch.incidents.append(
            (
                incident_id, life.number, life.title, life.description, caller.id,
                caller.phone, category, life.nature, life.impact, life.urgency, life.level,
                life.status, holder.id if holder else None,
                holder.department_id if holder else None, life.unit, life.parent_id,
                self._stamp(opened), self._stamp(life.started_at),
                self._stamp(life.resolved_at), self._stamp(life.closed_at), life.resolution,
                life.cost, life.hours, life.satisfaction, life.comment, self._stamp(opened),
                updated, version, "{}",
            )
        )  # fmt: skip
        self.statuses.append(1 if still_open else 0)
        if still_open:
            self._open_step(batch, life)
        else:
            stopped = life.resolved_at if life.resolved_at is not None else life.closed_at
            batch.finished.append(
                self.finished.row(
                    incident_id, life.level, life.unit, opened, life.started_at, stopped or opened
                )
            )

    def _timeline(self, life: _Life) -> None:
        """When each step happened (None: it did not), and the status it left."""
        rng, now, opened = self.rng, self.now, life.opened
        respond = self._lognormal(RESPONSE[life.level], 1.0)
        if life.still_open:
            status = _choose(rng, OPEN_STATUSES)
            if status == "new" and now - opened > 3 * DAY:
                status = "assigned"
            if status != "new":
                life.assigned_at = min(opened + respond * 0.4, now - 1)
            if status in ("in_progress", "waiting_for_customer"):
                life.started_at = min(opened + respond, now - 0.5)
            if life.assigned_at is not None:
                until = life.started_at or now
                life.escalated_at = life.assigned_at + (until - life.assigned_at) * 0.5
            if status == "waiting_for_customer" and life.started_at is not None:
                life.waited_at = life.started_at + (now - life.started_at) * rng.random() * 0.5
            life.status = status
            return
        if rng.random() < 0.04:
            life.status = "cancelled"
            life.closed_at = min(opened + self._lognormal(2 * HOUR), now - 1)
            return
        took = self._lognormal(RESOLUTION[life.level], 1.1) * (2 if life.tier == "third" else 1)
        resolved = min(opened + respond + took, now - 60)
        started = min(opened + respond, resolved - 1)
        assigned = min(opened + respond * 0.4, started - 1)
        life.assigned_at, life.started_at, life.resolved_at = assigned, started, resolved
        life.escalated_at = assigned + (started - assigned) * 0.5
        if rng.random() < 0.1:
            life.waited_at = started + (resolved - started) * 0.3
            life.resumed_at = started + (resolved - started) * 0.6
        life.status = "resolved"
        closing = resolved + (0.5 + rng.random() * 4.5) * DAY
        if closing < now:
            life.closed_at, life.status = closing, "closed"

    def _outcome(self, life: _Life) -> None:
        """Resolution, cost, hours and the caller's rating of a resolved incident."""
        rng = self.rng
        if life.resolved_at is None:
            return
        life.resolution = RESOLUTIONS[int(rng.random() * len(RESOLUTIONS))]
        if rng.random() < 0.2:
            life.cost = f"{rng.choice((0, 50, 120, 300, 800))}.00"
        if rng.random() < 0.7:
            life.hours = f"{0.25 * (1 + int(rng.random() * 16)):.2f}"
        if rng.random() < 0.35:
            life.satisfaction = _choose(rng, SATISFACTION)
            if rng.random() < 0.3:
                life.comment = RATING_COMMENTS[int(rng.random() * len(RATING_COMMENTS))]
            later = life.closed_at if life.closed_at is not None else self.now
            life.rated_at = life.resolved_at + (later - life.resolved_at) * 0.5

    def _parent(self, incident_id: int, still_open: bool) -> int | None:
        """About one incident in a hundred sits under an earlier one (a major incident);
        an open child only under an open parent."""
        index = incident_id - self.first_incident
        if index < 50 or self.rng.random() >= 0.01:
            return None
        parent_index = index - 1 - int(self.rng.random() * 50)
        if still_open and not self.statuses[parent_index]:
            return None
        return self.first_incident + parent_index

    def _history(self, batch: _Batch, life: _Life) -> tuple[int, Any]:
        """The audit events and changes the service would have written, in order; for an
        open incident also its SLA history. Returns the number of events and the stored
        time of the latest.

        Each change row is made once, with its event's id: an incident has some twenty of
        them, a million incidents some twenty million."""
        changes = batch.changes
        sla: list[HistoryRow] | None = [] if life.still_open else None
        incident_id = life.incident_id
        times: list[float] = []
        stamp, history_time = self._stamp, self.site.history_time
        labels, events = self.labels, batch.events
        # The instants of the events, formatted as they are stored; `_stamp` finds them here.
        stamps, format_time = self._stamps, self._format

        def event(at: float, actor: Person | None, action: str = "update") -> int:
            self.event_id += 1
            event_id = self.event_id
            stored = stamps[at] = format_time(at)
            if actor is None:
                events.append((event_id, stored, "incident", incident_id, action, None, "system"))
            else:
                events.append(
                    (event_id, stored, "incident", incident_id, action, actor.id, labels[actor.id])
                )
            times.append(at)
            return event_id

        def track(event_id: int, at: float, action: str, name: str, value: Any) -> None:
            if sla is not None:
                when = dt.datetime.fromtimestamp(at, dt.UTC)
                sla.append(HistoryRow(incident_id, event_id, when, action, name, value))

        caller, registrar = life.caller, life.registrar
        opened = life.opened
        event_id = event(opened, registrar, "create")
        changes += (
            (event_id, "number", NULL, f'"{life.number}"'),
            (event_id, "title", NULL, life.title_json),
            (event_id, "caller_id", NULL, str(caller.id)),
        )
        if life.description_json:
            changes.append((event_id, "description", NULL, life.description_json))
        if caller.phone:
            changes.append((event_id, "contact_phone", NULL, f'"{caller.phone}"'))
        changes += (
            (event_id, "category", NULL, QUOTED[life.category]),
            (event_id, "nature", NULL, QUOTED[life.nature]),
            (event_id, "impact", NULL, QUOTED[life.impact]),
            (event_id, "urgency", NULL, QUOTED[life.urgency]),
        )
        if life.level:
            changes.append((event_id, "level", NULL, QUOTED[life.level]))
        changes.append((event_id, "status", NULL, '"new"'))
        if life.unit:
            changes.append((event_id, "service_unit_id", NULL, str(life.unit)))
        changes.append((event_id, "opened_at", NULL, f'"{history_time(stamp(opened))}"'))
        if sla is not None:
            if life.level is not None:
                track(event_id, opened, "create", "level", life.level)
            track(event_id, opened, "create", "status", "new")
            if life.unit is not None:
                track(event_id, opened, "create", "service_unit_id", life.unit)
        if life.parent_id is not None:
            event_id = event(opened + 300, registrar)
            changes.append((event_id, "parent_id", NULL, str(life.parent_id)))
        status = '"new"'
        first, holder = life.first_holder, life.holder
        at = life.assigned_at
        if at is not None and first is not None:
            event_id = event(at, registrar if registrar.role else first)
            changes += (
                (event_id, "status", '"new"', '"assigned"'),
                (event_id, "assignee_id", NULL, str(first.id)),
                (event_id, "group_id", NULL, str(first.department_id)),
            )
            track(event_id, at, "update", "status", "assigned")
            status = '"assigned"'
        at = life.escalated_at
        if at is not None and holder is not None and first is not None:
            event_id = event(at, first)
            changes += (
                (event_id, "assignee_id", str(first.id), str(holder.id)),
                (event_id, "group_id", str(first.department_id), str(holder.department_id)),
            )
        at = life.started_at
        if at is not None:
            responded = history_time(stamp(at))
            event_id = event(at, holder)
            changes += (
                (event_id, "status", status, '"in_progress"'),
                (event_id, "responded_at", NULL, f'"{responded}"'),
            )
            track(event_id, at, "update", "status", "in_progress")
            track(event_id, at, "update", "responded_at", responded)
            status = '"in_progress"'
        at = life.waited_at
        if at is not None:
            event_id = event(at, holder)
            changes.append((event_id, "status", '"in_progress"', '"waiting_for_customer"'))
            track(event_id, at, "update", "status", "waiting_for_customer")
            status = '"waiting_for_customer"'
        if life.resumed_at is not None:
            event_id = event(life.resumed_at, holder)
            changes.append((event_id, "status", status, '"in_progress"'))
            status = '"in_progress"'
        at = life.resolved_at
        if at is not None:
            event_id = event(at, holder)
            changes.append((event_id, "resolution", NULL, JSON_TEXT[life.resolution]))
            if life.cost is not None:
                changes.append((event_id, "cost", NULL, f'"{life.cost}"'))
            if life.hours is not None:
                changes.append((event_id, "work_hours", NULL, f'"{life.hours}"'))
            changes += (
                (event_id, "status", status, '"resolved"'),
                (event_id, "resolved_at", NULL, f'"{history_time(stamp(at))}"'),
            )
            status = '"resolved"'
        if life.rated_at is not None and life.satisfaction is not None:
            event_id = event(life.rated_at, caller)
            changes.append((event_id, "satisfaction", NULL, str(life.satisfaction)))
            if life.comment:
                changes.append((event_id, "satisfaction_comment", NULL, JSON_TEXT[life.comment]))
        at = life.closed_at
        if at is not None:
            final = '"cancelled"' if life.status == "cancelled" else '"closed"'
            # Half the resolved ones close by themselves after the confirmation period.
            automatic = life.status == "closed" and self.rng.random() < 0.5
            event_id = event(at, None if automatic else (registrar if registrar.role else first))
            changes += (
                (event_id, "status", status, final),
                (event_id, "closed_at", NULL, f'"{history_time(stamp(at))}"'),
            )
        if sla is not None:
            batch.histories[incident_id] = sla
        return len(times), stamp(max(times))

    def _open_step(self, batch: _Batch, life: _Life) -> None:
        """The running process instance of an open incident and its open step: at the desk
        and offered to the desk's role while nobody holds it, else with its holder's line."""
        now = self.now
        self.instance_id += 1
        self.token_id += 1
        self.item_id += 1
        instance, token, item = self.instance_id, self.token_id, self.item_id
        holder = life.holder
        line = life.tier if holder is not None else "desk"
        node, name, via, deadline = STEPS[line]
        if line == "second" and life.category in SECURITY:
            via = "security_to_second"
        entered = life.escalated_at or life.assigned_at or life.opened
        opened = self._stamp(life.opened)
        since = self._stamp(entered)
        registrar = life.registrar
        batch.instances.append(
            (instance, "incident", self.version_id, f"{life.number} {life.title}", "running",
             "incident", life.incident_id, registrar.id, "{}", opened, since, 1)
        )  # fmt: skip
        batch.tokens.append((token, instance, node, "waiting", via, since, since))
        due = entered + deadline
        overdue = due <= now
        batch.items.append(
            (item, instance, token, node, name, "open", holder.id if holder else None,
             self._stamp(due), None if overdue else self._stamp(due - 1800),
             self._stamp(due + 60) if overdue else None, 0, since, 1)
        )  # fmt: skip
        if holder is None:
            batch.candidates.append((item, "service_desk_agent"))
        label = self.labels[registrar.id]
        batch.transitions.append(
            (instance, opened, "start", registrar.id, label, None, "registered", "{}")
        )
        batch.transitions.append(
            (instance, since, "assign", registrar.id, label, None, node, '{"items": 1}')
        )

    # --- writing ------------------------------------------------------------------------

    def batches(self, first: int, opened: Sequence[float], still_open: bytearray) -> Batches:
        """The incidents `first`, `first + 1`, … opened at `opened`, still open where
        `still_open` says so, made up `CHUNK` at a time; then the year counters."""
        total = len(opened)
        for start in range(0, total, CHUNK):
            end = min(total, start + CHUNK)
            batch = _Batch()
            for index in range(start, end):
                self.incident(batch, first + index, opened[index], bool(still_open[index]))
            yield self.made(batch, end)
        yield None, [self.counter_rows()], {}, []

    def made(self, batch: _Batch, done: int) -> Made:
        """A batch's rows, table by table in the order they are written, with its SLA
        clocks computed."""
        running = self.running.rows(batch.histories)
        finished = [row for row in batch.finished if row is not None]
        tables: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = [
            (Incident.__tablename__, INCIDENT_COLUMNS, batch.incidents),
            (AuditEvent.__tablename__, EVENT_COLUMNS, batch.events),
            (AuditChange.__tablename__, CHANGE_COLUMNS, batch.changes),
            (ProcessInstance.__tablename__, INSTANCE_COLUMNS, batch.instances),
            (Token.__tablename__, TOKEN_COLUMNS, batch.tokens),
            (WorkItem.__tablename__, ITEM_COLUMNS, batch.items),
            (WorkItemCandidate.__tablename__, CANDIDATE_COLUMNS, batch.candidates),
            (Transition.__tablename__, TRANSITION_COLUMNS, batch.transitions),
            (SlaClock.__tablename__, CLOCK_COLUMNS, running),
            (SlaClock.__tablename__, CLOCK_COLUMNS, finished),
        ]
        reports = [
            ("history events", len(batch.events)),
            ("history changes", len(batch.changes)),
            ("open steps", len(batch.items)),
            ("SLA clocks", len(running) + len(finished)),
        ]
        return done, tables, self.last_ids(), reports

    def last_ids(self) -> dict[str, int]:
        return {
            AuditEvent.__tablename__: self.event_id,
            ProcessInstance.__tablename__: self.instance_id,
            Token.__tablename__: self.token_id,
            WorkItem.__tablename__: self.item_id,
        }

    def counter_rows(self) -> tuple[str, tuple[str, ...], list[tuple[Any, ...]]]:
        rows: list[tuple[Any, ...]] = sorted(self.counters.items())
        return IncidentCounter.__tablename__, ("year", "value"), rows


def _by_group(site: BenchSite, role: str) -> dict[str, list[Person]]:
    """The agents of `role` by their group's code suffix (`network`, `net-experts`)."""
    codes = {department: code for code, department in site.departments.items()}
    found: dict[str, list[Person]] = {}
    for person in site.agents.get(role, []):
        code = codes.get(person.department_id or 0, "")
        found.setdefault(code.split("-", 2)[-1], []).append(person)
    every = [p for people in found.values() for p in people]
    wanted = {c[2] for c in CATEGORIES} | {c[3] for c in CATEGORIES}
    for name in wanted:
        found.setdefault(name, every or site.agents["service_desk_agent"])
    return found


def _choose(rng: Any, options: Sequence[tuple[Any, float]]) -> Any:
    values, cumulative = _TABLES.get(id(options)) or _table(options)
    return values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


_TABLES: dict[int, tuple[tuple[Any, ...], list[float]]] = {}


def _table(options: Sequence[tuple[Any, float]]) -> tuple[tuple[Any, ...], list[float]]:
    """The values and cumulative weights of a constant table of choices, made once."""
    found = (tuple(value for value, _ in options), _cumulative(w for _, w in options))
    _TABLES[id(options)] = found
    return found


def _cumulative(weights: Any) -> list[float]:
    found, running = [], 0.0
    for weight in weights:
        running += weight
        found.append(running)
    return found


def _time_zone(site: BenchSite) -> str:
    try:
        settings = site.kernel.plugins.settings_of("incident")
    except Exception:  # registered without its settings (tests)
        settings = None
    return str(getattr(settings, "time_zone", "Asia/Shanghai"))


__all__ = ["seed"]
