"""Upload and download over HTTP: `POST /attachments` and `GET /attachments/{id}`.

The upload's multipart body is parsed as it arrives (python-multipart's push parser fed
from `request.stream()`), and its file part goes straight into the store, so a 2 GB
upload costs a few kilobytes of memory and an oversized one is refused the moment it
crosses the limit. Database work runs in a worker thread in short units of work; none is
held open while the client is still sending.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.from_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from strawberry import relay

from openitsm.kernel.actors import ANONYMOUS, Actor
from openitsm.kernel.attachments import service
from openitsm.kernel.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    OpenITSMError,
    Unauthenticated,
    _t,
)
from openitsm.kernel.graphql.errors import error_payload
from openitsm.kernel.graphql.view import request_id_of
from openitsm.kernel.identity.routes import CSRF_COOKIE, SESSION_COOKIE
from openitsm.kernel.references import RecordRef

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

NODE_TYPE = "Attachment"
FILE_FIELD = "file"
# Room for the part headers and the small fields around the file in a multipart body.
FORM_OVERHEAD = 64 * 1024
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 20
STATUS = {
    service.UploadTooLarge: 413,
    service.BlockedType: 415,
    BadUserInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
}


def error_response(error: OpenITSMError, request_id: str) -> JSONResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 500)
    return JSONResponse(
        {"errors": [error_payload(error)]},
        status_code=status,
        headers={"x-request-id": request_id},
    )


def global_id(attachment_id: int) -> str:
    return relay.to_base64(NODE_TYPE, attachment_id)


def download_url(attachment_id: int) -> str:
    return f"/attachments/{attachment_id}"


def parse_attachment_id(raw: str) -> int:
    """Accept the plain number of `downloadUrl` or the Relay global id of an Attachment."""
    if raw.isdigit():
        return int(raw)
    try:
        value = relay.GlobalID.from_id(raw)
    except Exception:
        value = None
    if value is None or value.type_name != NODE_TYPE or not value.node_id.isdigit():
        raise NotFound(_t("No attachment with id {id}."), params={"id": repr(raw)})
    return int(value.node_id)


def resolve_actor(kernel: Kernel, request: Request, request_id: str) -> Actor:
    actor = kernel.hook.actor_from_request(request=request, kernel=kernel)
    return actor or ANONYMOUS


# --- reading the request body from a worker thread ----------------------------------


class RequestBody:
    """`request.stream()` as a plain iterator, for code running in a worker thread.

    Each chunk is fetched on the event loop when asked for, so nothing is read ahead.
    """

    def __init__(self, request: Request) -> None:
        self._stream = request.stream()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = anyio.from_thread.run(self._next)
            if chunk is None:
                return
            if chunk:
                yield chunk

    async def _next(self) -> bytes | None:
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            return None

    def close(self) -> None:
        anyio.from_thread.run(self._stream.aclose)


def multipart_events(body: Iterable[bytes], boundary: bytes) -> Iterator[tuple[str, Any]]:
    """("part", headers), ("data", bytes) and ("end", None) events, as the body arrives."""
    pending: list[tuple[str, Any]] = []
    headers: dict[bytes, bytes] = {}
    name, value = bytearray(), bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(name).lower()] = bytes(value)
        name.clear()
        value.clear()

    def on_headers_finished() -> None:
        pending.append(("part", dict(headers)))
        headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        pending.append(("data", data[start:end]))

    def on_part_end() -> None:
        pending.append(("end", None))

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    for chunk in body:
        parser.write(chunk)
        yield from pending
        pending.clear()
    parser.finalize()
    yield from pending


@dataclass(frozen=True)
class FilePart:
    filename: str
    content_type: str | None


class UploadForm:
    """The fields before the file part, then the file part's bytes as a stream.

    Clients send `kind` and `recordId` before `file` (as browsers' FormData and curl -F
    do when appended in that order), so the record is checked before any byte is stored.
    """

    def __init__(self, body: Iterable[bytes], boundary: bytes) -> None:
        self._events = multipart_events(body, boundary)

    def fields_until_file(self) -> tuple[dict[str, str], FilePart]:
        fields: dict[str, str] = {}
        current: str | None = None
        buffer = bytearray()
        for kind, value in self._events:
            if kind == "part":
                _, options = parse_options_header(value.get(b"content-disposition", b""))
                current = options.get(b"name", b"").decode("utf-8", "replace")
                if b"filename" in options:
                    if current != FILE_FIELD:
                        raise BadUserInput(
                            _t("Send the file in the field '{file}', not '{field}'."),
                            field=current,
                            params={"file": FILE_FIELD},
                        )
                    filename = options[b"filename"].decode("utf-8", "replace")
                    if not filename:
                        raise BadUserInput(_t("Choose a file to upload."), field=FILE_FIELD)
                    content_type = value.get(b"content-type")
                    return fields, FilePart(
                        filename, content_type.decode("latin-1") if content_type else None
                    )
                buffer.clear()
            elif kind == "data":
                buffer += value
                if len(buffer) > MAX_FIELD_BYTES:
                    raise BadUserInput(_t("The field '{field}' is too long."), field=current)
            elif kind == "end" and current is not None:
                try:
                    fields[current] = buffer.decode("utf-8")
                except UnicodeDecodeError:
                    raise BadUserInput(
                        _t("The field '{field}' is not UTF-8 text."), field=current
                    ) from None
                if len(fields) > MAX_FIELDS:
                    raise BadUserInput(_t("The form has too many fields."))
        raise BadUserInput(
            _t("The form has no file in a field named '{field}' (after kind and recordId)."),
            field=FILE_FIELD,
        )

    def file_chunks(self) -> Iterator[bytes]:
        for kind, value in self._events:
            if kind == "data":
                yield value
            elif kind == "end":
                return
        raise BadUserInput(_t("The upload ended before the file did."), field=FILE_FIELD)


def record_ref(fields: dict[str, str]) -> RecordRef:
    kind = fields.get("kind", "").strip()
    raw_id = fields.get("recordId", "").strip()
    if not kind:
        raise BadUserInput(_t("Name the record's kind in the field 'kind'."), field="kind")
    if not raw_id.isdigit():
        raise BadUserInput(
            _t("Give the record's number in the field 'recordId'."), field="recordId"
        )
    return RecordRef(kind, int(raw_id))


def upload_ref(fields: dict[str, str], actor: Actor) -> RecordRef:
    """The record named by the form, or with `kind=pending` (no `recordId`) the actor's
    pending uploads, for a form whose record is created only when it is saved."""
    if fields.get("kind", "").strip() == service.PENDING_KIND:
        return service.pending_ref(actor)
    return record_ref(fields)


def check_browser_token(request: Request) -> None:
    """A cookie-signed-in browser sends its page's CSRF token in `X-CSRF-Token`, so another
    site cannot post a file in the viewer's name; API clients with a bearer token need none."""
    if "authorization" in request.headers or SESSION_COOKIE not in request.cookies:
        return
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get("x-csrf-token", "")
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise Forbidden(
            _t("This upload did not come from a page of this site; reload the page and try again.")
        )


