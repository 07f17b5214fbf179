"""Custom fields on the pages: forms, lists (columns, filters, sorting), exports and detail
pages show them without code, under the viewer's field rules."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "custom-pages-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    kinds = kernel.record_kinds
    with kernel.session() as session:
        for resource in ("service_unit", "user"):
            customfields.define(
                session, kinds, resource=resource, name="region",
                labels={"zh-CN": "区域", "en": "Region"}, type="choice", listed=True,
                choices=[
                    {"value": "north", "labels": {"zh-CN": "华北", "en": "North"}},
                    {"value": "south", "labels": {"zh-CN": "华南", "en": "South"}},
                ],
            )  # fmt: skip
            customfields.define(
                session, kinds, resource=resource, name="contract_end",
                labels={"zh-CN": "合同到期", "en": "Contract end"}, type="date",
            )  # fmt: skip
            customfields.define(
                session, kinds, resource=resource, name="budget",
                labels={"zh-CN": "预算", "en": "Budget"}, type="money",
            )  # fmt: skip
        actions = action_registry(kernel)
        manage = service.create_role(
            session, actions, code="org_admin", labels={"en": "Org admin"},
            actions=["org.read", "org.manage", "list.export"],
        )  # fmt: skip
        clerk = service.create_role(
            session, actions, code="clerk", labels={"en": "Clerk"},
            actions=["org.read", "org.manage", "list.export"],
        )  # fmt: skip
        for resource in ("service_unit", "user"):
            set_field_rule(session, kinds, clerk.id, resource, "cf_budget", "hidden")
            set_field_rule(session, kinds, clerk.id, resource, "cf_region", "read_only")
        boss = identity.create_user(session, "boss", "Boss", password=PASSWORD)
        clerk_user = identity.create_user(session, "clerk", "Clerk", password=PASSWORD)
        service.grant_role(session, boss.id, manage.id)
        service.grant_role(session, clerk_user.id, clerk.id)
        service.create_service_unit(
            session, code="acme", name="Acme",
            custom_fields={"cf_region": "north", "cf_budget": "1200.00"},
        )  # fmt: skip
        service.create_service_unit(
            session, code="globex", name="Globex",
            custom_fields={"cf_region": "south", "cf_budget": "99.50"},
        )  # fmt: skip
        service.create_service_unit(session, code="initech", name="Initech")
        service.create_user(
            session, login="li", name="Li Lei",
            custom_fields={"cf_region": "south", "cf_contract_end": "2027-06-30",
                           "cf_budget": "5.00"},
        )  # fmt: skip
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def unit_id(kernel: Kernel, code: str) -> int:
    with kernel.session() as session:
        from sqlalchemy import select

        from openitsm.kernel.organisation.models import ServiceUnit

        return session.scalar(select(ServiceUnit.id).where(ServiceUnit.code == code))  # type: ignore[return-value]


def stored(kernel: Kernel, code: str) -> tuple[dict[str, object], int]:
    with kernel.session() as session:
        unit = service.get_service_unit(session, unit_id(kernel, code))
        return dict(unit.custom_fields), unit.version


def test_the_form_shows_custom_fields_and_saves_them(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss")
    acme = unit_id(kernel, "acme")
    page = client.get(f"/admin/service-units/{acme}")
    assert page.status_code == 200
    assert "Additional information" in page.text
    for name in ("cf_region", "cf_contract_end", "cf_budget"):
        assert f'name="{name}"' in page.text
    assert 'value="1200.00"' in page.text
    _, version = stored(kernel, "acme")
    saved = client.post(
        f"/admin/service-units/{acme}",
        data={
            "csrf": web_testing.csrf_of(client),
            "version": str(version),
            "code": "acme",
            "name": "Acme",
            "active": "on",
            "cf_region": "south",
            "cf_contract_end": "2027-01-31",
            "cf_budget": "1,500.5",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    values, _ = stored(kernel, "acme")
    assert values == {"cf_region": "south", "cf_contract_end": "2027-01-31", "cf_budget": "1500.50"}
    history = client.get(f"/admin/service-units/{acme}").text
    assert "Contract end" in history  # the timeline names the custom field by its label


def test_a_bad_custom_value_is_explained_next_to_the_field_and_typing_is_kept(
    kernel: Kernel,
) -> None:
    client = signed_in(kernel, "boss")
    acme = unit_id(kernel, "acme")
    before, version = stored(kernel, "acme")
    page = client.post(
        f"/admin/service-units/{acme}",
        data={
            "csrf": web_testing.csrf_of(client),
            "version": str(version),
            "code": "acme",
            "name": "Acme renamed",
            "active": "on",
            "cf_region": "north",
            "cf_contract_end": "31/01/2027",
            "cf_budget": "12.345",
        },
    )
    assert page.status_code == 400
    assert 'value="31/01/2027"' in page.text and 'value="Acme renamed"' in page.text
    assert "Enter a date like 2026-03-01." in page.text
    assert "At most 2 decimal places." in page.text
    assert stored(kernel, "acme") == (before, version)


def test_hidden_custom_fields_are_absent_and_read_only_ones_cannot_be_forged(
    kernel: Kernel,
) -> None:
    client = signed_in(kernel, "clerk")
    acme = unit_id(kernel, "acme")
    page = client.get(f"/admin/service-units/{acme}")
    assert 'name="cf_budget"' not in page.text and "1200.00" not in page.text
    assert 'name="cf_region"' not in page.text and "North" in page.text  # shown, not editable
    before, version = stored(kernel, "acme")
    forged = client.post(
        f"/admin/service-units/{acme}",
        data={
            "csrf": web_testing.csrf_of(client),
            "version": str(version),
            "code": "acme",
            "name": "Acme",
            "active": "on",
            "cf_budget": "1.00",
        },
    )
    assert forged.status_code == 403
    assert stored(kernel, "acme") == (before, version)


def test_lists_offer_custom_columns_filters_and_sorting(kernel: Kernel) -> None:
    client = signed_in(kernel, "boss")
    page = client.get("/admin/service-units").text
    assert "<th" in page and "Region" in page  # listed: shown by default
    assert 'value="cf_budget"' in page  # offered in the column chooser
    north = client.get("/admin/service-units?cf_region=north").text
    assert "Acme" in north and "Globex" not in north
    by_budget = client.get("/admin/service-units?sort=cf_budget&cols=code,cf_budget").text
    assert by_budget.index("globex") < by_budget.index("acme")
    descending = client.get("/admin/service-units?sort=cf_budget&desc=1&cols=code,cf_budget").text
    assert descending.index("acme") < descending.index("globex")


def test_custom_columns_and_filters_follow_field_rules(kernel: Kernel) -> None:
    client = signed_in(kernel, "clerk")
    page = client.get("/admin/service-units").text
    assert 'value="cf_budget"' not in page and 'name="cf_budget"' not in page
    assert client.get("/admin/service-units?sort=cf_budget").status_code == 403
    assert client.get("/admin/service-units?cols=code,cf_budget").status_code == 403


def test_the_export_has_custom_columns_the_viewer_may_read(kernel: Kernel) -> None:
    for login, budget_shown in (("boss", True), ("clerk", False)):
        client = signed_in(kernel, login)
        cols = "code,cf_region,cf_budget" if budget_shown else "code,cf_region"
        answer = client.get(f"/admin/service-units/export.xlsx?cols={cols}&sort=code")
        assert answer.status_code == 200, answer.text
        sheet = load_workbook(io.BytesIO(answer.content)).active
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
        header = rows[0]
        assert "Region" in header
        assert ("Budget" in header) is budget_shown
        acme = next(row for row in rows if row[0] == "acme")
        assert "North" in acme
        if budget_shown:
            assert 1200 in acme


def test_the_user_page_shows_custom_values_the_viewer_may_read(kernel: Kernel) -> None:
    with kernel.session() as session:
        from sqlalchemy import select

        from openitsm.kernel.identity.models import User

        li = session.scalar(select(User.id).where(User.login == "li"))
    boss = signed_in(kernel, "boss").get(f"/admin/users/{li}").text
    assert "Contract end" in boss and "2027-06-30" in boss and "South" in boss
    assert "5.00" in boss
    clerk = signed_in(kernel, "clerk").get(f"/admin/users/{li}").text
    assert "South" in clerk and "Budget" not in clerk and "5.00" not in clerk
    users = signed_in(kernel, "boss").get("/admin/users?cf_region=south").text
    assert "Li Lei" in users and ">boss<" not in users and ">clerk<" not in users
