"""Duty rotas (值班): their rules, who is on duty when, who may see and change them, GraphQL."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel import Actor, Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import duty
from openitsm.kernel.organisation import service as org
from openitsm.kernel.organisation.duty_models import DutyShift
from openitsm.kernel.testing import actor_of, error_codes, gql
from openitsm.kernel.workflow.definition import DUTY_KEY

UTC = dt.UTC
SHANGHAI = "Asia/Shanghai"
HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _gid(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


class Duty:
    """Ann, Bob and Cy; Max keeps the rotas (supervisor), Rex reads the organisation, Pat is
    a plain user. `desk` is an empty rota."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.ids: dict[str, int] = {}
        with kernel.session() as session:
            for login in ("ann", "bob", "cy", "max", "rex", "pat"):
                self.ids[login] = identity.create_user(session, login, login.title()).id
            org.grant_role(session, self.ids["max"], org.role_by_code(session, "supervisor").id)
            reader = org.create_role(
                session,
                action_registry(kernel),
                code="reader",
                labels={"en": "Reader"},
                actions=["org.read"],
            )
            org.grant_role(session, self.ids["rex"], reader.id)
        self.desk = self.create("desk", "Service desk duty").id

    def actor(self, login: str) -> Actor:
        return actor_of(self.kernel, self.ids[login])

    def create(self, key: str, name: str, **extra: Any) -> Any:
        with self.kernel.session() as session:
            return duty.create_rota(session, self.actor("max"), key=key, name=name, **extra)

    def shift(
        self, login: str, start: dt.datetime, end: dt.datetime, rota: int | None = None
    ) -> int:
        with self.kernel.session() as session:
            return duty.add_shift(
                session, self.actor("max"), rota or self.desk, self.ids[login], start, end
            ).id

    def on(self, at: dt.datetime, key: str = "desk") -> list[str]:
        names = {v: k for k, v in self.ids.items()}
        with self.kernel.session() as session:
            return [names[uid] for uid in duty.on_duty(session, key, at)]

    def shifts(self) -> int:
        with self.kernel.session() as session:
            return session.scalar(select(func.count()).select_from(DutyShift)) or 0


@pytest.fixture
def rotas(kernel: Kernel) -> Duty:
    return Duty(kernel)


def refused(call: Any, error: type[Exception] = BadUserInput) -> Any:
    with pytest.raises(error) as caught:
        call()
    return caught.value


def test_rota_validation_and_the_key_the_workflow_accepts(rotas: Duty) -> None:
    kernel, boss = rotas.kernel, rotas.actor("max")
    for key in ("Desk", "9desk", "night-desk", "", "x" * 65):
        with kernel.session() as session:
            error = refused(lambda k=key: duty.create_rota(session, boss, key=k, name="N"))
        assert error.extensions["field"] == "key"
        assert not DUTY_KEY.match(key)
    assert DUTY_KEY.pattern == duty.KEY.pattern
    with kernel.session() as session:
        error = refused(lambda: duty.create_rota(session, boss, key="desk", name="Again"))
    assert error.extensions["field"] == "key" and "taken" in str(error)
    with kernel.session() as session:
        error = refused(lambda: duty.create_rota(session, boss, key="night", name="  "))
    assert error.extensions["field"] == "name"
    night = rotas.create("night_desk", "Night duty")
    assert (night.key, night.name, night.active) == ("night_desk", "Night duty", True)


def test_managing_needs_duty_manage_granted_to_supervisors_and_administrators(
    rotas: Duty,
) -> None:
    kernel = rotas.kernel
    start = dt.datetime.now(UTC)
    for login in ("pat", "rex", "ann"):
        actor = rotas.actor(login)
        with kernel.session() as session:
            refused(lambda a=actor: duty.create_rota(session, a, key="x", name="X"), Forbidden)
        with kernel.session() as session:
            refused(
                lambda a=actor: duty.add_shift(
                    session, a, rotas.desk, rotas.ids["ann"], start, start + HOUR
                ),
                Forbidden,
            )
    with kernel.session() as session:
        refused(
            lambda: duty.create_rota(session, Actor(user_id=None, label="anon"), key="x", name="X"),
            Unauthenticated,
        )
        admin_role = org.role_by_code(session, "administrator")
        assert "duty.manage" in org.role_actions(session, admin_role.id)
        supervisor = org.role_by_code(session, "supervisor")
        assert "duty.manage" in org.role_actions(session, supervisor.id)
    assert rotas.actor("max").can("duty.manage")


