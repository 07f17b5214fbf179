"""Rich text and attachments fields in a real browser: an image pasted into the editor, a file
dropped on the drop zone, a forbidden file refused on its own line, and the note saved.

No module page has these fields yet, so the page is tests/web/forms_demo_plugin.py, served by
uvicorn from a kernel built here (the shared live server runs the installed modules only).
"""

from __future__ import annotations

import base64
import importlib.util
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
import uvicorn
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.identity import service as identity
from openitsm.kernel.testing import build_kernel

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PASSWORD = "browser-forms-pw-1"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120


def load_demo() -> ModuleType:
    name = "openitsm_tests_forms_demo_plugin"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("forms_demo_plugin.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Kernel]]:
    """The demo page's kernel on SQLite behind uvicorn, on a free loopback port."""
    folder = tmp_path_factory.mktemp("browser-forms")
    kernel = build_kernel(
        folder, f"sqlite:///{folder / 'db.sqlite'}", plugins={"notes": load_demo().NotePages()}
    )
    with kernel.session() as session:
        identity.create_user(session, "alice", "Alice", password=PASSWORD, superuser=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(kernel.asgi(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", kernel
    server.should_exit = True
    thread.join(timeout=10)
    kernel.close()


@pytest.fixture
def note_page(browser: Browser, served: tuple[str, Kernel]) -> Iterator[Page]:
    """Signed in on the demo form; fails on any script error or policy violation reported."""
    context = browser.new_context(base_url=served[0], locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto("/login")
    page.fill('input[name="login"]', "alice")
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.click('form[action="/login"] [type="submit"]')
    page.goto("/demo-notes")
    yield page
    context.close()
    # Refused uploads are answered 415 on purpose; the browser logs those as failed resources.
    real = [p for p in problems if not p.startswith("Failed to load resource")]
    assert not real, "the browser reported errors:\n" + "\n".join(real)


HAND_OVER = """([selector, kind, name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const target = document.querySelector(selector);
  target.focus && target.focus();
  const init = { bubbles: true, cancelable: true };
  const event = kind === "paste"
    ? new ClipboardEvent("paste", { ...init, clipboardData: transfer })
    : new DragEvent(kind, { ...init, dataTransfer: transfer });
  if (kind === "drop") target.dispatchEvent(new DragEvent("dragover", { ...init, dataTransfer: transfer }));
  target.dispatchEvent(event);
}"""


def hand_over(page: Page, selector: str, kind: str, name: str, content: bytes, type_: str) -> None:
    """Paste or drop a file the way the browser delivers one from the clipboard or desktop."""
    page.evaluate(HAND_OVER, [selector, kind, name, type_, base64.b64encode(content).decode()])


def test_an_image_is_pasted_and_files_dropped_then_the_note_saved(
    note_page: Page, served: tuple[str, Kernel]
) -> None:
    page, kernel = note_page, served[1]
    editor = page.locator(".richtext-editor")
    assert page.locator("textarea[name=body]").is_hidden()
    editor.click()
    page.keyboard.type("The screen shows ")
    page.click('.richtext-toolbar button[data-command="bold"]')
    page.keyboard.type("an error")

    hand_over(page, ".richtext-editor", "paste", "screen.png", PNG, "image/png")
    image = editor.locator('img[src^="/attachments/"]')
    image.wait_for()
    assert page.evaluate("document.querySelector('.richtext-editor img').naturalWidth") == 1
    body = page.locator("textarea[name=body]").input_value()
    assert "<b>an error</b>" in body and re.search(r'<img src="/attachments/\d+"', body)

    zone = ".attachments-field [data-drop-zone]"
    hand_over(page, zone, "drop", "report.txt", b"disk full\n", "text/plain")
    page.locator(".attachment-list li.uploaded").wait_for()
    hand_over(page, zone, "drop", "setup.exe", EXE, "application/octet-stream")
    refused = page.locator(".attachment-list li.failed")
    refused.wait_for()
    assert refused.locator(".field-error").inner_text() == (
        "“setup.exe” is a kind of file that is not accepted here."
    )
    file_id = page.locator(".attachment-list li.uploaded").get_attribute("data-attachment-id")
    assert page.locator("input[name=files]").input_value() == file_id
    refused.locator("button[data-remove]").click()
    assert page.locator(".attachment-list li").count() == 1

    page.fill("input[name=title]", "Screen error")
    with page.expect_navigation():
        page.click('form.record-form button[type="submit"]')
    saved = page.locator("#saved")
    assert saved.locator("b").inner_text() == "an error"
    assert saved.locator("a", has_text="report.txt").get_attribute("href") == (
        f"/attachments/{file_id}"
    )
    unit = int(saved.get_attribute("data-unit") or 0)
    with kernel.session() as session:
        targets = session.execute(select(Attachment.target_kind, Attachment.target_id)).all()
    assert sorted(targets) == [("service_unit", unit), ("service_unit", unit)]
