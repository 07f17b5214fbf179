"""The dictionaries pages: the list, the tree editor (add, edit, drag to move) and refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.dictionaries import DictionarySpec, ItemSpec
from openitsm.kernel.dictionaries import service as dictionaries
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service as identity
from openitsm.kernel.organisation import service
from openitsm.kernel.testing import build_kernel, count_statements
from openitsm.web import admin_dictionaries
from openitsm.web import testing as web_testing
from openitsm.web.menus import MenuItem

PASSWORD = "dictionaries-pw-123"
TREE = "/admin/dictionaries/colours"


class DictionaryPages:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return list(admin_dictionaries.ROUTES)

    @hookimpl
    def register_menus(self) -> list[MenuItem]:
        return list(admin_dictionaries.MENUS)

    @hookimpl
    def register_dictionaries(self) -> list[DictionarySpec]:
        return [
            DictionarySpec(
                "colours",
                {"zh-CN": "颜色", "en": "Colours"},
                (
                    ItemSpec(
                        "warm",
                        {"zh-CN": "暖色", "en": "Warm"},
                        (
                            ItemSpec("red", {"zh-CN": "红", "en": "Red"}),
                            ItemSpec("orange", {"zh-CN": "橙", "en": "Orange"}),
                        ),
                    ),
                    ItemSpec("cold", {"zh-CN": "冷色", "en": "Cold"}),
                ),
            )
        ]


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url, plugins={"dictionary_pages": DictionaryPages()})
    with kernel.session() as session:
        editor = identity.create_user(session, "editor", "Editor", password=PASSWORD)
        identity.create_user(session, "reader", "Reader", password=PASSWORD)
        role = service.create_role(
            session,
            action_registry(kernel),
            code="dictionary_editor",
            labels={"en": "Dictionary editor"},
            actions=["dictionary.manage"],
        )
        service.grant_role(session, editor.id, role.id)
    yield kernel
    kernel.close()


def signed_in(kernel: Kernel, login: str) -> TestClient:
    return web_testing.signed_in(kernel, login, PASSWORD)


csrf_of = web_testing.csrf_of


def item(kernel: Kernel, code: str) -> DictionaryItem:
    with kernel.session() as session:
        found = session.scalar(
            select(DictionaryItem)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == "colours", DictionaryItem.code == code)
        )
        assert found is not None, code
        session.expunge(found)
        return found


def children(kernel: Kernel, parent: str | None) -> list[str]:
    """The codes under `parent`, in their stored order."""
    parent_id = item(kernel, parent).id if parent else None
    with kernel.session() as session:
        colours = dictionaries.get_dictionary(session, "colours")
        under = (
            DictionaryItem.parent_id.is_(None)
            if parent_id is None
            else DictionaryItem.parent_id == parent_id
        )
        return list(
            session.scalars(
                select(DictionaryItem.code)
                .where(DictionaryItem.dictionary_id == colours.id, under)
                .order_by(DictionaryItem.sort_order, DictionaryItem.id)
            )
        )


def shown_codes(html: str) -> list[str]:
    return re.findall(r'class="muted dictionary-code">([^<]+)<', html)


def move(
    kernel: Kernel, client: TestClient, code: str, parent: str, position: int, version: int
) -> Any:
    """A drop as the page's script posts it (htmx, the token in the header)."""
    return client.post(
        f"{TREE}/items/{item(kernel, code).id}/move",
        data={"parent_id": parent, "position": str(position), "version": str(version)},
        headers={"hx-request": "true", "x-csrf-token": csrf_of(client)},
    )


def test_everyone_signed_in_reads_the_dictionaries(kernel: Kernel) -> None:
    reader = signed_in(kernel, "reader")
    page = reader.get("/admin/dictionaries")
    assert page.status_code == 200
    with kernel.session() as session:
        total = session.scalar(select(func.count()).select_from(Dictionary))
    assert len(re.findall(r'href="/admin/dictionaries/[a-z_]+"', page.text)) == total
    row = re.search(
        r'href="/admin/dictionaries/colours">colours</a></td>\s*<td>([^<]+)</td>'
        r"\s*<td>([^<]+)</td>\s*<td[^>]*>(\d+)</td>",
        page.text,
    )
    assert row is not None and row.group(1) == "Colours" and row.group(3) == "4"
    assert row.group(2) == "dictionary_pages"
    assert 'href="/admin/dictionaries"' in reader.get("/").text
    tree = reader.get(TREE)
    assert shown_codes(tree.text) == ["warm", "red", "orange", "cold"]
    assert "handle" not in tree.text and "/items/" not in tree.text  # nothing to edit
    chinese = TestClient(
        kernel.asgi(), headers={"accept-language": "zh-CN"}, cookies=reader.cookies
    )
    assert "暖色" in chinese.get(TREE).text


