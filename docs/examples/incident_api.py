#!/usr/bin/env python3
"""Register an incident through OpenITSM's GraphQL API, comment on it, follow it, and print
its status: a starting point for integrations (monitoring, a chat bot, another ticket system).

It needs only Python 3.11's standard library and an API token (profile → API tokens, or the
`createApiToken` mutation; give the token the roles it needs, e.g. `service_desk_agent`).
When the `websockets` package is installed it follows the incident over the subscription
`incidentChanged` (graphql-transport-ws at /graphql), and still reads the incident every
`--interval` seconds as a safety net; without it, it only reads.

    export OPENITSM_URL=https://itsm.example.com OPENITSM_TOKEN=oit_...
    python incident_api.py --title "Printer on floor 2 jams" --caller zhangsan \\
        --impact minor --urgency high --follow 600

Exit status: 0 done, 1 refused by the API (the message and its code are printed), 2 usage.
See docs/integration.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

try:  # optional: follow over WebSocket instead of only polling
    from websockets.sync.client import connect as websocket_connect
except ImportError:  # pragma: no cover - depends on the environment
    websocket_connect = None

FINISHED = ("RESOLVED", "CLOSED", "CANCELLED")
INCIDENT_FIELDS = "id number title status version"

CREATE = f"""
mutation Create($input: CreateIncidentInput!) {{
  createIncident(input: $input) {{ incident {{ {INCIDENT_FIELDS} }} }}
}}"""
READ = f"query Read($id: ID!) {{ incident(id: $id) {{ {INCIDENT_FIELDS} }} }}"
COMMENT = """
mutation Comment($record: RecordReferenceInput!, $body: String!) {
  addComment(record: $record, body: $body) { id }
}"""
FIND_USER = """
query FindUser($search: String!) {
  users(filter: {search: $search}, first: 20) { edges { node { id login } } }
}"""
FOLLOW = f"subscription Follow($id: ID!) {{ incidentChanged(id: $id) {{ {INCIDENT_FIELDS} }} }}"


class ApiError(Exception):
    """A GraphQL error: its message and `extensions.code` (BAD_USER_INPUT, FORBIDDEN, …)."""

    def __init__(self, message: str, code: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field

    @classmethod
    def from_errors(cls, errors: list[dict[str, Any]]) -> ApiError:
        first = errors[0] if errors else {}
        extensions = first.get("extensions") or {}
        message = str(first.get("message", "unknown error"))
        return cls(message, extensions.get("code", ""), extensions.get("field"))


class Api:
    """POST /graphql with the token as `Authorization: Bearer …`."""

    def __init__(self, url: str, token: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + "/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:  # 4xx with a GraphQL error body
            answer = json.loads(error.read() or b"{}")
        if answer.get("errors"):
            raise ApiError.from_errors(answer["errors"])
        return dict(answer["data"])

    @property
    def websocket_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/graphql"


def record_id(global_id: str) -> int:
    """The number inside a global id ("SW5jaWRlbnQ6NQ==" is "Incident:5"), which record
    references (`addComment(record: {kind: "incident", recordId: 5})`) take."""
    padded = global_id + "=" * (-len(global_id) % 4)
    return int(base64.b64decode(padded).decode().rsplit(":", 1)[1])


def find_user(api: Api, login: str) -> str:
    """The global id of the user whose login is `login`."""
    edges = api(FIND_USER, {"search": login})["users"]["edges"]
    for edge in edges:
        if edge["node"]["login"] == login:
            return str(edge["node"]["id"])
    raise ApiError(f"No user with the login {login!r}.", "NOT_FOUND", "caller")


def create_incident(api: Api, **values: Any) -> dict[str, Any]:
    given = {name: value for name, value in values.items() if value is not None}
    return dict(api(CREATE, {"input": given})["createIncident"]["incident"])


def read_incident(api: Api, incident_id: str) -> dict[str, Any]:
    found = api(READ, {"id": incident_id})["incident"]
    if found is None:
        raise ApiError("The incident is gone, or this token may no longer see it.", "NOT_FOUND")
    return dict(found)


def add_comment(api: Api, incident_id: str, body: str) -> None:
    record = {"kind": "incident", "recordId": record_id(incident_id)}
    api(COMMENT, {"record": record, "body": body})


class Subscription:
    """`incidentChanged(id:)` over graphql-transport-ws: `next(timeout)` gives the incident
    after its next change, or None when nothing changed within `timeout` seconds."""

    def __init__(self, api: Api, incident_id: str) -> None:
        self.api = api
        self.incident_id = incident_id
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> Subscription:
        assert websocket_connect is not None
        try:
            self.ws = self.stack.enter_context(
                websocket_connect(
                    self.api.websocket_url,
                    subprotocols=["graphql-transport-ws"],
                    open_timeout=self.api.timeout,
                )
            )
            token = {"Authorization": f"Bearer {self.api.token}"}
            self.send({"type": "connection_init", "payload": token})
            if self.receive(self.api.timeout).get("type") != "connection_ack":
                raise ApiError("The server did not accept the connection.", "UNAUTHENTICATED")
            request = {"query": FOLLOW, "variables": {"id": self.incident_id}}
            self.send({"id": "follow", "type": "subscribe", "payload": request})
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, timeout: float) -> dict[str, Any]:
        return dict(json.loads(self.ws.recv(timeout=timeout)))

    def next(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                message = self.receive(remaining)
            except TimeoutError:
                return None
            kind = message.get("type")
            if kind == "ping":
                self.send({"type": "pong"})
            elif kind == "next":
                payload = message.get("payload") or {}
                if payload.get("errors"):
                    raise ApiError.from_errors(payload["errors"])
                return dict(payload["data"]["incidentChanged"])
            elif kind == "error":
                raise ApiError.from_errors(message.get("payload") or [])
            elif kind == "complete":
                raise EOFError("the server ended the subscription")


@contextlib.contextmanager
def changes_of(
    api: Api, incident_id: str, use_socket: bool, out: TextIO
) -> Iterator[Subscription | None]:
    """The subscription when it can be had (else None: the caller polls)."""
    if not use_socket or websocket_connect is None:
        yield None
        return
    try:
        subscription = Subscription(api, incident_id).__enter__()
    except Exception as error:  # no WebSocket here (a proxy, an old server): poll instead
        print(f"Following by polling: the subscription is unavailable ({error}).", file=out)
        yield None
        return
    try:
        yield subscription
    finally:
        subscription.__exit__(None, None, None)


def follow(
    api: Api,
    incident: dict[str, Any],
    subscription: Subscription | None,
    seconds: float,
    interval: float,
    out: TextIO,
) -> dict[str, Any]:
    """Print each new status until the incident is finished or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    current = incident
    while current["status"] not in FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wait = min(interval, remaining)
        changed = None
        if subscription is not None:
            try:
                changed = subscription.next(wait)
            except ApiError:
                raise
            except Exception as error:  # the connection dropped: poll from here on
                print(f"Following by polling: {error}.", file=out)
                subscription = None
        if changed is None:
            if subscription is None:
                time.sleep(wait)
            changed = read_incident(api, incident["id"])  # a safety net for missed events
        if changed["status"] != current["status"]:
            print(f"{changed['number']} is now {changed['status']}", file=out)
        current = changed
    return current


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("OPENITSM_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--token", default=os.environ.get("OPENITSM_TOKEN"), help="default: $OPENITSM_TOKEN"
    )
    parser.add_argument("--title", required=True)
    parser.add_argument("--description", help="HTML or plain text")
    parser.add_argument("--caller", help="the caller's login")
    parser.add_argument("--category", help="an incident_category item code")
    parser.add_argument("--impact", help="an incident_impact item code, e.g. minor")
    parser.add_argument("--urgency", help="an incident_urgency item code, e.g. high")
    parser.add_argument("--comment", default="Registered through the API.")
    parser.add_argument(
        "--follow",
        type=float,
        default=0,
        metavar="SECONDS",
        help="follow the incident this long, or until it is resolved",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=10,
        metavar="SECONDS",
        help="how often to read the incident while following",
    )
    parser.add_argument("--poll", action="store_true", help="never use the WebSocket")
    options = parser.parse_args(argv)
    if not options.token:
        parser.error("give --token or set OPENITSM_TOKEN")
    return options


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        options = arguments(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    api = Api(options.url, options.token)
    try:
        caller = find_user(api, options.caller) if options.caller else None
        incident = create_incident(
            api,
            title=options.title,
            description=options.description,
            caller=caller,
            category=options.category,
            impact=options.impact,
            urgency=options.urgency,
        )
        summary = f"{incident['number']}: {incident['title']} ({incident['status']})"
        print(f"Created {summary}", file=out)
        use_socket = options.follow > 0 and not options.poll
        with changes_of(api, incident["id"], use_socket, out) as subscription:
            if options.comment:
                add_comment(api, incident["id"], options.comment)
                print(f"Commented on {incident['number']}", file=out)
            incident = read_incident(api, incident["id"])
            if options.follow > 0:
                incident = follow(
                    api, incident, subscription, options.follow, options.interval, out
                )
        print(f"{incident['number']} status: {incident['status']}", file=out)
        return 0
    except ApiError as error:
        where = f" (field {error.field})" if error.field else ""
        print(f"Refused: {error} [{error.code or 'ERROR'}]{where}", file=out)
        return 1


if __name__ == "__main__":
    sys.exit(main())
