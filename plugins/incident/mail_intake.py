"""Incidents by e-mail: the incident module's answer to `record_from_mail`.

The mail adapter reads the support mailbox and hands each mail over as an `InboundMail`,
inside a unit of work of its own. Here the sender is found among the active users by
address, and everything the mail does is done **as the sender**, through the incident
service and the kernel's comment and attachment services, so that their rights, data scope
and field rules apply exactly as on the portal, and the history names them:

- a mail answering an incident — one of this site's notification mails about it (the adapter
  recognises their Message-IDs) or an incident number such as `INC-2026-000123` in the
  subject — becomes the sender's comment on it, with its files; the caller's answer takes
  an incident waiting for them back to work;
- any other mail registers a new incident with the sender as caller: the subject (without
  Re:/Fwd:/回复:/转发:) as title, the sanitised HTML (or the escaped text) as description,
  the portal's impact and urgency, and its files as attachments. It goes through
  `service.create_incident`, so numbering, level, SLA, process and notifications follow.

Refusals are errors with a message for the administrators' page: an unknown or inactive
sender (mail from strangers is never registered), a sender whose roles do not allow
registering, an incident the sender may not see (or none of that number). A file of a
forbidden type or too large is left out with a note in the text; the mail is still taken.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openitsm.kernel import (
    Actor,
    BadUserInput,
    Forbidden,
    Kernel,
    NotFound,
    RecordRef,
    flush,
    hookimpl,
    require,
)
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.comments import service as comments
from openitsm.kernel.errors import _t
from openitsm.kernel.forms import sanitise_html
from openitsm.kernel.hookspecs import InboundMail, MailAttachment
from openitsm.kernel.identity.models import User
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import CANCELLED, CLOSED, Incident

log = logging.getLogger("openitsm.plugins.incident")

NUMBER = re.compile(r"\bINC-\d{4}-\d{4,}\b", re.IGNORECASE)
# Reply and forward markers mail programs put before a subject, in the languages we meet.
PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|答复|答覆|回复|回覆|转发|轉發|转寄|轉寄)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
# Where the quoted earlier mail starts in a reply's text.
QUOTED = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message|原始邮件|原始郵件|转发邮件)\s*-{2,}"
    r"|_{10,}\s*$"
    r"|on\b.{0,300}\bwrote:\s*$"
    r"|在.{0,300}写道[:：]\s*$"
    r"|(?:from|发件人|寄件者)\s*[:：])",
    re.IGNORECASE,
)
TITLE_LIMIT = 200
DROPPED = _t("The file {filename} was left out: {reason}")


@dataclass(frozen=True)
class _Stored:
    attachment: MailAttachment
    upload: attachments.StoredUpload


@hookimpl
def record_from_mail(kernel: Kernel, session: Session, mail: InboundMail) -> RecordRef | None:
    """The incident this mail made or answered; None when it answers another kind's record."""
    answered = _answered(session, mail)
    if answered is _NOT_MINE:
        return None
    sender = _sender(session, mail.from_address)
    actor = actor_for_user(session, sender.id)
    with _acting_as(session, actor):
        if isinstance(answered, int):
            return _comment(session, kernel, actor, answered, mail)
        return _register(session, kernel, actor, sender, mail)


# --- who wrote, and what the mail answers ---------------------------------------------------


_NOT_MINE = object()


def _answered(session: Session, mail: InboundMail) -> int | object | None:
    """The id of the incident the mail answers, None for a new one, `_NOT_MINE` for a reply
    to a record of another kind (another module's to take)."""
    if mail.refers_to is not None:
        return mail.refers_to.id if mail.refers_to.kind == service.INCIDENT.name else _NOT_MINE
    found = NUMBER.search(mail.subject)
    if found is None:
        return None
    number = found.group(0).upper()
    incident_id = session.scalar(select(Incident.id).where(Incident.number == number))
    if incident_id is None:
        raise NotFound(_t("No incident {number} that the sender may see."), number=number)
    return incident_id


def _sender(session: Session, address: str) -> User:
    """The one active user with this address; anyone else is refused."""
    people = list(
        session.scalars(
            select(User).where(func.lower(User.email) == address.lower(), User.active.is_(True))
        )
    )
    if not people:
        raise Forbidden(
            _t(
                "The sender {address} is not the address of an active user; mail from "
                "unknown senders is not registered."
            ),
            address=address,
        )
    if len(people) > 1:
        raise Forbidden(
            _t("Several active users have the address {address}; give it to one of them only."),
            address=address,
        )
    return people[0]


@contextlib.contextmanager
def _acting_as(session: Session, actor: Actor) -> Iterator[None]:
    """Do what the mail asks as its sender, inside the adapter's unit of work: the services
    check the sender's rights, and the history (written at flush) names them."""
    before = session.info.get("actor")
    session.info["actor"] = actor
    try:
        yield
        flush(session)
    finally:
        session.info["actor"] = before


# --- a new incident -------------------------------------------------------------------------


def clean_title(subject: str) -> str:
    """The subject without reply and forward markers, on one line, at most 200 characters."""
    title = re.sub(r"\s+", " ", PREFIX.sub("", subject)).strip()
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def _title(mail: InboundMail) -> str:
    title = clean_title(mail.subject)
    if title:
        return title
    first = next((line for line in mail.text.splitlines() if line.strip()), "")
    return clean_title(first) or mail.from_address