def test_an_item_is_added_under_a_parent(kernel: Kernel) -> None:
    editor = signed_in(kernel, "editor")
    warm = item(kernel, "warm")
    added = editor.post(
        f"{TREE}/items",
        data={
            "csrf": csrf_of(editor),
            "code": "yellow",
            "label_zh": "黄",
            "label_en": "Yellow",
            "parent": str(warm.id),
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    yellow = item(kernel, "yellow")
    assert yellow.parent_id == warm.id and yellow.labels == {"zh-CN": "黄", "en": "Yellow"}
    assert children(kernel, "warm") == ["red", "orange", "yellow"]
    again = editor.post(
        f"{TREE}/items",
        data={"csrf": csrf_of(editor), "code": "yellow", "label_en": "Again", "parent": ""},
    )
    assert again.status_code == 400 and "already has an item" in again.text
    assert 'value="Again"' in again.text  # the typing is kept


def test_refusals_write_nothing(kernel: Kernel) -> None:
    reader, editor = signed_in(kernel, "reader"), signed_in(kernel, "editor")
    form = {"code": "blue", "label_en": "Blue", "parent": ""}
    refused = reader.post(f"{TREE}/items", data={**form, "csrf": csrf_of(reader)})
    assert refused.status_code == 403
    assert editor.post(f"{TREE}/items", data={**form, "csrf": "forged"}).status_code == 400
    red = item(kernel, "red")
    assert reader.get(f"{TREE}/items/{red.id}").status_code == 403
    forged = editor.post(
        f"{TREE}/items/{red.id}/move",
        data={"parent_id": "", "position": "0", "version": str(red.version)},
        headers={"hx-request": "true", "x-csrf-token": "forged"},
    )
    assert forged.status_code == 400 and 'id="dictionary-tree"' in forged.text
    assert move(kernel, reader, "red", "", 0, red.version).status_code == 403
    with kernel.session() as session:
        assert session.scalar(select(DictionaryItem).where(DictionaryItem.code == "blue")) is None
    assert children(kernel, "warm") == ["red", "orange"]


def test_dragging_reorders_and_moves_under_another_item(kernel: Kernel) -> None:
    editor = signed_in(kernel, "editor")
    page = editor.get(TREE).text
    assert "data-movable" in page and 'class="handle"' in page
    orange = item(kernel, "orange")
    moved = move(kernel, editor, "orange", str(item(kernel, "warm").id), 0, orange.version)
    assert moved.status_code == 200 and 'id="dictionary-tree"' in moved.text
    assert children(kernel, "warm") == ["orange", "red"]
    assert shown_codes(moved.text) == ["warm", "orange", "red", "cold"]
    cold = item(kernel, "cold")
    under = move(kernel, editor, "red", str(cold.id), 0, item(kernel, "red").version)
    assert under.status_code == 200
    assert children(kernel, "cold") == ["red"] and children(kernel, "warm") == ["orange"]
    top = move(kernel, editor, "orange", "", 1, item(kernel, "orange").version)
    assert top.status_code == 200 and children(kernel, None) == ["warm", "orange", "cold"]


def test_a_move_under_its_own_child_or_from_a_stale_page_is_refused(kernel: Kernel) -> None:
    editor = signed_in(kernel, "editor")
    warm, red = item(kernel, "warm"), item(kernel, "red")
    cycle = move(kernel, editor, "warm", str(red.id), 0, warm.version)
    assert cycle.status_code == 400
    assert "cannot be moved under itself or one of its own sub-items" in cycle.text
    assert shown_codes(cycle.text) == ["warm", "red", "orange", "cold"]  # the tree as stored
    assert item(kernel, "warm").parent_id is None and item(kernel, "warm").version == warm.version
    stale = move(kernel, editor, "red", "", 0, red.version - 1)
    assert stale.status_code == 409 and "Someone else changed this item" in stale.text
    assert item(kernel, "red").parent_id == warm.id and children(kernel, "warm") == [
        "red",
        "orange",
    ]


def test_items_are_edited_with_their_version(kernel: Kernel) -> None:
    editor = signed_in(kernel, "editor")
    red = item(kernel, "red")
    assert red.builtin  # shipped defaults are editable too
    form = editor.get(f"{TREE}/items/{red.id}")
    assert form.status_code == 200 and 'value="Red"' in form.text
    version = int(re.search(r'name="version" value="(\d+)"', form.text).group(1))  # type: ignore[union-attr]
    data = {
        "csrf": csrf_of(editor),
        "version": str(version),
        "label_zh": "大红",
        "label_en": "Crimson",
        "sort_order": "5",
    }
    saved = editor.post(f"{TREE}/items/{red.id}", data=data, follow_redirects=False)
    assert saved.status_code == 303
    stored = item(kernel, "red")
    assert stored.labels == {"zh-CN": "大红", "en": "Crimson"} and not stored.active
    assert stored.sort_order == 5 and stored.version == version + 1
    tree = editor.get(TREE).text
    assert re.search(f'dictionary-item inactive" data-id="{red.id}"', tree)
    assert "inactive</span>" in tree
    stale = editor.post(
        f"{TREE}/items/{red.id}", data={**data, "label_en": "Scarlet", "active": "on"}
    )
    assert stale.status_code == 409
    assert "Someone else changed this item" in stale.text and 'value="Scarlet"' in stale.text
    after = item(kernel, "red")
    assert after.labels["en"] == "Crimson" and not after.active and after.version == version + 1


def test_the_tree_costs_the_same_statements_for_any_number_of_items(kernel: Kernel) -> None:
    reader = signed_in(kernel, "reader")
    reader.get(TREE)
    with count_statements(kernel.engine) as few:
        small = reader.get(TREE)
    with kernel.session() as session:
        parent = None
        for n in range(30):
            created = dictionaries.create_item(
                session,
                "colours",
                code=f"shade{n}",
                labels={"en": f"Shade {n}"},
                parent_id=parent,
            )
            parent = created.id if n % 3 == 0 else parent
    with count_statements(kernel.engine) as many:
        large = reader.get(TREE)
    assert len(shown_codes(large.text)) == len(shown_codes(small.text)) + 30
    assert few.count == many.count


def test_no_inline_script_or_style(kernel: Kernel) -> None:
    editor = signed_in(kernel, "editor")
    red = item(kernel, "red")
    for path in ("/admin/dictionaries", TREE, f"{TREE}/items/{red.id}"):
        answer = editor.get(path)
        assert answer.status_code == 200, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:", answer.text), path
