"""The mail plugin: the `email` notification channel, sent by SMTP.

Enabled whenever installed, it stays inert until `[plugins.mail] host` is set: the channel
is then not offered, and no deliveries are made for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openitsm.adapters.mail import sender
from openitsm.adapters.mail.settings import Settings
from openitsm.kernel import hookimpl
from openitsm.kernel.notifications.spec import EMAIL, Channel, OutgoingMessage

if TYPE_CHECKING:
    from openitsm.kernel import Kernel

__all__ = ["Settings"]


def settings_of(kernel: Kernel) -> Settings:
    settings: Settings = kernel.plugins.settings_of("mail")
    return settings


def send_notification(kernel: Kernel, message: OutgoingMessage) -> None:
    settings = settings_of(kernel)
    sender.send(settings, sender.build(message, settings))


def _address(user: Any) -> str | None:
    return user.email or None


@hookimpl
def register_notification_channels() -> list[Channel]:
    return [
        Channel(
            EMAIL,
            {"zh-CN": "电子邮件", "en": "Email"},
            send=send_notification,
            address=_address,
            available=lambda kernel: settings_of(kernel).configured,
        )
    ]
