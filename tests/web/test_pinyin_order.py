"""Lists sorted by name follow pinyin, in the database, across pages."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel
from openitsm.web import testing as web_testing

PASSWORD = "pinyin-pw-123"
NAMES = ["张伟", "Adam", "白雪", "阿强", "陈晨", "zoe", "Bob", "重庆分公司"]
EXPECTED = ["阿强", "Adam", "白雪", "Bob", "陈晨", "重庆分公司", "张伟", "zoe"]


def test_users_and_service_units_sort_by_pinyin(tmp_path: Path, database_url: str) -> None:
    kernel = build_kernel(tmp_path, database_url)
    try:
        with kernel.session() as session:
            identity.create_user(session, "root", "~root", password=PASSWORD, superuser=True)
            for n, name in enumerate(NAMES):
                identity.create_user(session, f"u{n}", name)
                service.create_service_unit(session, code=f"s{n}", name=name)
            renamed = session.scalar(select(User).where(User.login == "u1"))
            assert renamed is not None
            service.update_user(session, renamed.id, renamed.version, {"name": "Adam"})
        client = web_testing.signed_in(kernel, "root", PASSWORD)
        for path in (
            "/admin/users?sort=name&cols=name",
            "/admin/service-units?sort=name&cols=name",
        ):
            html = client.get(path).text
            shown = [
                n for n in re.findall(r"<td[^>]*>\s*(?:<a[^>]*>)?([^<]+?)\s*<", html) if n in NAMES
            ]
            assert shown == EXPECTED, (path, shown)
    finally:
        kernel.close()
