"""Rich text images and attachments fields in kernel forms, and pending attachments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from openitsm.kernel import Kernel
from openitsm.kernel.access.fields import FieldAccess
from openitsm.kernel.actors import Actor
from openitsm.kernel.attachments import service
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.attachments.store import LocalDiskStore
from openitsm.kernel.dictionaries.models import DictionaryItem
from openitsm.kernel.errors import NotFound
from openitsm.kernel.forms import (
    FIELD_TYPES,
    Form,
    FormField,
    FormSection,
    check_submission,
    image_attachment_ids,
    sanitise_html,
)
from openitsm.kernel.identity import service as identity
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import build_kernel

FORM = Form(
    key="note",
    resource="note",
    labels={"en": "Note"},
    sections=(
        FormSection(
            "main",
            {"en": "Main"},
            (
                FormField("body", {"en": "Body"}, type="richtext"),
                FormField("files", {"en": "Files"}, type="attachments"),
                FormField("proof", {"en": "Proof"}, type="attachments", required=True),
            ),
        ),
    ),
)
OPEN = FieldAccess("note", frozenset(), frozenset())


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ('<img src="/attachments/42" alt="x">', '<img src="/attachments/42" alt="x">'),
        ('<img src=" /attachments/42 ">', '<img src=" /attachments/42 ">'),
        ('<img src="/attachments/42" onerror="alert(1)">', '<img src="/attachments/42">'),
        ('<img src="data:image/png;base64,iVBORw0KGgo=">', "<img>"),
        ('<img src="https://tracker.example/pixel.gif">', "<img>"),
        ('<img src="//tracker.example/pixel.gif">', "<img>"),
        ('<img src="/attachments/42/../../logout">', "<img>"),
        ('<img src="javascript:alert(1)">', "<img>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="data:text/html,hi">x</a>', '<a rel="noopener noreferrer">x</a>'),
        (
            '<a href="/attachments/7">log</a>',
            '<a href="/attachments/7" rel="noopener noreferrer">log</a>',
        ),
        ('<p style="color:red">a<script>b()</script></p>', "<p>a</p>"),
    ],
)
def test_rich_text_keeps_only_this_sites_attachment_images(given: str, kept: str) -> None:
    assert sanitise_html(given) == kept


def test_image_attachment_ids_are_read_from_sanitised_images_once_each() -> None:
    html = sanitise_html(
        '<p><img alt="a" src="/attachments/3"><img src="/attachments/9"></p>'
        '<img src="/attachments/3"><a href="/attachments/5">not an image</a>'
        '<img src="https://example.com/attachments/8">'
    )
    assert image_attachment_ids(html) == [3, 9]
    assert image_attachment_ids(None) == []


def test_attachments_is_a_field_type() -> None:
    assert "attachments" in FIELD_TYPES


def check(posted: dict[str, str], lookups: Any = None) -> Any:
    return check_submission(FORM, {"proof": "1", **posted}, OPEN, lookups=lookups)


def test_attachments_fields_give_tuples_of_ids() -> None:
    checked = check({"files": " 4, 5 4\n6,"})
    assert checked.valid
    assert checked.values["files"] == (4, 5, 6)
    assert check({"files": ""}).values["files"] == ()
    assert check({"proof": ""}).errors["proof"].code == "required"


def test_attachments_fields_refuse_what_is_not_ids_or_too_many() -> None:
    assert check({"files": "4,abc"}).errors["files"].code == "unknown_attachments"
    assert check({"files": "-4"}).errors["files"].code == "unknown_attachments"
    many = ",".join(str(n) for n in range(1, 102))
    error = check({"files": many}).errors["files"]
    assert (error.code, error.params) == ("too_many_files", {"max": 100})


def test_attachments_fields_ask_their_lookup_with_all_ids() -> None:
    asked: list[tuple[str, Any]] = []

    def lookup(spec: FormField, ids: tuple[int, ...]) -> bool:
        asked.append((spec.name, ids))
        return 13 not in ids

    good = check({"files": "11,12"}, {"attachments": lookup})
    bad = check({"files": "12,13"}, {"attachments": lookup})
    assert good.valid and good.values["files"] == (11, 12)
    assert bad.errors["files"].code == "unknown_attachments"
    assert bad.raw["files"] == "12,13"  # shown again as typed
    assert ("files", (11, 12)) in asked and ("proof", (1,)) in asked


def test_rich_text_fields_are_sanitised_on_submission() -> None:
    checked = check({"body": '<p onclick="x()">hi<img src="data:,x"></p>'})
    assert checked.values["body"] == "<p>hi<img></p>"


# --- pending attachments --------------------------------------------------------------


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url)
    yield built
    built.close()


def user(kernel: Kernel, login: str) -> Actor:
    with kernel.session() as session:
        created = identity.create_user(session, login, login.title(), password="secret-pw")
    return Actor(user_id=created.id, label=created.name)


def pending_upload(kernel: Kernel, actor: Actor, content: bytes = b"hello") -> int:
    with kernel.unit_of_work(actor) as session:
        row = service.save_attachment(
            session, kernel, service.pending_ref(actor), "a.txt", None, [content], actor
        )
        return row.id


def an_item(kernel: Kernel) -> RecordRef:
    with kernel.session() as session:
        item_id = session.scalar(select(DictionaryItem.id).order_by(DictionaryItem.id).limit(1))
    assert item_id is not None
    return RecordRef("dictionary_item", item_id)


def target(kernel: Kernel, attachment_id: int) -> tuple[str, int] | None:
    with kernel.session() as session:
        row = session.get(Attachment, attachment_id)
        return None if row is None else (row.target_kind, row.target_id)


def test_pending_uploads_belong_to_their_uploader_until_attached(kernel: Kernel) -> None:
    alice, bob = user(kernel, "alice"), user(kernel, "bob")
    mine = pending_upload(kernel, alice)
    assert target(kernel, mine) == ("pending", alice.user_id)
    item = an_item(kernel)

    with kernel.unit_of_work(bob) as session:
        with pytest.raises(NotFound):
            service.get_attachment(session, kernel, mine, bob)
        with pytest.raises(NotFound):
            service.attach_pending(session, kernel, [mine], item, bob)
        assert service.attach_pending(session, kernel, [mine], item, bob, skip_others=True) == []
        with pytest.raises(NotFound):
            service.require_record(session, kernel, RecordRef("pending", alice.user_id or 0), bob)
    assert target(kernel, mine) == ("pending", alice.user_id)

    with kernel.unit_of_work(alice) as session:
        assert service.get_attachment(session, kernel, mine, alice).id == mine
        moved = service.attach_pending(session, kernel, [mine, mine], item, alice)
        assert [row.id for row in moved] == [mine]
    assert target(kernel, (mine)) == (item.kind, item.id)
    with kernel.unit_of_work(alice) as session:  # attaching again changes nothing
        assert service.attach_pending(session, kernel, [mine], item, alice) == []


def test_the_lookup_accepts_own_pending_and_the_edited_records_files(kernel: Kernel) -> None:
    alice, bob = user(kernel, "alice"), user(kernel, "bob")
    item = an_item(kernel)
    mine, theirs, on_item = (
        pending_upload(kernel, alice),
        pending_upload(kernel, bob),
        pending_upload(kernel, alice),
    )
    with kernel.unit_of_work(alice) as session:
        service.attach_pending(session, kernel, [on_item], item, alice)
    with kernel.unit_of_work(alice) as session:
        for_new = service.attachment_lookup(session, kernel, alice)
        for_item = service.attachment_lookup(session, kernel, alice, item)
        spec = FORM.fields[1]
        assert for_new(spec, (mine,))
        assert not for_new(spec, (mine, theirs))
        assert not for_new(spec, (on_item,))  # not to be copied onto a new record
        assert for_item(spec, (mine, on_item))
        assert not for_item(spec, (999_999,))
        assert service.usable_ids(session, kernel, [mine, theirs, on_item], alice, item) == {
            mine,
            on_item,
        }


def test_pending_uploads_older_than_a_day_are_purged_with_their_files(kernel: Kernel) -> None:
    alice = user(kernel, "alice")
    old, fresh, kept = (pending_upload(kernel, alice, text) for text in (b"1", b"2", b"3"))
    with kernel.unit_of_work(alice) as session:
        service.attach_pending(session, kernel, [kept], an_item(kernel), alice)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    with kernel.session() as session:
        session.execute(
            update(Attachment).where(Attachment.id.in_([old, kept])).values(created_at=long_ago)
        )
        old_key = session.get(Attachment, old).storage_key  # type: ignore[union-attr]
    store = LocalDiskStore(kernel.settings.attachments_path)

    with kernel.session() as session:
        assert service.purge_pending(session, kernel) == 1
    assert target(kernel, old) is None
    assert target(kernel, fresh) == ("pending", alice.user_id)
    assert target(kernel, kept) is not None
    with pytest.raises(NotFound):
        store.open(old_key)


def test_the_purge_runs_as_a_periodic_task() -> None:
    assert service.purge_pending_attachments.periodic
    assert service.purge_pending_attachments.wants_session
