"""Signing in and out through the real form, in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

WRONG_PASSWORD_MESSAGE = {"zh-CN": "用户名或密码不正确。", "en": "Wrong login or password."}
SUBMIT_LABEL = {"zh-CN": "登录", "en": "Sign in"}


def session_cookies(page: Page) -> list[str]:
    return [c["name"] for c in page.context.cookies() if c["name"] == "openitsm_session"]


def test_signing_in_as_agent_lands_on_the_home_page(
    page: Page, sign_in: Callable[..., None], path_of: Callable[[Page], str]
) -> None:
    page.goto("/login")
    sign_in(page, "agent")

    assert path_of(page) == "/"
    assert page.locator('form[action="/login"]').count() == 0
    assert session_cookies(page) == ["openitsm_session"]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_wrong_password_shows_the_error_and_keeps_the_login(
    page: Page,
    language: str,
    submit_login_form: Callable[[Page, str, str], None],
    path_of: Callable[[Page], str],
) -> None:
    submit_login_form(page, "engineer", "not-the-password")

    assert path_of(page) == "/login"
    alert = page.locator('[role="alert"]')
    assert alert.inner_text().strip() == WRONG_PASSWORD_MESSAGE[language]
    form = page.locator('form[action="/login"]')
    assert form.locator('input[name="login"]').input_value() == "engineer"
    assert form.locator('input[name="password"]').input_value() == ""
    assert session_cookies(page) == []


def test_the_home_page_sends_a_signed_out_visitor_to_sign_in_and_back(
    page: Page, sign_in: Callable[..., None], path_of: Callable[[Page], str]
) -> None:
    page.goto("/")
    assert path_of(page) == "/login?next=/"

    sign_in(page, "manager")  # on the form the redirect opened, which carries next=/

    assert path_of(page) == "/"
    assert page.locator('form[action="/login"]').count() == 0


def test_signing_out_ends_the_session(
    page: Page,
    sign_in: Callable[..., None],
    sign_out: Callable[[Page], bool],
    path_of: Callable[[Page], str],
) -> None:
    page.goto("/login")
    sign_in(page, "enduser")
    assert path_of(page) == "/portal"  # an end user's home is the self-service portal

    if not sign_out(page):
        pytest.skip("the home page shows no sign-out button (a form posting to /logout)")

    assert path_of(page) == "/login"
    assert session_cookies(page) == []
    page.goto("/")
    assert path_of(page) == "/login?next=/"


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_sign_in_page_speaks_the_browser_language(
    page: Page, language: str, screenshot: Callable[[Page, str, str], Path | None]
) -> None:
    page.goto("/login")

    assert page.locator("html").get_attribute("lang") == language
    submit = page.locator('form[action="/login"] [type="submit"]')
    assert submit.inner_text().strip() == SUBMIT_LABEL[language]
    screenshot(page, "login", language)
