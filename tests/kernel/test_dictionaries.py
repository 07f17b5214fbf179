"""Dictionaries: the shipped ITSM set, tree edits, and what editing may not break."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.dictionaries.service import sync_declared
from openitsm.kernel.testing import error_codes, gql

EXPECTED = {
    "incident_category", "incident_nature", "incident_impact", "incident_urgency",
    "problem_category", "problem_level", "problem_urgency", "problem_impact",
    "complaint_source", "complaint_type", "complaint_nature",
    "change_category", "change_priority", "change_urgency", "change_impact",
}  # fmt: skip


def item_id(kernel, dictionary: str, code: str) -> tuple[str, int]:
    with kernel.session() as session:
        item = session.scalar(
            select(DictionaryItem)
            .join(Dictionary)
            .where(Dictionary.code == dictionary, DictionaryItem.code == code)
        )
        global_id = base64.b64encode(f"DictionaryItem:{item.id}".encode()).decode()
        return global_id, item.version


def test_default_itsm_set_is_shipped_in_both_languages(kernel, member):
    result = gql(
        kernel,
        "{ dictionaries(first: 50) { edges { node { code labels items { code labels } } } } }",
        actor=member,
    )
    nodes = [edge["node"] for edge in result["data"]["dictionaries"]["edges"]]
    assert {node["code"] for node in nodes} == EXPECTED
    for node in nodes:
        assert node["items"], node["code"]
        for labelled in [node, *node["items"]]:
            assert labelled["labels"]["zh-CN"] and labelled["labels"]["en"]


def test_items_come_in_tree_order_with_children(kernel, member):
    result = gql(
        kernel,
        '{ dictionary(code: "incident_category") { items { code parent { code } } '
        "roots { code children { code } } } }",
        actor=member,
    )
    dictionary = result["data"]["dictionary"]
    codes = [item["code"] for item in dictionary["items"]]
    assert codes.index("hardware") < codes.index("desktop") < codes.index("software")
    parents = {item["code"]: (item["parent"] or {}).get("code") for item in dictionary["items"]}
    assert parents["desktop"] == "hardware" and parents["hardware"] is None
    roots = {root["code"]: [c["code"] for c in root["children"]] for root in dictionary["roots"]}
    assert roots["network"] == ["lan", "wan", "wifi", "vpn"]


def test_label_follows_locale(kernel, member):
    query = '{ dictionary(code: "incident_impact") { label zh: label(locale: "zh-CN") en: label(locale: "en") } }'
    result = gql(kernel, query, actor=member)["data"]["dictionary"]
    assert result == {"label": "事件影响度", "zh": "事件影响度", "en": "Incident impact"}


def test_sync_is_idempotent_and_keeps_edits(kernel, admin):
    global_id, version = item_id(kernel, "incident_impact", "minor")
    mutation = (
        "mutation($id: ID!, $v: Int!) { updateDictionaryItem(id: $id, version: $v, "
        'input: {labels: {en: "Tiny"}, active: false}) { item { version active label(locale: "en") } } }'
    )
    result = gql(kernel, mutation, {"id": global_id, "v": version}, actor=admin)
    assert result["data"]["updateDictionaryItem"]["item"] == {
        "version": version + 1,
        "active": False,
        "label": "Tiny",
    }
    with kernel.session() as session:
        before = session.scalar(select(func.count()).select_from(DictionaryItem))
        assert sync_declared(session, kernel.dictionary_specs) == 0
        assert session.scalar(select(func.count()).select_from(DictionaryItem)) == before
        item = session.scalar(
            select(DictionaryItem)
            .join(Dictionary)
            .where(Dictionary.code == "incident_impact", DictionaryItem.code == "minor")
        )
        assert item.labels["en"] == "Tiny" and item.active is False


def test_inactive_items_are_hidden_unless_asked(kernel, admin):
    global_id, version = item_id(kernel, "incident_urgency", "low")
    gql(
        kernel,
        "mutation($id: ID!, $v: Int!) { updateDictionaryItem(id: $id, version: $v, input: {active: false}) { item { active } } }",
        {"id": global_id, "v": version},
        actor=admin,
    )
    query = '{ dictionary(code: "incident_urgency") { items { code } all: items(includeInactive: true) { code } } }'
    result = gql(kernel, query, actor=admin)["data"]["dictionary"]
    assert "low" not in [i["code"] for i in result["items"]]
    assert "low" in [i["code"] for i in result["all"]]


def test_create_and_move_items(kernel, admin):
    parent_id, _ = item_id(kernel, "incident_category", "software")
    created = gql(
        kernel,
        'mutation($p: ID!, $l: JSON!) { createDictionaryItem(input: {dictionary: "incident_category", '
        'code: "erp", labels: $l, parent: $p}) { item { id version code parent { code } } } }',
        {"p": parent_id, "l": {"en": "ERP", "zh-CN": "ERP系统"}},
        actor=admin,
    )["data"]["createDictionaryItem"]["item"]
    assert created["parent"] == {"code": "software"}
    network_id, _ = item_id(kernel, "incident_category", "network")
    moved = gql(
        kernel,
        "mutation($id: ID!, $v: Int!, $p: ID) { moveDictionaryItem(id: $id, version: $v, parent: $p) "
        "{ item { parent { code } version } } }",
        {"id": created["id"], "v": created["version"], "p": network_id},
        actor=admin,
    )
    assert moved["data"]["moveDictionaryItem"]["item"]["parent"] == {"code": "network"}


def test_bad_edits_are_refused_and_change_nothing(kernel, admin):
    hardware_id, hardware_version = item_id(kernel, "incident_category", "hardware")
    desktop_id, _ = item_id(kernel, "incident_category", "desktop")
    cycle = gql(
        kernel,
        "mutation($id: ID!, $v: Int!, $p: ID) { moveDictionaryItem(id: $id, version: $v, parent: $p) { item { code } } }",
        {"id": hardware_id, "v": hardware_version, "p": desktop_id},
        actor=admin,
    )
    assert error_codes(cycle) == ["BAD_USER_INPUT"]
    assert cycle["errors"][0]["extensions"]["field"] == "parentId"

    duplicate = gql(
        kernel,
        'mutation { createDictionaryItem(input: {dictionary: "incident_category", code: "hardware", '
        'labels: {en: "Again"}}) { item { id } } }',
        actor=admin,
    )
    assert error_codes(duplicate) == ["BAD_USER_INPUT"]
    unknown = gql(
        kernel,
        'mutation { createDictionaryItem(input: {dictionary: "nope", code: "x", labels: {en: "X"}}) { item { id } } }',
        actor=admin,
    )
    assert error_codes(unknown) == ["NOT_FOUND"]
    bad_locale = gql(
        kernel,
        'mutation { createDictionaryItem(input: {dictionary: "incident_category", code: "x", labels: {fr: "X"}}) { item { id } } }',
        actor=admin,
    )
    assert error_codes(bad_locale) == ["BAD_USER_INPUT"]
    other_type = gql(
        kernel,
        "mutation($id: ID!) { updateDictionaryItem(id: $id, version: 1, input: {active: false}) { item { id } } }",
        {"id": base64.b64encode(b"Dictionary:1").decode()},
        actor=admin,
    )
    assert error_codes(other_type) == ["BAD_USER_INPUT"]
    with kernel.session() as session:
        hardware = session.scalar(select(DictionaryItem).where(DictionaryItem.code == "hardware"))
        assert hardware.parent_id is None and hardware.version == hardware_version


def test_stale_version_is_a_conflict(kernel, admin):
    global_id, version = item_id(kernel, "change_priority", "p1")
    mutation = (
        "mutation($id: ID!, $v: Int!, $l: JSON!) { updateDictionaryItem(id: $id, version: $v, "
        "input: {labels: $l}) { item { version } } }"
    )
    first = gql(kernel, mutation, {"id": global_id, "v": version, "l": {"en": "Mine"}}, actor=admin)
    assert "errors" not in first
    second = gql(
        kernel, mutation, {"id": global_id, "v": version, "l": {"en": "Theirs"}}, actor=admin
    )
    assert error_codes(second) == ["CONFLICT"]
    assert second["errors"][0]["extensions"]["currentVersion"] == version + 1
    with kernel.session() as session:
        item = session.scalar(select(DictionaryItem).where(DictionaryItem.code == "p1"))
        assert item.labels["en"] == "Mine"


def test_only_administrators_edit_and_only_signed_in_users_read(kernel, member):
    global_id, version = item_id(kernel, "change_priority", "p2")
    edit = gql(
        kernel,
        "mutation($id: ID!, $v: Int!) { updateDictionaryItem(id: $id, version: $v, input: {active: false}) { item { id } } }",
        {"id": global_id, "v": version},
        actor=member,
    )
    assert error_codes(edit) == ["FORBIDDEN"]
    assert error_codes(gql(kernel, "{ dictionaries { edges { node { code } } } }")) == [
        "UNAUTHENTICATED"
    ]
