"""Custom fields: defined without code, then checked, stored, guarded and recorded like any
other field of the resource, through the services and GraphQL alike."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from strawberry.relay import to_base64

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.customfields import service as customfields
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.testing import actor_of, build_kernel, error_codes, gql

SEAT = {"zh-CN": "工位", "en": "Seat"}
USER_FIELDS = "query($id: ID!) { node(id: $id) { ... on User { login customFields } } }"
UPDATE_USER = """
mutation($id: ID!, $version: Int!, $values: JSON!) {
  updateUser(id: $id, version: $version, input: {customFields: $values}) {
    user { version customFields }
  }
}"""


@dataclass
class Site:
    kernel: Kernel
    admin: Actor
    clerk: Actor  # org.manage and org.read; cf_salary hidden, cf_grade read-only
    clerk_role: int
    person_id: int


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    kernel = build_kernel(tmp_path, database_url)
    try:
        with kernel.session() as session:
            kinds = kernel.record_kinds
            customfields.define(
                session, kinds, resource="user", name="seat", labels=SEAT, type="text"
            )
            customfields.define(
                session, kinds, resource="user", name="salary", labels={"en": "Salary"},
                type="money",
            )  # fmt: skip
            customfields.define(
                session,
                kinds,
                resource="user",
                name="grade",
                labels={"en": "Grade"},
                type="choice",
                choices=[{"value": "a", "labels": {"en": "A"}}, {"value": "b"}],
            )
            customfields.define(
                session, kinds, resource="user", name="joined", labels={"en": "Joined"},
                type="date",
            )  # fmt: skip
            admin = identity.create_user(session, "root", "Root", superuser=True)
            clerk = identity.create_user(session, "clerk", "Clerk")
            role = service.create_role(
                session,
                action_registry(kernel),
                code="clerk",
                labels={"en": "Clerk"},
                actions=["org.read", "org.manage"],
            )
            set_field_rule(session, kinds, role.id, "user", "cf_salary", "hidden")
            set_field_rule(session, kinds, role.id, "user", "cf_grade", "read_only")
            service.grant_role(session, clerk.id, role.id)
            person = service.create_user(
                session,
                login="li",
                name="李雷",
                custom_fields={"cf_seat": "B-204", "cf_salary": "8800.50", "cf_grade": "a"},
            )
            ids = admin.id, clerk.id, role.id, person.id
        yield Site(kernel, actor_of(kernel, ids[0]), actor_of(kernel, ids[1]), ids[2], ids[3])
    finally:
        kernel.close()


def user_id(site: Site) -> str:
    return to_base64("User", site.person_id)


def version_of(site: Site) -> int:
    with site.kernel.session() as session:
        return service.get_user(session, site.person_id).version


def test_values_are_typed_stored_and_read_back(site: Site) -> None:
    with site.kernel.session() as session:
        person = service.get_user(session, site.person_id)
        assert person.custom_fields == {"cf_seat": "B-204", "cf_salary": "8800.50", "cf_grade": "a"}
        specs = customfields.definitions(session, "user")
        values = customfields.values_of(person, specs)
    assert values == {
        "cf_seat": "B-204",
        "cf_salary": decimal.Decimal("8800.50"),
        "cf_grade": "a",
        "cf_joined": None,
    }
    answer = gql(site.kernel, USER_FIELDS, {"id": user_id(site)}, actor=site.admin)
    assert answer["data"]["node"]["customFields"] == {
        "cf_seat": "B-204",
        "cf_salary": "8800.50",
        "cf_grade": "a",
    }


def test_a_hidden_custom_field_is_absent_for_the_role_that_hides_it(site: Site) -> None:
    answer = gql(site.kernel, USER_FIELDS, {"id": user_id(site)}, actor=site.clerk)
    assert "errors" not in answer
    assert answer["data"]["node"]["customFields"] == {"cf_seat": "B-204", "cf_grade": "a"}


def test_hidden_and_read_only_custom_fields_cannot_be_written(site: Site) -> None:
    for name, value in (("cf_salary", "1.00"), ("cf_grade", "b")):
        answer = gql(
            site.kernel,
            UPDATE_USER,
            {"id": user_id(site), "version": version_of(site), "values": {name: value}},
            actor=site.clerk,
        )
        assert error_codes(answer) == ["FORBIDDEN"], answer
        assert answer["errors"][0]["extensions"]["field"] == name
    written = gql(
        site.kernel,
        UPDATE_USER,
        {"id": user_id(site), "version": version_of(site), "values": {"cf_seat": "C-1"}},
        actor=site.clerk,
    )
    assert written["data"]["updateUser"]["user"]["customFields"] == {
        "cf_seat": "C-1",
        "cf_grade": "a",
    }
    with site.kernel.session() as session:
        stored = service.get_user(session, site.person_id).custom_fields
    assert stored == {"cf_seat": "C-1", "cf_salary": "8800.50", "cf_grade": "a"}


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"cf_seet": "x"}, "cf_seet", None),
        ({"cf_joined": "31/12/2026"}, "cf_joined", "not_a_date"),
        ({"cf_salary": "12.345"}, "cf_salary", "too_many_decimals"),
        ({"cf_grade": "z"}, "cf_grade", "unknown_choice"),
        ({"cf_seat": "x" * 201}, "cf_seat", "too_long"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    site: Site, values: dict[str, str], field: str, reason: str | None
) -> None:
    before = version_of(site)
    answer = gql(
        site.kernel,
        UPDATE_USER,
        {"id": user_id(site), "version": before, "values": values},
        actor=site.admin,
    )
    assert error_codes(answer) == ["BAD_USER_INPUT"], answer
    extensions = answer["errors"][0]["extensions"]
    assert extensions["field"] == field
    if reason is None:
        assert "Did you mean 'cf_seat'?" in answer["errors"][0]["message"]
    else:
        assert extensions["reason"] == reason
    assert version_of(site) == before  # nothing applied


def test_null_clears_a_value_and_dates_come_back_as_dates(site: Site) -> None:
    answer = gql(
        site.kernel,
        UPDATE_USER,
        {
            "id": user_id(site),
            "version": version_of(site),
            "values": {"cf_seat": None, "cf_joined": "2026-03-01"},
        },
        actor=site.admin,
    )
    assert answer["data"]["updateUser"]["user"]["customFields"] == {
        "cf_salary": "8800.50",
        "cf_grade": "a",
        "cf_joined": "2026-03-01",
    }
    with site.kernel.session() as session:
        person = service.get_user(session, site.person_id)
        values = customfields.values_of(person, customfields.definitions(session, "user"))
    assert values["cf_joined"] == dt.date(2026, 3, 1) and values["cf_seat"] is None


def test_history_records_each_custom_field_and_hides_the_hidden_ones(site: Site) -> None:
    with site.kernel.session() as session:
        changes = session.execute(
            select(AuditChange.field, AuditChange.new_value)
            .join(AuditEvent, AuditEvent.id == AuditChange.event_id)
            .where(AuditEvent.record_kind == "user", AuditEvent.record_id == site.person_id)
        ).all()
    recorded = dict(changes)
    assert recorded["cf_seat"] == "B-204" and recorded["cf_salary"] == "8800.50"
    assert "custom_fields" not in recorded
    history = """query($id: Int!) { history(record: {kind: "user", recordId: $id}) {
      nodes { changes { field newValue } } } }"""
    seen = gql(site.kernel, history, {"id": site.person_id}, actor=site.clerk)
    fields = {c["field"] for e in seen["data"]["history"]["nodes"] for c in e["changes"]}
    assert "cf_seat" in fields and "cf_salary" not in fields


def test_required_fields_are_asked_for_on_create_through_the_api(site: Site) -> None:
    with site.kernel.session() as session:
        customfields.define(
            session,
            site.kernel.record_kinds,
            resource="department",
            name="cost_centre",
            labels={"en": "Cost centre"},
            type="text",
            required=True,
        )
    create = """mutation($values: JSON) { createDepartment(input: {code: "ops", name: "Ops",
      customFields: $values}) { department { code customFields } } }"""
    missing = gql(site.kernel, create, {"values": {}}, actor=site.admin)
    assert error_codes(missing) == ["BAD_USER_INPUT"]
    assert missing["errors"][0]["extensions"]["field"] == "cf_cost_centre"
    done = gql(site.kernel, create, {"values": {"cf_cost_centre": "CC-7"}}, actor=site.admin)
    assert done["data"]["createDepartment"]["department"]["customFields"] == {
        "cf_cost_centre": "CC-7"
    }
    with site.kernel.session() as session:
        # A system import (no values given) is not stopped by a required field.
        service.create_department(session, code="sync", name="Synced")
        assert session.scalar(select(Department.id).where(Department.code == "sync"))


def test_definitions_are_checked(site: Site) -> None:
    kinds = site.kernel.record_kinds
    with site.kernel.session() as session:
        cases = [
            ({"resource": "role", "name": "x", "type": "text"}, "resource"),
            ({"resource": "user", "name": "9lives", "type": "text"}, "name"),
            ({"resource": "user", "name": "seat", "type": "text"}, "name"),
            ({"resource": "user", "name": "colour", "type": "colour"}, "type"),
            ({"resource": "user", "name": "level", "type": "choice"}, "choices"),
            ({"resource": "user", "name": "site", "type": "dictionary"}, "dictionary"),
            (
                {"resource": "user", "name": "site", "type": "dictionary", "dictionary": "nope"},
                "dictionary",
            ),
            ({"resource": "user", "name": "n", "type": "number", "max_length": 5}, "max_length"),
        ]
        for arguments, field in cases:
            with pytest.raises(BadUserInput) as refused:
                customfields.define(session, kinds, labels={"en": "X"}, **arguments)  # type: ignore[arg-type]
            assert refused.value.extensions["field"] == field, arguments
        with pytest.raises(BadUserInput):
            customfields.define(session, kinds, resource="user", name="x", labels={}, type="text")
        seat = next(s for s in customfields.definitions(session, "user") if s.name == "cf_seat")
        with pytest.raises(BadUserInput):
            customfields.change(session, seat.id, seat.version, type="number")
        with pytest.raises(Conflict):
            customfields.change(session, seat.id, seat.version + 1, listed=True)


def test_field_rules_name_custom_fields_and_refuse_unknown_ones(site: Site) -> None:
    with site.kernel.session() as session, pytest.raises(BadUserInput) as refused:
        set_field_rule(
            session, site.kernel.record_kinds, site.clerk_role, "user", "cf_sat", "hidden"
        )
    assert "Did you mean 'cf_seat'?" in refused.value.message
    resources = gql(site.kernel, "{ resources { name fields } }", actor=site.admin)
    user = next(r for r in resources["data"]["resources"] if r["name"] == "user")
    assert {"cf_seat", "cf_salary", "cf_grade", "cf_joined"} <= set(user["fields"])
    assert "custom_fields" not in user["fields"]


def test_retired_fields_leave_forms_and_the_api_but_keep_their_values(site: Site) -> None:
    with site.kernel.session() as session:
        seat = next(s for s in customfields.definitions(session, "user") if s.name == "cf_seat")
        customfields.change(session, seat.id, seat.version, active=False)
    answer = gql(site.kernel, USER_FIELDS, {"id": user_id(site)}, actor=site.admin)
    assert "cf_seat" not in answer["data"]["node"]["customFields"]
    with site.kernel.session() as session:
        assert service.get_user(session, site.person_id).custom_fields["cf_seat"] == "B-204"
        assert "cf_seat" in customfields.field_names(session, "user")


def test_managing_definitions_needs_the_action(site: Site) -> None:
    define = """mutation { defineCustomField(input: {resource: "user", name: "badge",
      labels: {en: "Badge"}, type: "text"}) { name resource } }"""
    assert error_codes(gql(site.kernel, define, actor=site.clerk)) == ["FORBIDDEN"]
    done = gql(site.kernel, define, actor=site.admin)
    assert done["data"]["defineCustomField"] == {"name": "cf_badge", "resource": "user"}
    listed = gql(
        site.kernel, '{ customFields(resource: "user") { name type choices { value } } }',
        actor=site.clerk,
    )  # fmt: skip
    names = [f["name"] for f in listed["data"]["customFields"]]
    assert names == ["cf_seat", "cf_salary", "cf_grade", "cf_joined", "cf_badge"]


def test_apply_values_checks_write_access_of_the_session_actor(site: Site) -> None:
    with site.kernel.unit_of_work(actor=site.clerk) as session:
        person = service.get_user(session, site.person_id)
        with pytest.raises(Forbidden):
            customfields.apply_values(session, person, "user", {"cf_salary": None})


def test_graphql_filters_users_by_custom_values_under_field_rules(site: Site) -> None:
    query = """query($f: UserFilter) { users(filter: $f) { nodes { login } } }"""
    found = gql(site.kernel, query, {"f": {"customFields": {"cf_grade": "a"}}}, actor=site.admin)
    assert [n["login"] for n in found["data"]["users"]["nodes"]] == ["li"]
    money = gql(
        site.kernel, query, {"f": {"customFields": {"cf_salary": "8800.5"}}}, actor=site.admin
    )
    assert [n["login"] for n in money["data"]["users"]["nodes"]] == ["li"]
    unset = gql(site.kernel, query, {"f": {"customFields": {"cf_seat": None}}}, actor=site.admin)
    assert "li" not in [n["login"] for n in unset["data"]["users"]["nodes"]]
    hidden = gql(
        site.kernel, query, {"f": {"customFields": {"cf_salary": "8800.50"}}}, actor=site.clerk
    )
    assert error_codes(hidden) == ["FORBIDDEN"]
    unknown = gql(site.kernel, query, {"f": {"customFields": {"cf_x": 1}}}, actor=site.admin)
    assert error_codes(unknown) == ["BAD_USER_INPUT"]
