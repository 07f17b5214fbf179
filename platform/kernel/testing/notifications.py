"""A notifying sample for tests: the sample tickets, an event about them, and a channel that
keeps what it sends (or fails as told).

    plugin = NotifyingTickets()
    kernel = build_kernel(tmp_path, url, plugins={"tickets": plugin})
    create_tables(kernel.engine)  # from openitsm.kernel.testing.tickets
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.notifications.spec import Channel, NotificationEvent, Templates
from openitsm.kernel.testing.tickets import TicketPlugin

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.notifications.spec import OutgoingMessage

EVENT = "tickets.assigned"
OUTBOX = "outbox"

ASSIGNED = NotificationEvent(
    EVENT,
    {"zh-CN": "工单交给我", "en": "A ticket is assigned to me"},
    {
        "zh-CN": Templates(
            "工单已分派给您：{{ record.title }}",
            "{{ recipient.name }}，您好：\n\n工单“{{ record.title }}”已分派给您。\n"
            "费用：{{ record.cost }}\n备注：{{ record.internal_note }}\n"
            "分派时间：{{ localtime(values.at) }}\n查看：{{ url }}\n",
            "<p>工单“{{ record.title }}”已分派给您。</p><p>备注：{{ record.internal_note }}</p>"
            '<p><a href="{{ url }}">查看工单</a></p>',
        ),
        "en": Templates(
            "Ticket assigned to you: {{ record.title }}",
            'Hello {{ recipient.name }},\n\nThe ticket "{{ record.title }}" is yours now.\n'
            "Cost: {{ record.cost }}\nNote: {{ record.internal_note }}\n"
            "Assigned at: {{ localtime(values.at) }}\nOpen it: {{ url }}\n",
            '<p>The ticket "{{ record.title }}" is yours now.</p>'
            "<p>Note: {{ record.internal_note }}</p>"
            '<p><a href="{{ url }}">Open the ticket</a></p>',
        ),
    },
    channels=("in_app", "email", OUTBOX),
)


class NotifyingTickets(TicketPlugin):
    """Tickets, the event `tickets.assigned` and the channel `outbox` (address: the email;
    it may be read as a digest).

    `sent` collects the messages the channel sent; set `failure` to an exception to make
    every send raise it."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.failure: BaseException | None = None

    def send(self, kernel: Kernel, message: OutgoingMessage) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append(message)

    @hookimpl
    def register_notification_events(self) -> list[NotificationEvent]:
        return [ASSIGNED]

    @hookimpl
    def register_notification_channels(self) -> list[Channel]:
        def address(user: Any) -> str | None:
            return user.email or None

        return [
            Channel(
                OUTBOX, {"zh-CN": "测试发件箱", "en": "Outbox"}, self.send, address, digest=True
            )
        ]
