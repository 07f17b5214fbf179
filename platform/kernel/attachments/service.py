"""Attachment operations: the one place that stores, checks, opens and deletes files.

An upload is streamed into the store while it arrives: the size limit is checked chunk by
chunk and the content type is sniffed from the first bytes, so an oversized or forbidden
file is refused without ever being held in memory. The file is written before its row;
if the transaction that adds the row does not commit, the file is removed again, so the
store never keeps a file that no row points to.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import hashlib
import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import filetype
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from openitsm.kernel.actors import Actor
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.attachments.store import AttachmentStore, LocalDiskStore
from openitsm.kernel.db.session import after_commit, flush
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound, Unauthenticated, _t
from openitsm.kernel.queue.tasks import crontab, periodic_task
from openitsm.kernel.references import RecordRef

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.settings import Settings

log = logging.getLogger("openitsm.attachments")

SNIFF_BYTES = 8192  # what `filetype` looks at
MAX_FILENAME = 255
FALLBACK_FILENAME = "attachment"
_UNCOMMITTED = "attachments_uncommitted"
# Uploads made before their record exists (a new incident's form) are held under this kind
# with the uploader's user id, and moved to the record when the form is saved.
PENDING_KIND = "pending"
PENDING_HOURS = 24


class UploadTooLarge(BadUserInput):
    """The upload crossed `attachments.max_size_mb`; HTTP answers 413."""


class BlockedType(BadUserInput):
    """The sniffed type is in `attachments.blocked_types`; HTTP answers 415."""


@dataclass(frozen=True)
class StoredUpload:
    """A file written to the store that no row points to yet."""

    key: str
    size: int
    sha256: str
    content_type: str


def store_for(kernel: Kernel) -> AttachmentStore:
    return LocalDiskStore(kernel.settings.attachments_path)


def max_bytes(settings: Settings) -> int:
    return int(settings.attachments.max_size_mb * 1024 * 1024)


# --- input cleaning -------------------------------------------------------------------


def sanitise_filename(name: str | None) -> str:
    """The last path part of `name` without control characters, at most 255 characters.

    Browsers and scripts may send `C:\\Users\\x\\a.txt` or `../../etc/passwd`; only what
    a person would call the file's name is kept. The name is only ever shown and offered
    as a download name, never used as a path.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    text = text.strip()
    if text in ("", ".", ".."):
        return FALLBACK_FILENAME
    if len(text) > MAX_FILENAME:
        stem, dot, suffix = text.rpartition(".")
        if dot and stem and len(suffix) <= 16:
            text = stem[: MAX_FILENAME - len(suffix) - 1] + "." + suffix
        else:
            text = text[:MAX_FILENAME]
    return text


def clean_declared_type(value: str | None) -> str | None:
    """The media type a client claimed, without parameters; kept for information only."""
    media_type = (value or "").split(";", 1)[0].strip().lower()
    return media_type[:255] or None


def sniff(head: bytes) -> str:
    """The content type read from the first bytes; the client's claim plays no part.

    Unknown binary formats are `application/octet-stream`; bytes that decode as UTF-8
    (and hold no NUL) are `text/plain`.
    """
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


# --- records --------------------------------------------------------------------------


def require_actor(actor: Actor | None) -> Actor:
    if actor is None or not actor.authenticated:
        raise Unauthenticated()
    return actor


def require_record(session: Session, kernel: Kernel, ref: RecordRef, actor: Actor) -> None:
    """Refuse unknown kinds (BAD_USER_INPUT), and records that are absent or outside the
    actor's data scope alike (NOT_FOUND), so nobody learns that a hidden record exists.

    The pending "record" of an actor is their own user id; nobody uploads into another's."""
    if ref.kind == PENDING_KIND:
        if ref != pending_ref(actor):
            raise NotFound(
                _t("No {kind} with id {id}."),
                field="recordId",
                params={"kind": ref.kind, "id": ref.id},
            )
        return
    kernel.record_kinds.get(ref.kind)
    if not kernel.record_kinds.exists(session, ref, actor):
        raise NotFound(
            _t("No {kind} with id {id}."), field="recordId", params={"kind": ref.kind, "id": ref.id}
        )


