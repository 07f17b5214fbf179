"""Error codes, masking of faults, abuse limits, rollback and the HTTP edge of /graphql."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import strawberry
from sqlalchemy import select
from starlette.testclient import TestClient
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache
from strawberry.types import Info

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.dictionaries.models import DictionaryItem
from openitsm.kernel.dictionaries.service import create_item
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.schema import DOCUMENT_CACHE_SIZE
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.testing import build_kernel, error_codes, gql

SECRET = "the-database-password-is-hunter2"
# Limits and probes need no stored user: an authenticated actor is enough, and sparing the
# `admin` fixture spares building its kernel a second time.
ADMIN = Actor(user_id=1, label="Probe Admin", superuser=True)


def global_id(type_name: str, key: int | str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


# --- a plugin that misbehaves on purpose -----------------------------------------------------


def probe_item_codes(kernel: Kernel) -> set[str]:
    with kernel.session() as session:
        return set(
            session.scalars(select(DictionaryItem.code).where(DictionaryItem.code.like("probe%")))
        )


@strawberry.type
class ProbeQuery:
    @strawberry.field
    def explode(self) -> int:
        raise RuntimeError(SECRET)


@strawberry.type
class ProbeMutation:
    @strawberry.mutation
    def write_then_refuse(self, info: Info[Context, Any], code: str) -> bool:
        create_item(info.context.session, "incident_category", code=code, labels={"en": "Probe"})
        raise BadUserInput("Refused after writing.", field="code")

    @strawberry.mutation
    def write_then_crash(self, info: Info[Context, Any], code: str) -> bool:
        create_item(info.context.session, "incident_category", code=code, labels={"en": "Probe"})
        raise RuntimeError(SECRET)

    @strawberry.mutation
    def write(self, info: Info[Context, Any], code: str) -> bool:
        create_item(info.context.session, "incident_category", code=code, labels={"en": "Probe"})
        return True


def probe_plugin() -> ModuleType:
    module = ModuleType("openitsm_probe_plugin")

    @hookimpl
    def register_graphql() -> GraphQLContribution:
        return GraphQLContribution(query=ProbeQuery, mutation=ProbeMutation)

    module.register_graphql = register_graphql  # type: ignore[attr-defined]
    return module


@pytest.fixture
def probed(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"probe": probe_plugin()})
    yield kernel
    kernel.close()


# --- limits ----------------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(
        tmp_path, database_url, graphql={"max_depth": 3, "max_aliases": 2, "max_tokens": 60}
    )
    yield kernel
    kernel.close()


def refused(result: dict[str, Any], word: str) -> None:
    assert result["data"] is None
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    assert word in result["errors"][0]["message"], result


def test_each_limit_refuses_with_its_name(limited: Kernel) -> None:
    def ok(query: str) -> None:
        assert "errors" not in gql(limited, query, actor=ADMIN)

    ok("{ dictionaries { edges { cursor } } }")
    refused(
        gql(limited, "{ dictionaries { edges { node { items { code } } } } }", actor=ADMIN), "depth"
    )
    ok("{ a: plugins { name } b: plugins { name } }")
    three = "{ a: plugins { name } b: plugins { name } c: plugins { name } }"
    refused(gql(limited, three, actor=ADMIN), "aliases")
    ok("{ " + "plugins { name } " * 10 + "}")
    refused(gql(limited, "{ " + "plugins { name } " * 20 + "}", actor=ADMIN), "tokens")


def test_limits_come_from_settings(kernel: Kernel, admin: Actor) -> None:
    """The same documents pass with the default limits."""
    deep = "{ dictionaries { edges { node { items { code } } } } }"
    assert "errors" not in gql(kernel, deep, actor=admin)
    many = "{ " + "plugins { name } " * 20 + "}"
    assert "errors" not in gql(kernel, many, actor=admin)


def test_syntax_error_is_bad_user_input(kernel: Kernel) -> None:
    refused(gql(kernel, "{ dictionaries("), "Syntax Error")


def test_unknown_field_is_bad_user_input(kernel: Kernel) -> None:
    refused(gql(kernel, "{ noSuchField }"), "noSuchField")


def test_operation_selection_errors_are_bad_user_input(kernel: Kernel, admin: Actor) -> None:
    from openitsm.kernel.graphql.view import execute

    missing = execute(kernel, "query A { plugins { name } }", {}, "B", actor=admin)
    refused(missing, "'B'")
    refused(execute(kernel, "", {}, actor=admin), "No query")
    refused(execute(kernel, "subscription { x }", {}, actor=admin), "queries and mutations")


# --- typed errors ----------------------------------------------------------------------------


def test_anonymous_is_unauthenticated(kernel: Kernel) -> None:
    result = gql(kernel, "{ dictionaries { edges { node { code } } } }")
    assert error_codes(result) == ["UNAUTHENTICATED"]


def test_member_editing_dictionaries_is_forbidden(kernel: Kernel, member: Actor) -> None:
    result = gql(
        kernel,
        'mutation { createDictionaryItem(input: {dictionary: "incident_category", '
        'code: "probe", labels: {en: "x"}}) { item { code } } }',
        actor=member,
    )
    assert error_codes(result) == ["FORBIDDEN"]


UPDATE = """
mutation ($id: ID!, $version: Int!) {
  updateDictionaryItem(id: $id, version: $version, input: {sortOrder: 5}) { item { version } }
}
"""


def test_missing_item_is_not_found(kernel: Kernel, admin: Actor) -> None:
    result = gql(
        kernel, UPDATE, {"id": global_id("DictionaryItem", 999999), "version": 1}, actor=admin
    )
    assert error_codes(result) == ["NOT_FOUND"]


def test_impossible_ids_in_arguments_are_bad_user_input(kernel: Kernel, admin: Actor) -> None:
    for key in ("abc", "²", 2**70, -1):
        result = gql(
            kernel, UPDATE, {"id": global_id("DictionaryItem", key), "version": 1}, actor=admin
        )
        assert error_codes(result) == ["BAD_USER_INPUT"], key
        assert result["errors"][0]["extensions"]["field"] == "id"
    other_type = gql(kernel, UPDATE, {"id": global_id("Dictionary", 1), "version": 1}, actor=admin)
    assert error_codes(other_type) == ["BAD_USER_INPUT"]


def test_stale_version_is_conflict(kernel: Kernel, admin: Actor) -> None:
    with kernel.session() as session:
        item = session.scalars(select(DictionaryItem).order_by(DictionaryItem.id)).first()
        assert item is not None
        variables = {"id": global_id("DictionaryItem", item.id), "version": item.version}
    first = gql(kernel, UPDATE, variables, actor=admin)
    assert first["data"]["updateDictionaryItem"]["item"]["version"] == variables["version"] + 1
    second = gql(kernel, UPDATE, variables, actor=admin)
    assert error_codes(second) == ["CONFLICT"]
    assert second["errors"][0]["extensions"]["currentVersion"] == variables["version"] + 1


def test_node_of_unknown_type_is_bad_user_input(kernel: Kernel, admin: Actor) -> None:
    for type_name in ("NoSuchType", "PageInfo"):  # no such type; a type that is no Node
        result = gql(kernel, f'{{ node(id: "{global_id(type_name, 1)}") {{ id }} }}', actor=admin)
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert type_name in result["errors"][0]["message"]


def test_node_of_known_type_resolves_or_is_null(kernel: Kernel, admin: Actor) -> None:
    query = '{ node(id: "%s") { id ... on Dictionary { code } } }'
    found = gql(kernel, query % global_id("Dictionary", 1), actor=admin)
    assert found["data"]["node"]["code"]
    for absent in (999999, "abc", "²", 2**70, 0):  # no row, or ids no row can have
        assert gql(kernel, query % global_id("Dictionary", absent), actor=admin) == {
            "data": {"node": None}
        }


def test_internal_error_is_masked_and_logged(
    probed: Kernel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openitsm.graphql")
    result = gql(probed, "{ explode }")
    assert error_codes(result) == ["INTERNAL"]
    error = result["errors"][0]
    request_id = error["extensions"]["requestId"]
    assert request_id
    assert error["message"] == f"Internal error; quote request id {request_id} when reporting it."
    assert SECRET not in str(result)
    assert error["path"] == ["explode"]
    records = [r for r in caplog.records if r.name == "openitsm.graphql"]
    assert len(records) == 1
    assert request_id in records[0].getMessage()
    assert records[0].exc_info is not None
    assert SECRET in caplog.text and "Traceback" in caplog.text


# --- one transaction per request -------------------------------------------------------------


def test_failed_mutation_rolls_back_its_writes(probed: Kernel) -> None:
    result = gql(probed, 'mutation { writeThenRefuse(code: "probe_refused") }', actor=ADMIN)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["message"] == "Refused after writing."
    crashed = gql(probed, 'mutation { writeThenCrash(code: "probe_crashed") }', actor=ADMIN)
    assert error_codes(crashed) == ["INTERNAL"]
    assert probe_item_codes(probed) == set()


def test_a_failing_field_rolls_back_the_whole_request(probed: Kernel) -> None:
    result = gql(
        probed,
        'mutation { ok: write(code: "probe_first") bad: writeThenRefuse(code: "probe_second") }',
        actor=ADMIN,
    )
    assert result["data"] is None or result["data"]["ok"] is True
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert probe_item_codes(probed) == set()
    assert gql(probed, 'mutation { write(code: "probe_kept") }', actor=ADMIN) == {
        "data": {"write": True}
    }
    assert probe_item_codes(probed) == {"probe_kept"}


# --- over HTTP -------------------------------------------------------------------------------


def test_http_edge(kernel: Kernel) -> None:
    client = TestClient(kernel.asgi())
    bad = client.post("/graphql", content=b"not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad.headers["x-request-id"]

    wrong_shape = client.post("/graphql", json={"query": 42})
    assert wrong_shape.status_code == 400

    not_a_name = client.post("/graphql", json={"query": "{ viewer { login } }", "operationName": 1})
    assert not_a_name.status_code == 400

    huge = client.post("/graphql", content=b" " * 1_000_001)
    assert huge.status_code == 413

    get = client.get("/graphql", headers={"accept": "text/html"})
    assert get.status_code == 405
    assert get.headers["allow"] == "POST"
    assert get.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    given = "req-" + uuid.uuid4().hex
    ok = client.post(
        "/graphql", json={"query": "{ viewer { login } }"}, headers={"x-request-id": given}
    )
    assert ok.status_code == 200
    assert ok.json() == {"data": {"viewer": None}}
    assert ok.headers["x-request-id"] == given

    generated = client.post("/graphql", json={"query": "{ viewer { login } }"})
    assert len(generated.headers["x-request-id"]) == 32


def test_graphiql_is_served_only_when_enabled(tmp_path: Path) -> None:
    kernel = build_kernel(
        tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", migrate=False, graphql={"graphiql": True}
    )
    try:
        client = TestClient(kernel.asgi())
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        assert client.get("/graphql", headers={"accept": "application/json"}).status_code == 405
    finally:
        kernel.close()


def test_http_internal_error_quotes_the_echoed_request_id(
    probed: Kernel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openitsm.graphql")
    client = TestClient(probed.asgi())
    given = "req-" + uuid.uuid4().hex
    response = client.post(
        "/graphql", json={"query": "{ explode }"}, headers={"x-request-id": given}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == given
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": given}
    assert SECRET not in response.text
    assert given in caplog.text


# --- parser and validation caches ------------------------------------------------------------


def test_same_document_is_parsed_and_validated_once(kernel: Kernel, admin: Actor) -> None:
    parse_cache = _get_parse_cache(DOCUMENT_CACHE_SIZE)
    validate_cache = _get_validate_cache(DOCUMENT_CACHE_SIZE)
    query = f"{{ plugins {{ name }} }} # {uuid.uuid4().hex}"  # text no other test sends
    parsed, validated = parse_cache.cache_info(), validate_cache.cache_info()
    first = gql(kernel, query, actor=admin)
    assert parse_cache.cache_info().misses == parsed.misses + 1
    assert validate_cache.cache_info().misses == validated.misses + 1
    parsed, validated = parse_cache.cache_info(), validate_cache.cache_info()
    prepared = kernel.schema._prepared.cache_info()
    assert gql(kernel, query, actor=admin) == first
    # The second time the prepared document comes straight from the schema's own cache.
    assert kernel.schema._prepared.cache_info().hits == prepared.hits + 1
    assert kernel.schema._prepared.cache_info().misses == prepared.misses
    assert parse_cache.cache_info() == parsed
    assert validate_cache.cache_info() == validated


class BrokenSignIn:
    """A plugin object (not a module) whose request-to-actor hook fails."""

    @hookimpl
    def actor_from_request(self, request: Any, kernel: Any) -> None:
        raise RuntimeError(SECRET)


def test_fault_outside_resolvers_is_masked_too(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openitsm.graphql")
    kernel = build_kernel(tmp_path, database_url, migrate=False, plugins={"broken": BrokenSignIn()})
    try:
        client = TestClient(kernel.asgi())
        response = client.post("/graphql", json={"query": "{ viewer { login } }"})
    finally:
        kernel.close()
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": f"Internal error; quote request id {request_id} when reporting it.",
                "extensions": {"code": "INTERNAL", "requestId": request_id},
            }
        ],
    }
    assert request_id in caplog.text and SECRET in caplog.text
