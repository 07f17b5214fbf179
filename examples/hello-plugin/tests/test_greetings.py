"""The plugin's own tests, written the way any plugin's are: a scratch kernel with the plugin
enabled, migrated, then driven through GraphQL as a signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openitsm.kernel import Actor, ConfigurationError, Kernel
from openitsm.kernel.testing import build_kernel, error_codes, gql, make_settings
from sqlalchemy import select

from openitsm_hello import plugin
from openitsm_hello.models import Greeting
from openitsm_hello.tasks import DAILY_PREFIX

CREATE = """
mutation Create($input: CreateGreetingInput!) {
  createGreeting(input: $input) { greeting { id name message version timesGreeted } }
}
"""
UPDATE = """
mutation Update($id: ID!, $version: Int!, $input: UpdateGreetingInput!) {
  updateGreeting(id: $id, version: $version, input: $input) { greeting { message version } }
}
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, f"sqlite:///{tmp_path / 'test.db'}", plugins={"hello": plugin})
    yield built
    built.close()


@pytest.fixture
def user() -> Actor:
    return Actor(user_id=1, label="Tester")


def test_create_and_list(kernel: Kernel, user: Actor) -> None:
    created = gql(kernel, CREATE, {"input": {"name": "morning", "message": "早上好"}}, user)
    assert created["data"]["createGreeting"]["greeting"]["version"] == 1
    listed = gql(kernel, "{ greetings { nodes { name message } } }", actor=user)
    assert listed["data"]["greetings"]["nodes"] == [{"name": "morning", "message": "早上好"}]


def test_anonymous_callers_are_refused(kernel: Kernel) -> None:
    assert error_codes(gql(kernel, "{ greetings { nodes { name } } }")) == ["UNAUTHENTICATED"]


def test_stale_version_is_a_conflict(kernel: Kernel, user: Actor) -> None:
    created = gql(kernel, CREATE, {"input": {"name": "n", "message": "one"}}, user)
    greeting_id = created["data"]["createGreeting"]["greeting"]["id"]
    first = gql(
        kernel, UPDATE, {"id": greeting_id, "version": 1, "input": {"message": "two"}}, user
    )
    assert first["data"]["updateGreeting"]["greeting"] == {"message": "two", "version": 2}
    stale = gql(kernel, UPDATE, {"id": greeting_id, "version": 1, "input": {"message": "x"}}, user)
    assert error_codes(stale) == ["CONFLICT"]


def test_blank_message_is_bad_input(kernel: Kernel, user: Actor) -> None:
    result = gql(kernel, CREATE, {"input": {"name": "n", "message": "  "}}, user)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "message"


def test_greeting_of_the_day_counts_each_slot_once(kernel: Kernel) -> None:
    task = kernel.tasks["hello.greeting_of_the_day"]
    assert task.run(key="slot-1") == 1
    assert task.run(key="slot-1") is None  # the same slot again: already done, skipped
    assert task.run(key="slot-2") == 2
    with kernel.session() as session:
        daily = session.scalars(select(Greeting).where(Greeting.name.startswith(DAILY_PREFIX)))
        assert [(g.message, g.times_greeted) for g in daily] == [("你好", 2)]


def test_settings_come_from_the_plugins_hello_table(tmp_path: Path) -> None:
    def settings(table: dict[str, object]) -> object:
        return make_settings(tmp_path, "sqlite://", modules=["hello"], plugins={"hello": table})

    kernel = Kernel(settings({"greeting": "Good day"}), extra_plugins={"hello": plugin})
    assert kernel.plugins.settings_of("hello").greeting == "Good day"
    with pytest.raises(ConfigurationError, match=r"\[plugins.hello\] greeting"):
        Kernel(settings({"greeting": ""}), extra_plugins={"hello": plugin})
