"""Sign-in with directory credentials against a real slapd (see conftest.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from openitsm.adapters.ad import plugin as ad_plugin
from openitsm.adapters.ad.models import DirectoryAccount
from openitsm.kernel import Kernel
from openitsm.kernel.hookspecs import CredentialsCheck
from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Role, UserRole
from openitsm.kernel.testing import build_kernel

ROLES = {
    "cn=helpdesk,ou=groups,dc=example,dc=test": "service_desk_agent",
    "Change-Board": "change_manager",
}
MakeKernel = Callable[..., Kernel]


def ad_settings(slapd: Any, **overrides: Any) -> dict[str, Any]:
    values = {
        "server": slapd.url,
        "bind_dn": slapd.admin,
        "base_dn": slapd.base,
        "realm": "example.test",
        "netbios_domain": "EXAMPLE",
        "disabled_dn": f"ou=disabled,ou=people,{slapd.base}",
        "group_roles": ROLES,
        "timeout": 2,
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_kernel(tmp_path: Path, database_url: str, slapd: Any) -> Iterator[MakeKernel]:
    built: list[Kernel] = []

    def make(**overrides: Any) -> Kernel:
        table = ad_settings(slapd, **overrides)
        kernel = build_kernel(
            tmp_path,
            database_url,
            plugins={"ad": ad_plugin},
            plugin_settings={"ad": table, "__env__": {"AD_BIND_PASSWORD": slapd.admin_password}},
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


def user_count(kernel: Kernel) -> int:
    with kernel.session() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def test_all_three_login_forms_sign_in_the_same_mirrored_user(make_kernel: MakeKernel) -> None:
    kernel = make_kernel()
    results = [
        sign_in(kernel, login, "alice-pw")
        for login in ("alice", "alice@EXAMPLE.test", "example\\alice")
    ]
    assert all(result is not None and result.user_id for result in results), results
    assert len({result.user_id for result in results if result}) == 1
    with kernel.session() as session:
        user = session.scalars(select(User)).one()
        assert (user.login, user.name, user.email, user.active) == (
            "alice",
            "Alice Liddell",
            "alice@example.test",
            True,
        )
        assert user.password_hash is None
        account = session.scalars(select(DirectoryAccount)).one()
        assert (account.phone, account.employee_id) == ("+86 10 1234", "E1001")
        assert account.dn == "uid=alice,ou=people,dc=example,dc=test"
        roles = set(session.scalars(select(Role.code).join(UserRole, UserRole.role_id == Role.id)))
    assert roles == {"service_desk_agent", "change_manager"}
    # A directory user has no local password, so the local check never lets them in.
    with kernel.session() as session:
        assert service.authenticate(session, "alice", "alice-pw") is None
        assert service.open_session(session, session.get(User, user.id))


def test_wrong_password_unknown_login_and_other_domain_are_not_ours(
    make_kernel: MakeKernel,
) -> None:
    kernel = make_kernel()
    assert sign_in(kernel, "alice", "wrong") is None
    assert sign_in(kernel, "alice", "") is None
    assert sign_in(kernel, "nobody", "alice-pw") is None
    assert sign_in(kernel, "OTHER\\alice", "alice-pw") is None
    assert user_count(kernel) == 0


@pytest.mark.parametrize("login", ["*)(uid=*", "*", "alice)(|(uid=*", "al*", "alice\\00"])
def test_filter_injection_in_the_login_is_refused(make_kernel: MakeKernel, login: str) -> None:
    kernel = make_kernel()
    assert sign_in(kernel, login, "alice-pw") is None
    assert sign_in(kernel, login, "bob-pw") is None
    assert user_count(kernel) == 0


def test_disabled_account_cannot_sign_in(make_kernel: MakeKernel) -> None:
    kernel = make_kernel()
    assert sign_in(kernel, "carol", "carol-pw") is None
    assert user_count(kernel) == 0


def test_a_local_account_with_a_password_is_never_taken_over(make_kernel: MakeKernel) -> None:
    kernel = make_kernel()
    with kernel.session() as session:
        service.create_user(session, "bob", "Local Bob", password="local-pw")
    assert sign_in(kernel, "bob", "bob-pw") is None
    with kernel.session() as session:
        bob = session.scalars(select(User)).one()
        assert bob.name == "Local Bob"
        assert service.authenticate(session, "bob", "local-pw") is not None


def test_without_a_server_the_plugin_answers_nothing(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"ad": ad_plugin})
    try:
        assert sign_in(kernel, "alice", "alice-pw") is None
        assert kernel.tasks["ad.sync_directory"].run() is None
    finally:
        kernel.close()


def test_starttls_with_the_right_ca_signs_in(make_kernel: MakeKernel, slapd: Any) -> None:
    kernel = make_kernel(start_tls=True, ca_file=str(slapd.ca_file))
    result = sign_in(kernel, "bob", "bob-pw")
    assert result is not None and result.user_id


def test_ldaps_with_the_right_ca_signs_in(make_kernel: MakeKernel, slapd: Any) -> None:
    kernel = make_kernel(server=slapd.ldaps_url, ca_file=str(slapd.ca_file))
    result = sign_in(kernel, "bob", "bob-pw")
    assert result is not None and result.user_id


def test_certificate_checks_can_be_turned_off(make_kernel: MakeKernel, slapd: Any) -> None:
    kernel = make_kernel(
        start_tls=True, verify_certificates=False, ca_file=str(slapd.wrong_ca_file)
    )
    result = sign_in(kernel, "bob", "bob-pw")
    assert result is not None and result.user_id


@pytest.mark.parametrize("ldaps", [False, True])
def test_a_certificate_from_another_ca_is_refused(
    make_kernel: MakeKernel, slapd: Any, ldaps: bool
) -> None:
    options = {"server": slapd.ldaps_url} if ldaps else {"start_tls": True}
    kernel = make_kernel(ca_file=str(slapd.wrong_ca_file), **options)
    result = sign_in(kernel, "bob", "bob-pw")
    assert result is not None and result.unavailable and result.user_id is None
    assert user_count(kernel) == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: a hung directory."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.mark.parametrize("down", ["refused", "silent"])
def test_directory_down_is_reported_quickly_as_unavailable(
    make_kernel: MakeKernel, silent_server: str, down: str
) -> None:
    server = f"ldap://127.0.0.1:{_closed_port()}" if down == "refused" else silent_server
    kernel = make_kernel(server=server, timeout=1)
    with kernel.session() as session:
        service.create_user(session, "admin", "Admin", password="admin-pw", superuser=True)
    started = time.perf_counter()
    result = sign_in(kernel, "admin", "admin-pw")
    elapsed = time.perf_counter() - started
    assert result is not None and result.unavailable and result.user_id is None
    assert result.detail
    assert elapsed < 3, elapsed
    # The local administrator still gets in with the local password check.
    with kernel.session() as session:
        assert service.authenticate(session, "admin", "admin-pw") is not None


def _page_sign_in(client: Any, login: str, password: str) -> Any:
    from openitsm.kernel.identity.routes import CSRF_COOKIE

    client.get("/login")
    form = {"login": login, "password": password, "csrf": client.cookies.get(CSRF_COOKIE)}
    return client.post("/login", data=form, follow_redirects=False)


def test_the_sign_in_page_uses_the_directory(make_kernel: MakeKernel) -> None:
    from starlette.testclient import TestClient

    kernel = make_kernel()
    with TestClient(kernel.asgi()) as client:
        assert _page_sign_in(client, "EXAMPLE\\alice", "alice-pw").status_code == 303
        viewer = client.post("/graphql", json={"query": "{ viewer { login } }"}).json()
        assert viewer == {"data": {"viewer": {"login": "alice"}}}
    with TestClient(kernel.asgi()) as client:
        wrong = _page_sign_in(client, "alice", "not-her-password")
        assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text


def test_the_sign_in_page_says_when_the_directory_is_down(make_kernel: MakeKernel) -> None:
    from starlette.testclient import TestClient

    kernel = make_kernel(server=f"ldap://127.0.0.1:{_closed_port()}", timeout=1)
    with kernel.session() as session:
        service.create_user(session, "admin", "Admin", password="admin-pw", superuser=True)
    with TestClient(kernel.asgi()) as client:
        down = _page_sign_in(client, "alice", "alice-pw")
        assert down.status_code == 503 and "无法连接域目录服务" in down.text
        assert _page_sign_in(client, "admin", "admin-pw").status_code == 303
