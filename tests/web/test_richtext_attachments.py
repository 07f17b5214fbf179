"""Rich text and attachments fields through the real app: sanitising, uploads held as the
viewer's pending files, linked to the record on save, and the refusals a person sees."""

from __future__ import annotations

import html
import importlib.util
import re
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.identity import service as identity
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.testing import build_kernel
from openitsm.web.testing import csrf_of, signed_in

PASSWORD = "rich-text-pw-123"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120


def load_demo() -> ModuleType:
    """tests/web/forms_demo_plugin.py, imported once per process."""
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


demo = load_demo()


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def make_kernel(tmp_path: Path, database_url: str, **overrides: Any) -> Kernel:
    kernel = build_kernel(tmp_path, database_url, plugins={"notes": demo.NotePages()}, **overrides)
    actions = action_registry(kernel)
    with kernel.session() as session:
        role = organisation.create_role(
            session, actions, code="org_reader", labels={"en": "Reader"}, actions=["org.read"]
        )
        for login in ("alice", "bob"):
            user = identity.create_user(session, login, login.title(), password=PASSWORD)
            organisation.grant_role(session, user.id, role.id)
    return kernel


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    built = make_kernel(tmp_path, database_url)
    yield built
    built.close()


def browser(kernel: Kernel, login: str) -> TestClient:
    """Signed in, with the note form opened once so the client holds its CSRF token."""
    client = signed_in(kernel, login, PASSWORD)
    assert client.get("/demo-notes").status_code == 200
    return client


def upload(
    client: TestClient, content: bytes, name: str = "shot.png", token: str | None = None
) -> Any:
    return client.post(
        "/attachments",
        data={"kind": "pending"},
        files={"file": (name, content, "application/octet-stream")},
        headers={"x-csrf-token": csrf_of(client) if token is None else token},
    )


def number_of(created: dict[str, Any]) -> int:
    found = re.fullmatch(r"/attachments/([0-9]+)", created["downloadUrl"])
    assert found is not None
    return int(found.group(1))


def save_note(client: TestClient, **fields: str) -> Any:
    data = {"csrf": csrf_of(client), "title": "Printer on fire", "body": "", "files": ""}
    return client.post("/demo-notes", data={**data, **fields}, follow_redirects=False)


def unit_of(response: Any) -> int:
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def target_of(kernel: Kernel, attachment_id: int) -> tuple[str, int]:
    with kernel.session() as session:
        row = session.get(Attachment, attachment_id)
        assert row is not None
        return row.target_kind, row.target_id


def user_id(kernel: Kernel, login: str) -> int:
    with kernel.session() as session:
        found = session.scalar(select(User.id).where(User.login == login))
        assert found is not None
        return found


def field_error(page: str, name: str) -> str:
    """The error text shown in the form field holding the input named `name`."""
    for block in page.split('<div class="form-field')[1:]:
        if f'name="{name}"' in block:
            found = re.search(r'class="field-error" role="alert">([^<]*)</p>', block)
            return html.unescape(found.group(1).strip()) if found else ""
    raise AssertionError(f"no field {name} in the page")


def test_the_form_draws_the_editor_and_the_drop_zone_with_their_assets(kernel: Kernel) -> None:
    page = browser(kernel, "alice").get("/demo-notes").text
    assert '<script src="/static/richtext.js" defer></script>' in page
    assert '<script src="/static/attachments.js" defer></script>' in page
    assert re.search(r'<textarea id="field-body" name="body"[^>]*data-richtext-source', page)
    assert re.search(r'<input type="hidden" name="files" value="" data-attachments-value>', page)
    assert "data-drop-zone" in page and 'type="file" multiple' in page
    assert 'data-msg-too-large="“{name}” is larger than the limit of {limit}."' in page
    assert re.search(r'data-max-bytes="[0-9]+"', page)
    assert " style=" not in page and "<script>" not in page


def test_rich_text_with_script_handlers_and_bad_links_is_stored_sanitised(kernel: Kernel) -> None:
    client = browser(kernel, "alice")
    body = (
        '<p style="color:red" onclick="steal()">Hello <b>team</b><script>alert(1)</script></p>'
        '<img src="/attachments/1" onerror="alert(2)">'
        '<img src="data:image/png;base64,AAAA"><img src="https://tracker.example/p.gif">'
        '<a href="javascript:alert(3)">click</a> <a href="https://example.com/kb">kb</a>'
    )
    unit = unit_of(save_note(client, body=body))

    assert demo.SAVED[unit] == (
        "<p>Hello <b>team</b></p>"
        '<img src="/attachments/1"><img><img>'
        '<a rel="noopener noreferrer">click</a> '
        '<a href="https://example.com/kb" rel="noopener noreferrer">kb</a>'
    )
    shown = client.get(f"/demo-notes/{unit}").text
    assert "alert(" not in shown and "javascript:" not in shown and "onerror" not in shown


