"""The common course of a form post: check and save in one transaction, then either go on
to the next page or show the form again with the refusal next to its fields.

Record pages (an incident's action forms, a template's edit form, a registration form) all
answer a post the same way; `handle_post` is that answer, so each page only says what to
save, how to show its form again and where to go afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from openitsm.kernel.errors import BadUserInput, Conflict, OpenITSMError
from openitsm.kernel.forms import Submission
from openitsm.web.pages import PageContext

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


__all__ = ["Errors", "Refused", "handle_post"]
