"""Notifications: rendering per recipient, field rules, preferences, quiet hours and
delivery by the queue after commit, idempotent, with back-off and visible failures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import func, select

from openitsm.kernel import Kernel
from openitsm.kernel.access.actions import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications import service
from openitsm.kernel.notifications.models import (
    FAILED,
    PENDING,
    SENT,
    Notification,
    NotificationDelivery,
)
from openitsm.kernel.notifications.spec import (
    IN_APP,
    Channel,
    NotificationEvent,
    NotificationRegistry,
    PermanentDeliveryError,
    Templates,
    registry_of,
)
from openitsm.kernel.organisation import service as org
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import actor_of, build_kernel, error_codes, gql
from openitsm.kernel.testing.notifications import EVENT, OUTBOX, NotifyingTickets
from openitsm.kernel.testing.tickets import Ticket, create_tables, drop_tables

SITE = "https://itsm.example.test"


@dataclass
class Desk:
    kernel: Kernel
    plugin: NotifyingTickets
    ids: dict[str, int]
    ticket_id: int

    def actor(self, login: str) -> Actor:
        return actor_of(self.kernel, self.ids[login])

    def notify(self, *logins: str, **options: object) -> list[Notification]:
        with self.kernel.session() as session:
            return service.notify(
                session,
                EVENT,
                [self.ids[login] for login in logins],
                record=RecordRef("ticket", self.ticket_id),
                values={"at": dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)},
                **options,  # type: ignore[arg-type]
            )

    def deliveries(self, login: str | None = None) -> list[NotificationDelivery]:
        with self.kernel.session() as session:
            statement = select(NotificationDelivery).order_by(NotificationDelivery.id)
            if login is not None:
                statement = statement.where(NotificationDelivery.user_id == self.ids[login])
            return list(session.scalars(statement))

    def notifications(self, login: str) -> list[Notification]:
        with self.kernel.session() as session:
            return list(
                session.scalars(
                    select(Notification)
                    .where(Notification.user_id == self.ids[login])
                    .order_by(Notification.id)
                )
            )


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[Desk]:
    """An agent (English, London; internal notes hidden from their role), a manager
    (Chinese, Shanghai; sees everything), and an outsider who may see no ticket."""
    plugin = NotifyingTickets()
    kernel = build_kernel(
        tmp_path, database_url, plugins={"tickets": plugin}, server={"base_url": SITE + "/"}
    )
    create_tables(kernel.engine)
    ids: dict[str, int] = {}
    try:
        with kernel.session() as session:
            role = org.create_role(
                session, action_registry(kernel), code="agent", labels={"en": "Agent"}
            )
            set_role_scope(session, role.id, "ticket", "all")
            set_field_rule(
                session, kernel.record_kinds, role.id, "ticket", "internal_note", "hidden"
            )
            people = (
                ("agent", "Alice Agent", "en", "Europe/London", False),
                ("manager", "王经理", "zh-CN", "Asia/Shanghai", True),
                ("outsider", "Oscar Outsider", "en", "UTC", False),
            )
            for login, name, locale, zone, superuser in people:
                user = identity.create_user(
                    session, login, name, email=f"{login}@example.test", superuser=superuser
                )
                user.locale, user.time_zone = locale, zone
                ids[login] = user.id
            org.grant_role(session, ids["agent"], role.id)
            ticket = Ticket(title="Printer jam", cost=120, internal_note="needle in the note")
            session.add(ticket)
            session.flush()
            ticket_id = ticket.id
        yield Desk(kernel, plugin, ids, ticket_id)
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def test_each_recipient_reads_it_in_their_language_and_zone_with_a_deep_link(desk: Desk) -> None:
    desk.notify("agent", "manager")
    (agent,) = desk.notifications("agent")
    (manager,) = desk.notifications("manager")
    assert agent.subject == "Ticket assigned to you: Printer jam"
    assert agent.locale == "en" and "Hello Alice Agent" in agent.body_text
    assert manager.subject == "工单已分派给您：Printer jam"
    assert manager.locale == "zh-CN" and "王经理，您好" in manager.body_text
    link = f"{SITE}/tickets/{desk.ticket_id}"
    assert f"Open it: {link}" in agent.body_text
    assert f'<a href="{link}">查看工单</a>' in manager.body_html
    assert agent.url == f"/tickets/{desk.ticket_id}"
    # 01:30 UTC is 01:30 in London in March, 09:30 in Shanghai
    assert "1:30" in agent.body_text and "9:30" in manager.body_text
    # the outbox got both, already rendered
    assert sorted(m.subject for m in desk.plugin.sent) == sorted([agent.subject, manager.subject])


def test_a_hidden_field_never_reaches_the_recipient(desk: Desk) -> None:
    desk.notify("agent", "manager")
    (agent,) = desk.notifications("agent")
    (manager,) = desk.notifications("manager")
    assert "needle" not in agent.body_text + agent.body_html + agent.subject
    assert "Note: \n" in agent.body_text
    assert "Cost: 120" in agent.body_text
    assert "needle in the note" in manager.body_text and "needle in the note" in manager.body_html
    sent = {m.user_id: m for m in desk.plugin.sent}
    assert "needle" not in sent[desk.ids["agent"]].text + sent[desk.ids["agent"]].html


def test_a_recipient_who_may_not_see_the_record_gets_nothing(desk: Desk) -> None:
    told = desk.notify("outsider", "agent")
    assert [n.user_id for n in told] == [desk.ids["agent"]]
    assert desk.notifications("outsider") == []
    assert desk.deliveries("outsider") == []
    assert [m.user_id for m in desk.plugin.sent] == [desk.ids["agent"]]


def test_templates_run_in_a_sandbox(desk: Desk) -> None:
    from jinja2.exceptions import SecurityError

    from openitsm.kernel.notifications.render import render

    registry = registry_of(desk.kernel)

    def event(name: str, subject: str) -> NotificationEvent:
        return NotificationEvent(name, {"en": name}, {"en": Templates(subject, "x")})

    escape = event("tickets.escape", "{{ values.__class__.__mro__ }}{{ values.items.__self__ }}")
    assert render(registry, escape, "en", "UTC", {"values": {"a": 1}}).subject == ""
    with pytest.raises(SecurityError):
        render(
            registry, event("tickets.change", "{{ values.clear() }}"), "en", "UTC", {"values": {}}
        )


def test_preferences_turn_channels_off_per_event(desk: Desk) -> None:
    agent = desk.actor("agent")
    with desk.kernel.session() as session:
        service.set_preference(session, desk.kernel, agent, EVENT, OUTBOX, False)
    desk.notify("agent")
    assert desk.deliveries("agent") == [] and desk.plugin.sent == []
    assert len(desk.notifications("agent")) == 1
    with desk.kernel.session() as session:
        service.set_preference(session, desk.kernel, agent, EVENT, IN_APP, False)
        service.set_preference(session, desk.kernel, agent, EVENT, OUTBOX, True)
        assert service.unread_count(session, desk.ids["agent"]) == 1
    desk.notify("agent")
    latest = desk.notifications("agent")[-1]
    assert latest.in_app is False  # the mail's content only; no bell
    assert len(desk.plugin.sent) == 1
    with desk.kernel.session() as session:
        assert service.unread_count(session, desk.ids["agent"]) == 1
        choices = {
            (p.event, p.channel): p.enabled
            for p in service.preferences(session, desk.kernel, desk.ids["agent"], "en")
        }
        service.set_preference(session, desk.kernel, agent, EVENT, OUTBOX, False)
        service.set_preference(session, desk.kernel, agent, EVENT, IN_APP, False)
    assert choices[(EVENT, IN_APP)] is False and choices[(EVENT, OUTBOX)] is True
    assert choices[("workflow.assigned", IN_APP)] is True  # the default of another event
    assert desk.notify("agent") == []  # every channel off: nothing at all


def test_the_same_key_tells_a_user_once(desk: Desk) -> None:
    desk.notify("agent", key="ticket:1:assigned")
    desk.notify("agent", "manager", key="ticket:1:assigned")
    assert len(desk.notifications("agent")) == 1 and len(desk.notifications("manager")) == 1


def test_quiet_hours_wrap_past_midnight_in_the_users_zone() -> None:
    night, morning = service.parse_clock("22:00"), service.parse_clock("08:00")
    at = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)  # 23:00 in Shanghai
    assert service.quiet_until(night, morning, "Asia/Shanghai", at) == dt.datetime(
        2026, 1, 6, 0, 0, tzinfo=dt.UTC
    )
    early = dt.datetime(2026, 1, 5, 20, 0, tzinfo=dt.UTC)  # 04:00 on the 6th in Shanghai
    assert service.quiet_until(night, morning, "Asia/Shanghai", early) == dt.datetime(
        2026, 1, 6, 0, 0, tzinfo=dt.UTC
    )
    assert service.quiet_until(night, morning, "UTC", at) is None  # 15:00 in UTC
    assert service.quiet_until(night, morning, "Asia/Shanghai", at.replace(hour=3)) is None
    lunch = service.quiet_until(720, 780, "UTC", at.replace(hour=12, minute=30))
    assert lunch == at.replace(hour=13, minute=0)


def test_quiet_hours_hold_mail_until_they_end_and_in_app_arrives_at_once(desk: Desk) -> None:
    manager = desk.actor("manager")
    now = utcnow().replace(second=0, microsecond=0)
    local = now.astimezone(dt.timezone(dt.timedelta(hours=8)))  # Shanghai has no DST
    starts = (local - dt.timedelta(hours=1)).strftime("%H:%M")
    ends = (local + dt.timedelta(hours=1)).strftime("%H:%M")
    with desk.kernel.session() as session:
        assert service.set_quiet_hours(session, manager, starts, ends) == (starts, ends)
    desk.notify("manager", "agent", now=now)
    (held,) = desk.deliveries("manager")
    assert held.state == PENDING and held.held
    assert held.next_attempt_at == (local + dt.timedelta(hours=1)).astimezone(dt.UTC)
    assert [m.user_id for m in desk.plugin.sent] == [desk.ids["agent"]]  # no quiet hours
    with desk.kernel.session() as session:
        assert service.unread_count(session, desk.ids["manager"]) == 1  # the bell: at once
    with desk.kernel.session() as session:
        assert service.dispatch_due(session, now + dt.timedelta(minutes=30)) == 0
    with desk.kernel.session() as session:
        assert service.deliver(session, held.id, now + dt.timedelta(minutes=30)).state == "skipped"
    released = now + dt.timedelta(hours=1, minutes=1)
    with desk.kernel.session() as session:
        assert service.dispatch_due(session, released) == 1
    with desk.kernel.session() as session:
        assert service.deliver(session, held.id, released).state == SENT
    assert [m.user_id for m in desk.plugin.sent] == [desk.ids["agent"], desk.ids["manager"]]
    (sent,) = desk.deliveries("manager")
    assert sent.state == SENT and not sent.held and sent.attempts == 1
    with desk.kernel.session() as session:
        assert service.set_quiet_hours(session, manager, "", "") is None
        assert service.quiet_hours(session, desk.ids["manager"]) is None


def test_nothing_is_sent_before_commit_nor_after_a_rollback(desk: Desk) -> None:
    with pytest.raises(RuntimeError), desk.kernel.session() as session:
        service.notify(
            session, EVENT, [desk.ids["agent"]], record=RecordRef("ticket", desk.ticket_id)
        )
        assert desk.plugin.sent == []  # stored, but the transaction is still open
        raise RuntimeError("the change failed")
    assert desk.plugin.sent == []
    assert desk.notifications("agent") == [] and desk.deliveries() == []
    with desk.kernel.session() as session:
        service.notify(
            session, EVENT, [desk.ids["agent"]], record=RecordRef("ticket", desk.ticket_id)
        )
        assert desk.plugin.sent == []
    assert len(desk.plugin.sent) == 1  # queued and run once the data was durable


def test_running_the_delivery_task_twice_sends_once(desk: Desk) -> None:
    desk.notify("agent")
    (delivery,) = desk.deliveries("agent")
    assert delivery.state == SENT and len(desk.plugin.sent) == 1
    task = desk.kernel.tasks[service.DELIVER_TASK]
    assert task.run(delivery.id) == "skipped"
    assert task.run(delivery.id) == "skipped"
    assert len(desk.plugin.sent) == 1
    with desk.kernel.session() as session:  # a duplicate row cannot exist either
        assert session.scalar(select(func.count()).select_from(NotificationDelivery)) == 1


def test_transient_failures_back_off_then_fail_visibly_and_can_be_retried(desk: Desk) -> None:
    desk.plugin.failure = ConnectionRefusedError(111, "Connection refused")
    started = utcnow()
    desk.notify("agent")
    (delivery,) = desk.deliveries("agent")
    assert delivery.state == PENDING and delivery.attempts == 1
    assert "Connection refused" in (delivery.last_error or "")
    waits = [delivery.next_attempt_at - started]
    at = delivery.next_attempt_at
    for attempt in range(2, service.MAX_ATTEMPTS + 1):
        with desk.kernel.session() as session:
            assert (
                service.deliver(session, delivery.id, at - dt.timedelta(seconds=1)).state
                == "skipped"
            )
        with desk.kernel.session() as session:
            outcome = service.deliver(session, delivery.id, at)
        (delivery,) = desk.deliveries("agent")
        assert delivery.attempts == attempt
        if outcome.state == PENDING:
            waits.append(delivery.next_attempt_at - at)
            at = delivery.next_attempt_at
    assert delivery.state == FAILED and desk.plugin.sent == []
    seconds = [round(w.total_seconds()) for w in waits]
    assert seconds[1:] == [120, 240, 480, 960] and 55 <= seconds[0] <= 61
    # administrators see it, with the error; others may not look
    query = '{ notificationDeliveries(states: ["failed"]) { id state attempts lastError recipient channel } }'
    seen = gql(desk.kernel, query, actor=desk.actor("manager"))
    (row,) = seen["data"]["notificationDeliveries"]
    assert row["state"] == "failed" and row["attempts"] == service.MAX_ATTEMPTS
    assert "Connection refused" in row["lastError"] and row["recipient"] == "Alice Agent"
    assert error_codes(gql(desk.kernel, query, actor=desk.actor("agent"))) == ["FORBIDDEN"]
    # the server is back; an administrator sends it again
    desk.plugin.failure = None
    retry = "mutation($id: Int!) { retryNotificationDelivery(id: $id) }"
    done = gql(desk.kernel, retry, {"id": delivery.id}, actor=desk.actor("manager"))
    assert done["data"]["retryNotificationDelivery"] == PENDING
    (delivery,) = desk.deliveries("agent")
    assert delivery.state == SENT and len(desk.plugin.sent) == 1


def test_a_permanent_failure_fails_at_once(desk: Desk) -> None:
    desk.plugin.failure = PermanentDeliveryError("550 no such mailbox")
    desk.notify("agent")
    (delivery,) = desk.deliveries("agent")
    assert delivery.state == FAILED and delivery.attempts == 1
    assert "550 no such mailbox" in (delivery.last_error or "")


def test_a_stale_claim_is_tried_again(desk: Desk) -> None:
    desk.plugin.failure = ConnectionRefusedError("down")
    desk.notify("agent")
    (delivery,) = desk.deliveries("agent")
    with desk.kernel.session() as session:
        row = session.get(NotificationDelivery, delivery.id)
        assert row is not None
        row.state, row.claimed_at = "sending", utcnow() - dt.timedelta(hours=1)
    desk.plugin.failure = None
    with desk.kernel.session() as session:
        assert service.dispatch_due(session, utcnow() + dt.timedelta(hours=2)) == 1
    (delivery,) = desk.deliveries("agent")
    assert delivery.state == PENDING  # due later than the real clock; the sweep queued it
    with desk.kernel.session() as session:
        assert service.deliver(session, delivery.id, utcnow() + dt.timedelta(hours=2)).state == SENT


def test_graphql_lists_counts_and_marks_the_viewers_own(desk: Desk) -> None:
    desk.notify("agent")
    desk.notify("agent")
    desk.notify("manager")
    agent = desk.actor("agent")
    listed = gql(
        desk.kernel,
        "{ notifications(first: 1) { nodes { id subject url absoluteUrl readAt } "
        "pageInfo { hasNextPage } } unreadNotificationCount }",
        actor=agent,
    )["data"]
    assert listed["unreadNotificationCount"] == 2
    (newest,) = listed["notifications"]["nodes"]
    assert listed["notifications"]["pageInfo"]["hasNextPage"] is True
    assert newest["absoluteUrl"] == f"{SITE}/tickets/{desk.ticket_id}"
    assert newest["id"] is not None and newest["readAt"] is None
    mark = "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }"
    # someone else's notification changes nothing
    (managers,) = gql(
        desk.kernel, "{ notifications { nodes { id } } }", actor=desk.actor("manager")
    )["data"]["notifications"]["nodes"]
    assert gql(desk.kernel, mark, {"ids": [managers["id"]]}, actor=agent)["data"] == {
        "markNotificationsRead": 0
    }
    assert gql(desk.kernel, mark, {"ids": [newest["id"]]}, actor=agent)["data"] == {
        "markNotificationsRead": 1
    }
    count = "{ unreadNotificationCount }"
    assert gql(desk.kernel, count, actor=agent)["data"]["unreadNotificationCount"] == 1
    assert gql(desk.kernel, mark, actor=agent)["data"]["markNotificationsRead"] == 1
    assert gql(desk.kernel, count, actor=agent)["data"]["unreadNotificationCount"] == 0
    assert error_codes(gql(desk.kernel, count)) == ["UNAUTHENTICATED"]


def test_graphql_preferences_and_quiet_hours(desk: Desk) -> None:
    agent = desk.actor("agent")
    settings = "{ notificationSettings { preferences { event channel enabled } quietHours { starts ends } } }"
    found = gql(desk.kernel, settings, actor=agent)["data"]["notificationSettings"]
    assert {"event": EVENT, "channel": OUTBOX, "enabled": True} in found["preferences"]
    assert found["quietHours"] is None
    change = """mutation($e: String!, $c: String!) {
        setNotificationPreference(event: $e, channel: $c, enabled: false) {
        preferences { event channel enabled } } }"""
    changed = gql(desk.kernel, change, {"e": EVENT, "c": OUTBOX}, actor=agent)["data"][
        "setNotificationPreference"
    ]
    assert {"event": EVENT, "channel": OUTBOX, "enabled": False} in changed["preferences"]
    quiet = (
        'mutation { setQuietHours(starts: "22:00", ends: "08:00") { quietHours { starts ends } } }'
    )
    assert gql(desk.kernel, quiet, actor=agent)["data"]["setQuietHours"]["quietHours"] == {
        "starts": "22:00",
        "ends": "08:00",
    }
    wrong = 'mutation { setQuietHours(starts: "25:00", ends: "08:00") { quietHours { starts } } }'
    assert error_codes(gql(desk.kernel, wrong, actor=agent)) == ["BAD_USER_INPUT"]
    unknown = 'mutation { setNotificationPreference(event: "nope.nothing", channel: "outbox", enabled: true) { preferences { event } } }'
    assert error_codes(gql(desk.kernel, unknown, actor=agent)) == ["BAD_USER_INPUT"]


def test_inactive_users_are_not_told(desk: Desk) -> None:
    with desk.kernel.session() as session:
        user = session.get(User, desk.ids["agent"])
        assert user is not None
        user.active = False
    assert desk.notify("agent") == []


def test_hook_register_notification_events(tmp_path: Path, dummy_plugin: ModuleType) -> None:
    kernel = build_kernel(
        tmp_path, f"sqlite:///{tmp_path / 'k.db'}", plugins={"dummy": dummy_plugin}
    )
    try:
        registry = registry_of(kernel)
        assert registry.events["dummy.noted"].label("zh-CN") == "新便笺"
        assert "workflow.assigned" in registry.events  # the kernel's own
        with kernel.session() as session:
            user = identity.create_user(session, "nora", "Nora", email="nora@example.test")
            user.locale = "en"
            note_id = dummy_plugin.add_note.fn(session, "Buy milk")
        with kernel.session() as session:
            (told,) = service.notify(
                session, "dummy.noted", [user.id], record=RecordRef("dummy_note", note_id)
            )
        assert told.subject == "New note: Buy milk"
    finally:
        kernel.close()
    twice = [("a", [NotificationEvent("a.b", {}, {"en": Templates("s", "t")})])] * 2
    with pytest.raises(ConfigurationError, match="declared by both"):
        NotificationRegistry.collect(twice, [])
    with pytest.raises(ConfigurationError, match="notification event"):
        NotificationRegistry.collect([("a", [NotificationEvent("Bad Name", {}, {})])], [])


def test_hook_register_notification_channels(tmp_path: Path, dummy_plugin: ModuleType) -> None:
    dummy_plugin.outbox.clear()
    kernel = build_kernel(
        tmp_path, f"sqlite:///{tmp_path / 'k.db'}", plugins={"dummy": dummy_plugin}
    )
    try:
        registry = registry_of(kernel)
        assert set(registry.channels) >= {IN_APP, "dummy_outbox"}
        with kernel.session() as session:
            user = identity.create_user(session, "nora", "Nora")
            note_id = dummy_plugin.add_note.fn(session, "Buy milk")
        with kernel.session() as session:
            service.notify(
                session, "dummy.noted", [user.id], record=RecordRef("dummy_note", note_id)
            )
        assert [subject for _, subject in dummy_plugin.outbox] == ["新便笺：Buy milk"]
    finally:
        kernel.close()
        dummy_plugin.outbox.clear()
    channel = Channel("x", {})
    with pytest.raises(ConfigurationError, match="declared by both"):
        NotificationRegistry.collect([], [("a", [channel]), ("b", [channel])])