def test_a_shift_ends_after_it_starts_and_takes_active_people_only(rotas: Duty) -> None:
    kernel, boss = rotas.kernel, rotas.actor("max")
    ann = rotas.ids["ann"]
    cases = [
        (T0, T0, "endsAt"),
        (T0, T0 - HOUR, "endsAt"),
        (T0.replace(tzinfo=None), T0 + HOUR, "startsAt"),
        (T0, T0 + dt.timedelta(days=32), "endsAt"),
    ]
    for start, end, field in cases:
        with kernel.session() as session:
            error = refused(
                lambda s=start, e=end: duty.add_shift(session, boss, rotas.desk, ann, s, e)
            )
        assert error.extensions["field"] == field
    with kernel.session() as session:
        user = org.get_user(session, rotas.ids["cy"])
        org.deactivate_user(session, user.id)
    with kernel.session() as session:
        error = refused(
            lambda: duty.add_shift(session, boss, rotas.desk, rotas.ids["cy"], T0, T0 + HOUR)
        )
    assert error.extensions["field"] == "user" and "Cy" in str(error)
    with kernel.session() as session:
        refused(lambda: duty.add_shift(session, boss, 999_999, ann, T0, T0 + HOUR), NotFound)
    assert rotas.shifts() == 0


def test_one_persons_shifts_on_one_rota_may_not_overlap(rotas: Duty) -> None:
    rotas.shift("ann", T0, T0 + 8 * HOUR)
    for start, end in (
        (T0 + HOUR, T0 + 2 * HOUR),  # inside
        (T0 - HOUR, T0 + HOUR),  # across the start
        (T0 + 7 * HOUR, T0 + 9 * HOUR),  # across the end
        (T0 - HOUR, T0 + 9 * HOUR),  # around it
    ):
        with pytest.raises(BadUserInput) as caught:
            rotas.shift("ann", start, end)
        assert caught.value.extensions["field"] == "startsAt"
        assert "already on duty" in str(caught.value)
    rotas.shift("ann", T0 + 8 * HOUR, T0 + 16 * HOUR)  # back to back: the end is exclusive
    rotas.shift("ann", T0 - 2 * HOUR, T0)
    rotas.shift("bob", T0, T0 + 8 * HOUR)  # someone else at the same time
    other = rotas.create("weekend", "Weekend duty").id
    rotas.shift("ann", T0, T0 + 8 * HOUR, rota=other)  # the same person on another rota
    assert rotas.shifts() == 5


def test_on_duty_from_the_start_until_not_including_the_end(rotas: Duty) -> None:
    rotas.shift("ann", T0, T0 + 8 * HOUR)
    rotas.shift("bob", T0 + 8 * HOUR, T0 + 16 * HOUR)
    second = dt.timedelta(seconds=1)
    assert rotas.on(T0 - second) == []
    assert rotas.on(T0) == ["ann"]
    assert rotas.on(T0 + 8 * HOUR - second) == ["ann"]
    assert rotas.on(T0 + 8 * HOUR) == ["bob"]
    assert rotas.on(T0 + 16 * HOUR) == []
    assert rotas.on(T0, "unknown") == []
    with rotas.kernel.session() as session:  # in another time zone it is the same moment
        local = (T0 + 8 * HOUR).astimezone(dt.timezone(dt.timedelta(hours=8)))
        assert duty.on_duty(session, "desk", local) == [rotas.ids["bob"]]


def test_inactive_people_and_rotas_have_nobody_on_duty(rotas: Duty) -> None:
    rotas.shift("ann", T0, T0 + 8 * HOUR)
    rotas.shift("bob", T0, T0 + 8 * HOUR)
    assert rotas.on(T0 + HOUR) == ["ann", "bob"]
    with rotas.kernel.session() as session:
        org.deactivate_user(session, rotas.ids["ann"])
    assert rotas.on(T0 + HOUR) == ["bob"]
    with rotas.kernel.session() as session:
        rota = duty.get_rota(session, rotas.actor("max"), "desk")
        duty.update_rota(session, rotas.actor("max"), rota.id, rota.version, {"active": False})
    assert rotas.on(T0 + HOUR) == []


