"""What plugins declare: notification events with their templates, and channels.

An event is named `<plugin>.<event>` and carries a jinja2 template set per locale (subject,
plain text, HTML). A channel is a way to reach a person: the kernel brings `in_app` (the
bell), the mail adapter `email`; an adapter adds another (SMS, a webhook) by returning a
`Channel` from `register_notification_channels`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openitsm.kernel.errors import BadUserInput, ConfigurationError
from openitsm.kernel.labels import pick_label

if TYPE_CHECKING:
    import datetime as dt

    from openitsm.kernel.app import Kernel
    from openitsm.kernel.references import RecordRef

IN_APP = "in_app"
EMAIL = "email"
NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Templates:
    """One locale's jinja2 sources: a one-line subject, a plain-text body and an HTML body
    (the HTML is the text, escaped, when left empty)."""

    subject: str
    text: str
    html: str = ""


@dataclass(frozen=True)
class NotificationEvent:
    """Something people are told about: `templates` by locale (zh-CN and en; English is
    the fallback), `channels` the ones it is sent on unless a user turns them off.
    `urgent` ones (an SLA breach) go out at once even to users who read a channel as a
    digest."""

    name: str
    labels: Mapping[str, str]
    templates: Mapping[str, Templates]
    channels: tuple[str, ...] = (IN_APP, EMAIL)
    description: str = ""
    urgent: bool = False

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)

    def templates_for(self, locale: str) -> tuple[str, Templates]:
        if locale in self.templates:
            return locale, self.templates[locale]
        if "en" in self.templates:
            return "en", self.templates["en"]
        first = next(iter(self.templates))
        return first, self.templates[first]


def templates_from(folder: Path, name: str) -> dict[str, Templates]:
    """Template sets read from files: `<folder>/<locale>/<name>.subject.txt`, `.txt` and
    `.html` (optional), one folder per locale."""
    found: dict[str, Templates] = {}
    for locale_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        subject = locale_folder / f"{name}.subject.txt"
        if not subject.is_file():
            continue
        html = locale_folder / f"{name}.html"
        found[locale_folder.name] = Templates(
            subject.read_text(encoding="utf-8").strip(),
            (locale_folder / f"{name}.txt").read_text(encoding="utf-8"),
            html.read_text(encoding="utf-8") if html.is_file() else "",
        )
    if not found:
        raise ConfigurationError(f"no templates for the notification '{name}' in {folder}")
    return found


@dataclass(frozen=True)
class OutgoingMessage:
    """What a channel sends: rendered for the recipient, with the links already absolute."""

    delivery_id: int
    notification_id: int
    event: str
    user_id: int
    user_name: str
    address: str | None
    locale: str
    subject: str
    text: str
    html: str
    url: str | None
    record: RecordRef | None
    created_at: dt.datetime


class DeliveryError(Exception):
    """A channel could not send; transient ones are tried again later, with back-off."""

    transient = True


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (the address is refused): the delivery fails at once."""

    transient = False


@dataclass(frozen=True)
class Channel:
    """A way to reach people. `send(kernel, message)` raises `DeliveryError` (or anything
    else, taken as transient) when it cannot; None for the in-app channel, which the
    notification row itself is. `address(user)` says where to send (None: the user cannot
    be reached this way), `available(kernel)` whether it is configured, `quiet_hours`
    whether a user's quiet hours hold it back, and `digest` whether a user may have it
    gather their notifications into one message an hour or a day."""

    name: str
    labels: Mapping[str, str]
    send: Callable[[Kernel, OutgoingMessage], None] | None = None
    address: Callable[[Any], str | None] = lambda user: None
    available: Callable[[Kernel], bool] = lambda kernel: True
    quiet_hours: bool = True
    digest: bool = False

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)


IN_APP_CHANNEL = Channel(
    IN_APP,
    {"zh-CN": "站内消息", "en": "In the app"},
    address=lambda user: None,
    quiet_hours=False,
)


@dataclass
class NotificationRegistry:
    """Every declared event and channel of one kernel, by name."""

    events: dict[str, NotificationEvent] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    compiled: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    @classmethod
    def collect(
        cls,
        events: Iterable[tuple[str, Iterable[NotificationEvent]]],
        channels: Iterable[tuple[str, Iterable[Channel]]],
    ) -> NotificationRegistry:
        registry = cls()
        owners: dict[str, str] = {}
        for owner, declared in events:
            for spec in declared:
                if not isinstance(spec, NotificationEvent) or not NAME.match(spec.name):
                    raise ConfigurationError(
                        f"plugin '{owner}' declares {spec!r} as a notification event; use "
                        "NotificationEvent('<plugin>.<event>', labels, templates)"
                    )
                if spec.name in registry.events:
                    raise ConfigurationError(
                        f"the notification event '{spec.name}' is declared by both "
                        f"'{owners[spec.name]}' and '{owner}'"
                    )
                if not spec.templates:
                    raise ConfigurationError(f"notification event '{spec.name}' has no templates")
                registry.events[spec.name] = spec
                owners[spec.name] = owner
        for owner, offered in channels:
            for channel in offered:
                if not isinstance(channel, Channel) or not CHANNEL_NAME.match(channel.name):
                    raise ConfigurationError(
                        f"plugin '{owner}' declares {channel!r} as a notification channel"
                    )
                if channel.name in registry.channels:
                    raise ConfigurationError(
                        f"the notification channel '{channel.name}' is declared by both "
                        f"'{owners['#' + channel.name]}' and '{owner}'"
                    )
                registry.channels[channel.name] = channel
                owners["#" + channel.name] = owner
        return registry

    def event(self, name: str) -> NotificationEvent:
        try:
            return self.events[name]
        except KeyError:
            raise BadUserInput(
                f"Unknown notification event '{name}'; known: {', '.join(sorted(self.events))}.",
                field="event",
            ) from None

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            raise BadUserInput(
                f"Unknown notification channel '{name}'; known: "
                f"{', '.join(sorted(self.channels))}.",
                field="channel",
            ) from None

    def usable_channels(self, kernel: Kernel) -> list[Channel]:
        """The channels a notification can go out on now (in declaration order)."""
        return [c for c in self.channels.values() if c.available(kernel)]

    def digest_channels(self, kernel: Kernel) -> list[Channel]:
        """The usable channels a user may read as a digest (never the in-app one)."""
        return [
            c
            for c in self.usable_channels(kernel)
            if c.digest and c.send is not None and c.name != IN_APP
        ]


_REGISTRIES: weakref.WeakKeyDictionary[Kernel, NotificationRegistry] = weakref.WeakKeyDictionary()


def registry_of(kernel: Kernel) -> NotificationRegistry:
    """The kernel's notification events and channels, collected once."""
    found = _REGISTRIES.get(kernel)
    if found is None:
        found = _REGISTRIES[kernel] = NotificationRegistry.collect(
            kernel.contributions("register_notification_events"),
            kernel.contributions("register_notification_channels"),
        )
    return found
