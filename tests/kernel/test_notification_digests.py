"""Digests: held deliveries gathered into one message per user and channel, hourly or daily
on the reader's clock, once however many workers gather, urgent events and quiet hours
respected, each entry as the reader was allowed to read it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.access.actions import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.notifications import digest, service
from openitsm.kernel.notifications.models import (
    DIGESTED,
    HELD,
    PENDING,
    SENT,
    Notification,
    NotificationDelivery,
)
from openitsm.kernel.notifications.spec import (
    IN_APP,
    NotificationEvent,
    OutgoingMessage,
    Templates,
)
from openitsm.kernel.organisation import service as org
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import actor_of, build_kernel, error_codes, gql
from openitsm.kernel.testing.notifications import ASSIGNED, EVENT, OUTBOX, NotifyingTickets
from openitsm.kernel.testing.tickets import Ticket, create_tables, drop_tables

SITE = "https://itsm.example.test"
URGENT = "tickets.breached"
BREACHED = NotificationEvent(
    URGENT,
    {"zh-CN": "工单超时", "en": "A ticket breached its target"},
    {
        "zh-CN": Templates("工单已超时：{{ record.title }}", "工单已超时。\n{{ url }}\n"),
        "en": Templates("Ticket breached: {{ record.title }}", "It breached.\n{{ url }}\n"),
    },
    channels=(IN_APP, OUTBOX),
    urgent=True,
)
# A Monday in March: London is on UTC, Shanghai eight hours ahead.
MONDAY = dt.datetime(2026, 3, 2, 1, 10, tzinfo=dt.UTC)


class DigestTickets(NotifyingTickets):
    @hookimpl
    def register_notification_events(self) -> list[NotificationEvent]:
        return [ASSIGNED, BREACHED]


@dataclass
class Desk:
    kernel: Kernel
    plugin: DigestTickets
    ids: dict[str, int]
    tickets: dict[str, int]

    def actor(self, login: str) -> Actor:
        return actor_of(self.kernel, self.ids[login])

    def notify(
        self, at: dt.datetime, *logins: str, ticket: str = "printer", event: str = EVENT
    ) -> None:
        with self.kernel.session() as session:
            service.notify(
                session,
                event,
                [self.ids[login] for login in logins],
                record=RecordRef("ticket", self.tickets[ticket]),
                values={"at": at},
                now=at,
            )

    def digest(self, login: str, frequency: str, at: str | None = None) -> None:
        with self.kernel.session() as session:
            digest.set_digest(session, self.kernel, self.actor(login), OUTBOX, frequency, at)

    def gather(self, now: dt.datetime) -> list[int]:
        with self.kernel.session() as session:
            return digest.gather_due(session, now)

    def deliveries(self, login: str) -> list[NotificationDelivery]:
        with self.kernel.session() as session:
            return list(
                session.scalars(
                    select(NotificationDelivery)
                    .where(NotificationDelivery.user_id == self.ids[login])
                    .order_by(NotificationDelivery.id)
                )
            )

    def sent_to(self, login: str) -> list[OutgoingMessage]:
        return [m for m in self.plugin.sent if m.user_id == self.ids[login]]


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[Desk]:
    """Alice (English, London), 王经理 (Chinese, Shanghai, sees everything), Rita (whose
    role hides a ticket's title and internal note) and Ivan, who keeps mail immediate."""
    plugin = DigestTickets()
    kernel = build_kernel(
        tmp_path, database_url, plugins={"tickets": plugin}, server={"base_url": SITE}
    )
    create_tables(kernel.engine)
    ids: dict[str, int] = {}
    tickets: dict[str, int] = {}
    try:
        with kernel.session() as session:
            registry = action_registry(kernel)
            agent = org.create_role(session, registry, code="agent", labels={"en": "Agent"})
            set_role_scope(session, agent.id, "ticket", "all")
            set_field_rule(
                session, kernel.record_kinds, agent.id, "ticket", "internal_note", "hidden"
            )
            guest = org.create_role(session, registry, code="guest", labels={"en": "Guest"})
            set_role_scope(session, guest.id, "ticket", "all")
            for field in ("title", "internal_note"):
                set_field_rule(session, kernel.record_kinds, guest.id, "ticket", field, "hidden")
            people = (
                ("alice", "Alice Agent", "en", "Europe/London", False, agent.id),
                ("wang", "王经理", "zh-CN", "Asia/Shanghai", True, None),
                ("rita", "Rita Reader", "en", "UTC", False, guest.id),
                ("ivan", "Ivan Instant", "en", "UTC", False, agent.id),
            )
            for login, name, locale, zone, superuser, role_id in people:
                user = identity.create_user(
                    session, login, name, email=f"{login}@example.test", superuser=superuser
                )
                user.locale, user.time_zone = locale, zone
                ids[login] = user.id
                if role_id is not None:
                    org.grant_role(session, user.id, role_id)
            for key, title in (("printer", "Printer jam"), ("vpn", "VPN down")):
                ticket = Ticket(title=title, cost=7, internal_note="needle in the note")
                session.add(ticket)
                session.flush()
                tickets[key] = ticket.id
        yield Desk(kernel, plugin, ids, tickets)
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def test_an_hourly_digest_gathers_a_users_deliveries_into_one_message(desk: Desk) -> None:
    desk.digest("alice", "hourly")
    desk.notify(MONDAY, "alice", "ivan")
    desk.notify(MONDAY + dt.timedelta(minutes=10), "alice", ticket="vpn")
    desk.notify(MONDAY + dt.timedelta(minutes=30), "alice")
    assert [m.user_id for m in desk.plugin.sent] == [desk.ids["ivan"]]  # Ivan: at once
    held = desk.deliveries("alice")
    assert [d.state for d in held] == [HELD] * 3
    two = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    assert {d.digest_at for d in held} == {two}
    with desk.kernel.session() as session:  # the bell does not wait
        assert service.unread_count(session, desk.ids["alice"]) == 3

    assert desk.gather(two - dt.timedelta(minutes=1)) == []
    assert desk.sent_to("alice") == []
    (made,) = desk.gather(two)
    (message,) = desk.sent_to("alice")
    assert message.delivery_id == made and message.event == digest.DIGEST_EVENT
    assert message.subject == "Your hourly digest: 3 notifications"
    assert message.address == "alice@example.test" and message.record is None
    printer, vpn = (f"{SITE}/tickets/{desk.tickets[k]}" for k in ("printer", "vpn"))
    text = message.text
    assert text.startswith("Hello Alice Agent,")
    # grouped by record, in the order each record first came up, each with its deep link
    assert text.index("== Ticket: Printer jam") < text.index("== Ticket: VPN down")
    assert text.count("Ticket assigned to you: Printer jam") == 2
    assert text.count("Ticket assigned to you: VPN down") == 1
    assert printer in text and vpn in text
    assert f'<a href="{printer}">Ticket assigned to you: Printer jam</a>' in message.html
    assert f"{SITE}/notifications" in text
    # members and digest were sent together, once
    assert {d.state for d in desk.deliveries("alice")} == {SENT}
    members = [d for d in desk.deliveries("alice") if d.digest_id is not None]
    assert len(members) == 3 and {d.digest_id for d in members} == {made}
    (sent_digest,) = [d for d in desk.deliveries("alice") if d.id == made]
    assert {d.sent_at for d in members} == {sent_digest.sent_at}
    assert desk.gather(two) == [] and desk.gather(two + dt.timedelta(hours=3)) == []
    assert len(desk.sent_to("alice")) == 1
    with desk.kernel.session() as session:  # the digest is no bell entry of its own
        assert service.unread_count(session, desk.ids["alice"]) == 3


def test_a_daily_digest_comes_at_the_readers_time_in_their_language(desk: Desk) -> None:
    desk.digest("wang", "daily", "09:00")
    desk.digest("alice", "daily", "09:00")
    desk.notify(MONDAY, "wang", "alice")  # 09:10 in Shanghai, 01:10 in London
    evening = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)  # 23:00 in Shanghai
    desk.notify(evening, "wang", "alice", ticket="vpn")
    shanghai_nine = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)  # the next morning's 09:00
    london_nine = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # the same day's 09:00
    assert {d.digest_at for d in desk.deliveries("wang")} == {shanghai_nine}
    assert [d.digest_at for d in desk.deliveries("alice")] == [
        london_nine,
        london_nine + dt.timedelta(days=1),
    ]

    assert desk.gather(london_nine) != []
    (english,) = desk.sent_to("alice")
    assert english.subject == "Your daily digest: 1 notification" and english.locale == "en"
    assert "Mar 2, 2026, 1:10:00\u202fAM" in english.text  # London's clock
    assert desk.gather(shanghai_nine - dt.timedelta(minutes=1)) == []
    assert desk.sent_to("wang") == []
    assert len(desk.gather(shanghai_nine)) == 1  # Alice's next one waits for her 09:00
    (chinese,) = desk.sent_to("wang")
    assert chinese.subject == "每日通知摘要：2 条通知" and chinese.locale == "zh-CN"
    assert chinese.text.startswith("王经理，您好：")
    assert (
        "工单已分派给您：Printer jam" in chinese.text and "工单已分派给您：VPN down" in chinese.text
    )
    assert "09:10" in chinese.text and "23:00" in chinese.text  # Shanghai's clock
    assert "== 工单：Printer jam" in chinese.text


