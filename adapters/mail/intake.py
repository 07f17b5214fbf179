"""The support mailbox's intake: each new mail is handed to the modules through the kernel
hook `record_from_mail`, which makes it a record, or a comment on the record it answers.

A mail goes through three short units of work, so that several workers reading the same
mailbox hand it over once and nothing is ever lost:

1. **claim**: a row per Message-ID (unique) is inserted with the raw mail, in state
   `processing`; a worker that finds the row already there leaves the mail alone;
2. **hand over**: as the system, the hook is called and the outcome is recorded on the row
   *in the same transaction* as the record it made (`done`), guarded by the claim (state and
   attempt), so a record and its "done" commit together or not at all;
3. only after that commit is the mail marked read (or moved) in the mailbox.

A refusal (an `OpenITSMError`: an unknown sender, a record the sender may not see) or a
mail no module takes is kept as `refused`; any other error as `failed`, tried again from the
stored copy after 2, 4, 8, 16 minutes and then left to an administrator (`/admin/mail`),
who may try it again or put it aside. Automatic messages (out-of-office replies, bounces,
the site's own mail) are remembered as `ignored` and never become records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import imaplib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openitsm.adapters.mail import parse
from openitsm.adapters.mail.imap import Mailbox, MailboxError
from openitsm.adapters.mail.models import (
    DISMISSED,
    DONE,
    FAILED,
    IGNORED,
    NEEDS_ATTENTION,
    PROCESSING,
    REFUSED,
    SETTLED,
    InboundMessage,
    IntakeStatus,
)
from openitsm.adapters.mail.settings import Settings
from openitsm.kernel import RecordRef, require, utcnow
from openitsm.kernel.actors import Actor
from openitsm.kernel.db.session import begin_write
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, OpenITSMError, _t
from openitsm.kernel.hookspecs import InboundMail
from openitsm.kernel.notifications.models import Notification

if TYPE_CHECKING:
    from openitsm.kernel import Kernel

log = logging.getLogger("openitsm.adapters.mail")

MANAGE = "mail.manage"
STALE_CLAIM = dt.timedelta(minutes=15)
MAX_ATTEMPTS = 5
ERROR_LENGTH = 4000
NOT_TAKEN = _t("No module took this mail (is the incident module enabled?).")
STOPPED = _t("The worker reading this mail stopped before it finished; it is tried again.")


def settings_of(kernel: Kernel) -> Settings:
    settings: Settings = kernel.plugins.settings_of("mail")
    return settings


@dataclass
class Summary:
    """What one reading of the mailbox did, by the state each mail reached."""

    states: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def add(self, state: str | None) -> None:
        if state is not None:
            self.states[state] = self.states.get(state, 0) + 1

    @property
    def taken(self) -> int:
        return sum(self.states.values())

    def __str__(self) -> str:
        counts = ", ".join(f"{state} {n}" for state, n in sorted(self.states.items()))
        text = counts or "no new mail"
        return f"{text}; mailbox unavailable: {self.error}" if self.error else text


def backoff(attempts: int) -> dt.timedelta:
    """The wait before another try: 2, 4, 8, 16 minutes (at most an hour)."""
    return dt.timedelta(minutes=min(2**attempts, 60))


# --- reading the mailbox -------------------------------------------------------------------


def run(kernel: Kernel, now: dt.datetime | None = None) -> Summary:
    """Read the support mailbox once: hand stored mail whose retry is due, then every new
    mail, to the modules. Returns what happened; an unreachable mailbox is reported, not
    raised, and shown on the administrators' page."""
    settings = settings_of(kernel)
    summary = Summary()
    if not settings.intake_configured:
        return summary
    now = now or utcnow()
    release_stale(kernel, now)
    for row_id in due_for_retry(kernel, now, settings.imap_batch):
        summary.add(_retry_stored(kernel, settings, row_id, (FAILED,), now))
    try:
        with Mailbox(settings) as mailbox:
            for uid in mailbox.unseen(settings.imap_batch):
                fetched = mailbox.fetch(uid)
                if fetched is None:
                    continue
                raw, received_at = fetched
                try:
                    settled, state = take(kernel, settings, raw, received_at)
                except Exception:  # the database, say: the mail stays unread for the next run
                    log.exception("a mail in %s was left for the next run", settings.mailbox_label)
                    continue
                summary.add(state)
                if settled:
                    mailbox.finish(uid)
    except (MailboxError, OSError, imaplib.IMAP4.error) as exc:
        summary.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
        log.warning("support mailbox %s: %s", settings.mailbox_label, summary.error)
    _record_status(kernel, settings, summary)
    return summary


