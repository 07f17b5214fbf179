"""Notifications: events × channels × templates, per-user preferences and quiet hours,
delivered by the queue after the transaction commits.

A plugin declares events (`register_notification_events`) and tells people with `notify`;
adapters add channels (`register_notification_channels`). See docs/notifications.md.
"""

from openitsm.kernel.notifications.service import (
    deliver,
    dispatch_due,
    mark_read,
    notify,
    unread_count,
)
from openitsm.kernel.notifications.spec import (
    EMAIL,
    IN_APP,
    Channel,
    DeliveryError,
    NotificationEvent,
    OutgoingMessage,
    PermanentDeliveryError,
    Templates,
    registry_of,
    templates_from,
)

__all__ = [
    "EMAIL",
    "IN_APP",
    "Channel",
    "DeliveryError",
    "NotificationEvent",
    "OutgoingMessage",
    "PermanentDeliveryError",
    "Templates",
    "deliver",
    "dispatch_due",
    "mark_read",
    "notify",
    "registry_of",
    "templates_from",
    "unread_count",
]
