"""The `[plugins.mail]` table; the password comes from OPENITSM_PLUGINS_MAIL_PASSWORD."""

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
    def domain(self) -> str:
        return self.message_id_domain or self.from_address.rpartition("@")[2] or "localhost"