def test_urgent_events_bypass_the_digest(desk: Desk) -> None:
    desk.digest("alice", "hourly")
    desk.notify(MONDAY, "alice")
    desk.notify(MONDAY, "alice", event=URGENT)
    (urgent,) = desk.sent_to("alice")
    assert urgent.subject == "Ticket breached: Printer jam" and urgent.event == URGENT
    held, sent = desk.deliveries("alice")
    assert (held.state, sent.state) == (HELD, SENT) and sent.digest_at is None


def test_quiet_hours_delay_the_digest_until_they_end(desk: Desk) -> None:
    desk.digest("wang", "daily", "09:00")
    with desk.kernel.session() as session:
        service.set_quiet_hours(session, desk.actor("wang"), "08:30", "10:00")
    desk.notify(MONDAY, "wang")
    nine = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai: quiet
    ten = dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)
    assert desk.gather(nine) == []
    (waiting,) = desk.deliveries("wang")
    assert waiting.state == HELD and waiting.digest_at == ten
    assert desk.gather(ten - dt.timedelta(minutes=1)) == [] and desk.sent_to("wang") == []
    assert len(desk.gather(ten)) == 1
    assert len(desk.sent_to("wang")) == 1


def test_hourly_slots_passing_in_quiet_hours_make_one_digest_when_they_end(desk: Desk) -> None:
    desk.digest("alice", "hourly")
    with desk.kernel.session() as session:
        service.set_quiet_hours(session, desk.actor("alice"), "22:00", "07:00")
    night = dt.datetime(2026, 3, 2, 22, 30, tzinfo=dt.UTC)  # London is on UTC in March
    for hours in (0, 1, 3):
        desk.notify(night + dt.timedelta(hours=hours), "alice")
    minute = night
    while minute < night + dt.timedelta(hours=9):
        desk.gather(minute)
        minute += dt.timedelta(minutes=30)
    (message,) = desk.sent_to("alice")
    assert message.subject == "Your hourly digest: 3 notifications"
    (digest_delivery,) = [d for d in desk.deliveries("alice") if d.digest_id is None]
    assert digest_delivery.created_at == dt.datetime(2026, 3, 3, 7, 0, tzinfo=dt.UTC)


