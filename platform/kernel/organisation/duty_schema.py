"""Duty rotas in GraphQL: the rotas, their shifts in a time range, who is on duty, and the
changes (`duty.manage`). Every rule is the service's (`openitsm.kernel.organisation.duty`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode, by_id_loader, decode_id, link
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import duty
from openitsm.kernel.organisation.duty_models import DutyRota, DutyShift
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.organisation.schema import DepartmentType, UserType

DEFAULT_TIME_ZONE = "Asia/Shanghai"
MAX_RANGE = dt.timedelta(days=92)


def _readable_rota_ids(context: Context, rota_ids: set[int]) -> set[int]:
    """Of `rota_ids`, those the actor may read (all of them with org.read), in one query."""
    actor = context.require_actor()
    if duty.reads_all(actor) or not rota_ids:
        return rota_ids
    mine = context.session.scalars(
        select(DutyShift.rota_id)
        .where(DutyShift.rota_id.in_(rota_ids), DutyShift.user_id == (actor.user_id or -1))
        .distinct()
    )
    return set(mine)


@strawberry.type(
    name="DutyShift",
    description="One person on duty on a rota from startsAt until (not including) endsAt.",
)
class DutyShiftType(ModelNode):
    __model__ = DutyShift

    starts_at: dt.datetime
    ends_at: dt.datetime = strawberry.field(description="The first moment the shift is over.")

    @strawberry.field
    async def user(self, root: strawberry.Parent[DutyShift], info: Info[Context, Any]) -> UserType:
        return await by_id_loader(info.context, User).load(root.user_id)

    @strawberry.field
    async def rota(
        self, root: strawberry.Parent[DutyShift], info: Info[Context, Any]
    ) -> DutyRotaType:
        return await by_id_loader(info.context, DutyRota).load(root.rota_id)

    @strawberry.field(description="Whether the shift is on now.")
    def on_now(self, root: strawberry.Parent[DutyShift]) -> bool:
        return root.starts_at <= utcnow() < root.ends_at

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        readable = _readable_rota_ids(context, {row.rota_id for row in rows if row is not None})
        return [row if row is not None and row.rota_id in readable else None for row in rows]


@strawberry.type(
    name="DutyRota",
    description="A duty rota (值班), such as the service desk's night duty; processes name it "
    "by its key (itsm:candidateDuty, duty.<key>).",
)
class DutyRotaType(ModelNode):
    __model__ = DutyRota

    key: str
    name: str
    active: bool
    version: int

    department: DepartmentType | None = link(Department, "department_id")

    @strawberry.field(
        description="The shifts overlapping [from, until), by start; at most 92 days, the "
        "coming week when left out."
    )
    def shifts(
        self,
        root: strawberry.Parent[DutyRota],
        info: Info[Context, Any],
        from_: Annotated[dt.datetime | None, strawberry.argument(name="from")] = None,
        until: dt.datetime | None = None,
    ) -> list[DutyShiftType]:
        start = from_ or utcnow()
        end = until or start + dt.timedelta(days=7)
        if end - start > MAX_RANGE or end <= start:
            raise BadUserInput(
                _t(
                    "Ask for the shifts of a range that ends after it starts and spans "
                    "{days} days at most."
                ),
                field="until",
                params={"days": MAX_RANGE.days},
            )
        return duty.shifts_between(info.context.session, root.id, start, end)  # type: ignore[return-value]

    @strawberry.field(description="Who is on duty at `at` (now by default): active people only.")
    def on_duty(
        self,
        root: strawberry.Parent[DutyRota],
        info: Info[Context, Any],
        at: dt.datetime | None = None,
    ) -> list[UserType]:
        ids = duty.on_duty(info.context.session, root.key, at)
        return _users(info, ids)

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        readable = _readable_rota_ids(context, {row.id for row in rows if row is not None})
        return [row if row is not None and row.id in readable else None for row in rows]


def _users(info: Info[Context, Any], ids: list[int]) -> list[Any]:
    if not ids:
        return []
    found = {u.id: u for u in info.context.session.scalars(select(User).where(User.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


@strawberry.input
class CreateDutyRotaInput:
    key: str = strawberry.field(description="Lower-case letters, digits and '_'; never changes.")
    name: str
    department: relay.GlobalID | None = None
    active: bool = True


@strawberry.input
class UpdateDutyRotaInput:
    name: str | None = None
    department: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it; left out keeps it."
    )
    active: bool | None = None


@strawberry.input
class AddDutyShiftInput:
    rota: relay.GlobalID
    user: relay.GlobalID
    starts_at: dt.datetime
    ends_at: dt.datetime = strawberry.field(description="Exclusive: the next shift may start here.")


@strawberry.input
class AddDutyShiftSeriesInput:
    rota: relay.GlobalID
    people: list[relay.GlobalID] = strawberry.field(
        description="Who takes turns, day by day, in this order."
    )
    first_day: dt.date
    last_day: dt.date = strawberry.field(description="Included.")
    starts: dt.time = strawberry.field(description="When each day's shift starts, e.g. 18:00.")
    ends: dt.time = strawberry.field(
        description="When it ends; at or before `starts` means the next day (18:00–08:30)."
    )
    time_zone: str | None = strawberry.field(
        default=None, description="Of the times; yours when left out."
    )


@strawberry.type
class DutyRotaPayload:
    rota: DutyRotaType


@strawberry.type
class DutyShiftPayload:
    shift: DutyShiftType


@strawberry.type
class DutyShiftSeriesPayload:
    shifts: list[DutyShiftType]


@strawberry.type
class RemoveDutyShiftPayload:
    removed_id: relay.GlobalID
    rota: DutyRotaType


@strawberry.type
class DutyQuery:
    @strawberry.field(
        description="The duty rotas you may read (all with org.read, else those you are on)."
    )
    def duty_rotas(
        self, info: Info[Context, Any], include_inactive: bool = True
    ) -> list[DutyRotaType]:
        actor = info.context.require_actor()
        return duty.list_rotas(info.context.session, actor, include_inactive=include_inactive)  # type: ignore[return-value]

    @strawberry.field(description="One duty rota by key; null when there is none you may read.")
    def duty_rota(self, info: Info[Context, Any], key: str) -> DutyRotaType | None:
        actor = info.context.require_actor()
        rota = info.context.session.scalar(select(DutyRota).where(DutyRota.key == key))
        if rota is None or not duty.may_read(info.context.session, actor, rota):
            return None
        return rota  # type: ignore[return-value]

    @strawberry.field(description="Who is on duty on a rota at `at` (now by default).")
    def on_duty(
        self, info: Info[Context, Any], rota: str, at: dt.datetime | None = None
    ) -> list[UserType]:
        actor = info.context.require_actor()
        found = duty.get_rota(info.context.session, actor, rota)
        return _users(info, duty.on_duty(info.context.session, found.key, at))

    @strawberry.field(description="Your shifts not yet over, soonest first.")
    def my_duty_shifts(self, info: Info[Context, Any], first: int = 20) -> list[DutyShiftType]:
        actor = info.context.require_actor()
        return duty.upcoming_shifts(info.context.session, actor, limit=first)  # type: ignore[return-value]


def _department_id(value: relay.GlobalID | None) -> int | None:
    return decode_id(value, DepartmentType, "department") if value is not None else None


@strawberry.type
class DutyMutation:
    @strawberry.mutation(description="A new duty rota (duty.manage).")
    def create_duty_rota(
        self, info: Info[Context, Any], input: CreateDutyRotaInput
    ) -> DutyRotaPayload:
        actor = info.context.require_actor()
        rota = duty.create_rota(
            info.context.session,
            actor,
            key=input.key,
            name=input.name,
            department_id=_department_id(input.department),
            active=input.active,
        )
        return DutyRotaPayload(rota=rota)  # type: ignore[arg-type]

    @strawberry.mutation(description="Rename a rota, change its department or (de)activate it.")
    def update_duty_rota(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int, input: UpdateDutyRotaInput
    ) -> DutyRotaPayload:
        actor = info.context.require_actor()
        changes: dict[str, Any] = {"name": input.name, "active": input.active}
        if input.department is not strawberry.UNSET:
            changes["department_id"] = _department_id(input.department)
        rota = duty.update_rota(
            info.context.session, actor, decode_id(id, DutyRotaType), version, changes
        )
        return DutyRotaPayload(rota=rota)  # type: ignore[arg-type]

    @strawberry.mutation(description="Put one person on duty for a period (duty.manage).")
    def add_duty_shift(
        self, info: Info[Context, Any], input: AddDutyShiftInput
    ) -> DutyShiftPayload:
        actor = info.context.require_actor()
        shift = duty.add_shift(
            info.context.session,
            actor,
            decode_id(input.rota, DutyRotaType, "rota"),
            decode_id(input.user, UserType, "user"),
            input.starts_at,
            input.ends_at,
        )
        return DutyShiftPayload(shift=shift)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="People taking turns day by day over a date range, in a daily time window "
        "(duty.manage); nothing is added when one shift is refused."
    )
    def add_duty_shift_series(
        self, info: Info[Context, Any], input: AddDutyShiftSeriesInput
    ) -> DutyShiftSeriesPayload:
        actor = info.context.require_actor()
        shifts = duty.add_shift_series(
            info.context.session,
            actor,
            decode_id(input.rota, DutyRotaType, "rota"),
            [decode_id(person, UserType, "people") for person in input.people],
            input.first_day,
            input.last_day,
            input.starts,
            input.ends,
            input.time_zone or actor.time_zone or DEFAULT_TIME_ZONE,
        )
        return DutyShiftSeriesPayload(shifts=shifts)  # type: ignore[arg-type]

    @strawberry.mutation(description="Take a shift off its rota (duty.manage).")
    def remove_duty_shift(
        self, info: Info[Context, Any], id: relay.GlobalID
    ) -> RemoveDutyShiftPayload:
        actor = info.context.require_actor()
        shift = duty.remove_shift(info.context.session, actor, decode_id(id, DutyShiftType))
        rota = info.context.session.get(DutyRota, shift.rota_id)
        return RemoveDutyShiftPayload(removed_id=id, rota=rota)  # type: ignore[arg-type]


TYPES = (DutyRotaType, DutyShiftType)
