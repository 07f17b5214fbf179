"""Greeting operations: the one place that creates, changes and validates greetings.

GraphQL resolvers, tasks and commands all call these functions, so a rule written here
holds whichever way a greeting is changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openitsm.kernel import BadUserInput, NotFound, check_version, flush
from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm_hello.models import Greeting

MAX_NAME = 100
MAX_MESSAGE = 500


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise BadUserInput(f"A name is 1 to {MAX_NAME} characters.", field="name")
    return name


def _clean_message(message: str) -> str:
    message = message.strip()
    if not message or len(message) > MAX_MESSAGE:
        raise BadUserInput(f"A message is 1 to {MAX_MESSAGE} characters.", field="message")
    return message


def get_greeting(session: Session, greeting_id: int) -> Greeting:
    greeting = session.get(Greeting, greeting_id)
    if greeting is None:
        raise NotFound(f"No greeting with id {greeting_id}.", field="id")
    return greeting


def find_greeting(session: Session, name: str) -> Greeting | None:
    return session.scalar(select(Greeting).where(Greeting.name == name))


def create_greeting(session: Session, name: str, message: str) -> Greeting:
    name = _clean_name(name)
    if find_greeting(session, name) is not None:
        raise BadUserInput(f"There is already a greeting named '{name}'.", field="name")
    greeting = Greeting(name=name, message=_clean_message(message), times_greeted=0)
    session.add(greeting)
    flush(session)
    return greeting


def update_greeting(
    session: Session, greeting_id: int, version: int, changes: Mapping[str, Any]
) -> Greeting:
    """Change the name or message; `version` is the one the editor saw (else CONFLICT)."""
    greeting = get_greeting(session, greeting_id)
    check_version(greeting, version, "greeting")
    if changes.get("name") is not None:
        name = _clean_name(changes["name"])
        other = find_greeting(session, name)
        if other is not None and other.id != greeting.id:
            raise BadUserInput(f"There is already a greeting named '{name}'.", field="name")
        greeting.name = name
    if changes.get("message") is not None:
        greeting.message = _clean_message(changes["message"])
    flush(session)
    return greeting


def greet(session: Session, greeting_id: int) -> Greeting:
    """Count one more greeting sent."""
    greeting = get_greeting(session, greeting_id)
    greeting.times_greeted += 1
    flush(session)
    return greeting
