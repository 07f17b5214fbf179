"""The SLA page: levels, the matrix of each record kind on the SLA, service units'
calendars; refusals next to the fields; nothing without `sla.manage`; and a record's clock
as header deadlines."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import ServiceUnit
from openitsm.kernel.references import RecordRef
from openitsm.kernel.sla.models import SlaLevel, SlaRule, SlaServiceUnitCalendar
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables
from openitsm.web import testing as web_testing
from openitsm.web.sla import sla_deadline, sla_deadlines

from ..kernel.sla.conftest import TicketSla

PASSWORD = "sla-pages-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(
        tmp_path, database_url, plugins={"tickets": TicketPlugin(), "ticket_sla": TicketSla()}
    )
    create_tables(kernel.engine)
    with kernel.session() as session:
        keeper = identity.create_user(session, "keeper", "Keeper", password=PASSWORD)
        identity.create_user(session, "reader", "Reader", password=PASSWORD)
        role = service.create_role(
            session,
            action_registry(kernel),
            code="sla_keeper",
            labels={"en": "SLA keeper"},
            actions=["sla.manage"],
        )
        service.grant_role(session, keeper.id, role.id)
        session.add(ServiceUnit(code="bank", name="Bank"))
    yield kernel
    drop_tables(kernel.engine)
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD, {"accept-language": "en"})


def field_error(page: str, field_id: str) -> str:
    found = re.search(
        rf'<p id="{field_id}-error" class="field-error[^"]*"[^>]*>(.*?)</p>', page, re.S
    )
    return html.unescape(found.group(1)) if found else ""


def level(kernel: Kernel, key: str) -> SlaLevel | None:
    with kernel.session() as session:
        found = session.scalar(select(SlaLevel).where(SlaLevel.key == key))
        if found is not None:
            session.expunge(found)
        return found


def test_without_sla_manage_the_page_and_posts_are_refused(kernel: Kernel) -> None:
    client = signed_in(kernel, "reader")
    assert 'href="/admin/sla"' not in client.get("/").text
    answer = client.get("/admin/sla")
    assert answer.status_code == 403 and "sla.manage" in answer.text
    token = web_testing.csrf_of(client)
    for path, form in (
        ("/admin/sla/levels", {"key": "X", "zh": "X", "resolution": "PT1H"}),
        ("/admin/sla/levels/P1/remove", {}),
        ("/admin/sla/rules", {"kind": "ticket", "level": "p1"}),
        ("/admin/sla/calendars", {"service_unit": "1", "calendar": "standard"}),
    ):
        assert client.post(path, data={"csrf": token, **form}).status_code == 403, path
    assert level(kernel, "X") is None and level(kernel, "p1") is not None
    assert signed_in(kernel, "keeper").get("/").text.count('href="/admin/sla"') == 1


def test_levels_are_added_edited_and_removed_with_errors_next_to_fields(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    page = client.get("/admin/sla").text
    assert "P1 Critical" in page and "PT30M" in page and "Matrix: Ticket" in page
    token = web_testing.csrf_of(client)
    form = {"csrf": token, "key": "VIP", "zh": "贵宾", "en": "VIP", "warning_share": "80"}
    bad = client.post("/admin/sla/levels", data={**form, "resolution": "tomorrow"})
    assert bad.status_code == 400
    assert "not a duration" in field_error(bad.text, "level-resolution")
    assert 'value="贵宾"' in bad.text  # what was typed is kept
    made = client.post(
        "/admin/sla/levels", data={**form, "resolution": "pt2h"}, follow_redirects=False
    )
    assert made.status_code == 303
    stored = level(kernel, "VIP")
    assert stored is not None
    assert (stored.resolution, stored.warning_share) == ("PT2H", 0.8)

    edit = client.get("/admin/sla/levels/VIP")
    assert edit.status_code == 200 and 'value="PT2H"' in edit.text
    saved = client.post(
        "/admin/sla/levels/VIP",
        data={**form, "resolution": "PT3H", "version": str(stored.version), "active": "on"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert level(kernel, "VIP").resolution == "PT3H"  # type: ignore[union-attr]
    stale = client.post(
        "/admin/sla/levels/VIP",
        data={**form, "resolution": "PT5H", "version": str(stored.version)},
    )
    assert stale.status_code == 409 and "changed by someone else" in stale.text

    removed = client.post("/admin/sla/levels/VIP/remove", data={"csrf": token})
    assert removed.status_code == 200 and level(kernel, "VIP") is None


def test_matrix_rules_and_service_unit_calendars(kernel: Kernel) -> None:
    client = signed_in(kernel, "keeper")
    client.get("/admin/sla")
    token = web_testing.csrf_of(client)
    bad = client.post("/admin/sla/rules", data={"csrf": token, "kind": "ticket", "level": ""})
    assert bad.status_code == 400 and field_error(bad.text, "rule-ticket-level")
    made = client.post(
        "/admin/sla/rules",
        data={"csrf": token, "kind": "ticket", "level": "p1", "impact": "high", "category": "*"},
    )
    assert made.status_code == 200
    with kernel.session() as session:
        rule = session.scalar(select(SlaRule))
        assert rule is not None
        assert (rule.kind, rule.level, rule.impact, rule.category) == ("ticket", "p1", "high", None)
        rule_id, version = rule.id, rule.version
        unit_id = session.scalar(select(ServiceUnit.id).where(ServiceUnit.code == "bank"))
    assert client.get(f"/admin/sla/rules/{rule_id}").status_code == 200
    client.post(
        f"/admin/sla/rules/{rule_id}",
        data={"csrf": token, "level": "p2", "impact": "high", "version": str(version)},
    )
    client.post(f"/admin/sla/rules/{rule_id}/remove", data={"csrf": token})
    with kernel.session() as session:
        assert session.scalar(select(SlaRule)) is None

    wrong = client.post(
        "/admin/sla/calendars", data={"csrf": token, "service_unit": str(unit_id), "calendar": "x"}
    )
    assert wrong.status_code == 400 and "no business calendar" in field_error(
        wrong.text, "sla-calendar"
    )
    client.post(
        "/admin/sla/calendars",
        data={"csrf": token, "service_unit": str(unit_id), "calendar": "standard"},
    )
    with kernel.session() as session:
        assert session.scalar(select(SlaServiceUnitCalendar.calendar_key)) == "standard"


def test_a_records_clock_gives_its_header_deadlines(kernel: Kernel) -> None:
    with kernel.session() as session:
        ticket = Ticket(title="Down", priority="p2")
        session.add(ticket)
        session.flush()
        ref = RecordRef("ticket", ticket.id)
    with kernel.session() as session:
        shown = sla_deadlines(session, ref)
        assert [d.label for d in shown] == ["Respond by", "Resolve by"]
        assert sla_deadline(session, ref) == shown[0]
        assert shown[0].clock().state in ("ok", "warning")
        assert sla_deadlines(session, RecordRef("ticket", ticket.id + 1)) == []
