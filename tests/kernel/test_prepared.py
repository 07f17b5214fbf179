"""Prepared selects: the per-request hot path reads through one long-lived connection."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select

from openitsm.kernel.db.prepared import _READ_CONNECTIONS, PreparedSelect, release_read_connection
from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import User

BY_LOGIN = PreparedSelect(
    select(User.id, User.login, User.is_superuser, User.created_at).where(
        User.login == bindparam("login")
    )
)


def test_rows_come_back_converted_by_the_column_types(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "prep", "Prep", superuser=True)
    row = BY_LOGIN.first(kernel.engine, login="prep")
    assert row["id"] == user.id and row["login"] == "prep"
    assert row["is_superuser"] is True
    assert isinstance(row["created_at"], dt.datetime) and row["created_at"].tzinfo is not None
    assert BY_LOGIN.first(kernel.engine, login="nobody") is None


def test_a_broken_connection_is_replaced(kernel):
    with kernel.session() as session:
        service.create_user(session, "again", "Again")
    assert BY_LOGIN.first(kernel.engine, login="again") is not None
    _READ_CONNECTIONS[kernel.engine].connection.close()  # the server dropped it, say
    assert BY_LOGIN.first(kernel.engine, login="again")["login"] == "again"


def test_reads_see_committed_writes_at_once(kernel):
    assert BY_LOGIN.first(kernel.engine, login="later") is None
    with kernel.session() as session:
        service.create_user(session, "later", "Later")
    assert BY_LOGIN.first(kernel.engine, login="later") is not None
    release_read_connection(kernel.engine)
    assert kernel.engine not in _READ_CONNECTIONS
