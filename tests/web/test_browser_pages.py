"""The pages in a real browser: a dashboard built by dragging, a form with an error and its
fix, a list filtered and exported, the language switched; screenshots of the main pages."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from openpyxl import load_workbook

if TYPE_CHECKING:
    from playwright.sync_api import Page


def widgets(page: Page) -> list[tuple[str, str]]:
    boxes = page.locator("#dashboard [data-widget]")
    return [
        (
            boxes.nth(i).get_attribute("data-widget") or "",
            boxes.nth(i).get_attribute("data-width") or "",
        )
        for i in range(boxes.count())
    ]


def wait_for_save(page: Page, act: Callable[[], None]) -> None:
    """Do something that saves the dashboard, and wait for the redrawn dashboard."""
    with page.expect_response(lambda r: r.url.endswith("/workbench/layout") and r.ok):
        act()
    page.wait_for_load_state("networkidle")


def test_a_dashboard_is_built_by_dragging_resizing_adding_and_removing(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, "manager")
    moved = ("recent_activity", "delegations")
    start = widgets(page)
    assert start[:2] == [("my_items", "2"), ("registered", "1")]
    # The boxes this test leaves alone (process boxes, on duty, modules' boxes) stay put.
    others = [box for box in start if box[0] not in moved]

    def ours() -> list[tuple[str, str]]:
        now = widgets(page)
        assert [box for box in now if box[0] not in moved] == others
        return [box for box in now if box[0] in moved]

    assert ours() == [("recent_activity", "2"), ("delegations", "1")]
    handle = page.locator('#dashboard [data-widget="delegations"] .handle')
    target = page.locator('#dashboard [data-widget="recent_activity"] header')
    wait_for_save(page, lambda: handle.drag_to(target))
    assert [key for key, _ in ours()] == ["delegations", "recent_activity"]

    resize = page.locator('#dashboard [data-widget="delegations"] [data-resize="3"]')
    wait_for_save(page, resize.click)
    remove = page.locator('#dashboard [data-widget="recent_activity"] [data-remove]')
    wait_for_save(page, remove.click)
    assert ours() == [("delegations", "3")]

    page.select_option("[data-add-choice]", "recent_activity")
    wait_for_save(page, page.locator("[data-add]").click)
    page.reload()
    assert ours() == [("delegations", "3"), ("recent_activity", "2")]


def test_a_form_shows_errors_next_to_the_fields_then_saves_the_fix(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, "engineer")
    page.goto("/profile")
    form = page.locator("form.record-form", has=page.locator('input[name="name"]'))
    form.locator('input[name="name"]').fill("")
    form.locator('input[name="email"]').fill("engineer at example")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    name_field = page.locator(".form-field", has=page.locator('input[name="name"]'))
    email_field = page.locator(".form-field", has=page.locator('input[name="email"]'))
    assert name_field.locator(".field-error").inner_text() == "Fill this in."
    assert email_field.locator(".field-error").inner_text() == "This is not an email address."
    assert page.locator('input[name="email"]').input_value() == "engineer at example"

    page.locator('input[name="name"]').fill("Erin Engineer")
    page.locator('input[name="email"]').fill("erin@example.test")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    assert page.locator('[role="status"]').inner_text() == "Saved."
    assert page.locator('input[name="name"]').input_value() == "Erin Engineer"


def test_a_list_is_filtered_sorted_and_exported(
    page: Page, sign_in: Callable[..., None], tmp_path: Path
) -> None:
    sign_in(page, "admin")
    page.goto("/admin/users")
    everyone = page.locator(".list tbody td:nth-child(2) a").all_inner_texts()
    assert {"admin", "agent", "engineer", "manager", "enduser"} <= set(everyone)
    page.fill('.list-filters input[name="q"]', "ag")
    with page.expect_navigation():
        page.click('.list-filters button[type="submit"]')
    logins = page.locator(".list tbody td:nth-child(2) a").all_inner_texts()
    assert logins == ["agent", "manager"]
    with page.expect_navigation():
        page.click('.list thead a:has-text("Name")')
    assert "sort=name" in page.url and "q=ag" in page.url
    with page.expect_download() as download:
        page.click("a.export")
    saved = tmp_path / "users.xlsx"
    download.value.save_as(saved)
    sheet = load_workbook(io.BytesIO(saved.read_bytes())).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["Login", "Name"]
    assert {row[0] for row in rows[1:]} == set(logins)


def test_the_language_is_switched_in_the_user_menu(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, "agent")
    assert page.locator("h1").inner_text() == "Workbench"
    page.click(".user-menu summary")
    page.select_option('.preferences select[name="locale"]', "zh-CN")
    with page.expect_navigation():
        page.click('.preferences button[type="submit"]')
    assert page.locator("h1").inner_text() == "工作台"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.click(".user-menu summary")
    page.select_option('.preferences select[name="locale"]', "en")
    with page.expect_navigation():
        page.click('.preferences button[type="submit"]')
    assert page.locator("h1").inner_text() == "Workbench"


MAIN_PAGES = (
    ("workbench", "/"),
    ("users", "/admin/users"),
    ("departments", "/admin/departments"),
    ("roles", "/admin/roles"),
    ("profile", "/profile"),
    ("service-units", "/admin/service-units"),
    ("service-unit", "/admin/service-units/1"),
    ("custom-fields", "/admin/custom-fields?resource=service_unit"),
    ("site", "/admin/site"),
    ("search", "/search?q=a"),
    ("work", "/work"),
    ("process", "/processes/1"),
    ("processes", "/admin/processes"),
    ("designer", "/admin/processes/two_level_approval"),
)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_main_pages_open_cleanly_in_both_languages(
    page: Page,
    language: str,
    sign_in: Callable[..., None],
    screenshot: Callable[[Page, str, str], Path | None],
) -> None:
    """Each page loads without a script, policy or asset error (the `page` fixture fails on
    any), in the browser's language; with OPENITSM_SCREENSHOTS=1 it is photographed."""
    sign_in(page, "admin")
    heading = {"zh-CN": "工作台", "en": "Workbench"}[language]
    for name, path in MAIN_PAGES:
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        if name == "workbench":
            assert page.locator("h1").inner_text() == heading
        screenshot(page, name, language)


def test_a_department_is_moved_by_dragging_it_in_the_tree(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, "admin")
    page.goto("/admin/departments")
    top = "#department-tree > ul > li.department > .department-row .department-name"
    before = page.locator(top).all_inner_texts()
    assert len(before) >= 2
    last = page.locator("#department-tree > ul > li.department").last
    first = page.locator("#department-tree > ul > li.department").first
    handle = last.locator(".handle").first.bounding_box()
    row = first.locator(".department-row").first.bounding_box()
    assert handle is not None and row is not None
    with page.expect_response(lambda r: r.url.endswith("/move") and r.ok):
        page.mouse.move(handle["x"] + 4, handle["y"] + 4)
        page.mouse.down()
        page.mouse.move(row["x"] + 20, row["y"] + 2, steps=12)
        page.mouse.up()
    page.wait_for_load_state("networkidle")
    assert "Moved." in page.locator("#department-tree").inner_text()
    page.reload()
    after = page.locator(top).all_inner_texts()
    assert after[0] == before[-1] and sorted(after) == sorted(before)
