"""Reading a raw mail as the modules receive it (`InboundMail`), whatever its charset or shape.

Chinese mail is often declared `gb2312` while written in GBK (or GB18030), whose extra
characters a strict `gb2312` decoder turns into replacement marks; so every charset of that
family is read as GB18030, which contains them all, and text that does not decode as
declared is tried as UTF-8 and GB18030 before anything is replaced. Headers, file names
(RFC 2047 and RFC 2231, and the common non-standard `filename="=?GBK?B?…?="`) and bodies are
all decoded this way, never by the `email` package's guess alone.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import email.utils
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header
from email.message import EmailMessage
from html.parser import HTMLParser

from openitsm.kernel.errors import MessageTemplate, _t
from openitsm.kernel.hookspecs import InboundMail, MailAttachment

# Charsets read as a wider one that contains them (what mail programs really send).
WIDER = {
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}
FALLBACKS = ("utf-8", "gb18030")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# The Message-IDs the adapter's own notification mails carry (see sender.py).
THREAD_ID = re.compile(r"^<openitsm\.([a-z][a-z0-9_]*)\.(\d+)@([^<>\s]+)>$")
NOTIFICATION_ID = re.compile(r"^<openitsm\.n(\d+)\.d(\d+)@([^<>\s]+)>$")
MAX_MESSAGE_KEY = 255
BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
AUTOMATIC_PRECEDENCE = ("bulk", "junk", "auto_reply")


@dataclass(frozen=True)
class ReadMail:
    """A parsed mail; `automatic` says why it is an automatic message (an out-of-office
    reply, a bounce), which must never become a record, as a `_t` template and its values."""

    mail: InboundMail
    automatic: tuple[MessageTemplate, dict[str, str]] | None = None


# --- text in any charset ------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> str:
    """`data` as text: in its declared charset (widened), else UTF-8 or GB18030, else the
    declared one with replacement marks."""
    declared = (charset or "").strip().strip('"').lower()
    wanted = WIDER.get(declared, declared)
    tried = [name for name in (wanted, *FALLBACKS) if name]
    for name in dict.fromkeys(tried):
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return data.decode(wanted or "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).strip()


def _undo_8bit(value: str) -> str:
    """A header sent as raw 8-bit bytes reaches us with those bytes as surrogates."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("ascii", "surrogateescape"), None)


def header_text(value: str | None) -> str:
    """A raw header value as text: encoded words decoded in their (widened) charsets."""
    if not value:
        return ""
    value = _undo_8bit(_unfold(value))
    try:
        chunks = decode_header(value)
    except Exception:  # a malformed encoded word: show it as it came
        return value
    return "".join(
        chunk if isinstance(chunk, str) else decode_bytes(chunk, charset)
        for chunk, charset in chunks
    )


def _raw_header(part: email.message.Message, name: str) -> str | None:
    """The header as it came, before the `email` package decoded it by its own guess."""
    wanted = name.lower()
    for key, value in part.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def _param(part: email.message.Message, name: str, header: str) -> str | None:
    raw = _raw_header(part, header)
    if raw is None:
        return None
    legacy = email.message.Message()  # compat32 keeps RFC 2231 values undecoded
    legacy[header] = _unfold(raw)
    value = legacy.get_param(name, header=header)
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _language, text = value
        return decode_bytes(bytes(str(text), "raw-unicode-escape"), charset)
    return header_text(email.utils.unquote(str(value)))


# --- the body -----------------------------------------------------------------------------


