"""Notification mail end to end: SMTP to a real Postfix, LMTP into Dovecot, read back over
IMAP (see conftest.py); and a mail server that is down."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import imaplib
import socket
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openitsm.adapters.mail import plugin as mail_plugin
from openitsm.adapters.mail import sender
from openitsm.adapters.mail.settings import Settings
from openitsm.kernel import Kernel
from openitsm.kernel.access.actions import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.db import utcnow
from openitsm.kernel.identity import service as identity
from openitsm.kernel.notifications import digest, service
from openitsm.kernel.notifications.models import FAILED, HELD, PENDING, SENT, NotificationDelivery
from openitsm.kernel.notifications.spec import EMAIL, OutgoingMessage, registry_of
from openitsm.kernel.organisation import service as org
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.kernel.testing.notifications import EVENT, OUTBOX, NotifyingTickets
from openitsm.kernel.testing.tickets import Ticket, create_tables, drop_tables

SITE = "https://itsm.example.test"
MakeDesk = Callable[..., "Desk"]


class Desk:
    def __init__(self, kernel: Kernel, ids: dict[str, int], ticket_id: int) -> None:
        self.kernel, self.ids, self.ticket_id = kernel, ids, ticket_id

    def notify(self, *logins: str) -> None:
        with self.kernel.session() as session:
            service.notify(
                session,
                EVENT,
                [self.ids[login] for login in logins],
                record=RecordRef("ticket", self.ticket_id),
                values={"at": utcnow()},
            )

    def mail_deliveries(self) -> list[NotificationDelivery]:
        with self.kernel.session() as session:
            return list(
                session.scalars(
                    select(NotificationDelivery)
                    .where(NotificationDelivery.channel == EMAIL)
                    .order_by(NotificationDelivery.id)
                )
            )


@pytest.fixture
def make_desk(tmp_path: Path, database_url: str) -> Iterator[MakeDesk]:
    built: list[Kernel] = []

    def make(**mail: Any) -> Desk:
        kernel = build_kernel(
            tmp_path,
            database_url,
            plugins={"tickets": NotifyingTickets(), "mail": mail_plugin},
            plugin_settings={"mail": {"from_address": "itsm@example.test", "timeout": 5, **mail}},
            server={"base_url": SITE},
        )
        built.append(kernel)
        create_tables(kernel.engine)
        ids: dict[str, int] = {}
        with kernel.session() as session:
            role = org.create_role(
                session, action_registry(kernel), code="agent", labels={"en": "Agent"}
            )
            set_role_scope(session, role.id, "ticket", "all")
            set_field_rule(
                session, kernel.record_kinds, role.id, "ticket", "internal_note", "hidden"
            )
            for login, address, locale in (
                ("alice", "alice@example.test", "en"),
                ("bob", "bob@example.test", "zh-CN"),
            ):
                user = identity.create_user(session, login, login.title(), email=address)
                user.locale = locale
                org.grant_role(session, user.id, role.id)
                ids[login] = user.id
                service.set_preference(
                    session, kernel, actor_of_in(session, user.id), EVENT, OUTBOX, False
                )
            ticket = Ticket(title="Printer jam", internal_note="needle in the note")
            session.add(ticket)
            session.flush()
            ticket_id = ticket.id
        return Desk(kernel, ids, ticket_id)

    yield make
    for kernel in built:
        drop_tables(kernel.engine)
        kernel.close()


def actor_of_in(session: Any, user_id: int) -> Any:
    from openitsm.kernel.access.grants import actor_for_user

    return actor_for_user(session, user_id)


def fetch(client: imaplib.IMAP4, message_id: str, timeout: float = 15.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.noop()
        status, found = client.search(None, "HEADER", "Message-ID", message_id)
        numbers = found[0].split() if status == "OK" and found and found[0] else []
        if numbers:
            _, data = client.fetch(numbers[-1], "(RFC822)")
            raw = next(part[1] for part in data if isinstance(part, tuple))
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            return parsed
        time.sleep(0.2)
    raise AssertionError(f"no mail with Message-ID {message_id} arrived")


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_mail_arrives_in_the_readers_language_with_a_link_and_no_hidden_field(
    make_desk: MakeDesk, mailbox: Any
) -> None:
    desk = make_desk(host=mailbox.smtp_host, port=mailbox.smtp_port, security="plain")
    assert EMAIL in {c.name for c in registry_of(desk.kernel).usable_channels(desk.kernel)}
    desk.notify("alice", "bob")
    alice_delivery, bob_delivery = desk.mail_deliveries()
    assert (alice_delivery.state, bob_delivery.state) == (SENT, SENT)
    domain = "example.test"
    alice_id = f"<openitsm.n{alice_delivery.notification_id}.d{alice_delivery.id}@{domain}>"
    alice_client = mailbox.imap("alice@example.test")
    try:
        mail = fetch(alice_client, alice_id)
    finally:
        alice_client.logout()
    assert mail["Subject"] == "Ticket assigned to you: Printer jam"
    assert mail["Content-Language"] == "en"
    assert mail["From"] == "OpenITSM <itsm@example.test>"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = parts(mail)
    link = f"{SITE}/tickets/{desk.ticket_id}"
    assert f"Open it: {link}" in text and f'href="{link}"' in html
    assert "needle" not in text and "needle" not in html and "needle" not in mail.as_string()
    thread = f"<openitsm.ticket.{desk.ticket_id}@{domain}>"
    assert mail["In-Reply-To"] == thread and mail["References"] == thread

    bob_id = f"<openitsm.n{bob_delivery.notification_id}.d{bob_delivery.id}@{domain}>"
    bob_client = mailbox.imap("bob@example.test")
    try:
        chinese = fetch(bob_client, bob_id)
        assert chinese["Subject"] == "工单已分派给您：Printer jam"
        assert chinese["Content-Language"] == "zh-CN"
        text, _ = parts(chinese)
        assert "工单“Printer jam”已分派给您" in text and link in text
        # a second mail about the same record threads with the first
        desk.notify("bob")
        latest = desk.mail_deliveries()[-1]
        second = fetch(bob_client, f"<openitsm.n{latest.notification_id}.d{latest.id}@{domain}>")
        assert second["References"] == chinese["References"] == thread
        assert second["Message-ID"] != chinese["Message-ID"]
    finally:
        bob_client.logout()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


def test_a_mail_server_that_is_down_is_retried_with_back_off_then_failed_never_lost(
    make_desk: MakeDesk,
) -> None:
    desk = make_desk(host="127.0.0.1", port=closed_port(), security="plain", timeout=2)
    desk.notify("alice")
    (delivery,) = desk.mail_deliveries()
    assert delivery.state == PENDING and delivery.attempts == 1
    assert "ConnectionRefusedError" in (delivery.last_error or "")
    at = delivery.next_attempt_at
    waits = []
    while delivery.state == PENDING:
        with desk.kernel.session() as session:
            service.deliver(session, delivery.id, at)
        (delivery,) = desk.mail_deliveries()
        if delivery.state == PENDING:
            waits.append(delivery.next_attempt_at - at)
            at = delivery.next_attempt_at
    assert delivery.state == FAILED and delivery.attempts == service.MAX_ATTEMPTS
    assert waits == [dt.timedelta(minutes=m) for m in (2, 4, 8, 16)]
    assert "ConnectionRefusedError" in (delivery.last_error or "")
    admin = None
    with desk.kernel.session() as session:
        admin = identity.create_user(session, "root", "Root", superuser=True).id
    with desk.kernel.session() as session:
        (row,) = [d for d, _, _ in service.deliveries(session, actor_of(desk.kernel, admin))]
        assert row.id == delivery.id and row.state == FAILED  # kept for an administrator


def test_the_channel_is_off_until_a_host_is_set(make_desk: MakeDesk) -> None:
    desk = make_desk()
    assert EMAIL in registry_of(desk.kernel).channels
    assert EMAIL not in {c.name for c in registry_of(desk.kernel).usable_channels(desk.kernel)}
    desk.notify("alice")
    assert desk.mail_deliveries() == []


def test_a_mail_has_text_and_html_and_threads_by_record() -> None:
    settings = Settings(
        host="mail.example.test", from_address="desk@example.com", reply_to="help@example.com"
    )
    message = OutgoingMessage(
        delivery_id=7,
        notification_id=3,
        event=EVENT,
        user_id=1,
        user_name="王伟",
        address="wang@example.com",
        locale="zh-CN",
        subject="工单已分派给您：打印机",
        text="正文\n",
        html="<p>正文</p>",
        url=f"{SITE}/tickets/5",
        record=RecordRef("ticket", 5),
        created_at=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC),
    )
    mail = sender.build(message, settings)
    assert mail["Message-ID"] == "<openitsm.n3.d7@example.com>"
    assert mail["References"] == "<openitsm.ticket.5@example.com>"
    assert mail["Reply-To"] == "help@example.com"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert (
        parsed["Subject"] == "工单已分派给您：打印机"
        and parsed["To"].addresses[0].display_name == "王伟"
    )
    assert settings.effective_port == 587 and Settings(security="ssl").effective_port == 465
    with pytest.raises(ValueError):
        Settings(from_address="not an address")


def fetch_digest(client: imaplib.IMAP4, message_id: str, timeout: float = 15.0) -> EmailMessage:
    """The digest mail with `message_id` (ids restart with each test's database, so the
    event header tells it from an earlier test's single mail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.noop()
        status, found = client.search(
            None,
            "HEADER",
            "Message-ID",
            message_id,
            "HEADER",
            "X-OpenITSM-Event",
            digest.DIGEST_EVENT,
        )
        numbers = found[0].split() if status == "OK" and found and found[0] else []
        if numbers:
            _, data = client.fetch(numbers[-1], "(RFC822)")
            raw = next(part[1] for part in data if isinstance(part, tuple))
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            return parsed
        time.sleep(0.2)
    raise AssertionError(f"no digest with Message-ID {message_id} arrived")


def test_an_hourly_digest_arrives_as_one_mail_with_every_entry_and_its_link(
    make_desk: MakeDesk, mailbox: Any
) -> None:
    desk = make_desk(host=mailbox.smtp_host, port=mailbox.smtp_port, security="plain")
    with desk.kernel.session() as session:
        bob = actor_of(desk.kernel, desk.ids["bob"])
        digest.set_digest(session, desk.kernel, bob, EMAIL, "hourly")
    desk.notify("bob")
    desk.notify("bob")
    assert [d.state for d in desk.mail_deliveries()] == [HELD, HELD]
    later = utcnow() + dt.timedelta(hours=1)  # the slot has come
    with desk.kernel.session() as session:
        (made,) = digest.gather_due(session, later)
    with desk.kernel.session() as session:
        assert service.deliver(session, made, later).state == SENT
    deliveries = desk.mail_deliveries()
    assert [d.state for d in deliveries] == [SENT, SENT, SENT]
    (sent,) = [d for d in deliveries if d.id == made]
    client = mailbox.imap("bob@example.test")
    try:
        mail = fetch_digest(client, f"<openitsm.n{sent.notification_id}.d{made}@example.test>")
    finally:
        client.logout()
    assert mail["Subject"] == "每小时通知摘要：2 条通知"
    assert mail["Content-Language"] == "zh-CN" and mail["In-Reply-To"] is None
    text, html = parts(mail)
    link = f"{SITE}/tickets/{desk.ticket_id}"
    assert text.count("工单已分派给您：Printer jam") == 2 and link in text
    assert f'href="{link}"' in html and "needle" not in mail.as_string()
