"""The common course of a form post: check and save in one transaction, then either go on
to the next page or show the form again with the refusal next to its fields.

Record pages (an incident's action forms, a template's edit form, a registration form) all
answer a post the same way; `handle_post` is that answer, so each page only says what to
save, how to show its form again and where to go afterwards. `post_action` is the answer
to a record page's action forms, built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openitsm.kernel.errors import BadUserInput, Conflict, OpenITSMError
from openitsm.kernel.forms import Form, Submission
from openitsm.web import pickers
from openitsm.web.pages import PageContext, read_post

T = TypeVar("T")

Errors = Mapping[str, Any]
"""What is wrong, by form field: `FieldError`s from a form check, or (portal pages) the
message to show next to the field."""
Refused = Callable[[int, Mapping[str, str], Errors, str], Response]
"""Shows the form again: `(status, values as typed, errors by field, message)`."""


def _no_field(error: BadUserInput) -> Errors:
    return {}


async def handle_post(
    page: PageContext,
    posted: Mapping[str, str],
    work: Callable[[Session], Submission | T],
    refused: Refused,
    success_url: Callable[[T], str],
    *,
    field_errors: Callable[[BadUserInput], Errors] = _no_field,
    catch: tuple[type[OpenITSMError], ...] = (BadUserInput, Conflict),
) -> Response:
    """Run `work` in a unit of work as the viewer and answer the post.

    `work` returns the `Submission` when the form itself is refused (nothing is saved), or
    any other value, which `success_url` turns into the page to go to (303). A refusal of the
    service among `catch` shows the form again with what was posted: a lost update (`Conflict`)
    with 409, any other with 400 (bad input with the field `field_errors` names). Errors
    outside `catch` go on to the handler's caller (`explained` turns them into an error
    page).
    """

    def save() -> Submission | T:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            return work(session)

    try:
        result = await run_in_threadpool(save)
    except catch as error:
        status = 409 if isinstance(error, Conflict) else 400
        errors = field_errors(error) if isinstance(error, BadUserInput) else {}
        return await run_in_threadpool(refused, status, posted, errors, page.explain(error))
    if isinstance(result, Submission):
        return await run_in_threadpool(refused, 400, result.raw, result.errors, "")
    return RedirectResponse(success_url(result), status_code=303)


class RunAction(Protocol):
    """Takes the action `name` on the record: `(session, name, record id, version posted,
    the action form's values)`; the version is 0 when the post names none."""

    def __call__(
        self,
        session: Session,
        name: str,
        record_id: int,
        version: int,
        values: Mapping[str, Any],
        /,
    ) -> object: ...


class RecordPage(Protocol):
    """The record's page drawn again with the refused action form `failed` filled in."""

    def __call__(
        self,
        page: PageContext,
        record_id: int,
        status: int,
        message: str,
        /,
        *,
        posted: Mapping[str, Any],
        errors: Errors,
        failed: str,
    ) -> Response: ...


async def post_action(
    request: Request,
    page: PageContext,
    record_id: int,
    name: str,
    form: Form | None,
    run: RunAction,
    record_page: RecordPage,
    record_url: str,
    *,
    field_errors: Callable[[BadUserInput], Errors] = _no_field,
) -> Response:
    """Answer one of the action forms on a record's page (assign, resolve, close…): the
    action's `form`, when it has one, checked and `run` in one unit of work, then back to
    `record_url` with `?done=<name>`, or `record_page` again with the refusal at that form.

    The record modules (incidents, complaints) answer their actions alike but may not import
    one another, so the answer lives here.
    """
    posted, version = await read_post(request)

    def save(session: Session) -> Submission | None:
        values: Mapping[str, Any] = {}
        if form is not None:
            submission = page.check(form, posted, pickers.lookups(session))
            if not submission.valid:
                return submission
            values = submission.values
        run(session, name, record_id, version, values)
        return None

    def refused(status: int, values: Mapping[str, str], errors: Errors, message: str) -> Response:
        return record_page(
            page, record_id, status, message, posted=values, errors=errors, failed=name
        )

    return await handle_post(
        page,
        posted,
        save,
        refused,
        lambda _: f"{record_url}?done={name}",
        field_errors=field_errors,
    )


__all__ = ["Errors", "RecordPage", "Refused", "RunAction", "handle_post", "post_action"]
