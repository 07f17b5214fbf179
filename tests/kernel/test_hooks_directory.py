"""The sign-in hook for outside directories, through the dummy plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.hookspecs import CredentialsCheck
from openitsm.kernel.identity.models import User
from openitsm.kernel.testing import build_kernel


@pytest.fixture
def dummy_kernel(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    yield built
    built.close()


def check(kernel: Kernel, login: str, password: str) -> CredentialsCheck | None:
    with kernel.session() as session:
        return kernel.hook.authenticate_credentials(
            login=login, password=password, session=session, kernel=kernel
        )


def test_hook_authenticate_credentials(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    login = dummy_plugin.DIRECTORY_LOGIN
    signed_in = check(dummy_kernel, login, dummy_plugin.DIRECTORY_PASSWORD)
    assert signed_in is not None and signed_in.user_id is not None
    assert not signed_in.unavailable
    with dummy_kernel.session() as session:
        assert session.scalar(select(User.login).where(User.id == signed_in.user_id)) == login
    # The same user again, not a second one: the hook's writes were committed with the session.
    again = check(dummy_kernel, login, dummy_plugin.DIRECTORY_PASSWORD)
    assert again is not None and again.user_id == signed_in.user_id

    down = check(dummy_kernel, login, "other")
    assert down == CredentialsCheck(unavailable=True, detail="dummy directory is down")
    # Not the plugin's login: None, so the local password check decides.
    assert check(dummy_kernel, "someone-else", "pw") is None
