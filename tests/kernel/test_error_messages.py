"""Error messages as templates: English for the API, translatable where pages show them."""

from __future__ import annotations

from typing import Any

from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated, _t
from openitsm.kernel.graphql.errors import error_payload

CHINESE = {
    "No dictionary with code '{code}'.": "没有代码为“{code}”的字典。",
    "Sign in first.": "请先登录。",
    "Broken {nothing}.": "坏了 {missing}。",
}


def chinese(message: str) -> str:
    return CHINESE.get(message, message)


def payload(error: Any) -> dict[str, Any]:
    return error_payload(error)


def test_a_template_is_filled_in_english_and_translated_on_request() -> None:
    error = NotFound(_t("No dictionary with code '{code}'."), field="code", params={"code": "x"})
    assert error.message == str(error) == "No dictionary with code 'x'."
    assert error.translated(chinese) == "没有代码为“x”的字典。"
    assert error.extensions == {"field": "code"}  # parameters are not sent to API clients
    assert payload(error) == {
        "message": "No dictionary with code 'x'.",
        "extensions": {"code": "NOT_FOUND", "field": "code"},
    }


def test_extensions_fill_in_the_template_too() -> None:
    error = Forbidden(
        _t("Your roles do not allow changing the {resource} field '{field}'."),
        field="cost",
        resource="incident",
    )
    assert error.message == "Your roles do not allow changing the incident field 'cost'."
    assert error.extensions == {"field": "cost", "resource": "incident"}


def test_plain_messages_stay_as_they_are_in_every_language() -> None:
    error = BadUserInput(f"The value {'{x}'} is odd.", field="x")
    assert error.template is None and error.message == "The value {x} is odd."
    assert error.translated(chinese) == "The value {x} is odd."
    assert Conflict("Changed.", currentVersion=3).extensions == {"currentVersion": 3}


def test_a_translation_with_a_broken_placeholder_falls_back_to_english() -> None:
    error = BadUserInput(_t("Broken {nothing}."), params={"nothing": "here"})
    assert error.translated(chinese) == "Broken here."


def test_the_default_sign_in_message_is_a_template() -> None:
    assert Unauthenticated().translated(chinese) == "请先登录。"
    assert Unauthenticated().message == "Sign in first."