# --- storing --------------------------------------------------------------------------


def write_upload(kernel: Kernel, chunks: Iterable[bytes]) -> StoredUpload:
    """Stream `chunks` into the store, enforcing the size limit and the blocked types.

    Holds at most the first few kilobytes in memory (to sniff them); on any failure the
    store keeps nothing.
    """
    settings = kernel.settings
    limit = max_bytes(settings)
    source = iter(chunks)
    head = bytearray()
    for chunk in source:
        head += chunk
        check_size(len(head), limit)
        if len(head) >= SNIFF_BYTES:
            break
    content_type = sniff(bytes(head[:SNIFF_BYTES]))
    blocked = {item.lower() for item in settings.attachments.blocked_types}
    if content_type in blocked:
        raise BlockedType(
            _t("Files of type {contentType} are not accepted here."), contentType=content_type
        )
    digest = hashlib.sha256()
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for chunk in _chain(bytes(head), source):
            size += len(chunk)
            check_size(size, limit)
            digest.update(chunk)
            yield chunk

    key = store_for(kernel).save(counted())
    return StoredUpload(key=key, size=size, sha256=digest.hexdigest(), content_type=content_type)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise UploadTooLarge(
            _t("The file is larger than the limit of {limit}."),
            maxBytes=limit,
            params={"limit": _megabytes(limit)},
        )


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB" if size >= 1024 * 1024 else f"{size} bytes"


def record_attachment(
    session: Session,
    kernel: Kernel,
    ref: RecordRef,
    filename: str | None,
    declared_type: str | None,
    stored: StoredUpload,
    actor: Actor | None,
) -> Attachment:
    """Add the row for a file already in the store; the file goes if the row is not committed."""
    forget_unless_committed(session, store_for(kernel), stored.key)
    actor = require_actor(actor)
    require_record(session, kernel, ref, actor)
    attachment = Attachment(
        target_kind=ref.kind,
        target_id=ref.id,
        filename=sanitise_filename(filename),
        content_type=stored.content_type,
        declared_type=clean_declared_type(declared_type),
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        uploaded_by=actor.user_id,
    )
    session.add(attachment)
    flush(session)
    return attachment


def save_attachment(
    session: Session,
    kernel: Kernel,
    ref: RecordRef,
    filename: str | None,
    declared_type: str | None,
    chunks: Iterable[bytes],
    actor: Actor | None,
) -> Attachment:
    """Attach a streamed file to the record `ref` in this session's transaction."""
    require_record(session, kernel, ref, require_actor(actor))
    stored = write_upload(kernel, chunks)
    return record_attachment(session, kernel, ref, filename, declared_type, stored, actor)


# --- reading and deleting -------------------------------------------------------------


def get_attachment(
    session: Session, kernel: Kernel, attachment_id: int, actor: Actor
) -> Attachment:
    """The attachment, if its record is one the actor may see (else NOT_FOUND, as if absent).

    A pending upload is seen by its uploader (and superusers) only."""
    attachment = session.get(Attachment, attachment_id)
    kinds = kernel.record_kinds
    visible = attachment is not None and (
        kinds.exists(session, attachment.target, actor)
        if attachment.target_kind in kinds
        else actor.superuser or is_own_pending(attachment, actor)
    )
    if attachment is None or not visible:
        raise NotFound(_t("No attachment with id {id}."), params={"id": attachment_id})
    return attachment


def open_attachment(
    session: Session, kernel: Kernel, attachment_id: int, actor: Actor | None
) -> tuple[Attachment, Iterator[bytes]]:
    """The row and its bytes as chunks; the file is opened now, so absence fails here."""
    attachment = get_attachment(session, kernel, attachment_id, require_actor(actor))
    try:
        chunks = store_for(kernel).open(attachment.storage_key)
    except NotFound:
        log.error("attachment %s: stored file %s is missing", attachment.id, attachment.storage_key)
        raise NotFound(
            _t("The file of attachment {id} is missing."), params={"id": attachment_id}
        ) from None
    return attachment, chunks


