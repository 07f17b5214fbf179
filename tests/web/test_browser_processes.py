"""The process designer and an instance's diagram in a real browser: bpmn-js draws them under
the site's content security policy, the bpmn.io watermark stays visible, a step's itsm:
attributes are edited in the form, and the server's check marks what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

DESIGNER = "/admin/processes/two_level_approval"


def test_the_designer_edits_a_steps_attributes_and_saves_a_checked_draft(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, "admin")
    page.goto(DESIGNER)
    page.wait_for_selector('[data-canvas] [data-element-id="head_approval"]')
    watermark = page.locator(".bjs-powered-by")
    assert watermark.is_visible()
    box = watermark.bounding_box()
    canvas = page.locator("[data-canvas]").bounding_box()
    assert box and canvas and box["x"] + box["width"] <= canvas["x"] + canvas["width"] + 1
    # The process's own attributes show while nothing is selected.
    assert page.locator("#itsm-owner").input_value() == "administrator"
    page.click('[data-canvas] [data-element-id="head_approval"]')
    assert page.locator("#itsm-assignee").input_value() == "starter.department.head"
    assert page.locator("#itsm-action").is_hidden()  # a service task's attribute
    page.fill("#itsm-deadline", "PT6H")
    page.press("#itsm-deadline", "Tab")
    with page.expect_response(lambda r: r.url.endswith("/admin/processes/draft")) as answer:
        page.click("[data-save]")
    assert answer.value.ok
    # A locator waits without evaluating a string (the page's CSP forbids eval).
    expect(page.locator("[data-status]")).to_contain_text("2")
    assert page.locator("[data-publish]").is_enabled()
    # A countersign that is not one of all, any or ratio is refused and its step marked.
    page.click('[data-canvas] [data-element-id="it_countersign"]')
    page.fill("#itsm-countersign", "most")
    page.press("#itsm-countersign", "Tab")
    with page.expect_response(lambda r: r.url.endswith("/admin/processes/draft")) as refused:
        page.click("[data-save]")
    assert refused.value.status == 400
    page.wait_for_selector('[data-problems] li[data-element="it_countersign"]')
    assert page.locator('[data-element-id="it_countersign"].has-problem').count() == 1


def test_an_instance_shows_its_diagram_with_the_active_step_marked(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, "manager")
    page.goto("/work")
    page.click("text=New laptop")
    page.wait_for_selector('[data-process-diagram][data-ready="true"]')
    assert page.locator('[data-element-id="head_approval"].step-active').count() == 1
    assert page.locator("button[value='approve']").count() == 1