class _TextOfHtml(HTMLParser):
    BLOCKS = frozenset(("p", "div", "br", "li", "tr", "hr", "pre", "blockquote", "table", "dd"))
    SKIPPED = frozenset(("script", "style", "head", "title"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS or re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS or re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail, one line per block."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _content(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text = decode_bytes(data, part.get_content_charset())
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _leaves(part: EmailMessage) -> Iterator[EmailMessage]:
    """Every part that is not a container, in order; an attached mail is one part."""
    if part.get_content_maintype() == "multipart":
        for child in part.iter_parts():
            yield from _leaves(child)  # type: ignore[arg-type]
    else:
        yield part


def _filename(part: EmailMessage) -> str | None:
    found = _param(part, "filename", "content-disposition") or _param(part, "name", "content-type")
    return found.strip() or None if found else None


def _attachment(part: EmailMessage, number: int) -> MailAttachment:
    content_type = part.get_content_type()
    filename = _filename(part)
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        found = inner[0] if isinstance(inner, list) and inner else inner
        message = found if isinstance(found, email.message.Message) else None
        data = message.as_bytes() if message is not None else b""
        if not filename:
            subject = header_text(_raw_header(message, "Subject")) if message is not None else ""
            filename = f"{subject or 'message'}.eml"
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    if not filename:
        filename = f"attachment-{number}{mimetypes.guess_extension(content_type) or '.bin'}"
    return MailAttachment(filename, content_type, data)


# --- the whole mail -----------------------------------------------------------------------


def _ids(value: str | None) -> list[str]:
    return MESSAGE_ID.findall(_unfold(value)) if value else []


def _addresses(message: EmailMessage, *names: str) -> tuple[str, ...]:
    raw = [_undo_8bit(_unfold(v)) for name in names if (v := _raw_header(message, name))]
    found = [address.lower() for _name, address in email.utils.getaddresses(raw) if address]
    return tuple(dict.fromkeys(found))


def _when(message: EmailMessage) -> dt.datetime | None:
    raw = _raw_header(message, "Date")
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(_unfold(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def message_key(message_id: str) -> str:
    """What the intake remembers a mail by: its Message-ID, or its digest when too long."""
    if len(message_id) <= MAX_MESSAGE_KEY:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _automatic(
    message: EmailMessage, address: str, own_address: str | None
) -> tuple[MessageTemplate, dict[str, str]] | None:
    auto = header_text(_raw_header(message, "Auto-Submitted")).strip().lower()
    if auto and not auto.startswith("no"):
        return _t("An automatic message (Auto-Submitted: {value}): not registered."), {
            "value": auto
        }
    for header in ("X-Autoreply", "X-Autorespond"):
        if _raw_header(message, header) is not None:
            return _t("An automatic message ({header}): not registered."), {"header": header}
    precedence = header_text(_raw_header(message, "Precedence")).strip().lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return _t("An automatic message (Precedence: {value}): not registered."), {
            "value": precedence
        }
    if message.get_content_type() == "multipart/report" or (
        address.partition("@")[0] in BOUNCE_SENDERS
    ):
        return _t("A delivery report (bounce): not registered."), {}
    if not address:
        return _t("A mail without a sender address: not registered."), {}
    if own_address and address == own_address.lower():
        return _t("A mail from the site's own address {address}: not registered."), {
            "address": address
        }
    return None


def read(
    raw: bytes,
    *,
    received_at: dt.datetime | None = None,
    own_address: str | None = None,
) -> ReadMail:
    """Parse `raw` (RFC 5322 bytes). `received_at` is when the mailbox got it (the Date
    header, then now, when unknown); mail from `own_address` is the site's own."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    message_id = next(iter(_ids(_raw_header(message, "Message-ID"))), None)
    if message_id is None:  # remembered by its content instead
        message_id = f"<{hashlib.sha256(raw).hexdigest()}@no-message-id.invalid>"
    raw_from = _undo_8bit(_unfold(_raw_header(message, "From") or ""))
    name, address = email.utils.parseaddr(raw_from)
    address = address.strip().lower()
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    bodies = [p for p in (text_part, html_part) if p is not None]
    text = _content(text_part) if isinstance(text_part, EmailMessage) else ""
    html = _content(html_part) if isinstance(html_part, EmailMessage) else None
    files: list[MailAttachment] = []
    for part in _leaves(message):
        if any(part is body for body in bodies):
            continue
        inline_text = (
            part.get_content_maintype() == "text"
            and not _filename(part)
            and part.get_content_disposition() != "attachment"
        )
        if inline_text:
            if part.get_content_subtype() == "plain":  # text split around inline images
                text = f"{text}\n{_content(part)}" if text else _content(part)
            continue
        files.append(_attachment(part, len(files) + 1))
    if not text.strip() and html:
        text = html_to_text(html)
    in_reply_to = _ids(_raw_header(message, "In-Reply-To"))
    mail = InboundMail(
        message_id=message_id,
        from_address=address,
        from_name=header_text(name).strip()[:200],
        to=_addresses(message, "To", "Cc"),
        subject=re.sub(r"\s+", " ", header_text(_raw_header(message, "Subject"))).strip(),
        received_at=received_at or _when(message) or dt.datetime.now(dt.UTC),
        text=text.strip(),
        html=html,
        attachments=tuple(files),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(_ids(_raw_header(message, "References"))),
    )
    return ReadMail(mail, _automatic(message, address, own_address))


@dataclass(frozen=True)
class Thread:
    """What a mail's In-Reply-To and References say it answers: a record the notification
    mails of this site thread under, or notification ids to look the record up by."""

    record: tuple[str, int] | None
    notification_ids: tuple[int, ...]


def thread_of(mail: InboundMail, domain: str) -> Thread:
    """The records named by this site's own Message-IDs (`domain`) the mail refers to, the
    most recent reference first (In-Reply-To, then References from the end)."""
    wanted = domain.lower()
    ids = [*([mail.in_reply_to] if mail.in_reply_to else []), *reversed(mail.references)]
    notifications: list[int] = []
    for found in ids:
        thread = THREAD_ID.match(found)
        if thread and thread.group(3).lower() == wanted:
            return Thread((thread.group(1), int(thread.group(2))), ())
        sent = NOTIFICATION_ID.match(found)
        if sent and sent.group(3).lower() == wanted:
            notifications.append(int(sent.group(1)))
    return Thread(None, tuple(dict.fromkeys(notifications)))