def test_entries_show_only_what_the_reader_may_read(desk: Desk) -> None:
    desk.digest("rita", "hourly")
    desk.digest("wang", "hourly")
    desk.notify(MONDAY, "rita", "wang")
    desk.gather(MONDAY + dt.timedelta(hours=1))
    (rita,) = desk.sent_to("rita")
    (wang,) = desk.sent_to("wang")
    for part in (rita.subject, rita.text, rita.html):
        assert "Printer jam" not in part and "needle" not in part
    assert f"== Ticket: #{desk.tickets['printer']}" in rita.text  # the title is hidden
    assert "Printer jam" in wang.text and "needle" not in wang.text


def test_two_workers_gathering_at_once_send_each_digest_once(desk: Desk) -> None:
    for login in ("alice", "wang", "rita"):
        desk.digest(login, "hourly")
    for minutes in (0, 5, 20):
        desk.notify(MONDAY + dt.timedelta(minutes=minutes), "alice", "wang", "rita")
    slot = MONDAY + dt.timedelta(hours=1)
    start = threading.Barrier(2)
    made: list[list[int]] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            made.append(desk.gather(slot))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sorted(len(m) for m in made) in ([0, 3], [1, 2])  # 3 digests between them
    assert len({i for m in made for i in m}) == 3
    for login in ("alice", "wang", "rita"):
        (message,) = desk.sent_to(login)
        assert message.subject.endswith("3 notifications") or "3 条" in message.subject
        assert {d.state for d in desk.deliveries(login)} == {SENT}
    # the periodic task is keyed by its minute slot, and finds nothing left either way
    task = desk.kernel.tasks["kernel.notifications.gather_digests"]
    assert task.run(key="slot:2026-03-02T02:10") == 0
    assert task.run(key="slot:2026-03-02T02:10") is None
    assert len(desk.plugin.sent) == 3


