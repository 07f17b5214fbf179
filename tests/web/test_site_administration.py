"""/admin/site: settings and modules changed from the page, below openitsm.toml and the
environment; secrets never shown."""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

import openitsm.adapters.ad.plugin as ad_plugin
from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import actor_of, build_kernel, error_codes, gql
from openitsm.web.testing import csrf_of, signed_in

PASSWORD = "site-admin-pw-123"
SECRET = "bind-secret-never-shown-91"
TABLES = {"ad": {"base_dn": "dc=file,dc=example"}, "__env__": {"AD_TIMEOUT": "4"}}


def _ad_kernel(tmp_path: Path, database_url: str, **overrides: Any) -> Kernel:
    return build_kernel(
        tmp_path, database_url, plugins={"ad": ad_plugin}, plugin_settings=TABLES, **overrides
    )


def _users(kernel: Kernel) -> dict[str, int]:
    actions = action_registry(kernel)
    ids = {}
    with kernel.session() as session:
        manage = service.create_role(
            session,
            actions,
            code="site_admin",
            labels={"en": "Site"},
            actions=["site.read", "site.manage"],
        )
        read = service.create_role(
            session, actions, code="site_reader", labels={"en": "Read"}, actions=["site.read"]
        )
        for login, role in (("boss", manage), ("reader", read), ("nobody", None)):
            user = identity.create_user(session, login, login, password=PASSWORD)
            if role is not None:
                service.grant_role(session, user.id, role.id)
            ids[login] = user.id
    return ids


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = _ad_kernel(tmp_path, database_url)
    _users(kernel)
    try:
        yield kernel
    finally:
        kernel.close()


def _version(page: str, key: str) -> str:
    form = page.split(f'name="key" value="{key}"')[0].rsplit("<form", 1)[1]
    found = re.search(r'name="version" value="(\d+)"', form)
    assert found is not None
    return found.group(1)


def _post(client: TestClient, key: str, value: str, action: str = "save", **extra: Any) -> Any:
    page = client.get("/admin/site").text
    data = {
        "csrf": csrf_of(client),
        "plugin": "ad",
        "key": key,
        "value": value,
        "action": action,
        "version": _version(page, key),
        **extra,
    }
    return client.post("/admin/site/settings", data=data, follow_redirects=False)


def _row(page: str, key: str) -> str:
    return page.split(f"<td><code>{key}</code></td>")[-1].split("</tr>")[0]


def test_a_value_saved_on_the_page_is_used_by_the_next_kernel(
    tmp_path: Path, database_url: str
) -> None:
    kernel = _ad_kernel(tmp_path, database_url)
    try:
        _users(kernel)
        boss = signed_in(kernel, "boss", PASSWORD)
        answer = _post(boss, "server", "ldap://dc1.example:389")
        assert answer.status_code == 303
        page = boss.get(answer.headers["location"]).text
        assert "Saved. It takes effect when the processes are restarted." in page
        assert "restart needed" in _row(page, "server") and "<code>ad.server</code>" in page
        assert kernel.plugin_settings("ad").server is None
    finally:
        kernel.close()
    second = _ad_kernel(tmp_path, database_url)
    try:
        assert second.plugin_settings("ad").server == "ldap://dc1.example:389"
        page = signed_in(second, "boss", PASSWORD).get("/admin/site").text
        assert "restart needed" not in _row(page, "server") and "set on this page" in page
    finally:
        second.close()


def test_a_secret_is_never_shown_and_is_stored_encrypted(kernel: Kernel) -> None:
    boss = signed_in(kernel, "boss", PASSWORD)
    row = _row(boss.get("/admin/site").text, "bind_password")
    assert row.startswith("\n    <td>not set") and 'type="password"' in row
    assert _post(boss, "bind_password", SECRET).status_code == 303
    page = boss.get("/admin/site").text
    assert _row(page, "bind_password").startswith("\n    <td>set (hidden)")
    ids = {"boss": actor_of(kernel, _users_id(kernel, "boss"))}
    answer = gql(
        kernel,
        "{ siteSettings { plugins { plugin settings { key value secret isSet source } } } }",
        actor=ids["boss"],
    )
    setting = next(
        s
        for p in answer["data"]["siteSettings"]["plugins"]
        for s in p["settings"]
        if s["key"] == "bind_password"
    )
    assert setting == {
        "key": "bind_password",
        "value": None,
        "secret": True,
        "isSet": True,
        "source": "ui",
    }
    with kernel.session() as session:
        stored = session.execute(sa.text("SELECT * FROM site_setting")).mappings().all()
        changes = session.execute(sa.text("SELECT * FROM audit_change")).mappings().all()
    everything = json.dumps([dict(r) for r in [*stored, *changes]], default=str)
    assert SECRET not in everything and SECRET not in page and SECRET not in json.dumps(answer)
    assert any(r["encrypted"] for r in stored)
    # Clearing it leaves "not set" behind.
    assert _post(boss, "bind_password", "", action="clear").status_code == 303
    assert _row(boss.get("/admin/site").text, "bind_password").startswith("\n    <td>not set")


