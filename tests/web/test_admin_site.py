"""Modules and settings: shown to those allowed, secrets never."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

import openitsm.adapters.ad.plugin as ad_plugin
from openitsm.kernel.access import action_registry
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel

PASSWORD = "site-pw-123"
BIND_SECRET = "directory-bind-secret-42"


def test_settings_are_shown_and_secrets_are_not(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"ad": ad_plugin},
        plugin_settings={
            "ad": {"server": "ldap://127.0.0.1:9", "bind_dn": "cn=svc"},
            "__env__": {"AD_BIND_PASSWORD": BIND_SECRET},
        },
    )
    try:
        with kernel.session() as session:
            role = service.create_role(
                session,
                action_registry(kernel),
                code="ops",
                labels={"en": "Ops"},
                actions=["site.read"],
            )
            for login in ("ops", "nobody"):
                user = identity.create_user(session, login, login, password=PASSWORD)
                if login == "ops":
                    service.grant_role(session, user.id, role.id)

        def client(login: str) -> TestClient:
            signed = TestClient(kernel.asgi(), headers={"accept-language": "en"})
            form = signed.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            signed.post("/login", data={"login": login, "password": PASSWORD, "csrf": csrf})
            return signed

        page = client("ops").get("/admin/site")
        assert page.status_code == 200
        assert "<code>graphql.max_depth</code>" in page.text and "ldap://127.0.0.1:9" in page.text
        assert "<code>bind_password</code></td>\n    <td>set (hidden)" in page.text
        assert BIND_SECRET not in page.text and kernel.settings.secret() not in page.text
        assert client("nobody").get("/admin/site").status_code == 403
    finally:
        kernel.close()