def test_a_failed_digest_backs_off_shows_to_administrators_and_members_wait(desk: Desk) -> None:
    desk.digest("alice", "hourly")
    desk.notify(MONDAY, "alice")
    desk.notify(MONDAY, "alice", ticket="vpn")
    desk.plugin.failure = ConnectionRefusedError(111, "Connection refused")
    slot = MONDAY.replace(minute=0) + dt.timedelta(hours=1)
    (made,) = desk.gather(slot)
    by_id = {d.id: d for d in desk.deliveries("alice")}
    assert by_id[made].state == PENDING and by_id[made].attempts == 1
    retry_at = by_id[made].next_attempt_at
    assert retry_at - by_id[made].claimed_at == dt.timedelta(minutes=1)  # the first back-off
    assert {d.state for i, d in by_id.items() if i != made} == {DIGESTED}
    query = "{ notificationDeliveries { id state subject lastError recipient } }"
    rows = gql(desk.kernel, query, actor=desk.actor("wang"))["data"]["notificationDeliveries"]
    (row,) = [r for r in rows if r["id"] == made]
    assert row["subject"] == "Your hourly digest: 2 notifications"
    assert "Connection refused" in row["lastError"] and row["recipient"] == "Alice Agent"
    member = next(i for i in by_id if i != made)
    retry = "mutation($id: Int!) { retryNotificationDelivery(id: $id) }"
    refused = gql(desk.kernel, retry, {"id": member}, actor=desk.actor("wang"))
    assert error_codes(refused) == ["BAD_USER_INPUT"]  # it goes out with its digest
    assert desk.gather(slot + dt.timedelta(minutes=5)) == []  # not gathered twice
    desk.plugin.failure = None
    with desk.kernel.session() as session:
        assert service.dispatch_due(session, retry_at) == 1
    with desk.kernel.session() as session:
        assert service.deliver(session, made, retry_at).state == SENT
    assert {d.state for d in desk.deliveries("alice")} == {SENT}
    assert len(desk.sent_to("alice")) == 1


def test_changing_the_choice_moves_what_waits(desk: Desk) -> None:
    desk.digest("alice", "daily", "18:00")
    desk.notify(MONDAY, "alice")
    (held,) = desk.deliveries("alice")
    assert held.digest_at == dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)
    with desk.kernel.session() as session:
        digest.set_digest(session, desk.kernel, desk.actor("alice"), OUTBOX, "hourly", now=MONDAY)
    (held,) = desk.deliveries("alice")
    assert held.digest_at == dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    later = MONDAY + dt.timedelta(minutes=20)
    with desk.kernel.session() as session:
        digest.set_digest(session, desk.kernel, desk.actor("alice"), OUTBOX, "immediate", now=later)
    desk.notify(later, "alice", ticket="vpn")  # immediate again: sent by itself
    assert [m.subject for m in desk.sent_to("alice")] == ["Ticket assigned to you: VPN down"]
    assert len(desk.gather(later)) == 1  # what waited goes out with the next run
    waited = desk.sent_to("alice")[-1]
    assert waited.subject == "Your waiting notifications: 1 notification"
    assert "change it on your profile page" not in waited.text


