"""Sign-in, sync and Kerberos single sign-on against a real Samba AD DC (see conftest.py)."""

from __future__ import annotations

import base64
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openitsm.adapters.ad import plugin as ad_plugin
from openitsm.kernel import Kernel
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.hookspecs import CredentialsCheck
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, Role, UserRole
from openitsm.kernel.testing import build_kernel

MakeKernel = Callable[..., Kernel]
KERBEROS_MISSING = [
    name for name in ("spnego", "gssapi", "krb5") if importlib.util.find_spec(name) is None
]
REQUIRE_KERBEROS = os.environ.get("OPENITSM_REQUIRE_KERBEROS", "") not in ("", "0")


def ad_settings(samba: Any, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "active_directory",
        "server": samba.url,
        "bind_dn": samba.admin,
        "base_dn": samba.base,
        "realm": samba.realm.lower(),
        "netbios_domain": samba.netbios,
        "group_roles": {
            f"CN=Service Desk,CN=Users,{samba.base}": "service_desk_agent",
            "IT Staff": "third_line_expert",  # holds the Service Desk group: nested
        },
        "timeout": 5,
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_kernel(tmp_path: Path, database_url: str, samba: Any) -> Iterator[MakeKernel]:
    built: list[Kernel] = []

    def make(**overrides: Any) -> Kernel:
        kernel = build_kernel(
            tmp_path,
            database_url,
            plugins={"ad": ad_plugin},
            plugin_settings={
                "ad": ad_settings(samba, **overrides),
                "__env__": {"AD_BIND_PASSWORD": samba.admin_password},
            },
        )
        built.append(kernel)
        return kernel

    yield make
    for kernel in built:
        kernel.close()


def sign_in(kernel: Kernel, login: str, password: str) -> CredentialsCheck | None:
    with kernel.session() as session:
        return kernel.hook.authenticate_credentials(
            login=login, password=password, session=session, kernel=kernel
        )


def sync_now(kernel: Kernel) -> str:
    with kernel.session() as session:
        return ad_plugin.run_sync(session, ad_plugin.settings_of(kernel))


def snapshot(kernel: Kernel) -> dict[str, Any]:
    """Users (with department, roles and version) and departments, as the sync left them."""
    with kernel.session() as session:
        departments = {row.id: row for row in session.scalars(select(Department))}
        held: dict[int, set[str]] = {}
        for user_id, code in session.execute(
            select(UserRole.user_id, Role.code).join(Role, Role.id == UserRole.role_id)
        ):
            held.setdefault(user_id, set()).add(code)
        users = {
            user.login: (
                user.active,
                departments[user.department_id].name if user.department_id else None,
                held.get(user.id, set()),
                user.version,
            )
            for user in session.scalars(select(User))
        }
        tree = {
            row.name: (
                departments[row.parent_id].name if row.parent_id else None,
                row.active,
                row.version,
            )
            for row in departments.values()
        }
    return {"users": users, "departments": tree}


@pytest.mark.parametrize("nested_groups", ["in_chain", "expand"])
def test_upn_domain_and_plain_logins_sign_in_the_same_user(
    make_kernel: MakeKernel, samba: Any, nested_groups: str
) -> None:
    kernel = make_kernel(nested_groups=nested_groups)
    password = samba.password("jdoe")
    results = [
        sign_in(kernel, login, password)
        for login in (f"jdoe@{samba.realm.lower()}", f"{samba.netbios}\\jdoe", "jdoe")
    ]
    assert all(result is not None and result.user_id for result in results), results
    assert len({result.user_id for result in results if result}) == 1
    with kernel.session() as session:
        user = session.scalars(select(User)).one()
        assert (user.login, user.name, user.email) == (
            "jdoe",
            "John Doe",
            f"jdoe@{samba.realm.lower()}",
        )
        codes = set(
            session.scalars(
                select(Role.code)
                .join(UserRole, UserRole.role_id == Role.id)
                .where(UserRole.user_id == user.id)
            )
        )
    # Service Desk directly, IT Staff through Service Desk being one of its members.
    assert codes == {"service_desk_agent", "third_line_expert"}


def test_wrong_password_and_disabled_account_are_refused(
    make_kernel: MakeKernel, samba: Any
) -> None:
    kernel = make_kernel()
    assert sign_in(kernel, "jdoe", "Wr0ng!pass") is None
    assert sign_in(kernel, f"{samba.netbios}\\jdoe", "") is None
    assert sign_in(kernel, "dlocked", samba.password("dlocked")) is None
    with kernel.session() as session:
        assert session.scalars(select(User)).all() == []


def test_ldaps_checks_the_certificate_against_samba_s_ca(
    make_kernel: MakeKernel, samba: Any
) -> None:
    password = samba.password("asmith")
    trusted = make_kernel(
        server=samba.ldaps_url, ca_file=str(samba.ca_file), tls_server_name=samba.dc_name
    )
    result = sign_in(trusted, "asmith", password)
    assert result is not None and result.user_id
    refused = [
        # Samba's certificate names the DC, not the address we reach it by.
        {"ca_file": str(samba.ca_file)},
        {"ca_file": str(samba.wrong_ca_file), "tls_server_name": samba.dc_name},
        {"tls_server_name": samba.dc_name},  # the system's CAs never signed it
    ]
    for options in refused:
        result = sign_in(make_kernel(server=samba.ldaps_url, **options), "asmith", password)
        assert result is not None and result.unavailable and result.user_id is None, options
    unchecked = make_kernel(server=samba.ldaps_url, verify_certificates=False)
    result = sign_in(unchecked, "asmith", password)
    assert result is not None and result.user_id


def test_full_sync_builds_departments_and_roles_and_is_idempotent(
    make_kernel: MakeKernel, samba: Any
) -> None:
    kernel = make_kernel()
    report = sync_now(kernel)
    assert "error" not in report, report
    first = snapshot(kernel)
    users = first["users"]
    assert "dlocked" not in users  # disabled in the directory: never created
    assert {"krbtgt", "Guest"}.isdisjoint(users)
    assert {login: value[:3] for login, value in users.items() if login != "Administrator"} == {
        "jdoe": (True, "Helpdesk", {"service_desk_agent", "third_line_expert"}),
        "asmith": (True, "IT", {"third_line_expert"}),
        "bsales": (True, "Sales", set()),
        "svc-itsm": (True, None, set()),
    }
    tree = {name: value[:2] for name, value in first["departments"].items()}
    assert tree == {
        "IT": (None, True),
        "Helpdesk": ("IT", True),
        "Sales": (None, True),
        "Domain Controllers": (None, True),
    }
    second = sync_now(kernel)
    assert "0 departments changed" in second, second
    assert snapshot(kernel) == first  # same versions: nothing was rewritten

    samba.tool("user", "disable", "bsales")
    samba.tool("group", "removemembers", "Service Desk", "jdoe")
    try:
        sync_now(kernel)
        users = snapshot(kernel)["users"]
        assert users["bsales"][0] is False
        assert users["jdoe"][2] == set()  # out of Service Desk, so out of IT Staff too
    finally:
        samba.tool("user", "enable", "bsales")
        samba.tool("group", "addmembers", "Service Desk", "jdoe")
    sync_now(kernel)
    users = snapshot(kernel)["users"]
    assert users["bsales"][0] is True
    assert users["jdoe"][2] == {"service_desk_agent", "third_line_expert"}


# --- Kerberos single sign-on ------------------------------------------------------------


@pytest.fixture
def kerberos() -> None:
    if KERBEROS_MISSING:
        message = f"Kerberos tests need {', '.join(KERBEROS_MISSING)} (the kerberos extra)"
        if REQUIRE_KERBEROS:
            pytest.fail(message)
        pytest.skip(message)


def client_token(samba: Any, login: str) -> str:
    import spnego

    client = spnego.client(
        f"{login}@{samba.realm}",
        samba.password(login),
        hostname=samba.service_host,
        service="HTTP",
        protocol="negotiate",
    )
    return base64.b64encode(client.step() or b"").decode("ascii")


def sso_kernel(make_kernel: MakeKernel, samba: Any, **overrides: Any) -> Kernel:
    return make_kernel(
        kerberos=True,
        keytab=str(samba.keytab),
        service_principal=f"HTTP/{samba.service_host}",
        **overrides,
    )


def test_kerberos_ticket_opens_a_session(
    kerberos: None, make_kernel: MakeKernel, samba: Any
) -> None:
    from starlette.testclient import TestClient

    kernel = sso_kernel(make_kernel, samba)
    sync_now(kernel)
    with TestClient(kernel.asgi()) as client:
        challenge = client.get("/sign-in/negotiate?next=/tickets", follow_redirects=False)
        assert challenge.status_code == 401
        assert challenge.headers["www-authenticate"] == "Negotiate"
        assert client.post("/graphql", json={"query": "{ viewer { login } }"}).json() == {
            "data": {"viewer": None}
        }
        answer = client.get(
            "/sign-in/negotiate?next=/tickets",
            headers={"Authorization": f"Negotiate {client_token(samba, 'jdoe')}"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/tickets"
        assert answer.headers["www-authenticate"].startswith("Negotiate ")  # mutual auth
        viewer = client.post("/graphql", json={"query": "{ viewer { login } }"}).json()
        assert viewer == {"data": {"viewer": {"login": "jdoe"}}}
    with kernel.session() as session:
        user = session.scalars(select(User).where(User.login == "jdoe")).one()
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.record_kind == "user", AuditEvent.record_id == user.id
                )
            )
        )
    assert "sign_in" in actions


