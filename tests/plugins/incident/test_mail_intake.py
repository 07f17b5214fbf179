"""Incidents by e-mail, the module's side: `record_from_mail` as the mail adapter calls it
(a unit of work as the system), without a mail server. The adapter's tests
(tests/adapters/mail/test_intake.py) run the whole way through a real Postfix and Dovecot."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.kernel import Forbidden, NotFound, RecordRef
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.hookspecs import InboundMail, MailAttachment
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.workflow.models import ProcessInstance
from openitsm.plugins.incident import mail_intake, service
from openitsm.plugins.incident.models import Incident

from .conftest import World

AT = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.4\n" + b"0" * 100
EXE = b"MZ" + b"\x00" * 200


def give_addresses(world: World) -> None:
    with world.kernel.session() as session:
        for login in ("caller", "agent", "engineer", "leaver", "plain"):
            user = organisation.get_user(session, world.users[login])
            address = f"{login}@example.test"
            organisation.update_user(session, user.id, user.version, {"email": address})


def mail(sender: str = "caller@example.test", subject: str = "Printer jams", **values: Any) -> Any:
    values.setdefault("message_id", f"<{subject}.{sender}@example.test>")
    values.setdefault("text", "The printer on 3F jams.")
    return InboundMail(from_address=sender, subject=subject, received_at=AT, **values)


def take(world: World, inbound: InboundMail) -> RecordRef | None:
    """What the adapter does: the hook, in a unit of work of the system's."""
    kernel = world.kernel
    with kernel.session() as session:
        answer: RecordRef | None = kernel.hook.record_from_mail(
            kernel=kernel, session=session, mail=inbound
        )
        return answer


def test_a_mail_registers_an_incident_as_its_sender(world: World) -> None:
    give_addresses(world)
    inbound = mail(
        "Caller@Example.test",
        "回复: 转发：Fwd: 三楼打印机卡纸",
        html="<style>p{color:red}</style><p>三楼打印机<b>卡纸</b><script>x()</script></p>",
        attachments=(
            MailAttachment("报告.pdf", "application/pdf", PDF),
            MailAttachment("tool.exe", "application/octet-stream", EXE),
        ),
    )
    ref = take(world, inbound)
    assert ref is not None and ref.kind == "incident"
    with world.kernel.session() as session:
        incident = session.get(Incident, ref.id)
        files = list(session.scalars(select(Attachment).where(Attachment.target_id == ref.id)))
        created = session.scalar(
            select(AuditEvent).where(
                AuditEvent.record_kind == "incident", AuditEvent.action == "create"
            )
        )
        process = session.scalar(
            select(ProcessInstance.id).where(ProcessInstance.record_id == ref.id)
        )
    assert incident is not None and incident.title == "三楼打印机卡纸"
    assert incident.caller_id == world.users["caller"] and incident.status == "new"
    assert incident.contact_phone == "+86 555 0199"  # the caller's, as on any registration
    assert incident.service_unit_id == world.units["acme"]
    assert (incident.impact, incident.urgency, incident.level) == ("minor", "medium", "p3")
    assert incident.description is not None
    assert incident.description.startswith("<p>三楼打印机<b>卡纸</b></p>")
    assert "script" not in incident.description and "color" not in incident.description
    assert "tool.exe" in incident.description  # left out, with a note
    assert [(f.filename, f.content_type, f.size) for f in files] == [
        ("报告.pdf", "application/pdf", len(PDF))
    ]
    assert files[0].uploaded_by == world.users["caller"]
    assert created is not None and created.actor_id == world.users["caller"]  # as the sender
    assert process is not None  # the incident process started, as for any registration


