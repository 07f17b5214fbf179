"""Tables for API tokens and for throttling repeated sign-in failures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.db import Base, IdMixin, utcnow

# Marks an API token, so the Bearer header tells it from a session token without a lookup.
API_TOKEN_PREFIX = "oit_"


class ApiToken(IdMixin, Base):
    """A credential for an external system: only the SHA-256 of the secret is stored."""

    __tablename__ = "api_token"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None]


class SignInThrottle(Base):
    """Failed sign-ins per login, shared by every web process.

    Kept for logins that do not exist too, so lockout cannot tell which logins do.
    """

    __tablename__ = "sign_in_throttle"

    login: Mapped[str] = mapped_column(String(150), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[dt.datetime | None]
