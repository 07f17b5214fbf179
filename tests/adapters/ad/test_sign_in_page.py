"""The sign-in page offers Windows (Kerberos) sign-in exactly when it is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

import openitsm.adapters.ad.plugin as ad_plugin
from openitsm.kernel.testing import build_kernel


@pytest.mark.parametrize(
    ("settings", "offered"),
    [
        ({}, False),
        ({"server": "ldap://127.0.0.1:9", "realm": "EXAMPLE.TEST"}, False),
        ({"server": "ldap://127.0.0.1:9", "realm": "EXAMPLE.TEST", "kerberos": True}, True),
    ],
)
def test_windows_sign_in_is_offered_when_kerberos_is_on(
    tmp_path: Path, settings: dict[str, object], offered: bool
) -> None:
    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'site.db'}",
        plugins={"ad": ad_plugin},
        plugin_settings={"ad": settings},
        migrate=False,
    )
    try:
        page = TestClient(kernel.asgi()).get("/login?next=/x", headers={"accept-language": "en"})
        link = (
            '<a class="sso" href="/sign-in/negotiate?next=/x">Sign in with your Windows account</a>'
        )
        assert (link in page.text) is offered
    finally:
        kernel.close()
