"""Form declarations and checking a submission: types, limits, field rules, sanitising."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from openitsm.kernel.access.fields import FieldAccess
from openitsm.kernel.errors import ConfigurationError, Forbidden
from openitsm.kernel.forms import (
    Choice,
    Form,
    FormField,
    FormSection,
    check_submission,
    sanitise_html,
    visible_fields,
)

FORM = Form(
    "ticket",
    "ticket",
    {"en": "Ticket"},
    (
        FormSection(
            "main",
            {"en": "Main"},
            (
                FormField("title", {"en": "Title"}, required=True, max_length=20),
                FormField("description", {"en": "Description"}, type="richtext"),
                FormField("cost", {"en": "Cost"}, type="money", minimum=0, maximum=10_000),
                FormField("count", {"en": "Count"}, type="number"),
                FormField("due_at", {"en": "Due"}, type="datetime"),
                FormField("urgent", {"en": "Urgent"}, type="bool"),
                FormField(
                    "priority",
                    {"en": "Priority"},
                    type="choice",
                    choices=(Choice("p1", {"en": "High"}), Choice("p2", {"en": "Low"})),
                ),
                FormField("contact_email", {"en": "Email"}, type="email"),
                FormField("internal_note", {"en": "Note"}, type="textarea"),
            ),
        ),
    ),
)
EVERYTHING = FieldAccess("ticket")


def test_a_valid_post_becomes_typed_values() -> None:
    posted = {
        "title": "  Printer jam ",
        "cost": "1,234.50",
        "count": "3",
        "due_at": "2026-03-01T09:30",
        "urgent": "on",
        "priority": "p1",
        "contact_email": "a@example.test",
        "csrf": "ignored",
    }
    checked = check_submission(FORM, posted, EVERYTHING, time_zone="Asia/Shanghai")
    assert checked.valid, checked.errors
    values = checked.values
    assert values["title"] == "Printer jam" and values["cost"] == decimal.Decimal("1234.50")
    assert values["count"] == 3 and values["urgent"] is True and values["priority"] == "p1"
    assert values["due_at"] == dt.datetime(2026, 3, 1, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai
    assert values["description"] is None and "csrf" not in values


def test_every_bad_value_gets_its_own_error_and_the_typing_is_kept() -> None:
    posted = {
        "title": "x" * 21,
        "cost": "12.345",
        "count": "2.5",
        "due_at": "tomorrow",
        "priority": "p9",
        "contact_email": "not-an-address",
    }
    checked = check_submission(FORM, posted, EVERYTHING)
    codes = {name: error.code for name, error in checked.errors.items()}
    assert codes == {
        "title": "too_long",
        "cost": "too_many_decimals",
        "count": "not_a_whole_number",
        "due_at": "not_a_datetime",
        "priority": "unknown_choice",
        "contact_email": "not_an_email",
    }
    assert checked.errors["title"].params == {"max": 20}
    assert checked.raw["title"] == "x" * 21 and checked.raw["due_at"] == "tomorrow"
    missing = check_submission(FORM, {"cost": "-1"}, EVERYTHING)
    assert {n: e.code for n, e in missing.errors.items()} == {
        "title": "required",
        "cost": "below_minimum",
    }


def test_rich_text_keeps_formatting_and_loses_script() -> None:
    html = '<p onclick="steal()">Hi <b>there</b><script>alert(1)</script><a href="javascript:x()">l</a></p>'
    cleaned = sanitise_html(html)
    assert cleaned.startswith("<p>Hi <b>there</b>")
    assert "script" not in cleaned and "onclick" not in cleaned and "javascript" not in cleaned
    checked = check_submission(FORM, {"title": "t", "description": html}, EVERYTHING)
    assert checked.values["description"] == cleaned


def test_field_rules_shape_the_form_and_refuse_a_forged_post() -> None:
    access = FieldAccess(
        "ticket", hidden=frozenset({"internal_note"}), read_only=frozenset({"cost"})
    )
    shown = [f.name for _, fields in visible_fields(FORM, access) for f in fields]
    assert "internal_note" not in shown and "cost" in shown
    checked = check_submission(FORM, {"title": "t"}, access)
    assert checked.valid and "cost" not in checked.values and "internal_note" not in checked.values
    for forged in ({"title": "t", "cost": "1"}, {"title": "t", "internal_note": "x"}):
        with pytest.raises(Forbidden):
            check_submission(FORM, forged, access)


def test_a_broken_declaration_stops_start_up() -> None:
    with pytest.raises(ConfigurationError, match="unknown type"):
        FormField("x", {"en": "X"}, type="colour")
    with pytest.raises(ConfigurationError, match="names one"):
        FormField("x", {"en": "X"}, type="dictionary")
    field = FormField("x", {"en": "X"})
    with pytest.raises(ConfigurationError, match="twice"):
        Form("f", "ticket", {}, (FormSection("a", {}, (field,)), FormSection("b", {}, (field,))))