def _users_id(kernel: Kernel, login: str) -> int:
    from openitsm.kernel.identity.models import User

    with kernel.session() as session:
        return session.scalars(sa.select(User.id).where(User.login == login)).one()


def test_values_from_the_file_and_environment_win_and_are_not_editable(kernel: Kernel) -> None:
    boss = signed_in(kernel, "boss", PASSWORD)
    page = boss.get("/admin/site").text
    assert "set in openitsm.toml" in _row(page, "base_dn")
    assert "set by OPENITSM_PLUGINS_AD_TIMEOUT" in _row(page, "timeout")
    assert 'name="key" value="base_dn"' not in page and 'name="key" value="timeout"' not in page
    answer = boss.post(
        "/admin/site/settings",
        data={
            "csrf": csrf_of(boss),
            "plugin": "ad",
            "key": "timeout",
            "value": "9",
            "version": "0",
        },
    )
    assert answer.status_code == 400
    assert "ad.timeout is set by OPENITSM_PLUGINS_AD_TIMEOUT" in answer.text


def test_a_refused_value_is_explained_next_to_its_field_with_the_typing_kept(
    kernel: Kernel,
) -> None:
    boss = signed_in(kernel, "boss", PASSWORD)
    answer = _post(boss, "sync_interval_minutes", "often")
    assert answer.status_code == 400
    row = _row(answer.text, "sync_interval_minutes")
    assert 'value="often"' in row and 'aria-invalid="true"' in row
    assert 'id="setting-ad-sync_interval_minutes-error" role="alert">Enter a whole number.' in row
    answer = _post(boss, "server", "http://not-a-directory")
    assert "use an ldap:// or ldaps:// URL" in _row(answer.text, "server")
    assert 'value="http://not-a-directory"' in _row(answer.text, "server")


def test_a_stale_version_is_a_conflict(kernel: Kernel) -> None:
    boss = signed_in(kernel, "boss", PASSWORD)
    stale = _version(boss.get("/admin/site").text, "realm")
    assert _post(boss, "realm", "EXAMPLE.COM").status_code == 303
    answer = boss.post(
        "/admin/site/settings",
        data={
            "csrf": csrf_of(boss),
            "plugin": "ad",
            "key": "realm",
            "value": "OTHER.ORG",
            "version": stale,
            "action": "save",
        },
    )
    assert answer.status_code == 409
    row = _row(answer.text, "realm")
    assert "Someone else changed this setting" in row and 'value="OTHER.ORG"' in row


def test_those_without_site_manage_are_refused(kernel: Kernel) -> None:
    reader = signed_in(kernel, "reader", PASSWORD)
    page = reader.get("/admin/site")
    assert page.status_code == 200 and "/admin/site/settings" not in page.text
    answer = reader.post(
        "/admin/site/settings",
        data={
            "csrf": csrf_of(reader),
            "plugin": "ad",
            "key": "realm",
            "value": "X",
            "version": "0",
        },
    )
    assert answer.status_code == 403 and "site.manage" in answer.text
    answer = reader.post("/admin/site/modules", data={"csrf": csrf_of(reader), "module": "ad"})
    assert answer.status_code == 403
    assert signed_in(kernel, "nobody", PASSWORD).get("/admin/site").status_code == 403
    reader_actor = actor_of(kernel, _users_id(kernel, "reader"))
    mutation = (
        'mutation { setSiteSetting(plugin: "ad", key: "realm", value: "X", version: 0) { key } }'
    )
    assert error_codes(gql(kernel, mutation, actor=reader_actor)) == ["FORBIDDEN"]
    modules = 'mutation { setEnabledModules(names: ["ad"]) { modulesVersion } }'
    assert error_codes(gql(kernel, modules, actor=reader_actor)) == ["FORBIDDEN"]
    nobody = actor_of(kernel, _users_id(kernel, "nobody"))
    assert error_codes(gql(kernel, "{ siteSettings { modulesSource } }", actor=nobody)) == [
        "FORBIDDEN"
    ]
    # A form without this browser's CSRF token is refused too.
    boss = signed_in(kernel, "boss", PASSWORD)
    answer = boss.post(
        "/admin/site/settings",
        data={"plugin": "ad", "key": "realm", "value": "X", "version": "0"},
    )
    assert answer.status_code == 400 and "expired" in answer.text


