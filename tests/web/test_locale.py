"""Pages in the viewer's language: kernel errors, the sign-in page, dates, numbers, the icon."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.identity import lockout, routes, tokens
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.testing import build_kernel, error_codes, gql
from openitsm.web import testing as web_testing
from openitsm.web.pages import site_of

PASSWORD = "locale-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        identity.create_user(session, "li", "李娜", password=PASSWORD, locale="zh-CN")
        identity.create_user(session, "ann", "Ann", password=PASSWORD, locale="en")
        identity.create_user(session, "root", "Root", password=PASSWORD, superuser=True)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    # The browser asks for the other language: the user's own setting wins.
    other = {"li": "en", "ann": "zh-CN"}.get(login, "en")
    return web_testing.signed_in(kernel, login, PASSWORD, headers={"accept-language": other})


def user_id(kernel: Kernel, login: str) -> int:
    with kernel.session() as session:
        found = session.scalar(select(User.id).where(User.login == login))
        assert found is not None
        return found


# --- kernel errors ----------------------------------------------------------------------


def test_a_kernel_error_is_shown_in_the_viewers_language(kernel: Kernel) -> None:
    chinese = signed_in(kernel, "li").get("/admin/dictionaries/nope")
    assert chinese.status_code == 404
    assert "没有代码为“nope”的字典。" in chinese.text
    assert "No dictionary with code" not in chinese.text

    english = signed_in(kernel, "ann").get("/admin/dictionaries/nope")
    assert english.status_code == 404
    assert "No dictionary with code &#39;nope&#39;." in english.text


def test_the_api_keeps_the_english_message(kernel: Kernel) -> None:
    root = Actor(user_id=user_id(kernel, "root"), label="Root", superuser=True, locale="zh-CN")
    answer = gql(
        kernel,
        'mutation { createDictionaryItem(input: {dictionary: "nope", code: "x", '
        'labels: {en: "X"}}) { item { id } } }',
        actor=root,
    )
    assert error_codes(answer) == ["NOT_FOUND"]
    assert answer["errors"][0]["message"] == "No dictionary with code 'nope'."
    assert answer["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "dictionary"}


def test_a_web_refusal_is_translated_too(kernel: Kernel) -> None:
    li = signed_in(kernel, "li")
    refused = li.post("/tokens", data={"csrf": "forged", "name": "x", "expires_on": "2030-01-01"})
    assert refused.status_code == 400
    assert "此表单已过期或并非来自本站" in refused.text


# --- the sign-in page -------------------------------------------------------------------


def sign_in(client: TestClient, language: str, password: str = "wrong") -> str:
    page = client.get("/login", headers={"accept-language": language})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    answer = client.post(
        "/login",
        data={"login": "ann", "password": password, "csrf": csrf.group(1)},
        headers={"accept-language": language},
        follow_redirects=False,
    )
    return answer.text


@pytest.mark.parametrize(
    ("language", "heading", "password_label"),
    [("zh-CN", "<title>OpenITSM — 登录</title>", "密码"), ("en", "Sign in", "Password")],
)
def test_the_sign_in_page_speaks_the_browsers_language(
    kernel: Kernel, language: str, heading: str, password_label: str
) -> None:
    page = TestClient(kernel.asgi()).get("/login", headers={"accept-language": language})
    assert f'lang="{language}"' in page.text
    assert heading in page.text and password_label in page.text


def test_a_locked_account_is_explained_in_both_languages(kernel: Kernel) -> None:
    client = TestClient(kernel.asgi())
    for _ in range(lockout.LOCK_AFTER):
        sign_in(client, "en")
    assert "temporarily locked. Try again in 1 minute(s)." in sign_in(client, "en")
    assert "账户已临时锁定，请在 1 分钟后重试。" in sign_in(client, "zh-CN", PASSWORD)


def test_an_unreachable_directory_is_explained_in_both_languages(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_: object, **__: object) -> lockout.SignInResult:
        return lockout.SignInResult(user=None, directory_unavailable=True)

    monkeypatch.setattr(routes.lockout, "sign_in", unreachable)
    client = TestClient(kernel.asgi())
    assert "暂时无法连接域目录服务" in sign_in(client, "zh-CN", PASSWORD)
    assert "The directory cannot be reached right now" in sign_in(client, "en", PASSWORD)
    assert "Wrong login or password." not in sign_in(client, "en", PASSWORD)


def test_a_wrong_password_is_explained_in_chinese(kernel: Kernel) -> None:
    assert "用户名或密码不正确。" in sign_in(TestClient(kernel.asgi()), "zh-CN")


# --- dates and numbers ------------------------------------------------------------------


def test_dates_are_in_the_users_zone_and_written_as_their_language_does(kernel: Kernel) -> None:
    day = dt.date.today() + dt.timedelta(days=40)
    expires = dt.datetime.combine(day, dt.time(23, 30), dt.UTC)  # 07:30 the next day in Shanghai
    with kernel.session() as session:
        session.execute(update(User).values(time_zone="Asia/Shanghai"))
        session.commit()
    for login in ("li", "ann"):
        owner = Actor(user_id=user_id(kernel, login), label=login)
        with kernel.unit_of_work(actor=owner) as session:
            tokens.create_api_token(session, owner, name="Backup", expires_at=expires)
    local = day + dt.timedelta(days=1)

    chinese = signed_in(kernel, "li").get("/tokens").text
    assert f"{local.year}年{local.month}月{local.day}日 07:30" in chinese

    english = signed_in(kernel, "ann").get("/tokens").text
    assert f"{local:%b} {local.day}, {local.year}, 7:30\u202fAM" in english


def test_numbers_are_grouped_and_money_has_two_decimals(kernel: Kernel) -> None:
    site = site_of(kernel)
    for locale in ("zh-CN", "en"):
        template = site.environment(locale).from_string(
            "{{ 1234567|number }} {{ 1234.5|number(2) }} {{ 1234567|cell('number', 'UTC') }} "
            "{{ '9876.5'|cell('money', 'UTC') }} {{ 1234567|cell('text', 'UTC') }}"
        )
        assert template.render() == "1,234,567 1,234.50 1,234,567 9,876.50 1234567"


def test_list_cells_show_times_in_the_users_zone(kernel: Kernel) -> None:
    at = dt.datetime(2026, 3, 4, 20, 5, tzinfo=dt.UTC)
    site = site_of(kernel)
    chinese = site.environment("zh-CN").from_string("{{ at|cell('text', 'Asia/Shanghai') }}")
    english = site.environment("en").from_string("{{ at|cell('date', 'America/New_York') }}")
    assert chinese.render(at=at) == "2026年3月5日 04:05"
    assert english.render(at=at) == "Mar 4, 2026"


# --- the icon ---------------------------------------------------------------------------


def test_the_favicon_is_served_to_anyone(kernel: Kernel) -> None:
    icon = TestClient(kernel.asgi()).get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg") and "max-age" in icon.headers["cache-control"]
