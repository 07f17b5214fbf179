"""Optimistic locking: concurrent edits of one row never silently overwrite each other."""

from __future__ import annotations

import pytest

from openitsm.kernel.db import check_version
from openitsm.kernel.errors import Conflict
from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import User


def test_the_second_of_two_concurrent_writers_gets_a_conflict(kernel):
    with kernel.session() as session:
        user_id = service.create_user(session, "shared", "Shared").id
    with kernel.session() as first, kernel.session() as second:
        mine = first.get(User, user_id)
        theirs = second.get(User, user_id)
        mine.name = "Mine"
        first.commit()
        theirs.name = "Theirs"
        # PostgreSQL finds the version moved on; SQLite refuses the stale snapshot's write.
        with pytest.raises(Conflict, match=r"someone else|same moment"):
            from openitsm.kernel.db.session import commit

            commit(second)
    with kernel.session() as session:
        user = session.get(User, user_id)
        assert (user.name, user.version) == ("Mine", 2)


def test_check_version_refuses_a_stale_edit(kernel):
    with kernel.session() as session:
        user = service.create_user(session, "stale", "Stale")
        check_version(user, 1)
        user.name = "Edited"
    with kernel.session() as session:
        user = session.get(User, user.id)
        with pytest.raises(Conflict) as raised:
            check_version(user, 1, "user")
        assert raised.value.extensions == {"currentVersion": 2}
