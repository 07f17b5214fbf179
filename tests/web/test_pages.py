"""The page shell and the workbench over HTTP: sign-in, language, menus, the dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing
from openitsm.web.i18n import CATALOGUES, LOCALES, catalogue_path, extract_messages
from openitsm.web.menus import MenuItem
from openitsm.web.widgets import Dashboard, Widget

PASSWORD = "pages-pw-123"
ROOT = Path(__file__).resolve().parents[2]


def broken(page: Any) -> str:
    raise RuntimeError("this widget always fails")


class ExtrasPlugin:
    """A menu entry and a widget that need the action `extras.use`, and a broken widget."""

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return [
            MenuItem("extras", {"zh-CN": "扩展", "en": "Extras"}, "/extras", action="extras.use")
        ]

    @hookimpl
    def register_widgets(self) -> list[Widget]:
        return [
            Widget(
                "extras",
                {"en": "Extras"},
                lambda page: "extras widget body",
                action="extras.use",
                default=False,
            ),
            Widget("broken", {"en": "Broken"}, broken, default=False),
        ]

    @hookimpl
    def register_actions(self) -> list[Any]:
        from openitsm.kernel.access import ActionSpec

        return [ActionSpec("extras.use", {"en": "Use extras"})]


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"extras": ExtrasPlugin()})
    with kernel.session() as session:
        identity.create_user(session, "ann", "Ann", password=PASSWORD)
        bob = identity.create_user(session, "bob", "Bob", password=PASSWORD)
        role = service.create_role(
            session,
            action_registry(kernel),
            code="extras",
            labels={"en": "Extras"},
            actions=["extras.use"],
        )
        service.grant_role(session, bob.id, role.id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str, **headers: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD, headers)


csrf_of = web_testing.csrf_of


def dashboard_state(html: str) -> tuple[list[tuple[str, int]], int]:
    boxes = re.findall(r'data-widget="([a-z_]+)" data-width="(\d)"', html)
    version = re.search(r'name="version" value="(\d+)"', html)
    return [(key, int(width)) for key, width in boxes], int(version.group(1)) if version else -1


def test_pages_need_a_session_and_come_back_after_sign_in(kernel: Kernel) -> None:
    client = TestClient(kernel.asgi())
    answer = client.get("/?tab=mine", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/%3Ftab%3Dmine"
    fragment = client.post(
        "/workbench/layout",
        headers={"hx-request": "true", "hx-current-url": "http://testserver/?tab=mine"},
        follow_redirects=False,
    )
    assert fragment.headers["hx-redirect"] == "/login?next=/%3Ftab%3Dmine"
    page = signed_in(kernel, "ann").get("/")
    assert page.status_code == 200 and "<h1>工作台</h1>" in page.text


def test_every_page_forbids_inline_script_and_framing(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    for path in ("/", "/login"):
        answer = client.get(path)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in answer.headers
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:", answer.text), path
    https = TestClient(kernel.asgi(), base_url="https://testserver").get("/login")
    assert https.headers["strict-transport-security"].startswith("max-age=")


def test_the_language_follows_the_user_then_the_browser(kernel: Kernel) -> None:
    english_browser = signed_in(kernel, "ann", **{"accept-language": "en-US,en;q=0.9"})
    assert "<h1>Workbench</h1>" in english_browser.get("/").text
    saved = english_browser.post(
        "/preferences",
        data={"locale": "zh-CN", "time_zone": "Europe/Berlin", "csrf": csrf_of(english_browser)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = english_browser.get("/").text
    assert "<h1>工作台</h1>" in page
    assert '<option value="Europe/Berlin" selected>' in page
    with kernel.session() as session:
        ann = service.get_user(session, 1)
        assert (ann.locale, ann.time_zone) == ("zh-CN", "Europe/Berlin")


def test_a_form_without_this_browsers_token_is_refused_and_explained(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    refused = client.post("/preferences", data={"locale": "en", "csrf": "forged"})
    assert refused.status_code == 400
    # Explained in the viewer's language (the site's default, zh-CN, here).
    assert "请刷新页面后重试" in refused.text and "Traceback" not in refused.text
    with kernel.session() as session:
        assert service.get_user(session, 1).locale is None


def test_hook_register_menus(kernel: Kernel) -> None:
    """A declared entry shows to the users whose roles grant its action, and only to them."""
    ann, bob = signed_in(kernel, "ann"), signed_in(kernel, "bob")
    assert 'href="/extras"' not in ann.get("/").text
    assert '<a href="/extras" >扩展</a>' in bob.get("/").text


def test_hook_register_widgets(kernel: Kernel) -> None:
    """A declared widget can be added by users whose roles grant its action, and only them."""
    ann, bob = signed_in(kernel, "ann"), signed_in(kernel, "bob")
    assert 'option value="extras"' in bob.get("/").text
    assert 'option value="extras"' not in ann.get("/").text
    layout = json.dumps([{"widget": "extras", "width": 1}])
    refused = ann.post(
        "/workbench/layout",
        data={"widgets": layout, "version": "0"},
        headers={"x-csrf-token": csrf_of(ann)},
    )
    assert refused.status_code == 400 and "no widget" in refused.text
    with kernel.session() as session:
        assert session.get(Dashboard, 1) is None


DEFAULT_BOXES = (("my_items", 2), ("registered", 1), ("recent_activity", 2), ("delegations", 1))


def test_a_dashboard_is_rearranged_resized_and_kept_per_user(kernel: Kernel) -> None:
    client = signed_in(kernel, "bob")
    shown, version = dashboard_state(client.get("/").text)
    assert shown == [*DEFAULT_BOXES] and version == 0
    wanted = [
        {"widget": "delegations", "width": 3},
        {"widget": "extras", "width": 1},
        {"widget": "recent_activity", "width": 1},
    ]
    saved = client.post(
        "/workbench/layout",
        data={"widgets": json.dumps(wanted), "version": str(version)},
        headers={"x-csrf-token": csrf_of(client), "hx-request": "true"},
    )
    assert saved.status_code == 200
    assert "<html" not in saved.text and "extras widget body" in saved.text
    expected = [("delegations", 3), ("extras", 1), ("recent_activity", 1)]
    assert dashboard_state(saved.text) == (expected, 1)
    assert dashboard_state(client.get("/").text) == (expected, 1)
    # Another user's dashboard is their own.
    assert dashboard_state(signed_in(kernel, "ann").get("/").text)[0] == [*DEFAULT_BOXES]


def test_a_stale_dashboard_is_not_overwritten(kernel: Kernel) -> None:
    client = signed_in(kernel, "bob")
    token = {"x-csrf-token": csrf_of(client)}
    first = [{"widget": "delegations", "width": 1}]
    client.post(
        "/workbench/layout", data={"widgets": json.dumps(first), "version": "0"}, headers=token
    )
    stale = [{"widget": "recent_activity", "width": 3}]
    refused = client.post(
        "/workbench/layout", data={"widgets": json.dumps(stale), "version": "0"}, headers=token
    )
    assert refused.status_code == 409 and "另一个窗口" in refused.text
    assert dashboard_state(refused.text) == ([("delegations", 1)], 1)
    bad = client.post(
        "/workbench/layout",
        data={"widgets": json.dumps([{"widget": "delegations", "width": 7}]), "version": "1"},
        headers=token,
    )
    assert bad.status_code == 400 and dashboard_state(bad.text) == ([("delegations", 1)], 1)


def test_a_failing_widget_does_not_take_the_workbench_down(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    layout = json.dumps([{"widget": "broken", "width": 1}, {"widget": "delegations", "width": 1}])
    answer = client.post(
        "/workbench/layout",
        data={"widgets": layout, "version": "0"},
        headers={"x-csrf-token": csrf_of(client)},
    )
    assert answer.status_code == 200
    assert "此小部件暂时无法显示" in answer.text and "目前没有出差授权" in answer.text


def test_recent_activity_describes_records_as_the_viewer_may_see_them(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann", **{"accept-language": "en"})
    page = client.get("/").text
    assert "signed in" in page


def test_every_string_is_translated_in_both_catalogues() -> None:
    from babel.messages.pofile import read_po

    used = extract_messages(ROOT)
    assert "Workbench" in used
    for locale in LOCALES:
        with catalogue_path(locale, CATALOGUES).open("rb") as source:
            catalogue = read_po(source)
        missing = [m for m in used if not (catalogue.get(m) and catalogue.get(m).string)]
        assert not missing, f"{locale}: untranslated {missing} — run scripts/messages"
        fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
        assert not fuzzy, f"{locale}: fuzzy {fuzzy}"


def test_the_api_refuses_a_cookie_signed_form_post_from_another_site(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    body = '{"query": "mutation { __typename }"}'
    forged = client.post("/graphql", content=body, headers={"content-type": "text/plain"})
    assert forged.status_code == 415
    assert forged.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    sent = client.post("/graphql", json={"query": "{ viewer { login } }"})
    assert sent.json() == {"data": {"viewer": {"login": "ann"}}}