def test_pasted_images_and_dropped_files_wait_for_the_record_then_join_it(
    kernel: Kernel,
) -> None:
    alice, bob = browser(kernel, "alice"), browser(kernel, "bob")
    image = upload(alice, tiny_png(), "screenshot.png")
    report = upload(alice, b"disk full at 03:00\n", "report.txt")
    assert image.status_code == report.status_code == 201
    assert image.json()["contentType"] == "image/png"
    image_id, report_id = number_of(image.json()), number_of(report.json())

    assert target_of(kernel, image_id) == ("pending", user_id(kernel, "alice"))
    assert alice.get(f"/attachments/{image_id}").content == tiny_png()
    assert bob.get(f"/attachments/{image_id}").status_code == 404  # nobody else sees it

    body = f'<p>See below</p><img src="/attachments/{image_id}" alt="screenshot.png">'
    unit = unit_of(save_note(alice, body=body, files=str(report_id)))

    assert target_of(kernel, image_id) == ("service_unit", unit)
    assert target_of(kernel, report_id) == ("service_unit", unit)
    assert bob.get(f"/attachments/{report_id}").content == b"disk full at 03:00\n"
    shown = alice.get(f"/demo-notes/{unit}").text
    assert f'<img src="/attachments/{image_id}" alt="screenshot.png">' in shown
    assert f'<a href="/attachments/{report_id}">report.txt</a>' in shown


def test_the_attachments_field_takes_only_the_viewers_own_uploads(kernel: Kernel) -> None:
    alice, bob = browser(kernel, "alice"), browser(kernel, "bob")
    mine = number_of(upload(alice, b"mine", "mine.txt").json())
    theirs = number_of(upload(bob, b"theirs", "theirs.txt").json())
    linked = number_of(upload(alice, b"linked", "linked.txt").json())
    unit_of(save_note(alice, files=str(linked)))  # now on a record alice may see

    for forged in (str(theirs), f"{mine},{theirs}", str(linked), "12abc"):
        refused = save_note(alice, title="Keep me", body="<p>typed</p>", files=forged)
        assert refused.status_code == 400
        assert field_error(refused.text, "files") == (
            "Some of these files can no longer be used; add them again."
        )
        assert 'value="Keep me"' in refused.text  # what was typed stays
    assert target_of(kernel, theirs) == ("pending", user_id(kernel, "bob"))
    assert target_of(kernel, mine) == ("pending", user_id(kernel, "alice"))

    unit = unit_of(save_note(alice, files=f"{mine}, {mine}"))
    assert target_of(kernel, mine) == ("service_unit", unit)


def test_a_form_with_errors_keeps_the_text_and_the_uploaded_files(kernel: Kernel) -> None:
    alice = browser(kernel, "alice")
    kept = number_of(upload(alice, b"log lines", "server.log").json())
    refused = save_note(alice, title="", body="<p>half <b>written</b></p>", files=str(kept))

    assert refused.status_code == 400
    assert field_error(refused.text, "title") == "Fill this in."
    assert "&lt;p&gt;half &lt;b&gt;written&lt;/b&gt;&lt;/p&gt;</textarea>" in refused.text
    assert f'name="files" value="{kept}"' in refused.text
    assert re.search(
        rf'data-attachment-id="{kept}"><a href="/attachments/{kept}">server.log</a>', refused.text
    )
    assert target_of(kernel, kept)[0] == "pending"


def test_an_upload_from_the_browser_needs_the_pages_token(kernel: Kernel) -> None:
    alice = browser(kernel, "alice")
    forged = upload(alice, b"hello", token="not-the-token")
    missing = alice.post(
        "/attachments", data={"kind": "pending"}, files={"file": ("a.txt", b"hello")}
    )
    assert forged.status_code == missing.status_code == 403
    with kernel.session() as session:
        assert session.scalars(select(Attachment)).all() == []


def test_nobody_uploads_into_another_users_pending_files(kernel: Kernel) -> None:
    alice = browser(kernel, "alice")
    answer = alice.post(
        "/attachments",
        data={"kind": "pending", "recordId": str(user_id(kernel, "bob"))},
        files={"file": ("a.txt", b"hello")},
        headers={"x-csrf-token": csrf_of(alice)},
    )
    # `kind=pending` always means the uploader's own pending files.
    assert answer.status_code == 201
    assert target_of(kernel, number_of(answer.json())) == ("pending", user_id(kernel, "alice"))


def test_refused_uploads_say_why_and_store_nothing(tmp_path: Path, database_url: str) -> None:
    kernel = make_kernel(tmp_path, database_url, attachments={"max_size_mb": 0.001})
    try:
        alice = browser(kernel, "alice")
        too_large = upload(alice, b"a" * 5000, "big.txt")
        forbidden = upload(alice, EXE, "setup.exe")
        assert too_large.status_code == 413
        assert too_large.json()["errors"][0]["extensions"]["maxBytes"] == 1048
        assert forbidden.status_code == 415
        page = alice.get("/demo-notes").text
        assert 'data-max-bytes="1048"' in page
        assert 'data-msg-blocked="“{name}” is a kind of file that is not accepted here."' in page
        with kernel.session() as session:
            assert session.scalars(select(Attachment)).all() == []
    finally:
        kernel.close()