def delete_attachment(
    session: Session, kernel: Kernel, attachment_id: int, actor: Actor | None
) -> int:
    """Delete the row now and the file once the deletion is committed; returns the id."""
    actor = require_actor(actor)
    attachment = get_attachment(session, kernel, attachment_id, actor)
    uploader = actor.user_id is not None and actor.user_id == attachment.uploaded_by
    if not uploader and not actor.can("attachment.delete_any"):
        raise Forbidden(
            _t(
                "Only the uploader, or a role allowed to delete any attachment, "
                "may delete this one."
            )
        )
    store, key = store_for(kernel), attachment.storage_key
    session.delete(attachment)
    flush(session)
    after_commit(session, lambda: _delete_quietly(store, key))
    return attachment_id


# --- pending uploads: files chosen on a form whose record does not exist yet ----------


def pending_ref(actor: Actor) -> RecordRef:
    """Where an actor's uploads wait for their record: kind `pending`, the actor's user id."""
    if actor.user_id is None:
        raise BadUserInput(_t("Only a signed-in user can upload files before saving a form."))
    return RecordRef(PENDING_KIND, actor.user_id)


def is_own_pending(attachment: Attachment, actor: Actor) -> bool:
    return (
        attachment.target_kind == PENDING_KIND
        and actor.user_id is not None
        and attachment.target_id == actor.user_id
        and attachment.uploaded_by == actor.user_id
    )


def usable_ids(
    session: Session,
    kernel: Kernel,
    ids: Iterable[int],
    actor: Actor,
    ref: RecordRef | None = None,
) -> set[int]:
    """Which of `ids` a form may carry for the record `ref`: the actor's own pending uploads,
    and the files already attached to `ref` when the actor may see that record."""
    wanted = set(ids)
    if not wanted:
        return set()
    rows = session.scalars(select(Attachment).where(Attachment.id.in_(wanted))).all()
    usable = {row.id for row in rows if is_own_pending(row, actor)}
    on_record = [row.id for row in rows if ref is not None and row.target == ref]
    kinds = kernel.record_kinds
    if on_record and ref is not None and ref.kind in kinds and kinds.exists(session, ref, actor):
        usable.update(on_record)
    return usable


def attachment_lookup(
    session: Session, kernel: Kernel, actor: Actor, ref: RecordRef | None = None
) -> Callable[[Any, Any], bool]:
    """The `attachments` check for `forms.check_submission(lookups=...)`: every posted id
    must be usable (see `usable_ids`); `ref` is the record edited, None for a new one."""

    def check(_field: Any, ids: Any) -> bool:
        wanted = set(ids)
        return usable_ids(session, kernel, wanted, actor, ref) == wanted

    return check


def attach_pending(
    session: Session,
    kernel: Kernel,
    ids: Iterable[int],
    ref: RecordRef,
    actor: Actor | None,
    *,
    skip_others: bool = False,
) -> list[Attachment]:
    """Move the actor's pending uploads `ids` to the record `ref` (saved in this unit of
    work); returns those moved. Ids already on `ref` are left as they are; any other id is
    refused as NOT_FOUND, or passed over with `skip_others` (images found in rich text)."""
    actor = require_actor(actor)
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    require_record(session, kernel, ref, actor)
    rows = {
        row.id: row for row in session.scalars(select(Attachment).where(Attachment.id.in_(wanted)))
    }
    moved = []
    for attachment_id in wanted:
        row = rows.get(attachment_id)
        if row is not None and row.target == ref:
            continue
        if row is None or not is_own_pending(row, actor):
            if skip_others:
                continue
            raise NotFound(
                _t("No attachment with id {id}."), field="attachments", params={"id": attachment_id}
            )
        row.target_kind, row.target_id = ref.kind, ref.id
        moved.append(row)
    flush(session)
    return moved


