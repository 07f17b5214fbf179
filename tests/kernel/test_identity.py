"""Sign-in: argon2 passwords, database-backed sessions in a signed cookie, CSRF, sign-out."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import AuthSession, User
from openitsm.kernel.identity.routes import CSRF_COOKIE, SESSION_COOKIE

VIEWER = {"query": "{ viewer { login } }"}


@pytest.fixture
def client(kernel):
    with kernel.session() as session:
        service.create_user(session, "agent", "Agent", password="right-pw")
    with TestClient(kernel.asgi(), base_url="http://testserver") as client:
        yield client


def sign_in(client, login="agent", password="right-pw", next_url="/"):
    client.get("/login")
    return client.post(
        "/login",
        data={
            "login": login,
            "password": password,
            "csrf": client.cookies.get(CSRF_COOKIE),
            "next": next_url,
        },
        follow_redirects=False,
    )


def test_passwords_are_stored_as_argon2(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "hashme", "H", password="plain-pw")
        assert user.password_hash.startswith("$argon2id$")
        assert "plain-pw" not in user.password_hash
        assert service.authenticate(session, "hashme", "plain-pw").id == user.id
        assert service.authenticate(session, "hashme", "wrong") is None


def test_sign_in_sets_a_protected_cookie_and_identifies_the_user(client):
    response = sign_in(client, next_url="/graphql")
    assert response.status_code == 303 and response.headers["location"] == "/graphql"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert client.post("/graphql", json=VIEWER).json() == {"data": {"viewer": {"login": "agent"}}}


def test_wrong_password_and_unknown_user_look_the_same(client):
    wrong = sign_in(client, password="nope")
    unknown = sign_in(client, login="ghost", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.replace('value="agent"', "") == unknown.text.replace('value="ghost"', "")
    assert client.post("/graphql", json=VIEWER).json()["data"]["viewer"] is None


def test_sign_in_without_the_csrf_token_is_refused(client):
    client.get("/login")
    response = client.post(
        "/login", data={"login": "agent", "password": "right-pw", "csrf": "forged"}
    )
    assert response.status_code == 400
    assert SESSION_COOKIE not in client.cookies


def test_next_must_stay_on_this_site(client):
    assert sign_in(client, next_url="//evil.example/x").headers["location"] == "/"
    assert sign_in(client, next_url="https://evil.example/").headers["location"] == "/"


def test_sign_out_revokes_the_session_even_for_a_copied_cookie(client):
    sign_in(client)
    stolen = client.cookies.get(SESSION_COOKIE)
    assert client.post("/logout", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, stolen)
    assert client.post("/graphql", json=VIEWER).json()["data"]["viewer"] is None


def test_tampered_cookie_is_ignored(client):
    sign_in(client)
    tampered = client.cookies.get(SESSION_COOKIE)[:-2] + "xx"
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, tampered)
    assert client.post("/graphql", json=VIEWER).json()["data"]["viewer"] is None


def test_sessions_are_shared_through_the_database(kernel, client):
    """A session opened by one web process works in another (no per-process state)."""
    sign_in(client)
    cookie = client.cookies.get(SESSION_COOKIE)
    with TestClient(kernel.asgi()) as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        assert other.post("/graphql", json=VIEWER).json()["data"]["viewer"] == {"login": "agent"}


def test_expired_sessions_and_deactivated_users_are_anonymous(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "temp", "Temp", password="pw-pw")
        token = service.open_session(session, user)
        other = service.open_session(session, user)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(kernel.asgi()) as client:
        assert client.post("/graphql", json=VIEWER, headers=headers).json()["data"]["viewer"] == {
            "login": "temp"
        }
        with kernel.session() as session:
            session.execute(
                update(AuthSession)
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
                .where(
                    AuthSession.id
                    == session.scalars(select(AuthSession.id).order_by(AuthSession.id)).first()
                )
            )
        assert (
            client.post("/graphql", json=VIEWER, headers=headers).json()["data"]["viewer"] is None
        )
        with kernel.session() as session:
            session.get(User, user.id).active = False
        other_headers = {"Authorization": f"Bearer {other}"}
        assert (
            client.post("/graphql", json=VIEWER, headers=other_headers).json()["data"]["viewer"]
            is None
        )


def test_only_a_hash_of_the_token_is_stored(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "hash", "Hash", password="pw-pw")
        token = service.open_session(session, user)
        stored = session.scalar(select(AuthSession.token_hash))
        assert token not in stored and len(stored) == 64


def test_logins_are_unique(kernel):
    from openitsm.kernel.errors import BadUserInput

    with kernel.session() as session:
        service.create_user(session, "same", "One")
    with pytest.raises(BadUserInput), kernel.session() as session:
        service.create_user(session, "same", "Two")


def test_last_seen_is_refreshed_only_after_a_while(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "seen", "Seen", password="pw-pw")
        token = service.open_session(session, user)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with kernel.session() as session:
        session.execute(update(AuthSession).values(last_seen_at=long_ago))
    actor, signed_in = service.actor_for_token(kernel.engine, token)
    assert (actor.user_id, signed_in.login) == (user.id, "seen")
    with kernel.session() as session:
        first_touch = session.scalar(select(AuthSession.last_seen_at))
    assert first_touch > long_ago + dt.timedelta(minutes=59)
    service.actor_for_token(kernel.engine, token)
    with kernel.session() as session:
        assert session.scalar(select(AuthSession.last_seen_at)) == first_touch


def test_home_page_sends_strangers_to_sign_in(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/"
    sign_in(client)
    page = client.get("/")
    assert page.status_code == 200 and "Agent" in page.text and 'action="/logout"' in page.text