def test_choices_are_checked_and_kept_per_channel(desk: Desk) -> None:
    alice = desk.actor("alice")
    with desk.kernel.session() as session:
        for frequency, at, field in (
            ("weekly", None, "frequency"),
            ("daily", "", "at"),
            ("daily", "25:00", "at"),
        ):
            with pytest.raises(BadUserInput) as refused:
                digest.set_digest(session, desk.kernel, alice, OUTBOX, frequency, at)
            assert refused.value.extensions["field"] == field
        with pytest.raises(BadUserInput):
            digest.set_digest(session, desk.kernel, alice, IN_APP, "hourly")
        (setting,) = digest.digest_settings(session, desk.kernel, desk.ids["alice"], "en")
        assert (setting.channel, setting.frequency, setting.at) == (OUTBOX, "immediate", None)


def test_graphql_reads_and_sets_the_digest(desk: Desk) -> None:
    alice = desk.actor("alice")
    read = "{ notificationSettings { digests { channel channelLabel frequency at } } }"
    found = gql(desk.kernel, read, actor=alice)["data"]["notificationSettings"]["digests"]
    assert found == [
        {"channel": OUTBOX, "channelLabel": "Outbox", "frequency": "IMMEDIATE", "at": None}
    ]
    change = """mutation($c: String!, $f: DigestFrequency!, $at: String) {
        setNotificationDigest(channel: $c, frequency: $f, at: $at) {
        digests { channel frequency at } } }"""
    done = gql(desk.kernel, change, {"c": OUTBOX, "f": "DAILY", "at": "8:30"}, actor=alice)
    assert done["data"]["setNotificationDigest"]["digests"] == [
        {"channel": OUTBOX, "frequency": "DAILY", "at": "08:30"}
    ]
    missing = gql(desk.kernel, change, {"c": OUTBOX, "f": "DAILY"}, actor=alice)
    assert error_codes(missing) == ["BAD_USER_INPUT"]
    assert missing["errors"][0]["extensions"]["field"] == "at"
    in_app = gql(desk.kernel, change, {"c": IN_APP, "f": "HOURLY"}, actor=alice)
    assert error_codes(in_app) == ["BAD_USER_INPUT"]
    assert error_codes(gql(desk.kernel, read)) == ["UNAUTHENTICATED"]
    with desk.kernel.session() as session:
        stored = session.scalars(select(Notification)).all()
    assert stored == []  # settings tell nobody anything


@pytest.mark.parametrize(
    ("zone", "frequency", "at", "now", "slot"),
    [
        # India is 5:30 ahead: its full hours fall on the half hour in UTC
        ("Asia/Kolkata", "hourly", None, "2026-03-02T01:10", "2026-03-02T01:30"),
        ("UTC", "hourly", None, "2026-03-02T01:00", "2026-03-02T02:00"),
        ("Asia/Shanghai", "daily", 540, "2026-03-02T00:59", "2026-03-02T01:00"),
        ("Asia/Shanghai", "daily", 540, "2026-03-02T01:00", "2026-03-03T01:00"),
        # London moves to summer time on 29 March: 09:00 is 09:00 UTC, then 08:00 UTC
        ("Europe/London", "daily", 540, "2026-03-28T10:00", "2026-03-29T08:00"),
    ],
)
def test_slots_follow_the_readers_clock(
    zone: str, frequency: str, at: int | None, now: str, slot: str
) -> None:
    moment = dt.datetime.fromisoformat(now).replace(tzinfo=dt.UTC)
    expected = dt.datetime.fromisoformat(slot).replace(tzinfo=dt.UTC)
    assert digest.next_slot(frequency, at, zone, moment) == expected
