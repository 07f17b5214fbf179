"""Helpers for testing pages: a client signed in through the real sign-in form.

from openitsm.web.testing import csrf_of, signed_in
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.testclient import TestClient

from openitsm.kernel.app import Kernel
from openitsm.kernel.identity.routes import CSRF_COOKIE

ENGLISH = {"accept-language": "en"}


def signed_in(
    kernel: Kernel, login: str, password: str, headers: Mapping[str, str] | None = None
) -> TestClient:
    """A test client with a session, signed in as a browser would; in English unless
    `headers` say otherwise (empty headers: the site's default language)."""
    client = TestClient(kernel.asgi(), headers=dict(ENGLISH if headers is None else headers))
    form = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found is not None, "the sign-in page has no CSRF field"
    answer = client.post(
        "/login",
        data={"login": login, "password": password, "csrf": found.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, f"signing in as {login} failed: {answer.status_code}"
    return client


def csrf_of(client: TestClient) -> str:
    """The CSRF token a page gave this client, to send with a form."""
    return str(client.cookies.get(CSRF_COOKIE))
