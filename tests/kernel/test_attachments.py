"""Attachments: upload, sniffing, size limit, download, GraphQL listing and deletion."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from strawberry import relay

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.attachments import service
from openitsm.kernel.attachments.models import Attachment
from openitsm.kernel.attachments.store import LocalDiskStore
from openitsm.kernel.dictionaries.models import DictionaryItem
from openitsm.kernel.identity import service as identity
from openitsm.kernel.references import RecordRef
from openitsm.kernel.testing import build_kernel, error_codes, gql, make_settings, run_coroutine


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + b"\x00" * 100
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120


@pytest.fixture
def client(kernel: Kernel) -> Iterator[TestClient]:
    with TestClient(kernel.asgi()) as test_client:
        yield test_client


def sign_in(kernel: Kernel, login: str, *, superuser: bool = False) -> tuple[Actor, str]:
    with kernel.session() as session:
        user = identity.create_user(
            session, login, login.title(), password="secret-pw", superuser=superuser
        )
        token = identity.open_session(session, user)
    return Actor(user_id=user.id, label=user.name, superuser=superuser), token


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def an_item_id(kernel: Kernel) -> int:
    with kernel.session() as session:
        item_id = session.scalar(select(DictionaryItem.id).order_by(DictionaryItem.id).limit(1))
    assert item_id is not None
    return item_id


def upload(
    client: TestClient,
    token: str | None,
    record_id: int,
    content: bytes,
    filename: str = "notes.txt",
    declared: str = "text/plain",
    kind: str = "dictionary_item",
) -> Any:
    return client.post(
        "/attachments",
        data={"kind": kind, "recordId": str(record_id)},
        files={"file": (filename, content, declared)},
        headers=bearer(token) if token else {},
    )


def stored_files(kernel: Kernel) -> list[Path]:
    root = kernel.settings.attachments_path
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def attachment_rows(kernel: Kernel) -> int:
    with kernel.session() as session:
        return session.scalar(select(func.count()).select_from(Attachment)) or 0


def error_code(response: Any) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


# --- upload and download ----------------------------------------------------------------


def test_upload_then_download_returns_the_same_bytes_and_safe_headers(
    kernel: Kernel, client: TestClient
) -> None:
    _, token = sign_in(kernel, "alice")
    item_id = an_item_id(kernel)
    content = "第一行 first line\n".encode() * 500

    created = upload(client, token, item_id, content, filename="报告 1.txt")

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["filename"] == "报告 1.txt"
    assert body["contentType"] == "text/plain"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    node = relay.GlobalID.from_id(body["id"])
    assert node.type_name == "Attachment"

    for url in (f"/attachments/{node.node_id}", f"/attachments/{body['id']}"):
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 200
        assert response.content == content
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-length"] == str(len(content))
        assert response.headers["content-disposition"] == (
            "attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A%201.txt"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox"

    assert client.get("/attachments/999999", headers=bearer(token)).status_code == 404


def test_content_type_is_sniffed_not_trusted(kernel: Kernel, client: TestClient) -> None:
    _, token = sign_in(kernel, "alice")
    item_id = an_item_id(kernel)
    png = tiny_png()

    created = upload(client, token, item_id, png, filename="fake.txt", declared="text/plain")

    assert created.status_code == 201, created.text
    assert created.json()["contentType"] == "image/png"
    with kernel.session() as session:
        row = session.scalars(select(Attachment)).one()
        assert (row.content_type, row.declared_type) == ("image/png", "text/plain")
    download = client.get(f"/attachments/{row.id}", headers=bearer(token))
    assert download.headers["content-type"] == "image/png"
    assert download.content == png

    binary = upload(client, token, item_id, b"\x00\x01\x02\xfe\xff" * 10, declared="image/png")
    assert binary.json()["contentType"] == "application/octet-stream"


@pytest.mark.parametrize("content", [ELF, EXE], ids=["elf", "exe"])
def test_executables_are_refused_whatever_they_claim(
    kernel: Kernel, client: TestClient, content: bytes
) -> None:
    _, token = sign_in(kernel, "alice")

    response = upload(client, token, an_item_id(kernel), content, filename="readme.txt")

    assert response.status_code == 415
    assert error_code(response) == "BAD_USER_INPUT"
    assert stored_files(kernel) == []
    assert attachment_rows(kernel) == 0


def test_filename_is_reduced_to_its_last_part(kernel: Kernel, client: TestClient) -> None:
    _, token = sign_in(kernel, "alice")

    response = upload(client, token, an_item_id(kernel), b"root:x:0:0", filename="../../etc/passwd")

    assert response.status_code == 201
    assert response.json()["filename"] == "passwd"
    [path] = stored_files(kernel)
    assert path.is_relative_to(kernel.settings.attachments_path.resolve())
    assert "passwd" not in str(path)


def test_sanitise_filename() -> None:
    assert service.sanitise_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert service.sanitise_filename("a\x00b\x1fc\u202egpj.exe") == "abcgpj.exe"
    assert service.sanitise_filename("..") == "attachment"
    assert service.sanitise_filename("") == "attachment"
    long = service.sanitise_filename("x" * 300 + ".docx")
    assert len(long) == 255 and long.endswith(".docx")


def test_sniff_falls_back_to_text_or_octet_stream() -> None:
    assert service.sniff("纯文本".encode()) == "text/plain"
    assert service.sniff("纯文本".encode()[:-1]) == "text/plain"  # cut mid-character
    assert service.sniff(b"\xff\xfe\x00a") == "application/octet-stream"
    assert service.sniff(tiny_png()) == "image/png"


def test_store_keys_are_random_and_never_paths(tmp_path: Path) -> None:
    store = LocalDiskStore(tmp_path)
    first, second = store.save([b"same"]), store.save([b"same"])

    assert first != second
    assert b"".join(store.open(first)) == b"same"
    with pytest.raises(service.NotFound):
        store.open("../../etc/passwd")
    store.delete(first)
    assert not store.exists(first) and store.exists(second)
    with pytest.raises(service.NotFound):
        store.open(first)


# --- refusals ---------------------------------------------------------------------------


def test_unknown_kind_and_missing_record_are_refused(kernel: Kernel, client: TestClient) -> None:
    _, token = sign_in(kernel, "alice")

    unknown = upload(client, token, 1, b"hello", kind="no_such_kind")
    missing = upload(client, token, 999999, b"hello")

    assert (unknown.status_code, error_code(unknown)) == (400, "BAD_USER_INPUT")
    assert "no_such_kind" in unknown.json()["errors"][0]["message"]
    assert (missing.status_code, error_code(missing)) == (404, "NOT_FOUND")
    assert stored_files(kernel) == []
    assert attachment_rows(kernel) == 0


def test_anonymous_requests_are_refused(kernel: Kernel, client: TestClient) -> None:
    _, token = sign_in(kernel, "alice")
    created = upload(client, token, an_item_id(kernel), b"hello")

    posted = upload(client, None, an_item_id(kernel), b"hello")
    fetched = client.get(f"/attachments/{created.json()['id']}")
    bad_token = client.get(f"/attachments/{created.json()['id']}", headers=bearer("nope"))

    for response in (posted, fetched, bad_token):
        assert (response.status_code, error_code(response)) == (401, "UNAUTHENTICATED")
    assert attachment_rows(kernel) == 1


def test_non_multipart_body_is_refused(kernel: Kernel, client: TestClient) -> None:
    _, token = sign_in(kernel, "alice")

    response = client.post("/attachments", content=b"hello", headers=bearer(token))

    assert (response.status_code, error_code(response)) == (400, "BAD_USER_INPUT")


# --- size limit -------------------------------------------------------------------------


@pytest.fixture
def small_kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """A kernel whose uploads may be at most 1048 bytes (0.001 MB)."""
    built = build_kernel(tmp_path, database_url, attachments={"max_size_mb": 0.001})
    yield built
    built.close()


def multipart(boundary: str, record_id: int, file_head: bytes) -> bytes:
    return (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="kind"\r\n\r\ndictionary_item\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="recordId"\r\n\r\n{record_id}\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode() + file_head


def post_in_chunks(app: Any, token: str, chunks: list[bytes], boundary: str) -> dict[str, Any]:
    """POST straight through ASGI with no Content-Length, counting the chunks the app pulls."""
    state: dict[str, Any] = {"pulled": 0, "messages": []}

    async def receive() -> dict[str, Any]:
        index = state["pulled"]
        if index >= len(chunks):
            return {"type": "http.disconnect"}
        state["pulled"] += 1
        return {"type": "http.request", "body": chunks[index], "more_body": index + 1 < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        state["messages"].append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/attachments",
        "raw_path": b"/attachments",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
            (b"authorization", f"Bearer {token}".encode()),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    run_coroutine(app(scope, receive, send))
    start = next(m for m in state["messages"] if m["type"] == "http.response.start")
    body = b"".join(
        m.get("body", b"") for m in state["messages"] if m["type"] == "http.response.body"
    )
    return {"status": start["status"], "body": body, "pulled": state["pulled"]}


def test_oversized_upload_is_refused_mid_stream(small_kernel: Kernel) -> None:
    import json

    _, token = sign_in(small_kernel, "alice")
    boundary = "limit-test-boundary"
    chunks = [multipart(boundary, an_item_id(small_kernel), b"a" * 512)]
    chunks += [b"a" * 1024] * 200  # 200 KB more, far past the 1048-byte limit

    result = post_in_chunks(small_kernel.asgi(), token, chunks, boundary)

    assert result["status"] == 413
    assert json.loads(result["body"])["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert result["pulled"] <= 3, "the body was read on after the limit was crossed"
    assert stored_files(small_kernel) == []
    assert attachment_rows(small_kernel) == 0


def test_limit_holds_past_the_sniffed_head(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", attachments={"max_size_mb": 0.01})
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"a" * 1024

    with pytest.raises(service.UploadTooLarge):
        service.write_upload(SimpleNamespace(settings=settings), chunks())  # type: ignore[arg-type]

    assert pulled == 11  # 10,485 bytes allowed: the eleventh KiB crosses the limit
    assert [p for p in settings.attachments_path.rglob("*") if p.is_file()] == []


def test_content_length_over_the_limit_is_refused_before_reading(small_kernel: Kernel) -> None:
    _, token = sign_in(small_kernel, "alice")
    with TestClient(small_kernel.asgi()) as client:
        too_big = upload(client, token, an_item_id(small_kernel), b"a" * 200_000)
        just_over = upload(client, token, an_item_id(small_kernel), b"a" * 1049)
        at_limit = upload(client, token, an_item_id(small_kernel), b"a" * 1048)

    for response in (too_big, just_over):
        assert (response.status_code, error_code(response)) == (413, "BAD_USER_INPUT")
    assert at_limit.status_code == 201
    assert len(stored_files(small_kernel)) == 1
    assert attachment_rows(small_kernel) == 1


# --- transactions ---------------------------------------------------------------------


def test_rolled_back_transaction_leaves_no_file(kernel: Kernel) -> None:
    actor, _ = sign_in(kernel, "alice")
    ref = RecordRef("dictionary_item", an_item_id(kernel))
    seen: list[Path] = []

    with pytest.raises(RuntimeError), kernel.session(actor) as session:
        row = service.save_attachment(
            session, kernel, ref, "a.txt", None, iter([b"hello ", b"world"]), actor
        )
        seen.extend(stored_files(kernel))
        assert row.size == 11
        raise RuntimeError("something later in the same request failed")

    assert len(seen) == 1
    assert stored_files(kernel) == []
    assert attachment_rows(kernel) == 0


def test_rolled_back_savepoint_removes_only_its_file(kernel: Kernel) -> None:
    actor, _ = sign_in(kernel, "alice")
    ref = RecordRef("dictionary_item", an_item_id(kernel))

    with kernel.session(actor) as session:
        kept = service.save_attachment(session, kernel, ref, "kept.txt", None, [b"kept"], actor)
        savepoint = session.begin_nested()
        service.save_attachment(session, kernel, ref, "dropped.txt", None, [b"gone"], actor)
        savepoint.rollback()
        kept_key = kept.storage_key

    assert [path.name for path in stored_files(kernel)] == [kept_key]
    assert attachment_rows(kernel) == 1


def test_failed_upload_stream_stores_nothing(kernel: Kernel) -> None:
    actor, _ = sign_in(kernel, "alice")
    ref = RecordRef("dictionary_item", an_item_id(kernel))

    def broken() -> Iterator[bytes]:
        yield b"x" * 10_000
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError), kernel.session(actor) as session:
        service.save_attachment(session, kernel, ref, "a.txt", None, broken(), actor)

    assert stored_files(kernel) == []


# --- GraphQL --------------------------------------------------------------------------

LIST = """
query ($record: RecordReferenceInput!, $first: Int, $after: String) {
  attachments(record: $record, first: $first, after: $after) {
    edges { node { id filename contentType size sha256 createdAt uploadedBy downloadUrl
                   record { kind recordId exists } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
DELETE = "mutation ($id: ID!) { deleteAttachment(id: $id) { deletedId } }"


def test_graphql_lists_a_records_attachments_in_pages(kernel: Kernel, client: TestClient) -> None:
    alice, token = sign_in(kernel, "alice")
    item_id = an_item_id(kernel)
    for number in range(3):
        assert upload(client, token, item_id, f"file {number}".encode(), f"{number}.txt").is_success
    record = {"kind": "dictionary_item", "recordId": item_id}

    first = gql(kernel, LIST, {"record": record, "first": 2}, alice)
    rest = gql(
        kernel,
        LIST,
        {
            "record": record,
            "first": 2,
            "after": first["data"]["attachments"]["pageInfo"]["endCursor"],
        },
        alice,
    )

    assert "errors" not in first, first
    page = first["data"]["attachments"]
    assert [e["node"]["filename"] for e in page["edges"]] == ["0.txt", "1.txt"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["filename"] for e in rest["data"]["attachments"]["edges"]] == ["2.txt"]
    node = page["edges"][0]["node"]
    assert node["uploadedBy"] == alice.user_id
    assert node["size"] == len(b"file 0")
    assert node["record"] == {"kind": "dictionary_item", "recordId": item_id, "exists": True}
    download = client.get(node["downloadUrl"], headers=bearer(token))
    assert download.content == b"file 0"

    other = gql(kernel, LIST, {"record": {"kind": "dictionary_item", "recordId": 999999}}, alice)
    unknown = gql(kernel, LIST, {"record": {"kind": "nope", "recordId": 1}}, alice)
    anonymous = gql(kernel, LIST, {"record": record})
    assert error_codes(other) == ["NOT_FOUND"]
    assert error_codes(unknown) == ["BAD_USER_INPUT"]
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


def test_only_the_uploader_or_a_role_allowed_to_delete_any_may_delete(
    kernel: Kernel, client: TestClient, admin: Actor
) -> None:
    alice, token = sign_in(kernel, "alice")
    bob, _ = sign_in(kernel, "bob")
    item_id = an_item_id(kernel)
    mine = upload(client, token, item_id, b"alice's file").json()["id"]
    theirs = upload(client, token, item_id, b"another file").json()["id"]
    assert len(stored_files(kernel)) == 2

    refused = gql(kernel, DELETE, {"id": mine}, bob)
    assert error_codes(refused) == ["FORBIDDEN"]
    assert len(stored_files(kernel)) == 2

    deleted = gql(kernel, DELETE, {"id": mine}, alice)
    assert deleted["data"]["deleteAttachment"]["deletedId"] == mine
    assert len(stored_files(kernel)) == 1
    assert client.get(f"/attachments/{mine}", headers=bearer(token)).status_code == 404

    moderator = dataclasses.replace(bob, actions=frozenset({"attachment.delete_any"}))
    assert "errors" not in gql(kernel, DELETE, {"id": theirs}, moderator)
    assert stored_files(kernel) == []
    assert error_codes(gql(kernel, DELETE, {"id": theirs}, admin)) == ["NOT_FOUND"]
    assert attachment_rows(kernel) == 0
    assert error_codes(gql(kernel, DELETE, {"id": mine}, alice)) == ["NOT_FOUND"]
