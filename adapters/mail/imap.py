"""The support mailbox over IMAP (the standard library's `imaplib`).

Mail is found by UID (`UID SEARCH UNSEEN`) and fetched with `BODY.PEEK[]`, which leaves it
unread: only once the intake has committed what a mail became is it marked read, or moved
to the processed folder, so a worker that stops half-way leaves it to be read again.
Folder names travel in IMAP's modified UTF-7, so a folder may be called 已处理.
"""

from __future__ import annotations

import base64
import datetime as dt
import imaplib
import re
import ssl
import time
from types import TracebackType
from typing import Any

from openitsm.adapters.mail.settings import Settings


class MailboxError(Exception):
    """The mailbox could not be reached, signed in to or read."""


def encode_folder(name: str) -> str:
    """`name` in IMAP's modified UTF-7 (RFC 3501 5.1.3), quoted for a command."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.verify_certificates:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _check(answer: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise MailboxError(f"{what}: {status} {detail}".strip())
    return data


class Mailbox:
    """One connection to the support mailbox's folder; use it as a context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: imaplib.IMAP4 | None = None
        self.can_move = False

    def __enter__(self) -> Mailbox:
        settings = self.settings
        assert settings.imap_host is not None
        try:
            if settings.imap_security == "ssl":
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    settings.imap_host,
                    settings.imap_effective_port,
                    ssl_context=_tls(settings),
                    timeout=settings.timeout,
                )
            else:
                client = imaplib.IMAP4(
                    settings.imap_host, settings.imap_effective_port, timeout=settings.timeout
                )
                if settings.imap_security == "starttls":
                    client.starttls(ssl_context=_tls(settings))
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"cannot connect to {settings.imap_host}: {exc}") from exc
        self.client = client
        try:
            self._sign_in()
            if settings.imap_processed_folder:
                client.create(encode_folder(settings.imap_processed_folder))  # NO: it exists
            _check(client.select(encode_folder(settings.imap_folder)), "select")
            capabilities = _check(client.capability(), "capability")  # they grow after sign-in
            found = capabilities[0] if capabilities and isinstance(capabilities[0], bytes) else b""
            self.can_move = b"MOVE" in found.upper().split()
        except (OSError, imaplib.IMAP4.error, MailboxError) as exc:
            self.close()
            if isinstance(exc, MailboxError):
                raise
            raise MailboxError(f"{type(exc).__name__}: {exc}") from exc
        return self

    def _sign_in(self) -> None:
        assert self.client is not None
        user = self.settings.imap_username or ""
        secret = self.settings.imap_password
        password = secret.get_secret_value() if secret else ""
        try:
            if (user + password).isascii():
                self.client.login(user, password)
            else:  # LOGIN is ASCII only; PLAIN carries UTF-8
                credentials = f"\0{user}\0{password}".encode()
                self.client.authenticate("PLAIN", lambda _challenge: credentials)
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"sign-in as {user} refused: {exc}") from exc

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.state == "SELECTED":
                client.close()
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def unseen(self, limit: int) -> list[str]:
        """The UIDs of unread mail, oldest first, at most `limit`."""
        assert self.client is not None
        data = _check(self.client.uid("SEARCH", "UNSEEN"), "search")
        found = data[0].decode() if data and isinstance(data[0], bytes) else ""
        return sorted(found.split(), key=int)[:limit]

    def fetch(self, uid: str) -> tuple[bytes, dt.datetime | None] | None:
        """The mail's bytes and when the server received it; None when it is gone."""
        assert self.client is not None
        data = _check(self.client.uid("FETCH", uid, "(INTERNALDATE BODY.PEEK[])"), "fetch")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                head, body = item
                return bytes(body), _internal_date(head)
        return None

    def finish(self, uid: str) -> None:
        """Put a handled mail away: read, and moved when a processed folder is set."""
        assert self.client is not None
        _check(self.client.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "store")
        target = self.settings.imap_processed_folder
        if not target:
            return
        folder = encode_folder(target)
        if self.can_move:
            _check(self.client.uid("MOVE", uid, folder), "move")
            return
        _check(self.client.uid("COPY", uid, folder), "copy")
        _check(self.client.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "store")
        _check(self.client.expunge(), "expunge")


def _internal_date(head: object) -> dt.datetime | None:
    if not isinstance(head, bytes) or not re.search(rb"INTERNALDATE", head):
        return None
    parsed = imaplib.Internaldate2tuple(head)
    if parsed is None:
        return None
    return dt.datetime.fromtimestamp(time.mktime(parsed), dt.UTC)
