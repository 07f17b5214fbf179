"""The mail plugin: the `email` notification channel, sent by SMTP, and the support
mailbox's intake, read by IMAP, which turns mail into records through `record_from_mail`.

Enabled whenever installed, it stays inert until configured: without `[plugins.mail] host`
the channel is not offered and no deliveries are made for it; without `imap_enabled`,
`imap_host` and `imap_username` the mailbox is never read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from openitsm.adapters.mail import intake, sender
from openitsm.adapters.mail.settings import Settings
from openitsm.kernel import ActionSpec, MigrationBranch, crontab, hookimpl, periodic_task
from openitsm.kernel.notifications.spec import EMAIL, Channel, OutgoingMessage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel import Kernel

__all__ = ["Settings"]

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def settings_of(kernel: Kernel) -> Settings:
    settings: Settings = kernel.plugins.settings_of("mail")
    return settings


def send_notification(kernel: Kernel, message: OutgoingMessage) -> None:
    settings = settings_of(kernel)
    sender.send(settings, sender.build(message, settings))


def _address(user: Any) -> str | None:
    return user.email or None


@periodic_task(crontab())
def read_mailbox(session: Session) -> str | None:
    """Every minute: new mail in the support mailbox becomes records (see intake.py)."""
    kernel: Kernel = session.info["kernel"]
    if not settings_of(kernel).intake_configured:
        return None
    # The minute's receipt commits now, so a second worker skips this minute; each mail is
    # then claimed and handed over in units of work of its own.
    session.commit()
    return str(intake.run(kernel))


@hookimpl
def register_notification_channels() -> list[Channel]:
    return [
        Channel(
            EMAIL,
            {"zh-CN": "电子邮件", "en": "Email"},
            send=send_notification,
            address=_address,
            available=lambda kernel: settings_of(kernel).configured,
            digest=True,
        )
    ]


@hookimpl
def register_models() -> list[type]:
    from openitsm.adapters.mail.models import InboundMessage, IntakeStatus

    return [InboundMessage, IntakeStatus]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("mail", MIGRATIONS)


@hookimpl
def register_tasks() -> list[Any]:
    return [read_mailbox]


@hookimpl
def register_actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            intake.MANAGE,
            {"zh-CN": "管理邮件收件", "en": "Manage incoming mail"},
            "See the mail the support mailbox could not turn into records, try it again "
            "or put it aside.",
            roles=("administrator",),
        )
    ]


@hookimpl
def register_routes() -> list[Any]:
    from openitsm.adapters.mail.pages import ROUTES

    return list(ROUTES)


@hookimpl
def register_menus() -> list[Any]:
    from openitsm.adapters.mail.pages import MENUS

    return list(MENUS)