def test_strangers_leavers_and_people_without_the_right_are_refused(world: World) -> None:
    give_addresses(world)
    with pytest.raises(Forbidden, match=r"stranger@example\.test is not the address"):
        take(world, mail("stranger@example.test"))
    with pytest.raises(Forbidden, match=r"leaver@example\.test is not the address"):
        take(world, mail("leaver@example.test"))
    with pytest.raises(Forbidden):  # the 2nd line may not register incidents
        take(world, mail("engineer@example.test"))
    with world.kernel.session() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0
        assert session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_a_reply_becomes_the_senders_comment_if_they_may_see_the_incident(world: World) -> None:
    give_addresses(world)
    incident = world.create()
    with world.kernel.session(world.actor("agent")) as session:
        service.assign(session, incident.id, assignee_id=world.users["agent"])
        service.start_work(session, incident.id)
        service.wait_for_customer(session, incident.id)
    answer = mail(
        subject=f"回复：事件 {incident.number} 等待您的答复",
        text="型号是 X-200。\n\n在 2026年3月2日 周一 10:00，IT 服务台 写道：\n> 请问打印机型号？\n",
        attachments=(MailAttachment("label.pdf", "application/pdf", PDF),),
    )
    assert take(world, answer) == RecordRef("incident", incident.id)
    staff = mail(
        "agent@example.test",
        "Re: your mail",
        text="Toner ordered.\n\n-----Original Message-----\nFrom: caller",
        refers_to=RecordRef("incident", incident.id),
    )
    assert take(world, staff) == RecordRef("incident", incident.id)
    with world.kernel.session() as session:
        rows = list(
            session.scalars(
                select(Comment).where(Comment.target_id == incident.id).order_by(Comment.id)
            )
        )
        status = session.scalar(select(Incident.status).where(Incident.id == incident.id))
        file_id = session.scalar(select(Attachment.id).where(Attachment.target_id == incident.id))
    assert [(c.author_id, c.internal) for c in rows] == [
        (world.users["caller"], False),
        (world.users["agent"], False),
    ]
    assert rows[0].body.startswith("<p>型号是 X-200。</p>")
    assert "请问" not in rows[0].body and f'href="/attachments/{file_id}"' in rows[0].body
    assert rows[1].body == "<p>Toner ordered.</p>"
    assert status == "in_progress"  # the caller answered: work resumes

    hidden = mail("plain@example.test", f"Re: {incident.number}")
    with pytest.raises((NotFound, Forbidden)):  # no right to see it: nothing is said about it
        take(world, hidden)
    with pytest.raises(NotFound, match="INC-1999-000001"):
        take(world, mail(subject="Re: INC-1999-000001 broken"))
    assert take(world, mail(refers_to=RecordRef("problem", 3))) is None  # not this module's


def test_a_closed_incident_takes_no_more_mail(world: World) -> None:
    give_addresses(world)
    incident = world.create()
    with world.kernel.session(world.actor("agent")) as session:
        service.resolve(session, incident.id, resolution="<p>Replaced</p>")
        service.close(session, incident.id)
    with pytest.raises(BadUserInput, match="takes no more information"):
        take(world, mail(subject=f"Re: [{incident.number}] thanks"))
    with pytest.raises(BadUserInput, match="takes no more information"):
        take(world, mail("agent@example.test", subject=f"Re: [{incident.number}] done"))


def test_titles_and_replies_are_cleaned() -> None:
    assert mail_intake.clean_title("RE: Fwd: 答复: 回复：[2] 打印机") == "[2] 打印机"
    assert mail_intake.clean_title("Re[2]: VPN   down\n again") == "VPN down again"
    assert mail_intake.clean_title("x" * 300) == "x" * 199 + "…"
    text = "Done, thanks.\n\nOn Mon, 2 Mar 2026 at 10:00, Desk wrote:\n> Is it fixed?"
    assert mail_intake.reply_text(text) == "Done, thanks."
    assert mail_intake.reply_text("> only a quote") == "> only a quote"
    outlook = "好的\n\n________________________________\n发件人: IT 服务台\n主题: 事件"
    assert mail_intake.reply_text(outlook) == "好的"
    assert str(mail_intake.text_html("a <b>\nb\n\nc")) == "<p>a &lt;b&gt;<br>b</p><p>c</p>"
