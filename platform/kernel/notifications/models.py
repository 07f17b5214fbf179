"""Notifications, their deliveries per channel, and each user's preferences."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.db import Base, IdMixin, UTCDateTime, utcnow

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Kept for the user's digest of `digest_at`; then gathered into that digest's delivery.
HELD, DIGESTED = "held", "digested"
DELIVERY_STATES = (PENDING, SENDING, SENT, FAILED, HELD, DIGESTED)
# How often a user's digest of a channel goes out; "immediate" (no digest) has no row.
IMMEDIATE, HOURLY, DAILY = "immediate", "hourly", "daily"
DIGEST_FREQUENCIES = (IMMEDIATE, HOURLY, DAILY)


class Notification(IdMixin, Base):
    """One event told to one user, rendered once in their language and time zone.

    It is the in-app message (shown in the bell when `in_app`), and the content every other
    channel's delivery sends. `key` makes telling the same event twice a no-op.
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_notification_user_unread", "user_id", "read_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(200))
    record_kind: Mapped[str | None] = mapped_column(String(100))
    record_id: Mapped[int | None]
    locale: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    # The record's title as the recipient could read it then; a digest groups by it.
    record_label: Mapped[str | None] = mapped_column(String(300))
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class NotificationDelivery(IdMixin, Base):
    """Sending one notification through one channel other than in-app.

    `key` (`<notification>:<channel>`) is unique, so a delivery exists once; its `state`
    moves pending -> sending -> sent, or back to pending with a later `next_attempt_at`
    after a transient failure, or to failed. Quiet hours hold it by `next_attempt_at` too
    (the `held` flag). For a user who reads this channel as a digest it is `held` (the
    state) until its digest's slot `digest_at`, then `digested` into the digest's own
    delivery (`digest_id`), and sent together with it.
    """

    __tablename__ = "notification_delivery"
    __table_args__ = (
        Index("ix_notification_delivery_due", "state", "next_attempt_at"),
        Index("ix_notification_delivery_digest_due", "state", "digest_at"),
    )

    key: Mapped[str] = mapped_column(String(200), unique=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notification.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    digest_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_delivery.id", ondelete="SET NULL"), index=True
    )


class NotificationPreference(IdMixin, Base):
    """A user's choice for one event on one channel; without a row the event's default holds."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("user_id", "event", "channel"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(50))
    enabled: Mapped[bool] = mapped_column(Boolean)


class DigestPreference(IdMixin, Base):
    """A user's digest of one channel: what it brings is gathered and sent `hourly`, or
    `daily` at `at` (minutes after midnight in their own time zone). Without a row the
    channel sends each notification as it comes."""

    __tablename__ = "notification_digest_preference"
    __table_args__ = (UniqueConstraint("user_id", "channel"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(50))
    frequency: Mapped[str] = mapped_column(String(10))
    at: Mapped[int | None] = mapped_column(Integer)


class QuietHours(IdMixin, Base):
    """When a user wants no mail: minutes after midnight in their own time zone; a window
    that ends at or before it starts ends the next day (22:00-08:00)."""

    __tablename__ = "notification_quiet_hours"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    starts: Mapped[int] = mapped_column(Integer)
    ends: Mapped[int] = mapped_column(Integer)