def describe(
    session: Session, kernel: Kernel, ids: Iterable[int], actor: Actor
) -> list[dict[str, Any]]:
    """What a form shows of the files in an attachments field (name, size, link), in the
    order given; ids the actor may not see are left out."""
    shown = []
    for attachment_id in dict.fromkeys(ids):
        try:
            row = get_attachment(session, kernel, attachment_id, actor)
        except NotFound:
            continue
        shown.append(_described(row))
    return shown


def files_of(session: Session, ref: RecordRef) -> list[dict[str, Any]]:
    """A record's files as `describe` gives them, oldest first, in one query; the caller
    has checked that the reader may see the record."""
    rows = session.scalars(
        select(Attachment)
        .where(Attachment.target_kind == ref.kind, Attachment.target_id == ref.id)
        .order_by(Attachment.id)
    )
    return [_described(row) for row in rows]


def _described(row: Attachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "size": row.size,
        "content_type": row.content_type,
        "url": f"/attachments/{row.id}",
    }


def field_choices(
    session: Session, kernel: Kernel, ids: Iterable[int], actor: Actor
) -> dict[str, Any]:
    """What `forms/macros.html` needs for an attachments or rich text field: the files to
    list and the size limit, so the browser refuses an oversized file before sending it."""
    return {"files": describe(session, kernel, ids, actor), "max_bytes": max_bytes(kernel.settings)}


def purge_pending(
    session: Session, kernel: Kernel, older_than: dt.timedelta = dt.timedelta(hours=PENDING_HOURS)
) -> int:
    """Delete pending uploads whose form was never saved; their files go after the commit."""
    cutoff = dt.datetime.now(dt.UTC) - older_than
    rows = session.scalars(
        select(Attachment).where(
            Attachment.target_kind == PENDING_KIND, Attachment.created_at < cutoff
        )
    ).all()
    store = store_for(kernel)
    for row in rows:
        key = row.storage_key
        session.delete(row)
        after_commit(session, functools.partial(_delete_quietly, store, key))
    flush(session)
    return len(rows)


@periodic_task(crontab(minute="41"))
def purge_pending_attachments(session: Session) -> int:
    """Hourly: pending uploads older than a day belong to forms nobody saved."""
    from openitsm.kernel.app import current_kernel

    return purge_pending(session, current_kernel())


# --- no orphans: files written in a transaction that does not commit are removed --------


def forget_unless_committed(session: Session, store: AttachmentStore, key: str) -> None:
    """Remove the stored file `key` unless the session's current transaction commits."""
    session.connection()  # begin the transaction the file belongs to, if none is open
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_UNCOMMITTED, []).append((transaction, store, key))


def _delete_quietly(store: AttachmentStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:
        log.exception("could not delete the stored file %s", key)


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def _discard(session: Session, rolled_back: SessionTransaction | None) -> None:
    pending: list[tuple[Any, AttachmentStore, str]] = session.info.get(_UNCOMMITTED) or []
    kept = []
    for transaction, store, key in pending:
        if rolled_back is None or _inside(transaction, rolled_back):
            _delete_quietly(store, key)
        else:
            kept.append((transaction, store, key))
    if kept:
        session.info[_UNCOMMITTED] = kept
    else:
        session.info.pop(_UNCOMMITTED, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Also fires when a savepoint is released; only the outermost commit makes files durable.
    if session.info.get(_UNCOMMITTED) and session.get_nested_transaction() is None:
        session.info.pop(_UNCOMMITTED, None)


@event.listens_for(Session, "after_soft_rollback")
def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if session.info.get(_UNCOMMITTED):
        _discard(session, previous_transaction)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (closed, or rolled back).
    if transaction.parent is None and session.info.get(_UNCOMMITTED):
        _discard(session, None)