def text_html(text: str) -> Markup:
    """Plain text as safe HTML: paragraphs at blank lines, line breaks kept."""
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text.strip()) if p.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(p.split("\n"))) for p in paragraphs
    )


def _has_content(html: str) -> bool:
    return bool(Markup(html).striptags().strip()) or "<img" in html


def _body(mail: InboundMail) -> Markup:
    """The mail's own HTML, sanitised, when it says something; else its text, escaped."""
    if mail.html:
        cleaned = sanitise_html(mail.html).strip()
        if _has_content(cleaned):
            return Markup(cleaned)  # sanitised: safe as it is
    return text_html(mail.text)


def _note(locale: str, filename: str, reason: str) -> Markup:
    from openitsm.web.i18n import translations

    text = translations(locale).ugettext(DROPPED).format(filename=filename, reason=reason)
    return Markup("<p><em>{}</em></p>").format(text)


def _store(
    session: Session, kernel: Kernel, files: Sequence[MailAttachment], locale: str
) -> tuple[list[_Stored], Markup]:
    """Write the files to the store under the attachments service's size and type checks;
    those it refuses are left out with a note (in the site's language)."""
    from openitsm.web.i18n import translations

    stored: list[_Stored] = []
    notes = Markup("")
    store = attachments.store_for(kernel)
    for file in files:
        try:
            upload = attachments.write_upload(kernel, [file.data])
        except BadUserInput as refused:
            reason = refused.translated(translations(locale).ugettext)
            notes += _note(locale, attachments.sanitise_filename(file.filename), reason)
            continue
        attachments.forget_unless_committed(session, store, upload.key)
        stored.append(_Stored(file, upload))
    return stored, notes


def _attach(
    session: Session, kernel: Kernel, ref: RecordRef, stored: Sequence[_Stored], actor: Actor
) -> list[Any]:
    return [
        attachments.record_attachment(
            session,
            kernel,
            ref,
            item.attachment.filename,
            item.attachment.content_type,
            item.upload,
            actor,
        )
        for item in stored
    ]


def _defaults(session: Session, kernel: Kernel, actor: Actor) -> dict[str, str]:
    """The impact and urgency the portal gives a reported incident (`portal_impact`,
    `portal_urgency`), each when it is an active item the sender may set."""
    try:
        settings = kernel.plugins.settings_of(service.PLUGIN)
    except Exception:  # registered without its settings (some tests)
        settings = None
    access = field_access(actor, service.INCIDENT.name)
    chosen: dict[str, str] = {}
    for name, fallback in (("impact", "minor"), ("urgency", "medium")):
        code = str(getattr(settings, f"portal_{name}", fallback) or "")
        if not code or not access.writable(name):
            continue
        try:
            chosen[name] = service.dictionary_code(session, name, code) or ""
        except BadUserInput:
            log.warning("portal_%s '%s' is no active %s item; left empty", name, code, name)
    return {name: code for name, code in chosen.items() if code}


def _register(
    session: Session, kernel: Kernel, actor: Actor, sender: User, mail: InboundMail
) -> RecordRef:
    require(actor, service.CREATE)  # before any file is written
    stored, notes = _store(session, kernel, mail.attachments, kernel.settings.language)
    incident = service.create_incident(
        session,
        title=_title(mail),
        description=str(_body(mail) + notes),
        caller_id=sender.id,
        **_defaults(session, kernel, actor),
    )
    ref = RecordRef(service.INCIDENT.name, incident.id)
    _attach(session, kernel, ref, stored, actor)
    return ref


# --- a reply --------------------------------------------------------------------------------


def reply_text(text: str) -> str:
    """A reply's own words: the quoted earlier mail below them left out (all of it kept
    when nothing would be left)."""
    lines = text.splitlines()
    kept: list[str] = []
    for line in lines:
        if QUOTED.match(line):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line)
    own = "\n".join(kept).strip()
    return own or text.strip()


def _comment(
    session: Session, kernel: Kernel, actor: Actor, incident_id: int, mail: InboundMail
) -> RecordRef:
    try:
        incident = service.get_incident(session, incident_id)
    except NotFound:
        raise NotFound(
            _t("No incident {number} that the sender may see."), number=f"#{incident_id}"
        ) from None
    if incident.caller_id == actor.user_id:
        service.receive_information(session, incident.id)  # waiting for them: back to work
    elif incident.status in (CLOSED, CANCELLED):
        raise BadUserInput(
            _t("A closed or cancelled incident takes no more information; report a new one."),
            field="body",
        )
    ref = RecordRef(service.INCIDENT.name, incident.id)
    stored, notes = _store(session, kernel, mail.attachments, kernel.settings.language)
    saved = _attach(session, kernel, ref, stored, actor)
    body = text_html(reply_text(mail.text)) + notes
    if saved:
        links = Markup("").join(
            Markup('<li><a href="/attachments/{}">{}</a></li>').format(a.id, escape(a.filename))
            for a in saved
        )
        body += Markup("<ul>") + links + Markup("</ul>")
    if not _has_content(str(body)):
        body = text_html(mail.subject or mail.from_address)
    comments.add_comment(session, kernel, ref, str(body), actor)
    return ref
