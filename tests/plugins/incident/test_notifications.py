"""What the incident module tells people: SLA warnings and breaches from the kernel's SLA
scan, the resolution and the request to rate, each to the right people once, in their
language, and nothing to anyone who may not see the incident."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from openitsm.kernel import RecordRef
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications.models import Notification
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.sla import clocks
from openitsm.plugins.incident import notifications, service

from .conftest import PASSWORD, World

INCIDENT_EVENTS = (
    notifications.SLA_WARNING,
    notifications.SLA_BREACH,
    notifications.RESOLVED_EVENT,
    notifications.SATISFACTION_REQUEST,
)


def told(world: World) -> list[tuple[str, str]]:
    """(login, event) of every incident notification stored, in order."""
    with world.kernel.session() as session:
        rows = session.execute(
            select(User.login, Notification.event)
            .join(User, User.id == Notification.user_id)
            .where(Notification.event.in_(INCIDENT_EVENTS))
            .order_by(Notification.id)
        ).all()
    return [(login, event) for login, event in rows]


def message(world: World, login: str, event: str) -> Notification:
    with world.kernel.session() as session:
        found = session.scalars(
            select(Notification)
            .join(User, User.id == Notification.user_id)
            .where(User.login == login, Notification.event == event)
        ).all()
        assert len(found) == 1, f"{login} has {len(found)} {event} notifications"
        session.expunge(found[0])
        return found[0]


def set_locale(world: World, login: str, locale: str) -> None:
    with world.kernel.session() as session:
        user = session.get(User, world.users[login])
        assert user is not None
        user.locale = locale


def running_clock(world: World, incident_id: int) -> Any:
    with world.kernel.session() as session:
        clocks.recompute(session, "incident", incident_id)
    with world.kernel.session() as session:
        clock = clocks.clock_of(session, world.kernel, RecordRef("incident", incident_id))
        assert clock is not None and clock.resolution_state == "running"
        session.expunge(clock)
        return clock


def scan(world: World, moment: dt.datetime) -> list[Any]:
    with world.kernel.session() as session:
        return clocks.scan(session, world.kernel, moment)


def started(world: World, **values: Any) -> Any:
    """A p1 incident the engineer started work on (its response target met)."""
    values.setdefault("impact", "extensive")
    values.setdefault("urgency", "critical")
    incident = world.create(**values)
    with world.kernel.session(world.actor("engineer")) as session:
        found = service.get_incident(session, incident.id)
        return service.start_work(session, found.id, found.version)


def test_a_warning_then_a_breach_reach_the_assignee_once(world: World) -> None:
    set_locale(world, "engineer", "en")
    incident = started(world, assignee_id=world.users["engineer"])
    clock = running_clock(world, incident.id)
    assert clock.response_state == "met"
    second = dt.timedelta(seconds=1)

    scan(world, clock.resolution_warning_at + second)
    assert told(world) == [("engineer", notifications.SLA_WARNING)]
    warning = message(world, "engineer", notifications.SLA_WARNING)
    assert warning.subject == (
        f"SLA warning: the resolution target of {incident.number} Printer jams is near"
    )
    assert "Level: P1" in warning.body_text
    assert warning.url == f"/incidents/{incident.id}"
    assert f"/incidents/{incident.id}" in warning.body_text

    assert scan(world, clock.resolution_warning_at + 2 * second) == []  # told once
    scan(world, clock.resolution_due_at + second)
    assert told(world) == [
        ("engineer", notifications.SLA_WARNING),
        ("engineer", notifications.SLA_BREACH),
    ]
    breach = message(world, "engineer", notifications.SLA_BREACH)
    assert "missed its resolution target" in breach.body_text
    # A repeated hand-off of the same breach (a queue retry) tells nobody again.
    with world.kernel.session() as session:
        notifications.tell_sla_event.fn(
            session, incident.id, "breach", "resolution", clock.resolution_due_at
        )
    assert len(told(world)) == 2


def test_without_an_assignee_the_group_and_its_head_are_told_but_not_who_may_not_see_it(
    world: World,
) -> None:
    with world.kernel.session() as session:
        ops = session.get(Department, world.departments["ops"])
        assert ops is not None
        ops.head_user_id = world.users["supervisor"]
        # A member of the group whose role sees only their own incidents.
        clerk = identity.create_user(session, "clerk", "Clerk", password=PASSWORD)
        organisation.update_user(
            session,
            clerk.id,
            clerk.version,
            {"department_id": ops.id, "role_ids": [world.roles["end_user"]]},
        )
    incident = started(world, group_id=world.departments["ops"])
    with world.kernel.session(world.actor("agent")) as session:
        service.assign(session, incident.id, group_id=world.departments["ops"])  # nobody's now
    clock = running_clock(world, incident.id)

    scan(world, clock.resolution_due_at + dt.timedelta(minutes=1))
    assert sorted(told(world)) == [
        ("engineer", notifications.SLA_BREACH),
        ("supervisor", notifications.SLA_BREACH),
    ]
    chinese = message(world, "supervisor", notifications.SLA_BREACH)
    assert chinese.subject == f"SLA 超时：{incident.number} Printer jams 的解决时限已过"
    assert "级别：P1" in chinese.body_text


def test_a_resolved_incident_has_no_sla_events(world: World) -> None:
    incident = started(world, assignee_id=world.users["engineer"])
    clock = running_clock(world, incident.id)
    with world.kernel.session(world.actor("engineer")) as session:
        found = service.get_incident(session, incident.id)
        service.resolve(session, found.id, found.version, resolution="Rebooted")
    assert scan(world, clock.resolution_due_at + dt.timedelta(minutes=1)) == []
    assert [event for _, event in told(world)] == [
        notifications.RESOLVED_EVENT,
        notifications.SATISFACTION_REQUEST,
    ]


def test_resolving_tells_the_caller_with_the_resolution_and_asks_for_a_rating(
    world: World,
) -> None:
    set_locale(world, "caller", "en")
    incident = world.create(assignee_id=world.users["engineer"])
    with world.kernel.session(world.actor("engineer")) as session:
        service.resolve(
            session, incident.id, resolution="<p>Replaced the <b>toner</b> cartridge</p>"
        )
    assert told(world) == [
        ("caller", notifications.RESOLVED_EVENT),
        ("caller", notifications.SATISFACTION_REQUEST),
    ]
    resolved = message(world, "caller", notifications.RESOLVED_EVENT)
    assert resolved.subject == f"Your incident is resolved: {incident.number} Printer jams"
    assert "Replaced the toner cartridge" in resolved.body_text
    assert "<b>" not in resolved.body_text and "<b>" not in resolved.body_html
    rating = message(world, "caller", notifications.SATISFACTION_REQUEST)
    assert rating.url == notifications.RATING_URL.format(id=incident.id)
    assert f"/portal/incidents/{incident.id}#rate-heading" in rating.body_text
    assert rating.subject == f"How did we do? Rate {incident.number} Printer jams"

    # The same resolution handed to the queue again tells nobody twice.
    with world.kernel.session() as session:
        event_id = session.scalar(
            select(Notification.key).where(Notification.event == notifications.RESOLVED_EVENT)
        )
        assert event_id is not None
        notifications.tell_resolved.fn(session, incident.id, int(event_id.rsplit(":", 1)[1]))
    assert len(told(world)) == 2

    # Rated and reopened, then resolved again: told of the resolution, not asked again.
    with world.kernel.session(world.actor("caller")) as session:
        service.rate(session, incident.id, satisfaction=5)
    with world.kernel.session(world.actor("supervisor")) as session:
        service.reopen(session, incident.id)
    with world.kernel.session(world.actor("engineer")) as session:
        service.resolve(session, incident.id, resolution="Replaced it again")
    assert told(world)[2:] == [("caller", notifications.RESOLVED_EVENT)]


def test_the_caller_reads_only_the_fields_their_role_may(world: World) -> None:
    with world.kernel.session() as session:
        set_field_rule(
            session,
            world.kernel.record_kinds,
            world.roles["end_user"],
            "incident",
            "resolution",
            "hidden",
        )
    incident = world.create(assignee_id=world.users["engineer"])
    with world.kernel.session(world.actor("engineer")) as session:
        service.resolve(session, incident.id, resolution="Secret vendor workaround")
    resolved = message(world, "caller", notifications.RESOLVED_EVENT)
    assert incident.number in resolved.subject
    assert "Secret vendor workaround" not in resolved.body_text
    assert "Secret vendor workaround" not in resolved.body_html
    assert "解决方案" not in resolved.body_text


def test_a_caller_who_may_not_see_the_incident_hears_nothing(world: World) -> None:
    # `plain` holds no role: no incident of theirs is visible to them.
    incident = world.create(caller_id=world.users["plain"], assignee_id=world.users["engineer"])
    with world.kernel.session(world.actor("engineer")) as session:
        service.resolve(session, incident.id, resolution="Done")
    assert told(world) == []


def test_the_caller_resolving_their_own_incident_is_not_told(world: World) -> None:
    engineer = world.users["engineer"]
    incident = world.create(caller_id=engineer, assignee_id=engineer)
    with world.kernel.session(world.actor("engineer")) as session:
        service.resolve(session, incident.id, resolution="Fixed it myself")
    assert told(world) == []


def test_the_events_are_declared_in_both_languages(world: World) -> None:
    from openitsm.kernel.notifications import registry_of

    registry = registry_of(world.kernel)
    for name in INCIDENT_EVENTS:
        event = registry.event(name)
        assert set(event.templates) == {"zh-CN", "en"}
        assert event.label("zh-CN") != event.label("en")
