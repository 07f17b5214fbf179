"""Building and sending notification mails over SMTP.

Each mail has its own Message-ID, and refers (In-Reply-To, References) to one made-up
Message-ID per record, so every mail about one record threads together in the reader's
mail program. The HTML body has the plain text as its alternative.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from openitsm.adapters.mail.settings import Settings
from openitsm.kernel.notifications.spec import (
    DeliveryError,
    OutgoingMessage,
    PermanentDeliveryError,
)
from openitsm.kernel.references import RecordRef


def thread_id(record: RecordRef, domain: str) -> str:
    """The Message-ID every mail about `record` refers to."""
    return f"<openitsm.{record.kind}.{record.id}@{domain}>"


def message_id(message: OutgoingMessage, domain: str) -> str:
    return f"<openitsm.n{message.notification_id}.d{message.delivery_id}@{domain}>"


def build(message: OutgoingMessage, settings: Settings) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = formataddr((settings.from_name, settings.from_address))
    mail["To"] = formataddr((message.user_name, message.address or ""))
    if settings.reply_to:
        mail["Reply-To"] = settings.reply_to
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = message_id(message, settings.domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-OpenITSM-Event"] = message.event
    if message.record is not None:
        root = thread_id(message.record, settings.domain)
        mail["In-Reply-To"] = root
        mail["References"] = root
        mail["X-OpenITSM-Record"] = str(message.record)
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(_document(message), subtype="html")
    mail["Content-Language"] = message.locale  # after the body: set_content drops Content-*
    return mail


def _document(message: OutgoingMessage) -> str:
    return (
        f'<!doctype html><html lang="{message.locale}"><head><meta charset="utf-8"></head>'
        f"<body>{message.html}</body></html>"
    )


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.verify_certificates:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(settings: Settings) -> smtplib.SMTP:
    """A connection, encrypted and signed in as the settings say."""
    assert settings.host is not None
    port = settings.effective_port
    client: smtplib.SMTP
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(
            settings.host, port, timeout=settings.timeout, context=_tls(settings)
        )
    else:
        client = smtplib.SMTP(settings.host, port, timeout=settings.timeout)
    try:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=_tls(settings))
            client.ehlo()
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            client.login(settings.username, password)
    except BaseException:
        client.close()
        raise
    return client


def send(settings: Settings, mail: EmailMessage) -> None:
    """Hand the mail to the server. A recipient the server refuses for good (5xx) is a
    permanent failure; a server that cannot be reached or answers 4xx is worth retrying."""
    if not settings.configured:
        raise DeliveryError("mail is not configured ([plugins.mail] host)")
    try:
        with connect(settings) as client:
            client.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = PermanentDeliveryError if codes and min(codes) >= 500 else DeliveryError
        raise error(f"recipient refused: {exc.recipients}") from exc
    except smtplib.SMTPDataError as exc:
        error = PermanentDeliveryError if exc.smtp_code >= 550 else DeliveryError
        raise error(f"message refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