def test_a_night_series_takes_turns_and_ends_past_midnight(rotas: Duty) -> None:
    kernel, boss, ids = rotas.kernel, rotas.actor("max"), rotas.ids
    with kernel.session() as session:
        shifts = duty.add_shift_series(
            session,
            boss,
            rotas.desk,
            [ids["ann"], ids["bob"]],
            dt.date(2026, 3, 2),
            dt.date(2026, 3, 4),
            dt.time(18, 0),
            dt.time(8, 30),
            SHANGHAI,
        )
        planned = [(s.user_id, s.starts_at, s.ends_at) for s in shifts]
    # 18:00 in Shanghai is 10:00 UTC; 08:30 the next morning is 00:30 UTC.
    assert planned == [
        (ids["ann"], dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC), dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)),
        (ids["bob"], dt.datetime(2026, 3, 3, 10, 0, tzinfo=UTC), dt.datetime(2026, 3, 4, 0, 30, tzinfo=UTC)),
        (ids["ann"], dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC), dt.datetime(2026, 3, 5, 0, 30, tzinfo=UTC)),
    ]  # fmt: skip
    assert rotas.on(dt.datetime(2026, 3, 3, 0, 29, tzinfo=UTC)) == ["ann"]  # 08:29 next morning
    assert rotas.on(dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)) == []  # 08:30: over
    assert rotas.on(dt.datetime(2026, 3, 3, 15, 0, tzinfo=UTC)) == ["bob"]  # 23:00
    # A day window stays within its day.
    with kernel.session() as session:
        day = duty.add_shift_series(
            session, boss, rotas.desk, [ids["cy"]], dt.date(2026, 3, 2), dt.date(2026, 3, 2),
            dt.time(8, 30), dt.time(18, 0), SHANGHAI,
        )  # fmt: skip
        assert (day[0].starts_at, day[0].ends_at) == (
            dt.datetime(2026, 3, 2, 0, 30, tzinfo=UTC),
            dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        )
    # One clash refuses the whole series: nothing of it is written.
    before = rotas.shifts()
    with kernel.session() as session:
        error = refused(
            lambda: duty.add_shift_series(
                session,
                boss,
                rotas.desk,
                [ids["bob"], ids["ann"]],
                dt.date(2026, 3, 1),
                dt.date(2026, 3, 3),
                dt.time(20, 0),
                dt.time(8, 0),
                SHANGHAI,
            )
        )
    assert error.extensions["field"] == "firstDay" and "Ann" in str(error)
    assert rotas.shifts() == before


def test_series_input_is_checked(rotas: Duty) -> None:
    kernel, boss, ann = rotas.kernel, rotas.actor("max"), rotas.ids["ann"]
    day = dt.date(2026, 3, 2)
    cases = [
        ([], day, day, SHANGHAI, "people"),
        ([ann], day, day - dt.timedelta(days=1), SHANGHAI, "lastDay"),
        ([ann], day, day + dt.timedelta(days=400), SHANGHAI, "lastDay"),
        ([ann], day, day, "Mars/Olympus", "timeZone"),
    ]
    for people, first, last, zone, field in cases:
        with kernel.session() as session:
            error = refused(
                lambda p=people, f=first, la=last, z=zone: duty.add_shift_series(
                    session, boss, rotas.desk, p, f, la, dt.time(9), dt.time(17), z
                )
            )
        assert error.extensions["field"] == field
    assert rotas.shifts() == 0


def test_update_uses_the_version_and_the_key_stays(rotas: Duty) -> None:
    kernel, boss = rotas.kernel, rotas.actor("max")
    with kernel.session() as session:
        rota = duty.get_rota(session, boss, "desk")
        version = rota.version
        department = org.create_department(session, code="it-desk", name="Desk")
        duty.update_rota(
            session, boss, rota.id, version, {"name": "Desk duty", "department_id": department.id}
        )
    with kernel.session() as session:
        refused(
            lambda: duty.update_rota(session, boss, rotas.desk, version, {"name": "X"}), Conflict
        )
    with kernel.session() as session:
        rota = duty.get_rota(session, boss, "desk")
        assert (rota.name, rota.department_id, rota.version) == (
            "Desk duty",
            department.id,
            version + 1,
        )
        error = refused(
            lambda: duty.update_rota(session, boss, rota.id, rota.version, {"key": "x"})
        )
        assert error.extensions["field"] == "key"


