"""Lockout with back-off after failed sign-ins, the same for unknown logins, and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.identity import lockout, service
from openitsm.kernel.identity.models import User
from openitsm.kernel.identity.routes import CSRF_COOKIE, SESSION_COOKIE
from openitsm.kernel.identity.token_models import SignInThrottle

VIEWER = {"query": "{ viewer { login } }"}


@pytest.fixture
def client(kernel):
    with kernel.session() as session:
        service.create_user(session, "agent", "Agent", password="right-pw")
    with TestClient(kernel.asgi(), base_url="http://testserver") as client:
        yield client


def sign_in(client, login="agent", password="wrong-pw", language="en"):
    if CSRF_COOKIE not in client.cookies:
        client.get("/login")
    return client.post(
        "/login",
        data={"login": login, "password": password, "csrf": client.cookies.get(CSRF_COOKIE)},
        headers={"accept-language": language},
        follow_redirects=False,
    )


def expire_lock(kernel, login):
    """Let the current lock run out, as if its time had passed."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with kernel.session() as session:
        session.execute(
            update(SignInThrottle).where(SignInThrottle.login == login).values(locked_until=past)
        )


def lock_length(kernel, login):
    with kernel.session() as session:
        row = session.get(SignInThrottle, login)
        return row.locked_until - row.last_failure_at


def test_back_off_grows_from_one_minute_to_an_hour():
    durations = [lockout.lock_duration(n) for n in range(1, 14)]
    assert durations[:4] == [None] * 4
    assert [d.total_seconds() / 60 for d in durations[4:11]] == [1, 2, 4, 8, 16, 32, 60]
    assert lockout.lock_duration(10_000) == dt.timedelta(hours=1)


def test_five_failures_lock_the_login_even_against_the_right_password(client):
    for _ in range(4):
        assert sign_in(client).status_code == 401
    locked = sign_in(client)
    assert locked.status_code == 429 and "temporarily locked" in locked.text
    assert "1 minute" in locked.text and 0 < int(locked.headers["retry-after"]) <= 60
    refused = sign_in(client, password="right-pw")
    assert refused.status_code == 429 and SESSION_COOKIE not in client.cookies
    chinese = sign_in(client, password="right-pw", language="zh-CN")
    assert "临时锁定" in chinese.text and "1 分钟" in chinese.text


def test_each_failure_after_a_lock_doubles_it(kernel, client):
    for _ in range(5):
        sign_in(client)
    assert lock_length(kernel, "agent") == dt.timedelta(minutes=1)
    expire_lock(kernel, "agent")
    second = sign_in(client)
    assert second.status_code == 429 and "2 minute" in second.text
    assert lock_length(kernel, "agent") == dt.timedelta(minutes=2)
    expire_lock(kernel, "agent")
    sign_in(client)
    assert lock_length(kernel, "agent") == dt.timedelta(minutes=4)


def test_attempts_while_locked_do_not_extend_the_lock(kernel, client):
    for _ in range(5):
        sign_in(client)
    until = lock_length(kernel, "agent")
    sign_in(client)
    sign_in(client)
    assert lock_length(kernel, "agent") == until
    with kernel.session() as session:
        assert session.get(SignInThrottle, "agent").failures == 5


def test_a_success_resets_the_count(kernel, client):
    for _ in range(4):
        sign_in(client)
    assert sign_in(client, password="right-pw").status_code == 303
    with kernel.session() as session:
        assert session.get(SignInThrottle, "agent") is None
    for _ in range(4):
        assert sign_in(client).status_code == 401
    assert client.post("/graphql", json=VIEWER).json()["data"]["viewer"] == {"login": "agent"}


def test_a_lock_that_ran_out_lets_the_right_password_in(kernel, client):
    for _ in range(5):
        sign_in(client)
    expire_lock(kernel, "agent")
    assert sign_in(client, password="right-pw").status_code == 303


def test_unknown_logins_get_the_same_answers(client):
    def attempts(login):
        responses = [sign_in(client, login=login) for _ in range(6)]
        return [(r.status_code, r.text.replace(f'value="{login}"', "")) for r in responses]

    known, unknown = attempts("agent"), attempts("ghost")
    assert [status for status, _ in known] == [401, 401, 401, 401, 429, 429]
    assert known == unknown


def _events(kernel):
    with kernel.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        changes = session.scalars(select(AuditChange)).all()
        details = {}
        for change in changes:
            details.setdefault(change.event_id, {})[change.field] = change.new_value
        return [
            (e.record_kind, e.record_id, e.action, e.actor_id, details.get(e.id, {}))
            for e in events
            if e.action not in ("create", "update", "delete")
        ]


def test_sign_in_events_are_in_the_audit_history(kernel, client):
    with kernel.session() as session:
        agent_id = session.scalar(select(User.id).where(User.login == "agent"))
    sign_in(client, password="right-pw")
    client.post("/logout")
    sign_in(client)
    for _ in range(5):
        sign_in(client, login="ghost")
    sign_in(client, login="ghost")
    events = _events(kernel)
    address = "testclient"
    assert events[0] == ("user", agent_id, "sign_in", agent_id, {"address": address})
    assert events[1] == ("user", agent_id, "sign_out", agent_id, {"address": address})
    assert events[2] == (
        "user",
        agent_id,
        "sign_in_failed",
        None,
        {"login": "agent", "address": address, "reason": "password"},
    )
    ghost = [e for e in events[3:]]
    assert [e[:4] for e in ghost] == [("sign_in", 0, "sign_in_failed", None)] * 5 + [
        ("sign_in", 0, "locked", None),
        ("sign_in", 0, "sign_in_failed", None),
    ]
    assert all(e[4]["login"] == "ghost" for e in ghost)
    assert "locked_until" in ghost[5][4] and ghost[6][4]["reason"] == "locked"
