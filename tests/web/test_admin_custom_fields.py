"""The custom fields administration: the list per resource, adding each type, errors next to
the fields, editing with optimistic locking, reordering, retiring and restoring, and refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.customfields.models import CustomField
from openitsm.kernel.dictionaries.service import sync_declared
from openitsm.kernel.dictionaries.spec import DictionarySpec
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import admin_custom_fields
from openitsm.web import testing as web_testing
from openitsm.web.menus import MenuItem

PASSWORD = "custom-fields-pw-123"
BASE = "/admin/custom-fields"


class CustomFieldPages:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return list(admin_custom_fields.ROUTES)

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return list(admin_custom_fields.MENUS)


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"field_pages": CustomFieldPages()})
    with kernel.session() as session:
        boss = identity.create_user(session, "boss", "Boss", password=PASSWORD)
        identity.create_user(session, "nobody", "Nobody", password=PASSWORD)
        role = service.create_role(
            session,
            action_registry(kernel),
            code="field_admin",
            labels={"en": "Field admin"},
            actions=["fields.manage"],
        )
        service.grant_role(session, boss.id, role.id)
        sync_declared(
            session, [DictionarySpec("asset_class", {"zh-CN": "资产类别", "en": "Asset class"})]
        )
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


csrf_of = web_testing.csrf_of


def define(kernel: Kernel, name: str, **settings: Any) -> int:
    settings.setdefault("labels", {"zh-CN": name, "en": name.title()})
    settings.setdefault("type", "text")
    with kernel.unit_of_work() as session:
        row = customfields.define(
            session,
            kernel.record_kinds,
            resource=settings.pop("resource", "user"),
            name=name,
            **settings,
        )
        return row.id


def stored(kernel: Kernel, field_id: int) -> CustomField:
    with kernel.session() as session:
        row = session.get(CustomField, field_id)
        assert row is not None
        session.expunge(row)
        return row


def by_name(kernel: Kernel, name: str) -> CustomField | None:
    with kernel.session() as session:
        row = session.scalar(select(CustomField).where(CustomField.name == name))
        if row is not None:
            session.expunge(row)
        return row


def form(client: TestClient, **values: str) -> dict[str, str]:
    base = {"csrf": csrf_of(client), "resource": "user", "label_zh": "座位", "label_en": "Seat"}
    return {**base, "type": "text", "name": "seat", **values}


def error_of(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="error-{field}" role="alert">([^<]*)</p>', html)
    assert found is not None, f"no error shown next to {field}"
    return found.group(1)


# --- the list -------------------------------------------------------------------------


def test_list_has_a_tab_per_resource_and_the_fields_in_order(kernel: Kernel) -> None:
    define(kernel, "seat", labels={"zh-CN": "座位", "en": "Seat"}, listed=True)
    define(kernel, "badge", type="number", required=True)
    define(kernel, "floor", resource="department")
    client = signed_in(kernel, "boss")

    page = client.get(BASE + "?resource=user")

    assert page.status_code == 200
    tabs = re.findall(r'href="/admin/custom-fields\?resource=(\w+)"', page.text)
    assert tabs == customfields.resources(kernel.record_kinds)
    assert {"user", "department", "service_unit"} <= set(tabs)
    assert re.search(r'resource=user" aria-current="page"', page.text)
    rows = re.findall(r"<code>(cf_\w+)</code>", page.text)
    assert rows == ["cf_seat", "cf_badge"]  # the department's field is on its own tab
    assert "Seat" in page.text and "Number" in page.text


def test_list_in_chinese_translates_labels(kernel: Kernel) -> None:
    define(kernel, "seat", labels={"zh-CN": "座位", "en": "Seat"})
    client = web_testing.signed_in(kernel, "boss", PASSWORD, {"accept-language": "zh-CN"})
    page = client.get(BASE + "?resource=user")
    assert page.status_code == 200
    assert "座位" in page.text
    assert ">Seat<" not in page.text


# --- adding ---------------------------------------------------------------------------

EXTRAS: dict[str, dict[str, str]] = {
    "text": {"max_length": "40"},
    "textarea": {"max_length": "2000"},
    "choice": {"choices": "high = 高 / High\nlow = 低 / Low\nplain"},
    "dictionary": {"dictionary": "asset_class"},
}


@pytest.mark.parametrize("type_", customfields.CUSTOM_TYPES)
def test_add_each_type(kernel: Kernel, type_: str) -> None:
    client = signed_in(kernel, "boss")
    assert client.get(BASE + "/new?resource=user").status_code == 200

    answer = client.post(
        BASE + "/new",
        data=form(
            client,
            name=f"f_{type_}",
            type=type_,
            required="on",
            help_en="Ask IT",
            **EXTRAS.get(type_, {}),
        ),
        follow_redirects=False,
    )

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == BASE + "?resource=user&done=added"
    row = by_name(kernel, f"cf_f_{type_}")
    assert row is not None
    assert (row.resource, row.type, row.required, row.listed) == ("user", type_, True, False)
    assert row.labels == {"zh-CN": "座位", "en": "Seat"}
    assert row.help == {"en": "Ask IT"}
    if type_ == "choice":
        assert row.choices == [
            {"value": "high", "labels": {"zh-CN": "高", "en": "High"}},
            {"value": "low", "labels": {"zh-CN": "低", "en": "Low"}},
            {"value": "plain", "labels": {"en": "plain"}},
        ]
    else:
        assert row.choices == []
    assert row.dictionary == ("asset_class" if type_ == "dictionary" else None)
    assert row.max_length == {"text": 40, "textarea": 2000}.get(type_)


def test_settings_of_other_types_are_ignored(kernel: Kernel) -> None:
    """A type switched after typing choices does not send them."""
    client = signed_in(kernel, "boss")
    answer = client.post(
        BASE + "/new",
        data=form(
            client,
            type="number",
            choices="a = b / c",
            dictionary="asset_class",
            max_length="5",
            listed="on",
        ),
        follow_redirects=False,
    )
    assert answer.status_code == 303
    row = by_name(kernel, "cf_seat")
    assert row is not None
    assert (row.choices, row.dictionary, row.max_length, row.listed) == ([], None, None, True)


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"name": "9 bad name"}, "name", "cf_"),
        ({"label_zh": "", "label_en": " "}, "labels", "label"),
        ({"type": "choice", "choices": ""}, "choices", "choices"),
        ({"type": "dictionary", "dictionary": "no_such"}, "dictionary", "no_such"),
        ({"type": "text", "max_length": "many"}, "max_length", "whole number"),
        ({"type": "text", "max_length": "0"}, "max_length", "1 to 10000"),
    ],
)
def test_errors_are_shown_next_to_the_field_with_the_typing_kept(
    kernel: Kernel, values: dict[str, str], field: str, text: str
) -> None:
    client = signed_in(kernel, "boss")
    data = form(client, help_en="Kept help", **values)

    answer = client.post(BASE + "/new", data=data)

    assert answer.status_code == 400
    assert text in error_of(answer.text, field)
    assert 'value="Kept help"' in answer.text
    assert f'value="{data["label_en"]}"' in answer.text
    assert by_name(kernel, "cf_seat") is None
    with kernel.session() as session:
        assert session.scalar(select(CustomField.id)) is None


def test_duplicate_name_is_shown_next_to_the_name(kernel: Kernel) -> None:
    define(kernel, "seat")
    client = signed_in(kernel, "boss")
    answer = client.post(BASE + "/new", data=form(client, name="cf_seat"))
    assert answer.status_code == 400
    assert "cf_seat" in error_of(answer.text, "name")


# --- editing --------------------------------------------------------------------------


def test_edit_shows_name_type_and_resource_read_only_and_saves(kernel: Kernel) -> None:
    field_id = define(kernel, "level", type="choice", choices=[{"value": "a"}])
    client = signed_in(kernel, "boss")
    page = client.get(f"{BASE}/{field_id}")
    assert page.status_code == 200
    assert 'name="name"' not in page.text and 'name="type"' not in page.text
    assert "<code>cf_level</code>" in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None

    answer = client.post(
        f"{BASE}/{field_id}",
        data={
            "csrf": csrf_of(client),
            "version": version.group(1),
            "label_zh": "级别",
            "label_en": "Level",
            "listed": "on",
            "choices": "a = 甲 / A\nb = 乙 / B",
        },
        follow_redirects=False,
    )

    assert answer.status_code == 303
    row = stored(kernel, field_id)
    assert row.labels == {"zh-CN": "级别", "en": "Level"}
    assert row.listed is True and row.type == "choice" and row.name == "cf_level"
    assert [c["value"] for c in row.choices] == ["a", "b"]
    assert "Saved." in client.get(answer.headers["location"]).text


def test_edit_errors_are_shown_next_to_the_field(kernel: Kernel) -> None:
    field_id = define(kernel, "level", type="choice", choices=[{"value": "a"}])
    client = signed_in(kernel, "boss")
    answer = client.post(
        f"{BASE}/{field_id}",
        data={"csrf": csrf_of(client), "version": "1", "label_en": "Level", "choices": ""},
    )
    assert answer.status_code == 400
    assert "choices" in error_of(answer.text, "choices")
    assert stored(kernel, field_id).labels == {"zh-CN": "level", "en": "Level"}


def test_stale_version_is_a_conflict_that_says_what_changed(kernel: Kernel) -> None:
    field_id = define(kernel, "seat", labels={"en": "Seat"})
    client = signed_in(kernel, "boss")
    page = client.get(f"{BASE}/{field_id}")
    opened_at = re.search(r'name="opened_at" value="([^"]+)"', page.text)
    assert opened_at is not None
    with kernel.unit_of_work() as session:
        customfields.change(session, field_id, 1, labels={"en": "Desk number"})

    answer = client.post(
        f"{BASE}/{field_id}",
        data={
            "csrf": csrf_of(client),
            "version": "1",
            "opened_at": opened_at.group(1),
            "label_en": "My typing",
        },
    )

    assert answer.status_code == 409
    assert "Someone else changed this field" in answer.text
    assert "Desk number" in answer.text
    assert 'value="My typing"' in answer.text
    assert 'name="version" value="2"' in answer.text
    assert stored(kernel, field_id).labels == {"en": "Desk number"}


# --- order ----------------------------------------------------------------------------


def order_of(kernel: Kernel) -> list[str]:
    with kernel.session() as session:
        return [spec.name for spec in customfields.definitions(session, "user", retired=True)]


def shown_order(client: TestClient) -> str:
    page = client.get(BASE + "?resource=user")
    found = re.search(r'name="order" value="([^"]*)"', page.text)
    assert found is not None
    return found.group(1)


def test_up_and_down_buttons_reorder(kernel: Kernel) -> None:
    first, _, third = (define(kernel, name) for name in ("one", "two", "three"))
    client = signed_in(kernel, "boss")
    data = {"csrf": csrf_of(client), "resource": "user", "order": shown_order(client)}

    answer = client.post(BASE + "/order", data={**data, "up": str(third)}, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == BASE + "?resource=user&done=order"
    assert order_of(kernel) == ["cf_one", "cf_three", "cf_two"]
    data["order"] = shown_order(client)
    client.post(BASE + "/order", data={**data, "down": str(first)})
    assert order_of(kernel) == ["cf_three", "cf_one", "cf_two"]


def test_drag_posts_the_whole_order_and_gets_the_list_back(kernel: Kernel) -> None:
    ids = [define(kernel, name) for name in ("one", "two", "three")]
    client = signed_in(kernel, "boss")
    order = [f"{i}:1" for i in (ids[2], ids[0], ids[1])]

    answer = client.post(
        BASE + "/order",
        data={"resource": "user", "order": ",".join(order)},
        headers={"hx-request": "true", "x-csrf-token": csrf_of(client)},
    )

    assert answer.status_code == 200
    assert 'id="custom-field-list"' in answer.text and "<html" not in answer.text
    assert order_of(kernel) == ["cf_three", "cf_one", "cf_two"]
    assert re.findall(r"<code>(cf_\w+)</code>", answer.text) == ["cf_three", "cf_one", "cf_two"]


def test_reorder_from_a_stale_list_is_refused(kernel: Kernel) -> None:
    ids = [define(kernel, name) for name in ("one", "two")]
    client = signed_in(kernel, "boss")
    order = shown_order(client)
    with kernel.unit_of_work() as session:
        customfields.change(session, ids[0], 1, labels={"en": "Changed"})

    answer = client.post(
        BASE + "/order",
        data={"resource": "user", "order": order, "down": str(ids[0])},
        headers={"hx-request": "true", "x-csrf-token": csrf_of(client)},
    )

    assert answer.status_code == 409
    assert "Someone else changed these fields" in answer.text
    assert 'id="custom-field-list"' in answer.text
    assert order_of(kernel) == ["cf_one", "cf_two"]


# --- retire and restore ---------------------------------------------------------------


def test_retire_and_restore(kernel: Kernel) -> None:
    field_id = define(kernel, "seat")
    client = signed_in(kernel, "boss")

    answer = client.post(
        f"{BASE}/{field_id}/retire",
        data={"csrf": csrf_of(client), "version": "1"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert stored(kernel, field_id).active is False
    listed = client.get(answer.headers["location"])
    assert "Its values are kept." in listed.text
    assert re.search(f'<tr class="custom-field retired" data-id="{field_id}"', listed.text)
    assert "values kept" in listed.text
    detail = client.get(f"{BASE}/{field_id}")
    assert "Restore field" in detail.text and "values records hold are kept" in detail.text

    stale = client.post(
        f"{BASE}/{field_id}/restore", data={"csrf": csrf_of(client), "version": "1"}
    )
    assert stale.status_code == 409
    assert stored(kernel, field_id).active is False

    client.post(f"{BASE}/{field_id}/restore", data={"csrf": csrf_of(client), "version": "2"})
    assert stored(kernel, field_id).active is True


# --- refusals -------------------------------------------------------------------------


def test_without_fields_manage_every_page_and_post_is_refused(kernel: Kernel) -> None:
    field_id = define(kernel, "seat")
    client = signed_in(kernel, "nobody")
    token = csrf_of(client)
    for url in (BASE, BASE + "/new", f"{BASE}/{field_id}"):
        assert client.get(url).status_code == 403, url
    posts = {
        BASE + "/new": form(client, name="other"),
        f"{BASE}/{field_id}": {"csrf": token, "version": "1", "label_en": "Taken over"},
        f"{BASE}/{field_id}/retire": {"csrf": token, "version": "1"},
        BASE + "/order": {"csrf": token, "resource": "user", "order": f"{field_id}:1"},
    }
    for url, data in posts.items():
        assert client.post(url, data=data).status_code == 403, url
    row = stored(kernel, field_id)
    assert (row.version, row.active, row.labels["en"]) == (1, True, "Seat")
    assert by_name(kernel, "cf_other") is None
    assert BASE not in client.get("/").text


def test_the_menu_shows_the_page_to_managers(kernel: Kernel) -> None:
    assert f'href="{BASE}"' in signed_in(kernel, "boss").get("/").text


def test_posts_without_csrf_are_refused(kernel: Kernel) -> None:
    field_id = define(kernel, "seat")
    client = signed_in(kernel, "boss")
    no_token = {k: v for k, v in form(client, name="other").items() if k != "csrf"}
    assert client.post(BASE + "/new", data=no_token).status_code == 400
    assert by_name(kernel, "cf_other") is None
    assert client.post(f"{BASE}/{field_id}/retire", data={"version": "1"}).status_code == 400
    edit = {"csrf": "forged", "version": "1", "label_en": "Forged"}
    assert client.post(f"{BASE}/{field_id}", data=edit).status_code == 400
    assert (
        client.post(
            BASE + "/order", data={"resource": "user", "order": f"{field_id}:1"}
        ).status_code
        == 400
    )
    row = stored(kernel, field_id)
    assert (row.version, row.active, row.labels["en"]) == (1, True, "Seat")