def test_removing_a_shift(rotas: Duty) -> None:
    shift_id = rotas.shift("ann", T0, T0 + HOUR)
    with rotas.kernel.session() as session:
        refused(lambda: duty.remove_shift(session, rotas.actor("ann"), shift_id), Forbidden)
    with rotas.kernel.session() as session:
        duty.remove_shift(session, rotas.actor("max"), shift_id)
    assert rotas.shifts() == 0 and rotas.on(T0) == []
    with rotas.kernel.session() as session:
        refused(lambda: duty.remove_shift(session, rotas.actor("max"), shift_id), NotFound)


def test_reading_needs_org_read_or_being_on_the_rota(rotas: Duty) -> None:
    kernel = rotas.kernel
    now = dt.datetime.now(UTC)
    rotas.create("weekend", "Weekend duty")
    rotas.shift("ann", now + HOUR, now + 2 * HOUR)
    rotas.shift("ann", now - 3 * HOUR, now - 2 * HOUR)  # over already
    with kernel.session() as session:
        assert [r.key for r in duty.list_rotas(session, rotas.actor("rex"))] == ["desk", "weekend"]
        assert [r.key for r in duty.list_rotas(session, rotas.actor("ann"))] == ["desk"]
        assert duty.list_rotas(session, rotas.actor("pat")) == []
        assert duty.get_rota(session, rotas.actor("ann"), "desk").key == "desk"
        refused(lambda: duty.get_rota(session, rotas.actor("ann"), "weekend"), NotFound)
        refused(lambda: duty.get_rota(session, rotas.actor("pat"), "desk"), NotFound)
        mine = duty.upcoming_shifts(session, rotas.actor("ann"), at=now)
        assert [(s.starts_at, s.ends_at) for s in mine] == [(now + HOUR, now + 2 * HOUR)]
        assert len(duty.upcoming_shifts(session, rotas.actor("rex"), rotas.ids["ann"], at=now)) == 1
        refused(
            lambda: duty.upcoming_shifts(session, rotas.actor("pat"), rotas.ids["ann"]), Forbidden
        )


# --- GraphQL --------------------------------------------------------------------------

CREATE = """
mutation($key: String!, $name: String!) {
  createDutyRota(input: {key: $key, name: $name}) { rota { id key name active version } }
}"""
ADD = """
mutation($rota: ID!, $user: ID!, $startsAt: DateTime!, $endsAt: DateTime!) {
  addDutyShift(input: {rota: $rota, user: $user, startsAt: $startsAt, endsAt: $endsAt}) {
    shift { id startsAt endsAt user { login } rota { key } }
  }
}"""
SERIES = """
mutation($rota: ID!, $people: [ID!]!) {
  addDutyShiftSeries(input: {rota: $rota, people: $people, firstDay: "2026-03-02",
      lastDay: "2026-03-03", starts: "18:00:00", ends: "08:30:00", timeZone: "Asia/Shanghai"}) {
    shifts { startsAt endsAt user { login } }
  }
}"""
ROTA = """
query($key: String!, $from: DateTime, $until: DateTime) {
  dutyRota(key: $key) { key name shifts(from: $from, until: $until) { id startsAt user { login } }
                        onDuty { login } }
}"""


