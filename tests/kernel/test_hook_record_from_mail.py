"""`record_from_mail`: a mail adapter hands a mail over, the first module answering takes it.

The mail adapter's intake (tests/adapters/mail/test_intake.py) drives the hook end to end
against a real mail server, with the incident module answering.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from openitsm.kernel import Kernel, RecordRef
from openitsm.kernel.hookspecs import InboundMail, MailAttachment
from openitsm.kernel.testing import build_kernel

AT = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
def dummy_kernel(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    yield built
    built.close()


def note_text(kernel: Kernel, dummy_plugin: ModuleType, ref: RecordRef) -> str:
    model = sys.modules[dummy_plugin.__name__.rpartition(".")[0] + ".models"].DummyNote
    with kernel.session() as session:
        return str(session.get(model, ref.id).text)


def test_hook_record_from_mail(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    mail = InboundMail(
        message_id="<m1@example.test>",
        from_address="wang@example.test",
        subject="打印机卡纸",
        received_at=AT,
        from_name="王伟",
        text="三楼打印机卡纸。",
        attachments=(MailAttachment("photo.png", "image/png", b"\x89PNG"),),
    )
    with dummy_kernel.session() as session:
        made = dummy_kernel.hook.record_from_mail(kernel=dummy_kernel, session=session, mail=mail)
    assert isinstance(made, RecordRef) and made.kind == "dummy_note"  # firstresult: one answer
    assert note_text(dummy_kernel, dummy_plugin, made) == "mail from wang@example.test: 打印机卡纸"

    reply = InboundMail(
        message_id="<m2@example.test>",
        from_address="wang@example.test",
        subject="Re: 打印机卡纸",
        received_at=AT,
        in_reply_to="<openitsm.incident.7@example.test>",
        refers_to=RecordRef("incident", 7),
    )
    with dummy_kernel.session() as session:
        other = dummy_kernel.hook.record_from_mail(kernel=dummy_kernel, session=session, mail=reply)
    assert other is None  # a reply to another kind's record: nobody here takes it
    with pytest.raises(dataclasses.FrozenInstanceError):
        mail.subject = "changed"  # type: ignore[misc]