def test_kerberos_refuses_bad_tokens_unknown_and_inactive_users_alike(
    kerberos: None, make_kernel: MakeKernel, samba: Any
) -> None:
    from starlette.testclient import TestClient

    kernel = sso_kernel(make_kernel, samba)

    def attempt(token: str, target: str = "/") -> Any:
        with TestClient(kernel.asgi()) as client:
            answer = client.get(
                f"/sign-in/negotiate?next={target}",
                headers={"Authorization": f"Negotiate {token}"},
                follow_redirects=False,
            )
            assert ("openitsm_session" in answer.cookies) == (answer.status_code == 303)
            return answer

    assert attempt("bm90IGEgdGlja2V0").status_code == 401  # "not a ticket"
    assert attempt("%%%").status_code == 401
    unknown = attempt(client_token(samba, "asmith"))  # never synced: no local user
    assert unknown.status_code == 403
    sync_now(kernel)
    with kernel.session() as session:
        user = session.scalars(select(User).where(User.login == "asmith")).one()
        user.active = False
    inactive = attempt(client_token(samba, "asmith"))
    assert (inactive.status_code, inactive.text) == (unknown.status_code, unknown.text)
    # A good ticket never sends the browser to another site.
    offsite = attempt(client_token(samba, "jdoe"), "//evil.example/")
    assert offsite.status_code == 303 and offsite.headers["location"] == "/"


def test_kerberos_requires_the_configured_realm_and_the_setting(
    kerberos: None, make_kernel: MakeKernel, samba: Any
) -> None:
    from starlette.testclient import TestClient

    other_realm = sso_kernel(make_kernel, samba, realm="other.example.test")
    sync_now(other_realm)
    with TestClient(other_realm.asgi()) as client:
        answer = client.get(
            "/sign-in/negotiate",
            headers={"Authorization": f"Negotiate {client_token(samba, 'jdoe')}"},
            follow_redirects=False,
        )
        assert answer.status_code == 403
    with TestClient(make_kernel().asgi()) as client:
        assert client.get("/sign-in/negotiate").status_code == 404


def test_without_the_kerberos_libraries_single_sign_on_says_so(
    make_kernel: MakeKernel, samba: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from openitsm.adapters.ad import negotiate

    monkeypatch.setattr(negotiate, "kerberos_installed", lambda: False)
    with TestClient(sso_kernel(make_kernel, samba).asgi()) as client:
        answer = client.get(
            "/sign-in/negotiate?next=/x", headers={"Authorization": "Negotiate YQ=="}
        )
        assert answer.status_code == 503 and "/login?next=/x" in answer.text
