"""My profile: a kernel form rendered with field rules, checked, saved, conflicts explained."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "profile-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        identity.create_user(session, "ann", "Ann", password=PASSWORD)
        cat = identity.create_user(session, "cat", "Cat", password=PASSWORD)
        role = service.create_role(
            session, action_registry(kernel), code="kiosk", labels={"en": "Kiosk"}
        )
        for field, access in (("phone", "hidden"), ("email", "read_only")):
            set_field_rule(session, kernel.record_kinds, role.id, "user", field, access)
        service.grant_role(session, cat.id, role.id)
        service.update_user(session, cat.id, cat.version, {"email": "cat@example.test"})
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def form_of(html: str) -> dict[str, str]:
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    return {key: hidden[key] for key in ("csrf", "version", "opened_at")}


def test_a_profile_is_edited_and_saved(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    page = client.get("/profile").text
    assert 'name="phone"' in page and 'name="email"' in page
    posted = {
        **form_of(page),
        "name": "Ann Lee",
        "email": "ann@example.test",
        "phone": "+86 1",
        "time_zone": "Asia/Tokyo",
        "locale": "en",
    }
    saved = client.post("/profile", data=posted, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/profile?saved=1"
    again = client.get("/profile?saved=1").text
    assert "Saved." in again and 'value="Ann Lee"' in again
    assert '<option value="Asia/Tokyo" selected>' in again


def test_errors_show_next_to_the_field_and_keep_the_typing(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    posted = {
        **form_of(client.get("/profile").text),
        "name": "",
        "email": "no at sign",
        "phone": "typed phone",
        "time_zone": "Asia/Shanghai",
    }
    answer = client.post("/profile", data=posted)
    assert answer.status_code == 400
    assert "Fill this in." in answer.text and "This is not an email address." in answer.text
    assert 'value="no at sign"' in answer.text and 'value="typed phone"' in answer.text
    with kernel.session() as session:
        assert service.get_user(session, 1).phone is None


def test_hidden_fields_are_not_in_the_page_and_read_only_ones_not_editable(kernel: Kernel) -> None:
    client = signed_in(kernel, "cat")
    page = client.get("/profile").text
    assert "phone" not in page.lower() and "电话" not in page
    assert 'name="email"' not in page and "cat@example.test" in page
    for forged in ({"email": "evil@example.test"}, {"phone": "123"}):
        posted = {**form_of(page), "name": "Cat", "time_zone": "Asia/Shanghai", **forged}
        refused = client.post("/profile", data=posted)
        assert refused.status_code == 403 and "Traceback" not in refused.text
    with kernel.session() as session:
        cat = service.get_user(session, 2)
        assert (cat.email, cat.phone, cat.version) == ("cat@example.test", None, 2)
    fine = {**form_of(page), "name": "Cat Two", "time_zone": "Asia/Shanghai"}
    assert client.post("/profile", data=fine, follow_redirects=False).status_code == 303


def test_a_lost_update_is_explained_with_the_other_change(kernel: Kernel) -> None:
    client = signed_in(kernel, "ann")
    opened = form_of(client.get("/profile").text)
    with kernel.session() as session:
        ann = service.get_user(session, 1)
        service.update_user(session, ann.id, ann.version, {"phone": "+86 10 9999"})
    posted = {**opened, "name": "Ann Mine", "email": "mine@example.test", "time_zone": "UTC"}
    answer = client.post("/profile", data=posted)
    assert answer.status_code == 409
    assert "Someone else changed your profile" in answer.text
    assert "Phone → +86 10 9999" in answer.text
    assert 'value="Ann Mine"' in answer.text and 'value="mine@example.test"' in answer.text
    with kernel.session() as session:
        assert service.get_user(session, 1).name == "Ann"
    resent = {**posted, **form_of(answer.text)}
    assert client.post("/profile", data=resent, follow_redirects=False).status_code == 303
