"""API tokens: shown once, stored hashed, scoped, expiring, revocable, use recorded cheaply."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditEvent
from openitsm.kernel.identity import service, tokens
from openitsm.kernel.identity.token_models import ApiToken
from openitsm.kernel.testing import count_statements, error_codes, gql

VIEWER = {"query": "{ viewer { login } }"}
CREATE = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token apiToken { id name prefix roles expiresAt lastUsedAt } }
}
"""
LIST = "{ apiTokens(first: 10) { edges { node { id name userId } } } }"
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { apiToken { id revokedAt } } }"


def in_days(days):
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def create(kernel, actor, name="monitoring", days=30, roles=()):
    result = gql(
        kernel,
        CREATE,
        {"input": {"name": name, "expiresAt": in_days(days), "roles": list(roles)}},
        actor,
    )
    assert "errors" not in result, result
    return result["data"]["createApiToken"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "other", "Other Member", password="secret-pw")
    return Actor(user_id=user.id, label=user.name)


@pytest.fixture
def client(kernel):
    with TestClient(kernel.asgi()) as client:
        yield client


def test_the_secret_is_shown_once_and_stored_hashed(kernel, member, client):
    created = create(kernel, member)
    secret = created["token"]
    assert secret.startswith("oit_") and len(secret) > 40
    assert created["apiToken"]["prefix"] == secret[:12]
    with kernel.session() as session:
        row = session.scalars(select(ApiToken)).one()
        stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value for value in stored)
    listed = gql(kernel, "{ apiTokens { edges { node { prefix name } } } }", actor=member)
    assert secret not in str(listed)
    response = client.post("/graphql", json=VIEWER, headers=bearer(secret))
    assert response.json() == {"data": {"viewer": {"login": "member"}}}


def test_the_token_acts_as_its_owner_with_only_its_roles(kernel, admin):
    from openitsm.kernel.organisation import service as organisation

    with kernel.session() as session:
        held = organisation.role_by_code(session, "service_desk_agent")
        organisation.grant_role(session, admin.user_id, held.id)
    requested = ["service_desk_agent", "service_desk_agent", "supervisor"]
    secret = create(kernel, admin, roles=requested)["token"]
    actor, user, _token_id = tokens.actor_for_api_token(kernel.engine, secret)
    assert (actor.user_id, user.login) == (admin.user_id, "root")
    # Only what the owner holds: the superuser's token is no superuser and has no role it lacks.
    assert actor.roles == frozenset({"service_desk_agent"})
    assert not actor.superuser


def test_roles_the_owner_lacks_are_refused(kernel, member):
    result = gql(
        kernel,
        CREATE,
        {"input": {"name": "x", "expiresAt": in_days(3), "roles": ["admin"]}},
        member,
    )
    assert error_codes(result) == ["FORBIDDEN"]


@pytest.mark.parametrize("days", [400, -1])
def test_expiry_must_be_within_a_year_and_in_the_future(kernel, member, days):
    result = gql(kernel, CREATE, {"input": {"name": "x", "expiresAt": in_days(days)}}, member)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    with kernel.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_expired_and_revoked_tokens_are_anonymous(kernel, member, client):
    expired = create(kernel, member, name="old")["token"]
    revoked = create(kernel, member, name="gone")
    with kernel.session() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.name == "old")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    result = gql(kernel, REVOKE, {"id": revoked["apiToken"]["id"]}, member)
    assert result["data"]["revokeApiToken"]["apiToken"]["revokedAt"] is not None
    for secret in (expired, revoked["token"], "oit_not-a-token"):
        assert client.post("/graphql", json=VIEWER, headers=bearer(secret)).json() == {
            "data": {"viewer": None}
        }
        needs_sign_in = client.post("/graphql", json={"query": LIST}, headers=bearer(secret))
        assert error_codes(needs_sign_in.json()) == ["UNAUTHENTICATED"]