def take(
    kernel: Kernel, settings: Settings, raw: bytes, received_at: dt.datetime | None = None
) -> tuple[bool, str | None]:
    """Claim and hand over one mail from the mailbox. Returns whether its mailbox copy may
    be put away (its outcome is stored), and the state it reached now (None: it was known)."""
    try:
        read = parse.read(raw, received_at=received_at, own_address=settings.from_address)
    except Exception as exc:  # unreadable: kept with its bytes for an administrator
        log.exception("a mail in %s could not be read", settings.mailbox_label)
        return _keep_unreadable(kernel, settings, raw, received_at, exc), FAILED
    claimed = _claim_new(kernel, settings, read, raw)
    if claimed is None:
        return _known_state(kernel, read.mail) in SETTLED, None
    row_id, attempt, state = claimed
    if state == IGNORED:
        return True, IGNORED
    return True, _hand_over(kernel, settings, row_id, attempt, read.mail)


def _known_state(kernel: Kernel, mail: InboundMail) -> str | None:
    with kernel.session() as session:
        return session.scalar(  # type: ignore[no-any-return]
            select(InboundMessage.state).where(
                InboundMessage.message_key == parse.message_key(mail.message_id)
            )
        )


def _claim_new(
    kernel: Kernel, settings: Settings, read: parse.ReadMail, raw: bytes
) -> tuple[int, int, str] | None:
    """Insert the mail's row, holding it for this worker; None when it is known already
    (read before, or being read by another worker right now)."""
    mail = read.mail
    key = parse.message_key(mail.message_id)
    now = utcnow()
    with kernel.session() as session:
        begin_write(
            session
        )  # SQLite: look and insert under one lock, as PostgreSQL's unique key does
        if session.scalar(select(InboundMessage.id).where(InboundMessage.message_key == key)):
            return None
        row = InboundMessage(
            message_key=key,
            message_id=mail.message_id[:1000],
            mailbox=settings.mailbox_label[:500],
            from_address=mail.from_address[:254],
            from_name=mail.from_name[:200],
            subject=mail.subject[:500],
            received_at=mail.received_at,
            size=len(raw),
            state=IGNORED if read.automatic else PROCESSING,
            attempts=0 if read.automatic else 1,
            claimed_at=None if read.automatic else now,
            raw=None if read.automatic else raw,
        )
        if read.automatic:
            template, params = read.automatic
            row.error = template.format_map(params)
            row.error_template, row.error_params = str(template), params
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # another worker inserted it a moment ago
            return None
        return row.id, row.attempts, row.state


def _keep_unreadable(
    kernel: Kernel,
    settings: Settings,
    raw: bytes,
    received_at: dt.datetime | None,
    exc: Exception,
) -> bool:
    key = "sha256:" + hashlib.sha256(raw).hexdigest()
    with kernel.session() as session:
        begin_write(session)
        if session.scalar(select(InboundMessage.id).where(InboundMessage.message_key == key)):
            return True
        try:
            with session.begin_nested():
                session.add(
                    InboundMessage(
                        message_key=key,
                        message_id=key,
                        mailbox=settings.mailbox_label[:500],
                        received_at=received_at or utcnow(),
                        size=len(raw),
                        state=FAILED,
                        attempts=1,
                        raw=raw,
                        error=f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH],
                    )
                )
                session.flush()
        except IntegrityError:
            pass
    return True


def _with_thread(session: Session, settings: Settings, mail: InboundMail) -> InboundMail:
    """The mail with `refers_to` set when it answers one of this site's notification mails."""
    thread = parse.thread_of(mail, settings.domain)
    ref: RecordRef | None = RecordRef(*thread.record) if thread.record else None
    if ref is None and thread.notification_ids:
        rows = session.execute(
            select(Notification.id, Notification.record_kind, Notification.record_id).where(
                Notification.id.in_(thread.notification_ids),
                Notification.record_kind.is_not(None),
                Notification.record_id.is_not(None),
            )
        ).all()
        found = {row.id: RecordRef(row.record_kind, row.record_id) for row in rows}
        ref = next((found[i] for i in thread.notification_ids if i in found), None)
    return dataclasses.replace(mail, refers_to=ref) if ref is not None else mail


