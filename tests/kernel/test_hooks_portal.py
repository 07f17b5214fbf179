"""`portal_requests`: the dummy plugin's answer reaches the portal's home page.

The portal itself (landing, menus, merging several modules) is tested in
tests/web/test_portal.py; the incident module's answer in tests/plugins/incident/test_portal.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Actor, Kernel
from openitsm.kernel.testing import build_kernel


@pytest.fixture
def dummy_kernel(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    yield built
    built.close()


def note_model(dummy_plugin: ModuleType) -> type:
    return sys.modules[dummy_plugin.__name__.rpartition(".")[0] + ".models"].DummyNote


def test_hook_portal_requests(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    note = note_model(dummy_plugin)
    with dummy_kernel.session() as session:
        session.add_all([note(text="Printer jams"), note(text="VPN drops")])
    viewer = Actor(user_id=7, label="dummy actor 7")
    with dummy_kernel.session() as session:
        answers = dummy_kernel.hook.portal_requests(
            kernel=dummy_kernel, session=session, actor=viewer, locale="zh-CN", limit=5
        )
        anonymous = dummy_kernel.hook.portal_requests(
            kernel=dummy_kernel,
            session=session,
            actor=Actor(user_id=None, label="anonymous"),
            locale="en",
            limit=5,
        )
    found = [request for answer in answers for request in answer]
    assert [(r.number, r.title, r.status) for r in found] == [
        ("DN-2", "VPN drops", "处理中"),
        ("DN-1", "Printer jams", "处理中"),
    ]
    assert [r.needs_rating for r in found] == [True, False]
    assert [list(answer) for answer in anonymous] == [[]]

    client = TestClient(dummy_kernel.asgi(), headers={"accept-language": "en"})
    page = client.get("/portal", headers={"x-dummy-actor": "7"})
    assert page.status_code == 200
    rows = page.text.split('class="portal-requests"', 1)[1]
    assert rows.index('href="/dummy/notes/2"') < rows.index('href="/dummy/notes/1"')
    assert "VPN drops" in rows and rows.count("Please rate") == 1