def multipart_boundary(request: Request) -> bytes:
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise BadUserInput(
            _t("Send the upload as multipart/form-data with the fields kind, recordId and file.")
        )
    return boundary


def check_declared_length(request: Request, limit: int) -> None:
    raw = request.headers.get("content-length")
    if raw is None:
        return
    if not raw.isdigit():
        raise BadUserInput(_t("The Content-Length header is not a number."))
    if int(raw) > limit + FORM_OVERHEAD:
        service.check_size(int(raw) - FORM_OVERHEAD, limit)


# --- endpoints ------------------------------------------------------------------------


def receive_upload(kernel: Kernel, request: Request, request_id: str) -> dict[str, Any]:
    actor = service.require_actor(resolve_actor(kernel, request, request_id))
    check_browser_token(request)
    boundary = multipart_boundary(request)
    check_declared_length(request, service.max_bytes(kernel.settings))
    body = RequestBody(request)
    try:
        form = UploadForm(body, boundary)
        fields, part = form.fields_until_file()
        ref = upload_ref(fields, actor)
        with kernel.unit_of_work(actor, request_id=request_id) as session:
            service.require_record(session, kernel, ref, actor)
        stored = service.write_upload(kernel, form.file_chunks())
    except MultipartParseError as exc:
        raise BadUserInput(
            _t("The multipart body is malformed: {problem}."), params={"problem": str(exc)}
        ) from None
    finally:
        body.close()
    with kernel.unit_of_work(actor, request_id=request_id) as session:
        attachment = service.record_attachment(
            session, kernel, ref, part.filename, part.content_type, stored, actor
        )
    return {
        "id": global_id(attachment.id),
        "filename": attachment.filename,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "downloadUrl": download_url(attachment.id),
    }


async def upload(request: Request) -> Response:
    kernel: Kernel = request.app.state.kernel
    request_id = request_id_of(request)
    try:
        created = await run_in_threadpool(receive_upload, kernel, request, request_id)
    except OpenITSMError as exc:
        return error_response(exc, request_id)
    except ClientDisconnect:
        return Response(status_code=400)
    return JSONResponse(
        created,
        status_code=201,
        headers={"location": created["downloadUrl"], "x-request-id": request_id},
    )


def content_disposition(filename: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


async def download(request: Request) -> Response:
    kernel: Kernel = request.app.state.kernel
    request_id = request_id_of(request)

    def open_file() -> tuple[Any, Iterator[bytes]]:
        actor = service.require_actor(resolve_actor(kernel, request, request_id))
        attachment_id = parse_attachment_id(request.path_params["id"])
        with kernel.unit_of_work(actor, request_id=request_id) as session:
            return service.open_attachment(session, kernel, attachment_id, actor)

    try:
        attachment, chunks = await run_in_threadpool(open_file)
    except OpenITSMError as exc:
        return error_response(exc, request_id)
    return StreamingResponse(
        chunks,
        media_type=attachment.content_type,
        headers={
            "content-length": str(attachment.size),
            "content-disposition": content_disposition(attachment.filename),
            "x-content-type-options": "nosniff",
            "content-security-policy": "sandbox",
            "cache-control": "private, no-cache",
            "etag": f'"{attachment.sha256}"',
            "x-request-id": request_id,
        },
    )


routes = [
    Route("/attachments", upload, methods=["POST"]),
    Route("/attachments/{id:path}", download, methods=["GET"]),
]
