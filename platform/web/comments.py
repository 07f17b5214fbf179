"""Comments from record pages (`/comments`): add, edit and remove, with htmx or without.

Without JavaScript each form posts and the browser returns to the record page (`next`);
with htmx the edit and remove forms swap the one comment in place. Who may do what is the
kernel's comments service's business; refusals become a page (or the fragment) that says why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.comments import service
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.references import RecordRef
from openitsm.web.pages import PageContext, explained, page_context, read_post, safe_target


def _back(next_url: str, comment_id: int | None = None) -> RedirectResponse:
    anchor = f"#comment-{comment_id}" if comment_id is not None else "#timeline"
    return RedirectResponse(safe_target(next_url) + anchor, status_code=303)


def _record_id(raw: str) -> int:
    if not raw.isdigit():
        raise BadUserInput(
            _t("'{text}' is not a record id."), field="record_id", params={"text": raw}
        )
    return int(raw)


@explained
async def add_comment(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    ref = RecordRef(posted.get("kind", ""), _record_id(posted.get("record_id", "")))

    def save() -> int:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            comment = service.add_comment(
                session,
                page.kernel,
                ref,
                posted.get("body", ""),
                page.actor,
                internal=posted.get("internal") == "1",
            )
            return comment.id

    comment_id = await run_in_threadpool(save)
    return _back(posted.get("next", "/"), comment_id)


def _own_comment(page: PageContext, comment_id: int) -> Comment:
    """The viewer's own comment, as stored now (NOT_FOUND or FORBIDDEN otherwise)."""
    with page.kernel.session() as session:
        comment = service.get_comment(session, page.kernel, comment_id, page.actor)
        if comment.author_id != page.actor.user_id:
            raise Forbidden(_t("Only its author may change or remove a comment."))
        session.expunge(comment)
        return comment


def _editor(
    page: PageContext, request: Request, comment: Comment, here: str, status: int, **extra: Any
) -> Response:
    values = {"comment": comment, "here": safe_target(here), "entry": None, **extra}
    values.setdefault("error", "")
    values.setdefault("conflict", False)
    if request.headers.get("hx-request"):
        # htmx swaps only successful answers: the refusal is drawn inside the fragment.
        return page.respond("records/comment_fragment.html", **values)
    return page.respond("records/comment_edit.html", status=status, **values)


def _entry(page: PageContext, comment_id: int, here: str) -> Response:
    with page.kernel.session() as session:
        comment = service.get_comment(session, page.kernel, comment_id, page.actor)
        author = session.scalar(select(User.name).where(User.id == comment.author_id))
        entry = service.entry_of(comment, author, page.actor)
    return page.respond("records/comment_fragment.html", entry=entry, here=safe_target(here))


@explained
async def edit_form(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    comment_id = int(request.path_params["comment_id"])
    comment = await run_in_threadpool(_own_comment, page, comment_id)
    return _editor(page, request, comment, request.query_params.get("next", "/"), 200)


@explained
async def edit_comment(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    comment_id = int(request.path_params["comment_id"])
    posted, version = await read_post(request)
    here = posted.get("next", "/")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.edit_comment(
                session, page.kernel, comment_id, version, posted.get("body", ""), page.actor
            )

    try:
        await run_in_threadpool(save)
    except Conflict:
        comment = await run_in_threadpool(_own_comment, page, comment_id)
        return _editor(page, request, comment, here, 409, conflict=True)
    except BadUserInput as error:
        if error.extensions.get("field") != "body":
            raise
        comment = await run_in_threadpool(_own_comment, page, comment_id)
        comment.body = posted.get("body", "")
        return _editor(page, request, comment, here, 400, error=page.explain(error))
    if request.headers.get("hx-request"):
        return await run_in_threadpool(_entry, page, comment_id, here)
    return _back(here, comment_id)


@explained
async def remove_comment(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    comment_id = int(request.path_params["comment_id"])
    posted, version = await read_post(request)
    here = posted.get("next", "/")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.remove_comment(session, page.kernel, comment_id, version, page.actor)

    await run_in_threadpool(save)
    if request.headers.get("hx-request"):
        return await run_in_threadpool(_entry, page, comment_id, here)
    return _back(here, comment_id)


ROUTES = [
    Route("/comments", add_comment, methods=["POST"]),
    Route("/comments/{comment_id:int}/edit", edit_form, methods=["GET"]),
    Route("/comments/{comment_id:int}/edit", edit_comment, methods=["POST"]),
    Route("/comments/{comment_id:int}/remove", remove_comment, methods=["POST"]),
]
