"""The `[plugins.mail]` table: sending by SMTP, and reading the support mailbox by IMAP.

The passwords come from OPENITSM_PLUGINS_MAIL_PASSWORD and OPENITSM_PLUGINS_MAIL_IMAP_PASSWORD
(or are set, write-only, on the site page).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from openitsm.kernel import PluginSettings


class Settings(PluginSettings):
    host: str | None = Field(
        default=None, description="SMTP server (smtp.example.com); unset: no mail is sent."
    )
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 587 with starttls, 465 ssl, 25 plain."
    )
    security: Literal["starttls", "ssl", "plain"] = Field(
        default="starttls",
        description="starttls: upgrade after connecting; ssl: TLS from the start (SMTPS); "
        "plain: no encryption (a relay on the same host only).",
    )
    verify_certificates: bool = Field(default=True, description="Check the server certificate.")
    ca_file: Path | None = Field(default=None, description="PEM bundle that signed the server.")
    username: str | None = Field(default=None, description="Sign in as; unset: no sign-in.")
    password: SecretStr | None = Field(
        default=None, description="From the environment, or set on the site page (write-only)."
    )
    from_address: str = Field(
        default="itsm@localhost", description="The sender address of every mail."
    )
    from_name: str = Field(default="OpenITSM", description="The sender's name.")
    reply_to: str | None = Field(default=None, description="Where replies go (a desk mailbox).")
    message_id_domain: str | None = Field(
        default=None,
        description="Right-hand side of Message-IDs; default: the from address's domain.",
    )
    timeout: int = Field(default=10, ge=1, le=120, description="Seconds per network step.")
    imap_enabled: bool = Field(
        default=False,
        description="Read the support mailbox every minute and turn its mail into records.",
    )
    imap_host: str | None = Field(default=None, description="IMAP server (imap.example.com).")
    imap_port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 993 with ssl, 143 otherwise."
    )
    imap_security: Literal["ssl", "starttls", "plain"] = Field(
        default="ssl",
        description="ssl: TLS from the start (IMAPS); starttls: upgrade after connecting; "
        "plain: no encryption (a server on the same host only).",
    )
    imap_username: str | None = Field(default=None, description="The support mailbox's login.")
    imap_password: SecretStr | None = Field(
        default=None, description="From the environment, or set on the site page (write-only)."
    )
    imap_folder: str = Field(
        default="INBOX", min_length=1, max_length=200, description="The folder read."
    )
    imap_processed_folder: str | None = Field(
        default=None,
        max_length=200,
        description="Move handled mail to this folder (made when missing); unset: mark it read.",
    )
    imap_batch: int = Field(
        default=50, ge=1, le=1000, description="At most this many new mails per minute."
    )

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and ("@" not in value or any(c.isspace() for c in value)):
            raise ValueError("use an address like itsm@example.com")
        return value

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {"starttls": 587, "ssl": 465, "plain": 25}[self.security]

    @property
    def intake_configured(self) -> bool:
        """Whether the support mailbox is to be read: switched on, with a server and login."""
        return bool(self.imap_enabled and self.imap_host and self.imap_username)

    @property
    def imap_effective_port(self) -> int:
        if self.imap_port:
            return self.imap_port
        return 993 if self.imap_security == "ssl" else 143

    @property
    def mailbox_label(self) -> str:
        """The mailbox and folder read, as administrators recognise it."""
        return f"{self.imap_username or ''} ({self.imap_host or ''}, {self.imap_folder})"

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.from_address.rpartition("@")[2] or "localhost"
