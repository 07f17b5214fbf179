"""The support mailbox end to end: mail sent through a real Postfix (or straight into Dovecot
over LMTP) to helpdesk@example.test, read over IMAP by the intake, and turned into incidents
and comments by the incident module (see conftest.py for the servers); and reading mail
without any server."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import imaplib
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.adapters.mail import imap, intake, parse
from openitsm.adapters.mail import plugin as mail_plugin
from openitsm.adapters.mail.models import (
    DISMISSED,
    DONE,
    FAILED,
    IGNORED,
    REFUSED,
    InboundMessage,
)
from openitsm.kernel import Kernel, utcnow
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Role
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.workflow.models import ProcessInstance
from openitsm.plugins.incident import mail_intake
from openitsm.plugins.incident import plugin as incident_plugin
from openitsm.plugins.incident.models import Incident
from openitsm.web import testing as web_testing

from .conftest import PASSWORDS, Mailbox

SUPPORT = "helpdesk@example.test"
PROCESSED = "已处理"
PASSWORD = "intake-pw-123"
PDF = b"%PDF-1.4\n%intake test\n" + b"0" * 200
EXE = b"MZ" + b"\x00" * 300
MakeDesk = Callable[..., "Desk"]


class Desk:
    def __init__(self, kernel: Kernel, users: dict[str, int]) -> None:
        self.kernel, self.users = kernel, users

    def run(self, now: dt.datetime | None = None) -> intake.Summary:
        return intake.run(self.kernel, now)

    def incidents(self) -> list[Incident]:
        with self.kernel.session() as session:
            return list(session.scalars(select(Incident).order_by(Incident.id)))

    def comments(self, incident_id: int) -> list[Comment]:
        with self.kernel.session() as session:
            return list(
                session.scalars(
                    select(Comment).where(Comment.target_id == incident_id).order_by(Comment.id)
                )
            )

    def files(self, incident_id: int) -> list[Attachment]:
        with self.kernel.session() as session:
            return list(
                session.scalars(
                    select(Attachment)
                    .where(
                        Attachment.target_kind == "incident", Attachment.target_id == incident_id
                    )
                    .order_by(Attachment.id)
                )
            )

    def inbound(self) -> list[InboundMessage]:
        with self.kernel.session() as session:
            return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))

    def inbound_from(self, address: str) -> InboundMessage:
        """The row of one sender's mail: the server delivers mail in no promised order."""
        (row,) = [row for row in self.inbound() if row.from_address == address]
        return row


@pytest.fixture
def support(mailbox: Mailbox) -> Iterator[Mailbox]:
    """The support mailbox, emptied (INBOX and the processed folder) before each test."""
    client = mailbox.imap(SUPPORT)
    try:
        for folder in ("INBOX", imap.encode_folder(PROCESSED)):
            if client.select(folder)[0] == "OK" and _count(client):
                client.store("1:*", "+FLAGS", "(\\Deleted)")
                client.expunge()
    finally:
        client.logout()
    yield mailbox


@pytest.fixture
def make_desk(tmp_path: Path, database_url: str, support: Mailbox) -> Iterator[MakeDesk]:
    built: list[Kernel] = []

    def make(**mail: Any) -> Desk:
        settings = {
            "from_address": "itsm@example.test",
            "timeout": 5,
            "imap_enabled": True,
            "imap_host": "127.0.0.1",
            "imap_port": support.imap_port,
            "imap_security": "plain",
            "imap_username": SUPPORT,
            **mail,
        }
        kernel = build_kernel(
            tmp_path,
            database_url,
            plugins={"incident": incident_plugin, "mail": mail_plugin},
            plugin_settings={
                "mail": settings,
                "__env__": {"MAIL_IMAP_PASSWORD": PASSWORDS[SUPPORT]},
            },
        )
        built.append(kernel)
        users: dict[str, int] = {}
        with kernel.session() as session:
            roles = {r.code: r.id for r in session.scalars(select(Role))}
            acme = organisation.create_service_unit(session, code="acme", name="Acme")
            people = (
                ("wang", "王伟", "wang@example.test", "end_user", True),
                ("agent", "Agent", "agent@example.test", "service_desk_agent", True),
                ("leaver", "Leaver", "leaver@example.test", "end_user", False),
            )
            for login, name, address, role, active in people:
                user = identity.create_user(session, login, name, email=address, password=PASSWORD)
                changes: dict[str, Any] = {
                    "role_ids": [roles[role]],
                    "service_unit_ids": [acme.id],
                    "active": active,
                }
                organisation.update_user(session, user.id, user.version, changes)
                users[login] = user.id
            root = identity.create_user(session, "root", "Root", password=PASSWORD, superuser=True)
            users["root"] = root.id
        return Desk(kernel, users)

    yield make
    for kernel in built:
        kernel.close()


