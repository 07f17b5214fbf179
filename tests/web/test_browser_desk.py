"""Registering an incident on the phone, in a real browser: picking the caller draws their
incidents beside the form, and typing the title or the description (debounced) draws the
similar open incidents — the htmx wiring of plugins/incident/templates/new.html."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

CALLER = "/incidents/new/caller"
SUGGESTIONS = "/incidents/new/suggestions"


def answered(path: str) -> Callable[[Response], bool]:
    return lambda response: response.url.split("?")[0].endswith(path) and response.ok


def test_the_caller_and_the_typed_title_bring_up_their_panels(
    page: Page, sign_in: Callable[..., None]
) -> None:
    from playwright.sync_api import expect

    # The administrator registers too and sees every demo incident (they have no service
    # unit, so the desk's scope reaches none of them).
    sign_in(page, "admin")
    page.goto("/incidents/new")
    picker = page.locator('[data-user-picker]:has(input[name="caller_id"])')
    with page.expect_response(answered("/pick/users")):
        picker.locator("input[type=search]").fill("enduser")
    with page.expect_response(answered(CALLER)), page.expect_response(answered(SUGGESTIONS)):
        picker.locator("[data-pick]").first.click()
    caller = page.locator("#desk-caller")
    expect(caller).to_be_visible()
    expect(caller.locator('a[href^="/incidents/"]').first).to_be_visible()
    # The demo's open incidents of this caller come up as similar, marked as theirs.
    expect(page.locator("#desk-suggestions")).to_contain_text("Same caller")

    with page.expect_response(answered(SUGGESTIONS)) as typed:
        page.locator("#field-title").press_sequentially("Printer jams", delay=20)
    assert "title=Printer%20jams&" in (typed.value.request.post_data or "")  # one, debounced
    expect(page.locator("#desk-suggestions")).to_contain_text("Printer jams on every page")

    # The description is a rich-text editor over the textarea: typing in it asks too.
    with page.expect_response(answered(SUGGESTIONS)) as described:
        page.locator("[data-richtext] [contenteditable]").press_sequentially("toner", delay=20)
    assert re.search(r"description=[^&]*toner", described.value.request.post_data or "")