class _LostClaim(Exception):
    """Another worker took the mail over (this one was too slow): its outcome stands."""


def _settle(
    session: Session,
    row_id: int,
    attempt: int,
    state: str,
    *,
    ref: RecordRef | None = None,
    error: BaseException | str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Record the outcome of this worker's attempt; False when the claim is no longer its."""
    values: dict[str, Any] = {"state": state, "claimed_at": None, "next_attempt_at": None}
    if state == DONE:
        values.update(
            raw=None,
            error=None,
            error_template=None,
            error_params=None,
            record_kind=ref.kind if ref else None,
            record_id=ref.id if ref else None,
        )
    else:
        values.update(_error_values(error))
    if state == FAILED and attempt < MAX_ATTEMPTS:
        values["next_attempt_at"] = (now or utcnow()) + backoff(attempt)
    result = session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.id == row_id,
            InboundMessage.state == PROCESSING,
            InboundMessage.attempts == attempt,
        )
        .values(**values, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _error_values(error: BaseException | str | None) -> dict[str, Any]:
    if isinstance(error, OpenITSMError):
        return {
            "error": error.message[:ERROR_LENGTH],
            "error_template": error.template,
            "error_params": {k: str(v) for k, v in error.params.items()}
            if error.template
            else None,
        }
    if isinstance(error, BaseException):
        return {
            "error": f"{type(error).__name__}: {error}"[:ERROR_LENGTH],
            "error_template": None,
            "error_params": None,
        }
    template = error or ""
    return {
        "error": str(template)[:ERROR_LENGTH],
        "error_template": str(template) or None,
        "error_params": {} if template else None,
    }


def _hand_over(
    kernel: Kernel, settings: Settings, row_id: int, attempt: int, mail: InboundMail
) -> str | None:
    """Ask the modules to take the mail, as the system, and record what came of it.
    Returns the state reached (None when another worker had taken the mail over)."""
    try:
        with kernel.session() as session:
            begin_write(session)  # SQLite: what the modules read stays true until they write
            mail = _with_thread(session, settings, mail)
            ref = kernel.hook.record_from_mail(kernel=kernel, session=session, mail=mail)
            state = DONE if ref is not None else REFUSED
            if not _settle(session, row_id, attempt, state, ref=ref, error=NOT_TAKEN):
                raise _LostClaim()
        return state
    except _LostClaim:
        log.warning("mail %s was taken over by another worker", mail.message_id)
        return None
    except Conflict as exc:  # a lost race with a person's edit: worth another try
        return _settle_apart(kernel, row_id, attempt, FAILED, exc)
    except OpenITSMError as exc:
        log.info("mail %s from %s refused: %s", mail.message_id, mail.from_address, exc)
        return _settle_apart(kernel, row_id, attempt, REFUSED, exc)
    except Exception as exc:
        log.exception("mail %s from %s failed", mail.message_id, mail.from_address)
        return _settle_apart(kernel, row_id, attempt, FAILED, exc)


def _settle_apart(
    kernel: Kernel, row_id: int, attempt: int, state: str, error: BaseException
) -> str | None:
    with kernel.session() as session:
        return state if _settle(session, row_id, attempt, state, error=error) else None


# --- mail kept in the table: retries, stale claims ------------------------------------------


def release_stale(kernel: Kernel, now: dt.datetime) -> int:
    """Claims a worker never finished (it stopped) become failed tries, due at once."""
    with kernel.session() as session:
        result = session.execute(
            update(InboundMessage)
            .where(
                InboundMessage.state == PROCESSING,
                InboundMessage.claimed_at < now - STALE_CLAIM,
            )
            .values(
                state=FAILED,
                claimed_at=None,
                next_attempt_at=now,
                updated_at=now,
                **_error_values(STOPPED),
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def due_for_retry(kernel: Kernel, now: dt.datetime, limit: int) -> list[int]:
    with kernel.session() as session:
        return list(
            session.scalars(
                select(InboundMessage.id)
                .where(InboundMessage.state == FAILED, InboundMessage.next_attempt_at <= now)
                .order_by(InboundMessage.next_attempt_at, InboundMessage.id)
                .limit(limit)
            )
        )


def _retry_stored(
    kernel: Kernel,
    settings: Settings,
    row_id: int,
    states: Sequence[str],
    now: dt.datetime | None = None,
) -> str | None:
    """Claim a stored mail in one of `states` (a failed one only once its wait is over,
    when `now` is given) and hand it over again from its stored copy."""
    conditions = [InboundMessage.id == row_id, InboundMessage.state.in_(list(states))]
    if now is not None:
        conditions.append(InboundMessage.next_attempt_at <= now)
    with kernel.session() as session:
        claimed = session.execute(
            update(InboundMessage)
            .where(*conditions, InboundMessage.raw.is_not(None))
            .values(
                state=PROCESSING,
                claimed_at=utcnow(),
                next_attempt_at=None,
                attempts=InboundMessage.attempts + 1,
                updated_at=utcnow(),
            )
            .returning(InboundMessage.attempts, InboundMessage.raw, InboundMessage.received_at)
            .execution_options(synchronize_session=False)
        ).first()
    if claimed is None:
        return None
    attempt, raw, received_at = claimed
    try:
        read = parse.read(raw, received_at=received_at, own_address=settings.from_address)
    except Exception as exc:
        return _settle_apart(kernel, row_id, attempt, FAILED, exc)
    return _hand_over(kernel, settings, row_id, attempt, read.mail)


def _record_status(kernel: Kernel, settings: Settings, summary: Summary) -> None:
    values = {
        "checked_at": utcnow(),
        "mailbox": settings.mailbox_label[:500],
        "error": summary.error,
        "taken": summary.taken,
    }
    with kernel.session() as session:
        begin_write(session)
        row = session.get(IntakeStatus, 1)
        if row is not None:
            for name, value in values.items():
                setattr(row, name, value)
            return
        try:
            with session.begin_nested():
                session.add(IntakeStatus(id=1, **values))
                session.flush()
        except IntegrityError:  # another worker wrote the first one
            pass


# --- what administrators see and do --------------------------------------------------------


def messages(
    session: Session,
    actor: Actor,
    states: Sequence[str] = NEEDS_ATTENTION,
    *,
    limit: int = 100,
    before: int | None = None,
) -> list[InboundMessage]:
    """Mail in `states`, newest first (their raw copies are not loaded)."""
    require(actor, MANAGE)
    statement = (
        select(InboundMessage)
        .where(InboundMessage.state.in_(list(states)))
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(InboundMessage.id < before)
    return list(session.scalars(statement))


def status(session: Session, actor: Actor) -> IntakeStatus | None:
    require(actor, MANAGE)
    return session.get(IntakeStatus, 1)


def _waiting(session: Session, row_id: int) -> InboundMessage:
    row = session.get(InboundMessage, row_id)
    if row is None:
        raise NotFound(_t("No mail {id} in the intake."), field="id", params={"id": row_id})
    if row.state not in (REFUSED, FAILED):
        raise BadUserInput(
            _t("Only a refused or failed mail can be tried again or put aside."), field="id"
        )
    return row


def retry(kernel: Kernel, actor: Actor, row_id: int) -> str | None:
    """An administrator hands a refused or failed mail over again, now (after adding the
    sender as a user, say). Returns the state it reached."""
    require(actor, MANAGE)
    with kernel.session() as session:
        _waiting(session, row_id)
    state = _retry_stored(kernel, settings_of(kernel), row_id, (REFUSED, FAILED))
    if state is None:
        raise BadUserInput(
            _t("Only a refused or failed mail can be tried again or put aside."), field="id"
        )
    return state


def dismiss(session: Session, actor: Actor, row_id: int) -> InboundMessage:
    """An administrator puts a refused or failed mail aside (spam, a duplicate): it is no
    longer tried or listed, and its stored copy is dropped."""
    require(actor, MANAGE)
    row = _waiting(session, row_id)
    row.state, row.raw, row.next_attempt_at = DISMISSED, None, None
    session.flush()
    return row
