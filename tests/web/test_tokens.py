"""API tokens in the pages: created and shown once, usable, listed by prefix, revoked."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.identity import service as identity
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "tokens-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        identity.create_user(session, "ann", "Ann", password=PASSWORD)
        identity.create_user(session, "bob", "Bob", password=PASSWORD)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def test_a_token_is_shown_once_works_and_is_revoked(kernel: Kernel) -> None:
    ann = signed_in(kernel, "ann")
    csrf = str(ann.cookies.get("openitsm_csrf"))
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    created = ann.post("/tokens", data={"csrf": csrf, "name": "Monitoring", "expires_on": expires})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = re.search(r'value="(oit_[^"]+)"', created.text).group(1)  # type: ignore[union-attr]
    api = TestClient(kernel.asgi())
    viewer = {"query": "{ viewer { login } }"}
    bearer = {"authorization": f"Bearer {secret}"}
    assert api.post("/graphql", json=viewer, headers=bearer).json() == {
        "data": {"viewer": {"login": "ann"}}
    }
    listed = ann.get("/tokens").text
    assert "Monitoring" in listed and secret not in listed and secret[:12] in listed
    assert "Monitoring" not in signed_in(kernel, "bob").get("/tokens").text
    token_id = re.search(r"/tokens/(\d+)/revoke", listed).group(1)  # type: ignore[union-attr]
    bob = signed_in(kernel, "bob")
    stolen = bob.post(
        f"/tokens/{token_id}/revoke", data={"csrf": str(bob.cookies.get("openitsm_csrf"))}
    )
    assert stolen.status_code == 404
    revoked = ann.post(f"/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 200, revoked.text[:2000]
    assert api.post("/graphql", json=viewer, headers=bearer).json() == {"data": {"viewer": None}}
    assert ">revoked<" in ann.get("/tokens").text


def test_bad_token_requests_are_explained(kernel: Kernel) -> None:
    ann = signed_in(kernel, "ann")
    csrf = str(ann.cookies.get("openitsm_csrf"))
    past = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    refused = ann.post("/tokens", data={"csrf": csrf, "name": "Old", "expires_on": past})
    assert refused.status_code == 400 and "future" in refused.text
    no_day = ann.post("/tokens", data={"csrf": csrf, "name": "x", "expires_on": "soon"})
    assert no_day.status_code == 400
    forged = ann.post("/tokens", data={"csrf": "x", "name": "x", "expires_on": past})
    assert forged.status_code == 400 and "reload the page" in forged.text
    assert "Old" not in ann.get("/tokens").text
