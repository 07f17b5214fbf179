"""Pickers of form fields: users searched over htmx, department and dictionary trees, lookups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.access.fields import field_access, set_field_rule
from openitsm.kernel.dictionaries import service as dictionaries
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.forms import Form, FormField, FormSection, check_submission
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel, count_statements
from openitsm.web import pickers
from openitsm.web import testing as web_testing
from openitsm.web.pages import site_of

PASSWORD = "pickers-pw-123"

TICKET = Form(
    "ticket",
    "ticket",
    {"en": "Ticket"},
    (
        FormSection(
            "main",
            {"en": "Main"},
            (
                FormField("assignee", {"en": "Assignee"}, type="user"),
                FormField("reviewer", {"en": "Reviewer"}, type="user", required=True),
                FormField("team", {"en": "Team"}, type="department"),
                FormField(
                    "category",
                    {"en": "Category"},
                    type="dictionary",
                    dictionary="incident_category",
                ),
            ),
        ),
    ),
)


class PickerPages:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return list(pickers.ROUTES)


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"picker_pages": PickerPages()})
    actions = action_registry(kernel)
    with kernel.session() as session:
        reader = identity.create_user(session, "reader", "Reader", password=PASSWORD)
        kiosk = identity.create_user(session, "kiosk", "Kiosk", password=PASSWORD)
        identity.create_user(session, "nobody", "Nobody", password=PASSWORD)
        zhang = identity.create_user(session, "zhang.wei", "张伟")
        service.update_user(session, zhang.id, zhang.version, {"employee_id": "E7731"})
        gone = identity.create_user(session, "zhang.gone", "张离职")
        service.deactivate_user(session, gone.id)
        read = service.create_role(
            session, actions, code="reader", labels={"en": "Reader"}, actions=["org.read"]
        )
        hiding = service.create_role(
            session, actions, code="kiosk", labels={"en": "Kiosk"}, actions=["org.read"]
        )
        set_field_rule(session, kernel.record_kinds, hiding.id, "user", "employee_id", "hidden")
        service.grant_role(session, reader.id, read.id)
        service.grant_role(session, kiosk.id, hiding.id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


def picked(html: str) -> list[tuple[int, str]]:
    return [
        (int(i), label) for i, label in re.findall(r'data-pick="(\d+)" data-label="([^"]*)"', html)
    ]


def ids_of(kernel: Kernel, *logins: str) -> list[int]:
    from openitsm.kernel.identity.models import User

    with kernel.session() as session:
        found = dict(
            session.execute(select(User.login, User.id).where(User.login.in_(logins))).all()
        )
    return [found[login] for login in logins]


def test_users_are_found_by_name_login_or_employee_id_and_only_active_ones(kernel: Kernel) -> None:
    (zhang,) = ids_of(kernel, "zhang.wei")
    client = signed_in(kernel, "reader")
    for term in ("张", "zhang", "E773"):
        answer = client.get("/pick/users", params={"q": term, "name": "assignee"})
        assert answer.status_code == 200
        assert picked(answer.text) == [(zhang, "张伟")], term  # 张离职 is inactive
        assert 'data-field="assignee"' in answer.text
    nothing = client.get("/pick/users", params={"q": "no-such-person", "name": "assignee"})
    assert picked(nothing.text) == [] and "No active user matches." in nothing.text


def test_at_most_twenty_users_are_offered(kernel: Kernel) -> None:
    with kernel.session() as session:
        for n in range(25):
            identity.create_user(session, f"many{n:02}", f"Many {n:02}")
    answer = signed_in(kernel, "reader").get("/pick/users", params={"q": "many", "name": "x"})
    assert len(picked(answer.text)) == pickers.MAX_USERS == 20


def test_a_hidden_field_is_not_searched(kernel: Kernel) -> None:
    (zhang,) = ids_of(kernel, "zhang.wei")
    kiosk = signed_in(kernel, "kiosk")
    assert picked(kiosk.get("/pick/users", params={"q": "E7731", "name": "a"}).text) == []
    by_name = kiosk.get("/pick/users", params={"q": "张伟", "name": "a"}).text
    assert picked(by_name) == [(zhang, "张伟")] and "E7731" not in by_name
    reader = signed_in(kernel, "reader")
    assert picked(reader.get("/pick/users", params={"q": "E7731", "name": "a"}).text) == [
        (zhang, "张伟")
    ]


def test_searching_users_needs_org_read(kernel: Kernel) -> None:
    answer = signed_in(kernel, "nobody").get("/pick/users", params={"q": "zhang", "name": "a"})
    assert answer.status_code == 403 and "org.read" in answer.text
    assert "张伟" not in answer.text
    anonymous = TestClient(kernel.asgi()).get("/pick/users?q=zhang", follow_redirects=False)
    assert anonymous.status_code == 303


def make_departments(kernel: Kernel) -> dict[str, int]:
    ids: dict[str, int] = {}
    with kernel.session() as session:
        for code, parent, order in (
            ("hq", None, 10),
            ("it", "hq", 20),
            ("hr", "hq", 10),
            ("desk", "it", 10),
            ("east", None, 20),
        ):
            parent_id = ids[parent] if parent else None
            created = service.create_department(
                session, code=code, name=code.upper(), parent_id=parent_id, sort_order=order
            )
            ids[code] = created.id
        east = service.get_department(session, ids["east"])
        service.update_department(session, east.id, east.version, {"active": False})
    return ids


def test_prepare_loads_each_kind_once_and_puts_trees_in_order(kernel: Kernel) -> None:
    ids = make_departments(kernel)
    zhang, reader = ids_of(kernel, "zhang.wei", "reader")
    values = {"assignee": zhang, "reviewer": str(reader), "team": ids["desk"], "category": None}
    with kernel.session() as session, count_statements(kernel.engine) as log:
        choices = pickers.prepare(session, TICKET, values, None, "en")
    assert len(log.statements) == 3  # users, departments, dictionary items
    assert (choices["assignee"].label, choices["reviewer"].label) == ("张伟", "Reader")
    team = [(o.id, o.depth, o.active) for o in choices["team"]]
    assert team == [
        (ids["hq"], 0, True),
        (ids["hr"], 1, True),
        (ids["it"], 1, True),
        (ids["desk"], 2, True),
        (ids["east"], 0, False),
    ]
    categories = choices["category"]
    codes = {o.id: o for o in categories}
    with kernel.session() as session:
        items = session.scalars(
            select(DictionaryItem)
            .join(Dictionary, DictionaryItem.dictionary_id == Dictionary.id)
            .where(Dictionary.code == "incident_category")
        ).all()
        hardware = next(i for i in items if i.code == "hardware")
        desktop = next(i for i in items if i.code == "desktop")
    assert len(categories) == len(items) and set(codes) == {i.id for i in items}
    order = [o.id for o in categories]
    assert order.index(hardware.id) + 1 == order.index(desktop.id)
    assert (codes[hardware.id].depth, codes[desktop.id].depth) == (0, 1)
    assert codes[desktop.id].label == "Desktop computer"


def test_the_form_macros_render_the_pickers(kernel: Kernel) -> None:
    ids = make_departments(kernel)
    (zhang,) = ids_of(kernel, "zhang.wei")
    values = {"assignee": zhang, "reviewer": "", "team": ids["desk"], "category": None}
    with kernel.session() as session:
        choices = pickers.prepare(session, TICKET, values, None, "en")
    environment = site_of(kernel).environment("en")
    template = environment.from_string(
        '{% from "forms/macros.html" import render_form %}'
        "{{ render_form(form, sections, values, {}, access, 'en', 'UTC', choices) }}"
    )
    access = field_access(None, "ticket")
    html = template.render(
        form=TICKET,
        sections=[(TICKET.sections[0], list(TICKET.fields))],
        values=values,
        access=access,
        choices=choices,
    )
    assert f'<input type="hidden" name="assignee" value="{zhang}" data-picked>' in html
    assert re.search(r"data-picked-label[^>]*>张伟</span>", html)
    assert 'hx-get="/pick/users"' in html and 'hx-trigger="input changed delay:300ms' in html
    assert 'hx-vals=\'{"name": "reviewer"}\'' in html
    team = re.search(r'<select id="field-team" name="team".*?</select>', html, re.S)
    assert team is not None
    options = re.findall(r'<option value="(\d*)"([^>]*)>([^<]*)</option>', team.group(0))
    assert [int(v) for v, _, _ in options if v] == [
        ids[c] for c in ("hq", "hr", "it", "desk", "east")
    ]
    desk = next(o for o in options if o[0] == str(ids["desk"]))
    assert "selected" in desk[1] and desk[2] == "\u00a0" * 6 + "DESK"
    east = next(o for o in options if o[0] == str(ids["east"]))
    assert "disabled" in east[1] and east[2] == "EAST (inactive)"
    assert re.search(r'<select id="field-category" name="category"', html)
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:|<script", html)


def test_lookups_refuse_unknown_and_inactive_records(kernel: Kernel) -> None:
    ids = make_departments(kernel)
    zhang, gone = ids_of(kernel, "zhang.wei", "zhang.gone")
    with kernel.session() as session:
        hardware = dictionaries.get_dictionary(session, "incident_category")
        own = session.scalars(
            select(DictionaryItem.id).where(DictionaryItem.dictionary_id == hardware.id)
        ).first()
        foreign = session.scalars(
            select(DictionaryItem.id).where(DictionaryItem.dictionary_id != hardware.id)
        ).first()
    assert own is not None and foreign is not None
    access = field_access(None, "ticket")

    def errors(posted: dict[str, str], current: dict[str, Any] | None = None) -> dict[str, str]:
        with kernel.session() as session:
            checked = check_submission(
                TICKET, posted, access, lookups=pickers.lookups(session, current)
            )
        return {name: error.code for name, error in checked.errors.items()}

    fine = {"assignee": str(zhang), "reviewer": str(zhang), "team": str(ids["hq"]),
            "category": str(own)}  # fmt: skip
    assert errors(fine) == {}
    assert errors({**fine, "assignee": "99999", "reviewer": str(gone)}) == {
        "assignee": "unknown_user",
        "reviewer": "unknown_user",
    }
    assert errors({**fine, "team": str(ids["east"]), "category": str(foreign)}) == {
        "team": "unknown_department",
        "category": "unknown_dictionary",
    }
    # What the record already holds may stay, though no longer active.
    assert errors({**fine, "reviewer": str(gone)}, current={"reviewer": gone}) == {}
