"""Comment operations: the one place that checks who may read, add, edit and remove them.

A comment is as visible as its record: on a record outside the actor's data scope (or a
missing one) every operation answers NOT_FOUND alike, so nobody learns that it exists.
Internal comments are seen only with `comment.internal`; to everyone else they do not
exist either. Only the author edits or removes a comment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.actors import Actor
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.db.base import check_version, utcnow
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound, Unauthenticated, _t
from openitsm.kernel.forms import image_attachment_ids, sanitise_html
from openitsm.kernel.hookspecs import TimelineEntry
from openitsm.kernel.identity.models import User
from openitsm.kernel.references import RecordRef

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

INTERNAL = "comment.internal"
MAX_BODY = 100_000  # characters of HTML


def require_actor(actor: Actor | None) -> Actor:
    if actor is None or not actor.authenticated:
        raise Unauthenticated()
    return actor


def require_record(session: Session, kernel: Kernel, ref: RecordRef, actor: Actor) -> None:
    """Refuse unknown kinds (BAD_USER_INPUT), and absent or out-of-scope records alike
    (NOT_FOUND)."""
    kernel.record_kinds.get(ref.kind)
    if not kernel.record_kinds.exists(session, ref, actor):
        raise NotFound(
            _t("No {kind} with id {id}."), field="recordId", params={"kind": ref.kind, "id": ref.id}
        )


def sees_internal(actor: Actor) -> bool:
    return actor.can(INTERNAL)


def comments_of(ref: RecordRef, actor: Actor) -> Select[Any]:
    """The record's comments the actor may see (tombstones included), in no order; the
    caller has checked that the actor may see the record."""
    return _seen_comments(ref.kind, ref.id, sees_internal(actor))


def _seen_comments(kind: Any, record_id: Any, internal: bool) -> Select[Any]:
    """`comments_of` for a record given as values or as bound parameters."""
    statement = select(Comment).where(Comment.target_kind == kind, Comment.target_id == record_id)
    if not internal:
        statement = statement.where(Comment.internal.is_(False))
    return statement


def clean_body(body: str) -> str:
    """`body` sanitised; refused when nothing is left to say or it is far too long."""
    if len(body) > MAX_BODY:
        raise BadUserInput(
            _t("A comment may be at most {limit} characters long."),
            field="body",
            params={"limit": MAX_BODY},
        )
    cleaned = sanitise_html(body).strip()
    if not Markup(cleaned).striptags().strip() and "<img" not in cleaned:
        raise BadUserInput(_t("Write something before saving the comment."), field="body")
    return cleaned


def add_comment(
    session: Session,
    kernel: Kernel,
    ref: RecordRef,
    body: str,
    actor: Actor | None,
    internal: bool = False,
) -> Comment:
    """Comment on `ref` as `actor`; internal comments need `comment.internal`."""
    actor = require_actor(actor)
    require_record(session, kernel, ref, actor)
    if internal and not sees_internal(actor):
        raise Forbidden(_t("Your roles do not allow internal comments."))
    comment = Comment(
        target_kind=ref.kind,
        target_id=ref.id,
        author_id=actor.user_id,
        body=clean_body(body),
        internal=internal,
    )
    session.add(comment)
    flush(session)
    _attach_images(session, kernel, comment, actor)
    return comment


def get_comment(session: Session, kernel: Kernel, comment_id: int, actor: Actor) -> Comment:
    """The comment, if the actor may see it and its record; NOT_FOUND otherwise."""
    comment = session.get(Comment, comment_id)
    if (
        comment is None
        or (comment.internal and not sees_internal(actor))
        or comment.target_kind not in kernel.record_kinds
        or not kernel.record_kinds.exists(session, comment.target, actor)
    ):
        raise NotFound(_t("No comment with id {id}."), field="id", params={"id": comment_id})
    return comment


def _own(session: Session, kernel: Kernel, comment_id: int, version: int, actor: Actor) -> Comment:
    comment = get_comment(session, kernel, comment_id, actor)
    if actor.user_id is None or comment.author_id != actor.user_id:
        raise Forbidden(_t("Only its author may change or remove a comment."))
    if comment.removed:
        raise BadUserInput(_t("This comment has been removed."), field="id")
    check_version(comment, version, "comment")
    return comment


def edit_comment(
    session: Session,
    kernel: Kernel,
    comment_id: int,
    version: int,
    body: str,
    actor: Actor | None,
) -> Comment:
    """Replace the body of one's own comment, if nobody changed it since `version`."""
    actor = require_actor(actor)
    comment = _own(session, kernel, comment_id, version, actor)
    cleaned = clean_body(body)
    if cleaned != comment.body:
        comment.body = cleaned
        comment.edited_at = utcnow()
        flush(session)
        _attach_images(session, kernel, comment, actor)
    return comment


def _attach_images(session: Session, kernel: Kernel, comment: Comment, actor: Actor) -> None:
    """Images pasted into the comment were uploaded as the author's pending files: they
    join the record, so whoever may read the comment may see them too."""
    ids = image_attachment_ids(comment.body)
    if ids:
        attachments.attach_pending(session, kernel, ids, comment.target, actor, skip_others=True)


def remove_comment(
    session: Session, kernel: Kernel, comment_id: int, version: int, actor: Actor | None
) -> Comment:
    """Remove one's own comment, keeping a tombstone (the audit trail keeps the text)."""
    actor = require_actor(actor)
    comment = _own(session, kernel, comment_id, version, actor)
    comment.body = ""
    comment.removed_at = utcnow()
    flush(session)
    return comment


# --- the record's timeline ------------------------------------------------------------


def timeline_entries(
    session: Session,
    kernel: Kernel,
    actor: Actor,
    ref: RecordRef,
    before: dt.datetime | None = None,
    limit: int = 50,
) -> list[TimelineEntry]:
    """The newest `limit` comments older than `before`, as timeline entries, in two
    queries whatever their number; none for a record the actor may not see."""
    if ref.kind not in kernel.record_kinds or not kernel.record_kinds.exists(session, ref, actor):
        return []
    statement = _timeline_statement(sees_internal(actor), before is not None, limit)
    bound: dict[str, Any] = {"kind": ref.kind, "record_id": ref.id}
    if before is not None:
        bound["before"] = before
    rows: Sequence[Any] = session.execute(statement, bound).all()
    return [entry_of(comment, author, actor) for comment, author in rows]


@lru_cache(maxsize=64)
def _timeline_statement(internal: bool, before: bool, limit: int) -> Select[Any]:
    """The newest comments of a record with their authors' names, built once per shape (a
    record page reads them on every view); the record, and the time with `before`, are
    bound as it runs."""
    statement = _seen_comments(bindparam("kind"), bindparam("record_id"), internal)
    if before:
        statement = statement.where(Comment.created_at < bindparam("before"))
    return (
        statement.add_columns(User.name)
        .outerjoin(User, User.id == Comment.author_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
    )


def entry_of(comment: Comment, author: str | None, actor: Actor) -> TimelineEntry:
    """A comment as a timeline entry, as `actor` sees it."""
    mine = actor.user_id is not None and comment.author_id == actor.user_id
    return TimelineEntry(
        at=comment.created_at,
        kind="comment",
        actor_label=author or "",
        body="" if comment.removed else comment.body,
        url=f"#comment-{comment.id}",
        icon="comment",
        tone="warning" if comment.internal else "info",
        key=f"comment:{comment.id}",
        data={
            "id": comment.id,
            "version": comment.version,
            "internal": comment.internal,
            "removed": comment.removed,
            "edited_at": comment.edited_at,
            "mine": mine and not comment.removed,
        },
    )
