"""Incident subscriptions over WebSocket (graphql-transport-ws at /graphql), against a real
uvicorn server: a subscriber hears of each change another request makes, as they may see
it; an outsider hears nothing; a connection without credentials is refused."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from openitsm.kernel import utcnow
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.graphql.subscriptions import broker_of
from openitsm.kernel.identity import tokens
from openitsm.kernel.testing import build_kernel
from openitsm.plugins.incident import plugin, service
from openitsm.plugins.incident.models import Incident

from .conftest import PASSWORD, World
from .live_server import serving

PROTOCOL = "graphql-transport-ws"
CHANGED = "subscription($id: ID!) { incidentChanged(id: $id) { number title status version } }"
ALL_CHANGED = "subscription { incidentsChanged { number title } }"
QUIET = 1.0  # seconds in which nothing must arrive


def gid(kind: str, key: int) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


@dataclass
class Site:
    world: World
    url: str
    tokens: dict[str, str]

    @contextlib.contextmanager
    def socket(self, login: str | None = None, **options: Any) -> Iterator[ClientConnection]:
        """A socket; with `login`, past `connection_init` with their API token."""
        with connect(
            self.url.replace("http", "ws", 1) + "/graphql",
            subprotocols=[PROTOCOL],
            proxy=None,
            **options,
        ) as ws:
            if login is not None:
                payload = {"Authorization": f"Bearer {self.tokens[login]}"}
                ws.send(json.dumps({"type": "connection_init", "payload": payload}))
                assert receive(ws) == {"type": "connection_ack"}
            yield ws

    def post(self, login: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url + "/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {self.tokens[login]}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer
        return answer["data"]

    def rename(self, login: str, incident_id: int, title: str) -> None:
        with self.world.kernel.session() as session:
            found = session.get(Incident, incident_id)
            assert found is not None
            version = found.version
        self.post(
            login,
            "mutation($id: ID!, $v: Int!, $t: String) { updateIncident(id: $id, version: $v, "
            "input: {title: $t}) { incident { version } } }",
            {"id": gid("Incident", incident_id), "v": version, "t": title},
        )


def receive(ws: ClientConnection, timeout: float = 10) -> Any:
    return json.loads(ws.recv(timeout=timeout))


def nothing_arrives(ws: ClientConnection, seconds: float = QUIET) -> bool:
    try:
        ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    return False


def subscribe(ws: ClientConnection, op: str, query: str, **variables: Any) -> None:
    ws.send(
        json.dumps(
            {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )


def eventually(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def subscribed(site: Site, count: int) -> None:
    """Wait until `count` subscriptions listen: the protocol has no acknowledgement of one."""
    eventually(lambda: broker_of(site.world.kernel).subscriber_count == count)


def token_for(world: World, login: str) -> str:
    """An API token of `login` carrying all their roles."""
    actor = world.actor(login)
    with world.kernel.session() as session:
        secret, _ = tokens.create_api_token(
            session,
            actor,
            name="test",
            expires_at=utcnow() + dt.timedelta(days=1),
            roles=sorted(actor.roles),
        )
    return secret


@pytest.fixture
def site(world: World) -> Iterator[Site]:
    logins = ("agent", "agent2", "engineer", "caller", "supervisor")
    secrets = {login: token_for(world, login) for login in logins}
    with serving(world.kernel) as url:
        yield Site(world, url, secrets)


def test_a_subscriber_hears_of_each_change_another_request_makes(site: Site) -> None:
    incident = site.world.create(group_id=site.world.departments["ops"])
    with site.socket("engineer") as ws:
        subscribe(ws, "1", CHANGED, id=gid("Incident", incident.id))
        subscribed(site, 1)
        site.rename("agent", incident.id, "Printer jams on the 2nd floor")
        message = receive(ws)
        assert message["id"] == "1" and message["type"] == "next"
        assert message["payload"]["data"]["incidentChanged"] == {
            "number": incident.number,
            "title": "Printer jams on the 2nd floor",
            "status": "ASSIGNED",
            "version": incident.version + 1,
        }
        site.post(
            "engineer",
            "mutation($id: ID!) { startIncident(id: $id) { incident { status } } }",
            {"id": gid("Incident", incident.id)},
        )
        assert receive(ws)["payload"]["data"]["incidentChanged"]["status"] == "IN_PROGRESS"
        other = site.world.create(group_id=site.world.departments["ops"])
        site.rename("agent", other.id, "Another incident")
        assert nothing_arrives(ws)  # only the incident subscribed to

        ws.send(json.dumps({"id": "1", "type": "complete"}))
        subscribed(site, 0)


def test_an_outsider_hears_nothing_of_an_incident_they_may_not_see(site: Site) -> None:
    world = site.world
    hidden = world.create()  # the caller's service unit, acme: not agent2's
    seen = world.create(service_unit_id=world.units["globex"])
    with site.socket("agent2") as outsider, site.socket("agent") as insider:
        subscribe(outsider, "one", CHANGED, id=gid("Incident", hidden.id))
        subscribe(outsider, "all", ALL_CHANGED)
        subscribe(insider, "one", CHANGED, id=gid("Incident", hidden.id))
        subscribed(site, 3)
        site.rename("agent", hidden.id, "Renamed where agent2 cannot see")
        assert receive(insider)["payload"]["data"]["incidentChanged"]["title"] == (
            "Renamed where agent2 cannot see"
        )
        site.rename("agent2", seen.id, "Renamed where agent2 can see")
        # The first (and only) message is about the incident agent2 may see.
        message = receive(outsider)
        assert message["id"] == "all"
        assert message["payload"]["data"]["incidentsChanged"] == {
            "number": seen.number,
            "title": "Renamed where agent2 can see",
        }
        assert nothing_arrives(outsider)


def test_rules_are_checked_again_for_every_event(site: Site) -> None:
    world = site.world
    incident = world.create(group_id=world.departments["ops"])
    with site.socket("engineer") as ws:
        subscribe(ws, "1", CHANGED, id=gid("Incident", incident.id))
        subscribed(site, 1)
        # Moved to a group the engineer's scope does not reach: they hear nothing more.
        with world.kernel.session(world.actor("agent")) as session:
            service.assign(session, incident.id, group_id=world.departments["desk"])
        assert nothing_arrives(ws)
        with world.kernel.session(world.actor("agent")) as session:
            service.assign(session, incident.id, group_id=world.departments["ops"])
        assert receive(ws)["payload"]["data"]["incidentChanged"]["number"] == incident.number

        # A field the engineer's role may no longer read refuses the next event.
        with world.kernel.session() as session:
            set_field_rule(
                session,
                world.kernel.record_kinds,
                world.roles["second_line_engineer"],
                "incident",
                "title",
                "hidden",
            )
        site.rename("agent", incident.id, "Hidden title")
        message = receive(ws)
        assert message["payload"]["data"] is None
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "Hidden title" not in json.dumps(message)


def test_a_revoked_token_ends_the_subscription(site: Site) -> None:
    world = site.world
    incident = world.create(group_id=world.departments["ops"])
    with site.socket("engineer") as ws:
        subscribe(ws, "1", CHANGED, id=gid("Incident", incident.id))
        subscribed(site, 1)
        with world.kernel.session(world.actor("engineer")) as session:
            from sqlalchemy import select

            from openitsm.kernel.identity.token_models import ApiToken

            token_id = session.scalar(
                select(ApiToken.id).where(
                    ApiToken.name == "test", ApiToken.user_id == world.users["engineer"]
                )
            )
            assert token_id is not None
            tokens.revoke_api_token(session, world.actor("engineer"), token_id)
        site.rename("agent", incident.id, "After the revocation")
        message = receive(ws)
        assert message["type"] == "next" and message["payload"]["data"] is None
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert receive(ws) == {"id": "1", "type": "complete"}
        subscribed(site, 0)


def test_a_connection_without_credentials_is_refused(site: Site) -> None:
    for payload in ({}, {"Authorization": "Bearer oit_not-a-token"}, {"token": "nonsense"}):
        with site.socket() as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    with site.socket() as ws:  # subscribing before connection_init is refused too
        subscribe(ws, "1", ALL_CHANGED)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (4401, 4403)


def test_a_signed_in_browser_uses_its_cookie_and_other_sites_are_refused(site: Site) -> None:
    from openitsm.web.testing import signed_in

    browser = signed_in(site.world.kernel, "engineer", PASSWORD)
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    with site.socket(additional_headers={"cookie": cookie, "origin": site.url}) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive(ws) == {"type": "connection_ack"}
    with (
        pytest.raises(InvalidStatus) as refused,
        site.socket(additional_headers={"cookie": cookie, "origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_queries_and_overly_deep_documents_are_refused(site: Site) -> None:
    with site.socket("engineer") as ws:
        subscribe(ws, "q", "{ viewer { login } }")
        error = receive(ws)
        assert error["type"] == "error" and error["id"] == "q"
        assert error["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "POST" in error["payload"][0]["message"]

        deep = "parent { " * 12 + "number" + " }" * 12
        subscribe(ws, "deep", f"subscription {{ incidentsChanged {{ {deep} }} }}")
        error = receive(ws)
        assert error["type"] == "error" and error["id"] == "deep"
        assert error["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "depth" in error["payload"][0]["message"]

        subscribe(ws, "bad", CHANGED, id=gid("User", 1))
        error = receive(ws)
        assert error["type"] == "error" and error["id"] == "bad"
        assert error["payload"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


def test_a_reader_without_the_read_action_cannot_subscribe(site: Site) -> None:
    world = site.world  # `plain` holds no role, so not incident.read
    site.tokens["plain"] = token_for(world, "plain")
    with site.socket("plain") as ws:
        subscribe(ws, "1", ALL_CHANGED)
        error = receive(ws)
        assert error["type"] == "error"
        assert error["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    assert broker_of(world.kernel).subscriber_count == 0


@pytest.mark.redis
def test_a_change_made_in_another_process_arrives_through_redis(
    site: Site, redis_url: str, tmp_path: Any, database_url: str
) -> None:
    """A second kernel on the same database stands for a worker or another web process."""
    name = f"t{time.monotonic_ns()}"
    broker = broker_of(site.world.kernel)
    broker.redis_url, broker.channel = redis_url, f"{name}:record-changes"
    other = build_kernel(
        tmp_path / "other",
        database_url,
        plugins={"incident": plugin},
        migrate=False,
        queue={"url": redis_url, "name": name, "immediate": True},
    )
    try:
        incident = site.world.create(group_id=site.world.departments["ops"])
        with site.socket("engineer") as ws:
            subscribe(ws, "1", CHANGED, id=gid("Incident", incident.id))
            subscribed(site, 1)
            with other.session(site.world.actor("agent")) as session:
                found = service.get_incident(session, incident.id)
                service.update_incident(session, found.id, found.version, {"title": "From afar"})
            assert receive(ws)["payload"]["data"]["incidentChanged"]["title"] == "From afar"
    finally:
        other.close()
