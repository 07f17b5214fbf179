"""The bell, `/notifications`, the profile's notification settings and the administrators'
delivery page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.access.actions import action_registry
from openitsm.kernel.access.scope import set_role_scope
from openitsm.kernel.identity import service as identity
from openitsm.kernel.notifications import digest, service
from openitsm.kernel.notifications.models import FAILED, SENT, Notification, NotificationDelivery
from openitsm.kernel.notifications.spec import PermanentDeliveryError
from openitsm.kernel.organisation import service as org
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.testing.notifications import EVENT, OUTBOX, NotifyingTickets
from openitsm.kernel.testing.tickets import Ticket, create_tables, drop_tables
from openitsm.web.testing import csrf_of, signed_in

PASSWORD = "secret-pw-1"


@dataclass
class Site:
    kernel: Kernel
    plugin: NotifyingTickets
    ids: dict[str, int]
    ticket_id: int

    def notify(self, login: str, times: int = 1) -> None:
        for _ in range(times):
            with self.kernel.session() as session:
                service.notify(
                    session, EVENT, [self.ids[login]], record=RecordRef("ticket", self.ticket_id)
                )


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    plugin = NotifyingTickets()
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": plugin})
    create_tables(kernel.engine)
    ids: dict[str, int] = {}
    try:
        with kernel.session() as session:
            for login, superuser in (("root", True), ("plain", False)):
                user = identity.create_user(
                    session,
                    login,
                    login.title(),
                    password=PASSWORD,
                    email=f"{login}@example.test",
                    superuser=superuser,
                )
                user.locale = "en"
                ids[login] = user.id
            role = org.create_role(
                session, action_registry(kernel), code="reader", labels={"en": "Reader"}
            )
            set_role_scope(session, role.id, "ticket", "all")
            org.grant_role(session, ids["plain"], role.id)
            ticket = Ticket(title="Printer jam", reporter_id=ids["plain"])
            session.add(ticket)
            session.flush()
            ticket_id = ticket.id
        yield Site(kernel, plugin, ids, ticket_id)
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def bell(html: str) -> str | None:
    found = re.search(r'class="bell-count" data-unread="(\d+)"', html)
    return found.group(1) if found else None


def test_the_bell_counts_unread_and_the_page_lists_newest_first(site: Site) -> None:
    client = signed_in(site.kernel, "plain", PASSWORD)
    assert bell(client.get("/").text) is None
    assert 'href="/notifications"' in client.get("/").text
    site.notify("plain", times=23)
    assert bell(client.get("/").text) == "23"
    page = client.get("/notifications")
    ids = [int(i) for i in re.findall(r'data-notification="(\d+)"', page.text)]
    assert len(ids) == 20 and ids == sorted(ids, reverse=True)
    assert "Ticket assigned to you: Printer jam" in page.text
    older = re.search(r'href="/notifications\?before=(\d+)"', page.text)
    assert older is not None
    rest = client.get(f"/notifications?before={older.group(1)}")
    assert len(re.findall(r'data-notification="(\d+)"', rest.text)) == 3
    # opening one marks it read and goes to the record
    opened = client.get(f"/notifications/{ids[0]}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/tickets/{site.ticket_id}"
    assert bell(client.get("/").text) == "22"
    marked = client.post(
        "/notifications/read",
        data={"csrf": csrf_of(client), "id": [str(ids[1]), str(ids[2])]},
        follow_redirects=False,
    )
    assert marked.status_code == 303
    assert bell(client.get("/").text) == "20"
    client.post("/notifications/read", data={"csrf": csrf_of(client), "all": "1"})
    assert bell(client.get("/").text) is None
    assert "unread" not in client.get("/notifications").text.split("<main", 1)[1].replace(
        "Mark all read", ""
    )


def test_someone_elses_notification_cannot_be_opened_or_marked(site: Site) -> None:
    site.notify("root")
    with site.kernel.session() as session:
        theirs = session.scalar(select(Notification.id))
    client = signed_in(site.kernel, "plain", PASSWORD)
    assert client.get(f"/notifications/{theirs}", follow_redirects=False).status_code == 404
    client.post("/notifications/read", data={"csrf": csrf_of(client), "id": str(theirs)})
    with site.kernel.session() as session:
        assert session.get(Notification, theirs).read_at is None  # type: ignore[union-attr]
    refused = client.post("/notifications/read", data={"all": "1"})
    assert refused.status_code == 400  # no CSRF token


def test_profile_saves_preferences_and_quiet_hours(site: Site) -> None:
    client = signed_in(site.kernel, "plain", PASSWORD)
    profile = client.get("/profile").text
    assert 'id="notifications"' in profile
    assert f'value="{EVENT}:{OUTBOX}" checked' in profile
    # keep only the in-app box of our event, and set quiet hours
    saved = client.post(
        "/profile/notifications",
        data={
            "csrf": csrf_of(client),
            "on": [f"{EVENT}:in_app"],
            "quiet_starts": "22:00",
            "quiet_ends": "07:30",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    profile = client.get("/profile").text
    assert f'value="{EVENT}:{OUTBOX}" checked' not in profile
    assert f'value="{EVENT}:in_app" checked' in profile
    assert 'value="22:00"' in profile and 'value="07:30"' in profile
    site.notify("plain")
    assert site.plugin.sent == []  # the outbox is off for this event
    half = client.post(
        "/profile/notifications",
        data={"csrf": csrf_of(client), "quiet_starts": "22:00", "quiet_ends": ""},
    )
    assert half.status_code == 400


def test_administrators_see_failed_deliveries_and_send_them_again(site: Site) -> None:
    site.plugin.failure = PermanentDeliveryError("550 mailbox unavailable")
    site.notify("plain")
    with site.kernel.session() as session:
        delivery = session.scalar(select(NotificationDelivery))
        assert delivery is not None and delivery.state == FAILED
    plain = signed_in(site.kernel, "plain", PASSWORD)
    assert plain.get("/admin/notifications").status_code == 403
    root = signed_in(site.kernel, "root", PASSWORD)
    page = root.get("/admin/notifications")
    assert page.status_code == 200
    assert f'data-delivery="{delivery.id}"' in page.text
    assert "550 mailbox unavailable" in page.text and "failed" in page.text
    assert 'href="/admin/notifications"' in root.get("/").text  # in the admin menu
    site.plugin.failure = None
    again = root.post(
        f"/admin/notifications/{delivery.id}/retry",
        data={"csrf": csrf_of(root)},
        follow_redirects=False,
    )
    assert again.status_code == 303
    with site.kernel.session() as session:
        assert session.get(NotificationDelivery, delivery.id).state == SENT  # type: ignore[union-attr]
    assert len(site.plugin.sent) == 1
    assert f'data-delivery="{delivery.id}"' not in root.get("/admin/notifications").text


def test_profile_sets_the_digest_with_errors_next_to_the_field(site: Site) -> None:
    client = signed_in(site.kernel, "plain", PASSWORD)
    profile = client.get("/profile").text
    assert f'name="digest_{OUTBOX}"' in profile
    assert '<option value="immediate" selected>' in profile
    keep = {"csrf": csrf_of(client), "on": [f"{EVENT}:in_app", f"{EVENT}:{OUTBOX}"]}
    wrong = client.post(
        "/profile/notifications",
        data={**keep, f"digest_{OUTBOX}": "daily", f"digest_at_{OUTBOX}": ""},
    )
    assert wrong.status_code == 400
    field = re.search(
        rf'<div class="form-field invalid" data-digest="{OUTBOX}">(.*?)</div>', wrong.text, re.S
    )
    assert field is not None
    assert '<option value="daily" selected>' in field.group(1)
    assert "Give the time of your daily digest, like 09:00." in field.group(1)
    with site.kernel.session() as session:
        (setting,) = digest.digest_settings(session, site.kernel, site.ids["plain"], "en")
        assert setting.frequency == "immediate"  # nothing was saved
    saved = client.post(
        "/profile/notifications",
        data={**keep, f"digest_{OUTBOX}": "daily", f"digest_at_{OUTBOX}": "07:45"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    profile = client.get("/profile").text
    assert '<option value="daily" selected>' in profile and 'value="07:45"' in profile
    site.notify("plain")
    assert site.plugin.sent == []  # held for tomorrow's 07:45
    with site.kernel.session() as session:
        (held,) = session.scalars(select(NotificationDelivery)).all()
        assert held.state == "held" and held.digest_at is not None