def test_graphql_sets_a_setting_with_its_version(kernel: Kernel) -> None:
    boss = actor_of(kernel, _users_id(kernel, "boss"))
    mutation = (
        'mutation($v: JSON, $version: Int!) { setSiteSetting(plugin: "ad", '
        'key: "login_attributes", value: $v, version: $version) { value version source } }'
    )
    answer = gql(kernel, mutation, {"v": ["uid", "mail"], "version": 0}, actor=boss)
    assert answer["data"]["setSiteSetting"] == {
        "value": ["uid", "mail"],
        "version": 1,
        "source": "ui",
    }
    assert error_codes(gql(kernel, mutation, {"v": ["cn"], "version": 0}, actor=boss)) == [
        "CONFLICT"
    ]
    assert error_codes(gql(kernel, mutation, {"v": [], "version": 1}, actor=boss)) == [
        "BAD_USER_INPUT"
    ]


def _module(name: str, requires: tuple[str, ...] = ()) -> types.ModuleType:
    module = types.ModuleType(name)
    module.requires = list(requires)  # type: ignore[attr-defined]
    return module


def _modules_kernel(tmp_path: Path, database_url: str) -> Kernel:
    plugins = {
        "alpha": _module("alpha", ("beta",)),
        "beta": _module("beta"),
        "gamma": _module("gamma"),
    }
    return build_kernel(tmp_path, database_url, plugins=plugins, modules=None)


# Installed modules that have tables once migrated: they cannot be disabled here.
WITH_TABLES = ("ad", "complaint", "incident", "mail")


def _choose(client: TestClient, *names: str) -> Any:
    page = client.get("/admin/site").text
    version = re.search(r'action="/admin/site/modules".*?name="version" value="(\d+)"', page, re.S)
    assert version is not None
    data = {"csrf": csrf_of(client), "version": version.group(1), "module": list(names)}
    return client.post("/admin/site/modules", data=data, follow_redirects=False)


def test_modules_are_chosen_with_their_requirements(tmp_path: Path, database_url: str) -> None:
    kernel = _modules_kernel(tmp_path, database_url)
    try:
        _users(kernel)
        boss = signed_in(kernel, "boss", PASSWORD)
        page = boss.get("/admin/site").text
        assert 'value="alpha" data-requires="beta" checked' in page and "required by alpha" in page
        assert 'value="kernel.web"' not in page and "always on" in page
        refused = _choose(boss, *WITH_TABLES, "alpha", "gamma")
        assert refused.status_code == 400
        assert "beta cannot be disabled: alpha requires it" in refused.text
        refused = _choose(boss, *WITH_TABLES, "gamma", "kernel.web")
        assert "kernel plugins are always enabled" in refused.text
        answer = _choose(boss, *WITH_TABLES, "gamma")
        assert answer.status_code == 303
        page = boss.get(answer.headers["location"]).text
        assert "Run `openitsm migrate`, then restart the processes." in page
        assert "enabled modules (run `openitsm migrate` first)" in page
    finally:
        kernel.close()
    kernel = _modules_kernel(tmp_path, database_url)
    try:
        enabled = {info.name for info in kernel.plugins.enabled()}
        assert "gamma" in enabled and not {"alpha", "beta"} & enabled
        boss = signed_in(kernel, "boss", PASSWORD)
        answer = _choose(boss, *WITH_TABLES, "alpha", "gamma")
        page = boss.get(answer.headers["location"]).text
        assert "Also enabled because they are required: beta." in page
    finally:
        kernel.close()


def test_modules_fixed_by_the_file_are_not_offered(kernel: Kernel) -> None:
    page = signed_in(kernel, "boss", PASSWORD).get("/admin/site").text
    assert "The enabled modules are set by openitsm.toml" in page
    assert 'name="module"' not in page
