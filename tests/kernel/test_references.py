"""Record references: modules link to each other's records as (kind, id) through the kernel."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from openitsm.kernel.db import count_statements
from openitsm.kernel.dictionaries.models import DictionaryItem
from openitsm.kernel.errors import BadUserInput, ConfigurationError
from openitsm.kernel.identity.models import User
from openitsm.kernel.references import RecordKind, RecordKinds, RecordRef
from openitsm.kernel.testing import error_codes, gql

RECORDS = """query($refs: [RecordReferenceInput!]!) {
  records(refs: $refs) { kind recordId exists title status url kindLabel }
}"""


def test_references_are_described_in_one_query_per_kind(kernel, admin):
    with kernel.session() as session:
        items = session.scalars(select(DictionaryItem).order_by(DictionaryItem.id).limit(30)).all()
    refs = [{"kind": "dictionary_item", "recordId": item.id} for item in items]
    refs += [{"kind": "user", "recordId": admin.user_id}]
    with count_statements(kernel.engine) as log:
        result = gql(kernel, RECORDS, {"refs": refs}, actor=admin)
    described = result["data"]["records"]
    assert all(record["exists"] for record in described)
    assert described[0]["title"] == items[0].labels["en"] and described[0]["status"] == "active"
    assert described[-1]["title"] == "Root Admin" and described[-1]["kindLabel"] == "用户"
    assert len(log.selects()) == 2  # one per kind, whatever the number of references


def test_missing_records_and_unknown_kinds_describe_themselves_as_absent(kernel, admin):
    refs = [{"kind": "user", "recordId": 987654}, {"kind": "gone_module", "recordId": 1}]
    described = gql(kernel, RECORDS, {"refs": refs}, actor=admin)["data"]["records"]
    assert [(r["exists"], r["title"]) for r in described] == [(False, None), (False, None)]
    assert described[1]["kindLabel"] == "gone_module"


def test_records_need_a_signed_in_actor(kernel):
    result = gql(kernel, RECORDS, {"refs": [{"kind": "user", "recordId": 1}]})
    assert error_codes(result) == ["UNAUTHENTICATED"]


def test_node_resolves_global_ids(kernel, admin):
    with kernel.session() as session:
        item = session.scalars(select(DictionaryItem).where(DictionaryItem.code == "vpn")).one()
    global_id = base64.b64encode(f"DictionaryItem:{item.id}".encode()).decode()
    query = "query($id: ID!) { node(id: $id) { id ... on DictionaryItem { code } } }"
    assert gql(kernel, query, {"id": global_id}, actor=admin)["data"]["node"] == {
        "id": global_id,
        "code": "vpn",
    }
    missing = base64.b64encode(b"DictionaryItem:999999").decode()
    assert gql(kernel, query, {"id": missing}, actor=admin)["data"]["node"] is None


def test_parse_and_duplicate_kinds():
    assert RecordRef.parse("incident:42") == RecordRef("incident", 42)
    with pytest.raises(BadUserInput):
        RecordRef.parse("incident:abc")

    class Owner:
        def __init__(self, name):
            self.name = name

    kinds = RecordKinds({"user": RecordKind("user", User)})
    with pytest.raises(BadUserInput, match="known kinds: user"):
        kinds.get("incident")
    assert kinds.kind_of(User(login="x", name="x")).name == "user"


def test_two_plugins_claiming_one_kind_stop_start_up(tmp_path, database_url):
    from openitsm.kernel.hookspecs import hookimpl
    from openitsm.kernel.testing import build_kernel

    class Claimer:
        @hookimpl
        def register_record_kinds(self):
            return [RecordKind("user", User)]

    with pytest.raises(ConfigurationError, match="record kind 'user' is registered by both"):
        build_kernel(tmp_path, database_url, plugins={"claimer": Claimer()}, migrate=False)