def test_use_is_recorded_at_most_once_a_minute(kernel, member, client):
    created = create(kernel, member)
    secret = created["token"]
    for _ in range(3):
        client.post("/graphql", json=VIEWER, headers=bearer(secret))

    def recorded():
        with kernel.session() as session:
            used = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "token_used")
            ).all()
            return session.scalar(select(ApiToken.last_used_at)), used

    first_use, used = recorded()
    assert first_use is not None and len(used) == 1
    assert used[0].record_kind == "api_token" and used[0].actor_id == member.user_id
    two_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    with kernel.session() as session:
        session.execute(update(ApiToken).values(last_used_at=two_minutes_ago))
    client.post("/graphql", json=VIEWER, headers=bearer(secret))
    later_use, used = recorded()
    assert later_use > two_minutes_ago + dt.timedelta(seconds=100) and len(used) == 2


def test_a_token_request_runs_no_statements_through_the_engine(kernel, member, client):
    secret = create(kernel, member)["token"]
    with count_statements(kernel.engine) as first:
        assert client.post("/graphql", json=VIEWER, headers=bearer(secret)).status_code == 200
    assert first.count >= 1
    # The first request also fills this process's grants cache for the owner (two reads).
    expected = (
        "UPDATE API_TOKEN",
        "INSERT INTO AUDIT_",
        "SELECT ROLE.",
        "SELECT USER_SERVICE_UNIT.",
    )
    assert all(s.lstrip().upper().startswith(expected) for s in first.statements), first.statements
    with count_statements(kernel.engine) as second:
        response = client.post("/graphql", json=VIEWER, headers=bearer(secret))
    assert response.json() == {"data": {"viewer": {"login": "member"}}}
    assert second.statements == []


def test_only_the_owner_or_a_superuser_sees_and_revokes(kernel, member, other, admin):
    token_id = create(kernel, member)["apiToken"]["id"]
    create(kernel, other, name="other's")

    def names(actor):
        edges = gql(kernel, LIST, actor=actor)["data"]["apiTokens"]["edges"]
        return sorted(edge["node"]["name"] for edge in edges)

    assert names(member) == ["monitoring"]
    assert names(other) == ["other's"]
    assert names(admin) == ["monitoring", "other's"]
    node = gql(kernel, "query($id: ID!) { node(id: $id) { id } }", {"id": token_id}, other)
    assert node["data"]["node"] is None
    assert error_codes(gql(kernel, REVOKE, {"id": token_id}, other)) == ["NOT_FOUND"]
    assert error_codes(gql(kernel, LIST)) == ["UNAUTHENTICATED"]
    revoked = gql(kernel, REVOKE, {"id": token_id}, admin)
    assert revoked["data"]["revokeApiToken"]["apiToken"]["revokedAt"] is not None


def test_a_token_cannot_make_more_tokens(kernel, member, client):
    secret = create(kernel, member)["token"]
    response = client.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": {"name": "y", "expiresAt": in_days(3)}}},
        headers=bearer(secret),
    )
    assert error_codes(response.json()) == ["FORBIDDEN"]


def test_token_events_are_in_the_audit_history(kernel, member, admin, client):
    created = create(kernel, member)
    client.post("/graphql", json=VIEWER, headers=bearer(created["token"]))
    gql(kernel, REVOKE, {"id": created["apiToken"]["id"]}, member)
    with kernel.session() as session:
        events = session.execute(
            select(AuditEvent.record_kind, AuditEvent.action, AuditEvent.actor_id)
            .where(AuditEvent.record_kind == "api_token")
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("api_token", "token_created", member.user_id),
        ("api_token", "token_used", member.user_id),
        ("api_token", "token_revoked", member.user_id),
    ]
    history = gql(
        kernel,
        "{ auditTimeline(first: 5) { edges { node { action } } } }",
        actor=admin,
    )
    assert "errors" not in history, history
    actions = [edge["node"]["action"] for edge in history["data"]["auditTimeline"]["edges"]]
    assert actions[:3] == ["TOKEN_REVOKED", "TOKEN_USED", "TOKEN_CREATED"]