def test_graphql_rotas_shifts_and_who_is_on_duty(rotas: Duty) -> None:
    kernel, ids = rotas.kernel, rotas.ids
    boss, pat = rotas.actor("max"), rotas.actor("pat")
    assert error_codes(gql(kernel, CREATE, {"key": "night", "name": "Night"}, pat)) == ["FORBIDDEN"]
    bad = gql(kernel, CREATE, {"key": "Night!", "name": "Night"}, boss)
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["field"] == "key"
    created = gql(kernel, CREATE, {"key": "night", "name": "Night"}, boss)["data"]["createDutyRota"]
    rota = created["rota"]
    assert (rota["key"], rota["active"], rota["version"]) == ("night", True, 1)

    now = dt.datetime.now(UTC).replace(microsecond=0)
    window = {"startsAt": (now - HOUR).isoformat(), "endsAt": (now + HOUR).isoformat()}
    added = gql(kernel, ADD, {"rota": rota["id"], "user": _gid("User", ids["ann"]), **window}, boss)
    shift = added["data"]["addDutyShift"]["shift"]
    assert (shift["user"]["login"], shift["rota"]["key"]) == ("ann", "night")
    clash = gql(kernel, ADD, {"rota": rota["id"], "user": _gid("User", ids["ann"]), **window}, boss)
    assert error_codes(clash) == ["BAD_USER_INPUT"]
    assert clash["errors"][0]["extensions"]["field"] == "startsAt"

    series = gql(kernel, SERIES, {"rota": rota["id"], "people": [_gid("User", ids["bob"])]}, boss)[
        "data"
    ]["addDutyShiftSeries"]["shifts"]
    assert [(s["startsAt"], s["endsAt"]) for s in series] == [
        ("2026-03-02T10:00:00+00:00", "2026-03-03T00:30:00+00:00"),
        ("2026-03-03T10:00:00+00:00", "2026-03-04T00:30:00+00:00"),
    ]

    shown = gql(
        kernel,
        ROTA,
        {"key": "night", "from": "2026-03-02T00:00:00Z", "until": "2026-03-03T00:00:00Z"},
        rotas.actor("rex"),
    )["data"]["dutyRota"]
    assert [s["user"]["login"] for s in shown["shifts"]] == ["bob"]
    assert shown["onDuty"] == [{"login": "ann"}]
    on = gql(kernel, '{ onDuty(rota: "night") { login } }', actor=rotas.actor("ann"))
    assert on["data"]["onDuty"] == [{"login": "ann"}]  # on the rota: may read it
    assert gql(kernel, ROTA, {"key": "night"}, pat)["data"]["dutyRota"] is None
    assert error_codes(gql(kernel, '{ onDuty(rota: "night") { login } }', actor=pat)) == [
        "NOT_FOUND"
    ]
    listed = gql(kernel, "{ dutyRotas { key } }", actor=rotas.actor("ann"))["data"]["dutyRotas"]
    assert listed == [{"key": "night"}]
    mine = gql(kernel, "{ myDutyShifts { endsAt rota { key } } }", actor=rotas.actor("ann"))
    assert mine["data"]["myDutyShifts"] == [{"endsAt": window["endsAt"], "rota": {"key": "night"}}]
    node = gql(kernel, "query($id: ID!) { node(id: $id) { id } }", {"id": shift["id"]}, pat)
    assert node["data"]["node"] is None  # not on the rota, no org.read: not there at all

    update = """mutation($id: ID!, $version: Int!) {
      updateDutyRota(id: $id, version: $version, input: {name: "Nights", active: false}) {
        rota { name active version } } }"""
    stale = gql(kernel, update, {"id": rota["id"], "version": 0}, boss)
    assert error_codes(stale) == ["CONFLICT"]
    updated = gql(kernel, update, {"id": rota["id"], "version": 1}, boss)
    assert updated["data"]["updateDutyRota"]["rota"] == {
        "name": "Nights",
        "active": False,
        "version": 2,
    }
    inactive = gql(kernel, '{ onDuty(rota: "night") { login } }', actor=boss)
    assert inactive["data"]["onDuty"] == []

    remove = "mutation($id: ID!) { removeDutyShift(id: $id) { removedId rota { key } } }"
    assert error_codes(gql(kernel, remove, {"id": shift["id"]}, pat)) == ["FORBIDDEN"]
    removed = gql(kernel, remove, {"id": shift["id"]}, boss)["data"]["removeDutyShift"]
    assert removed == {"removedId": shift["id"], "rota": {"key": "night"}}
    assert rotas.shifts() == 2


def test_the_demo_puts_the_desk_agents_on_duty_this_week_once(kernel: Kernel) -> None:
    from openitsm.kernel.cli import DEMO_USERS
    from openitsm.kernel.organisation import plugin

    with kernel.session() as session:
        for login, name, superuser in DEMO_USERS:
            identity.create_user(session, login, name, superuser=superuser)
        plugin.load_demo_data(session, kernel)
    with kernel.session() as session:
        plugin.load_demo_data(session, kernel)  # again: nothing more
    with kernel.session() as session:
        rota = duty.get_rota(session, SYSTEM, "desk")
        assert rota.name == "服务台值班 Service desk duty"
        agent = session.scalar(select(User.id).where(User.login == "agent"))
        assert duty.on_duty(session, "desk") == [agent]  # day and night, all week
        assert session.scalar(select(func.count()).select_from(DutyShift)) == 15