# --- putting mail into the support mailbox ---------------------------------------------------


def by_smtp(mailbox: Mailbox, message: EmailMessage) -> None:
    with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=10) as client:
        client.send_message(message)


def by_lmtp(mailbox: Mailbox, sender: str, raw: bytes) -> None:
    with smtplib.LMTP("127.0.0.1", mailbox.lmtp_port, timeout=10) as client:
        client.sendmail(sender, [SUPPORT], raw)


def arrived(mailbox: Mailbox, count: int, folder: str = "INBOX", timeout: float = 15) -> list[str]:
    """Wait until `folder` holds `count` mails; their flags, oldest first."""
    client = mailbox.imap(SUPPORT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            client.select(folder)
            _, data = client.fetch("1:*", "(FLAGS)") if _count(client) else ("OK", [])
            flags = [item.decode() for item in data if isinstance(item, bytes)]
            if len(flags) >= count or time.monotonic() > deadline:
                assert len(flags) == count, f"{folder} holds {len(flags)} mails, not {count}"
                return flags
            time.sleep(0.2)
    finally:
        client.logout()


def _count(client: imaplib.IMAP4) -> int:
    _, data = client.search(None, "ALL")
    return len(data[0].split()) if data and data[0] else 0


def plain(sender: str, subject: str, text: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(utcnow())
    message["Message-ID"] = email.utils.make_msgid(domain="example.test")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


def gbk_mail(message_id: str) -> bytes:
    """What a Chinese mail program sends: declared gb2312, written in GBK (镕 is not in
    GB2312), HTML only, with a PDF and a program attached, names in encoded words."""

    def word(text: str) -> str:
        return "=?gb2312?B?" + base64.b64encode(text.encode("gbk")).decode() + "?="

    html = "<html><head><style>p{color:red}</style></head><body><p>三楼打印机<b>镕</b>坏了，请尽快处理。</p></body></html>"
    body = base64.b64encode(html.encode("gbk")).decode()
    return (
        f"From: {word('王伟')} <Wang@Example.test>\r\n"
        f"To: {SUPPORT}\r\n"
        f"Subject: {word('转发: 打印机镕坏了')}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"Date: {email.utils.format_datetime(utcnow())}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="NEXT"\r\n\r\n'
        "--NEXT\r\nContent-Type: text/html; charset=gb2312\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
        f'--NEXT\r\nContent-Type: application/pdf; name="{word("报告镕.pdf")}"\r\n'
        f'Content-Disposition: attachment; filename="{word("报告镕.pdf")}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(PDF).decode()}\r\n"
        '--NEXT\r\nContent-Type: application/octet-stream; name="setup.exe"\r\n'
        'Content-Disposition: attachment; filename="setup.exe"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(EXE).decode()}\r\n"
        "--NEXT--\r\n"
    ).encode()


# --- end to end ------------------------------------------------------------------------------


def test_mail_becomes_incidents_and_replies_become_comments_once(
    make_desk: MakeDesk, support: Mailbox
) -> None:
    desk = make_desk(imap_processed_folder=PROCESSED)
    by_smtp(
        support, plain("王伟 <wang@example.test>", "Re: VPN drops every hour", "VPN 每小时断一次。")
    )
    arrived(support, 1)
    by_lmtp(support, "wang@example.test", gbk_mail("<gbk-1@example.test>"))
    arrived(support, 2)
    summary = desk.run()
    assert summary.states == {DONE: 2} and summary.error is None
    vpn, printer = desk.incidents()  # oldest first
    assert (vpn.title, vpn.caller_id) == ("VPN drops every hour", desk.users["wang"])
    assert vpn.description == "<p>VPN 每小时断一次。</p>"
    assert printer.title == "打印机镕坏了" and printer.caller_id == desk.users["wang"]
    assert printer.description is not None
    assert printer.description.startswith("<p>三楼打印机<b>镕</b>坏了，请尽快处理。</p>")
    assert "color" not in printer.description and "setup.exe" in printer.description
    (pdf,) = desk.files(printer.id)
    assert (pdf.filename, pdf.content_type, pdf.size) == ("报告镕.pdf", "application/pdf", len(PDF))
    with desk.kernel.session() as session:  # created as any incident is: its process runs
        started = session.scalars(
            select(ProcessInstance.record_id).where(ProcessInstance.record_kind == "incident")
        ).all()
    assert sorted(started) == [vpn.id, printer.id]
    assert arrived(support, 0) == []  # moved away once committed
    assert len(arrived(support, 2, imap.encode_folder(PROCESSED))) == 2

    # the caller answers with the number in the subject, the desk from its mail program
    by_smtp(
        support,
        plain(
            "wang@example.test",
            f"回复: [{vpn.number}] VPN drops every hour",
            "重启路由器后好了。\n\n在 2026年3月2日 10:00，IT 服务台 写道：\n> 请重启路由器\n",
        ),
    )
    domain = "example.test"
    by_smtp(
        support,
        plain(
            "Agent <agent@example.test>",
            "Re: An incident for you",
            "Router replaced.",
            In_Reply_To=f"<openitsm.n7.d9@{domain}>",
            References=f"<openitsm.incident.{printer.id}@{domain}> <openitsm.n7.d9@{domain}>",
        ),
    )
    arrived(support, 2)
    assert desk.run().states == {DONE: 2}
    (answer,) = desk.comments(vpn.id)
    assert (answer.author_id, answer.body) == (desk.users["wang"], "<p>重启路由器后好了。</p>")
    (note,) = desk.comments(printer.id)
    assert (note.author_id, note.body) == (desk.users["agent"], "<p>Router replaced.</p>")

    # read again, and the same mail delivered twice: nothing is made twice
    assert desk.run().states == {}
    by_lmtp(support, "wang@example.test", gbk_mail("<gbk-1@example.test>"))
    arrived(support, 1)
    assert desk.run().states == {}
    assert arrived(support, 0) == []
    assert len(desk.incidents()) == 2 and len(desk.comments(printer.id)) == 1
    assert [row.state for row in desk.inbound()] == [DONE] * 4
    assert all(row.record_kind == "incident" for row in desk.inbound())
    with desk.kernel.session() as session:  # the raw copy goes once a module took the mail
        assert session.scalar(select(func.count()).where(InboundMessage.raw.is_not(None))) == 0


def test_strangers_are_refused_and_shown_to_administrators(
    make_desk: MakeDesk, support: Mailbox
) -> None:
    desk = make_desk()
    by_smtp(support, plain("Stranger <stranger@example.test>", "Free printers!", "Buy now"))
    by_smtp(support, plain("leaver@example.test", "Still here?", "Hello"))
    by_smtp(
        support,
        plain("wang@example.test", "自动回复: 休假中", "我休假了", Auto_Submitted="auto-replied"),
    )
    arrived(support, 3)
    assert desk.run().states == {REFUSED: 2, IGNORED: 1}
    assert desk.incidents() == []
    assert all("\\Seen" in flags for flags in arrived(support, 3))  # kept in the table instead
    senders = ("stranger@example.test", "leaver@example.test", "wang@example.test")
    stranger = desk.inbound_from("stranger@example.test")
    leaver = desk.inbound_from("leaver@example.test")
    away = desk.inbound_from("wang@example.test")
    assert stranger.error is not None and "not the address of an active user" in stranger.error
    assert leaver.state == REFUSED and away.state == IGNORED

    assert (
        web_testing.signed_in(desk.kernel, "agent", PASSWORD).get("/admin/mail").status_code == 403
    )
    admin = web_testing.signed_in(desk.kernel, "root", PASSWORD)
    page = admin.get("/admin/mail")
    assert page.status_code == 200
    assert "stranger@example.test" in page.text and "Free printers!" in page.text
    assert "mail from unknown senders is not registered" in page.text
    assert "休假中" not in page.text  # an automatic reply needs nobody's attention
    assert "休假中" in admin.get("/admin/mail?state=all").text

    def retry(row_id: int) -> Any:
        return admin.post(
            f"/admin/mail/{row_id}/retry",
            data={"csrf": web_testing.csrf_of(admin)},
            follow_redirects=False,
        )

    # the stranger joins the company, without a role at first: still refused
    with desk.kernel.session() as session:
        joined = identity.create_user(
            session, "stranger", "Stranger", email="stranger@example.test"
        )
        joined_id, version = joined.id, joined.version
    assert retry(stranger.id).headers["location"].startswith("/admin/mail?done=refused")
    retried = desk.inbound_from("stranger@example.test")
    assert retried.state == REFUSED and retried.attempts == 2
    with desk.kernel.session() as session:
        role = session.scalar(select(Role.id).where(Role.code == "end_user"))
        organisation.update_user(session, joined_id, version, {"role_ids": [role]})
    assert retry(stranger.id).headers["location"].startswith("/admin/mail?done=done")
    (incident,) = desk.incidents()
    assert incident.title == "Free printers!" and incident.caller_id == joined_id
    assert incident.number in admin.get("/admin/mail?state=all").text

    dismissed = admin.post(
        f"/admin/mail/{leaver.id}/dismiss",
        data={"csrf": web_testing.csrf_of(admin)},
        follow_redirects=False,
    )
    assert dismissed.status_code == 303
    assert [desk.inbound_from(address).state for address in senders] == [DONE, DISMISSED, IGNORED]
    assert "Still here?" not in admin.get("/admin/mail").text
    assert retry(leaver.id).status_code == 400  # put aside: no longer tried
    forged = admin.post(f"/admin/mail/{away.id}/retry", data={"csrf": "forged"})
    assert forged.status_code == 400


def test_a_failing_module_keeps_the_mail_and_tries_again(
    make_desk: MakeDesk, support: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = make_desk()

    def broken(*args: Any) -> Any:
        raise RuntimeError("the incident table is on fire")

    monkeypatch.setattr(mail_intake, "_register", broken)
    by_smtp(support, plain("wang@example.test", "Monitor flickers", "It flickers."))
    arrived(support, 1)
    start = utcnow()
    assert desk.run(start).states == {FAILED: 1}
    (row,) = desk.inbound()
    assert row.error == "RuntimeError: the incident table is on fire" and row.attempts == 1
    assert row.next_attempt_at is not None and row.next_attempt_at > start
    assert all("\\Seen" in flags for flags in arrived(support, 1))  # the table keeps it now
    assert desk.run(start).states == {}  # not before its wait is over
    assert desk.run(start + dt.timedelta(minutes=3)).states == {FAILED: 1}
    assert desk.inbound()[0].attempts == 2 and desk.incidents() == []
    monkeypatch.undo()
    assert desk.run(start + dt.timedelta(minutes=10)).states == {DONE: 1}
    (incident,) = desk.incidents()
    assert incident.title == "Monitor flickers"
    assert desk.run(start + dt.timedelta(hours=2)).states == {}
    assert len(desk.incidents()) == 1


def test_a_mail_is_handed_over_once_by_two_workers_at_once(
    make_desk: MakeDesk, support: Mailbox
) -> None:
    desk = make_desk()
    for n in range(3):
        by_smtp(support, plain("wang@example.test", f"Issue {n}", f"Text {n}"))
    arrived(support, 3)
    start = threading.Barrier(2)
    results: list[intake.Summary] = []

    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            results.append(desk.run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2
    later = desk.run(utcnow() + dt.timedelta(minutes=5))  # a lost race is tried again
    assert sorted(i.title for i in desk.incidents()) == ["Issue 0", "Issue 1", "Issue 2"]
    assert {row.state for row in desk.inbound()} == {DONE}
    done = sum(r.states.get(DONE, 0) for r in [*results, later])
    assert done == 3


def test_an_unreachable_mailbox_is_reported(make_desk: MakeDesk) -> None:
    desk = make_desk(imap_username="nobody@example.test")
    summary = desk.run()
    assert summary.error is not None and "sign-in as nobody@example.test refused" in summary.error
    admin = web_testing.signed_in(desk.kernel, "root", PASSWORD)
    assert "sign-in as nobody@example.test refused" in admin.get("/admin/mail").text


def test_the_periodic_task_reads_the_mailbox(make_desk: MakeDesk, support: Mailbox) -> None:
    desk = make_desk()
    by_smtp(support, plain("wang@example.test", "Keyboard", "Keys stick."))
    arrived(support, 1)
    task = desk.kernel.tasks["mail.read_mailbox"]
    assert task.periodic
    assert task.run(key="slot:test-1") == "done 1"
    assert task.run(key="slot:test-1") is None  # the same minute twice: once
    assert [i.title for i in desk.incidents()] == ["Keyboard"]


# --- without servers -------------------------------------------------------------------------


def test_a_chinese_mail_is_read_whatever_its_charset_claims() -> None:
    read = parse.read(gbk_mail("<gbk-2@example.test>"), own_address="itsm@example.test")
    mail = read.mail
    assert read.automatic is None
    assert (mail.from_name, mail.from_address) == ("王伟", "wang@example.test")
    assert mail.subject == "转发: 打印机镕坏了" and mail.to == (SUPPORT,)
    assert mail.html is not None and "<b>镕</b>" in mail.html
    assert mail.text == "三楼打印机镕坏了，请尽快处理。"  # the HTML's text, without its style
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("报告镕.pdf", "application/pdf", PDF),
        ("setup.exe", "application/octet-stream", EXE),
    ]


def test_names_in_rfc_2231_and_attached_mails_and_no_message_id() -> None:
    raw = (
        "From: someone@example.test\r\nSubject: =?utf-8?B?"
        + base64.b64encode("周报".encode()).decode()
        + "?=\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("臺北的印表機".encode("big5")).decode()
        + "\r\n--B\r\nContent-Type: text/plain\r\n"
        "Content-Disposition: attachment; filename*=gbk''%D6%DC%B1%A8.txt\r\n\r\nweek\r\n"
        "--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nhello\r\n--B--\r\n"
    ).encode()
    mail = parse.read(raw, received_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)).mail
    assert mail.subject == "周报" and mail.text == "臺北的印表機"
    assert [a.filename for a in mail.attachments] == ["周报.txt", "inner.eml"]
    assert mail.attachments[1].data.startswith(b"Subject: inner")
    assert mail.message_id.endswith("@no-message-id.invalid>")
    assert mail.message_id == parse.read(raw).mail.message_id  # the same mail, the same key
    assert mail.received_at == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert parse.message_key("<" + "x" * 300 + ">").startswith("sha256:")


def test_automatic_messages_are_recognised() -> None:
    def automatic(**headers: str) -> Any:
        sender = headers.pop("sender", "wang@example.test")
        raw = plain(sender, "Out of office", "Away", **headers).as_bytes()
        return parse.read(raw, own_address="itsm@example.test").automatic

    assert automatic() is None
    assert automatic(Auto_Submitted="no") is None
    assert automatic(Auto_Submitted="auto-replied") is not None
    assert automatic(Precedence="bulk") is not None
    assert automatic(X_Autoreply="yes") is not None
    assert automatic(sender="MAILER-DAEMON@example.test") is not None
    assert automatic(sender="ITSM@example.test") is not None  # the site's own mail


def test_replies_to_notification_mails_name_their_record() -> None:
    reply = parse.read(
        plain(
            "wang@example.test",
            "Re: x",
            "ok",
            In_Reply_To="<openitsm.n3.d7@example.test>",
            References="<openitsm.incident.5@example.test> <openitsm.n3.d7@example.test>",
        ).as_bytes()
    ).mail
    assert parse.thread_of(reply, "Example.test") == parse.Thread(("incident", 5), ())
    assert parse.thread_of(reply, "other.test") == parse.Thread(None, ())
    bare = parse.read(
        plain(
            "w@example.test", "Re: x", "ok", In_Reply_To="<openitsm.n3.d7@example.test>"
        ).as_bytes()
    ).mail
    assert parse.thread_of(bare, "example.test") == parse.Thread(None, (3,))


def test_folder_names_travel_in_modified_utf7() -> None:
    assert imap.encode_folder("INBOX") == '"INBOX"'
    assert imap.encode_folder("A&B") == '"A&-B"'
    assert imap.encode_folder("~peter/mail/台北/日本語") == '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"'
