"""`handle_post`: how a form post is answered — saved and redirected, or the form shown again
with the refusal (a lost update 409, bad input 400 next to its field)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.responses import Response

from openitsm.kernel import BadUserInput, Conflict
from openitsm.kernel.errors import NotFound, OpenITSMError
from openitsm.kernel.forms import FieldError, Submission
from openitsm.kernel.testing import run_coroutine
from openitsm.web.posts import handle_post


class FakeKernel:
    def __init__(self) -> None:
        self.units: list[Any] = []

    @contextmanager
    def unit_of_work(self, actor: Any) -> Iterator[str]:
        self.units.append(actor)
        yield "session"


class FakePage:
    """What `handle_post` uses of a page: the kernel, the actor and `explain`."""

    def __init__(self) -> None:
        self.kernel = FakeKernel()
        self.actor = "actor"

    def explain(self, error: OpenITSMError) -> str:
        return f"explained: {error}"


def answer(
    work: Callable[[Any], Any], **options: Any
) -> tuple[Response, list[tuple[int, Mapping[str, str], Mapping[str, Any], str]]]:
    shown: list[tuple[int, Mapping[str, str], Mapping[str, Any], str]] = []

    def refused(
        status: int, values: Mapping[str, str], errors: Mapping[str, Any], message: str
    ) -> Response:
        shown.append((status, values, errors, message))
        return Response(status_code=status)

    page: Any = FakePage()
    posting = handle_post(
        page, {"title": "as typed"}, work, refused, lambda id_: f"/done/{id_}", **options
    )
    response = run_coroutine(posting)
    assert page.kernel.units == ["actor"]  # one unit of work, as the viewer
    return response, shown


def test_saved_post_goes_on_to_the_next_page() -> None:
    response, shown = answer(lambda session: 7 if session == "session" else 0)
    assert response.status_code == 303 and response.headers["location"] == "/done/7"
    assert shown == []


def test_refused_form_is_shown_again_as_typed() -> None:
    errors = {"title": FieldError("required")}
    submission = Submission(values={}, errors=errors, raw={"title": ""})
    response, shown = answer(lambda session: submission)
    assert response.status_code == 400
    assert shown == [(400, {"title": ""}, errors, "")]


def test_bad_input_goes_next_to_its_field() -> None:
    def work(session: Any) -> None:
        raise BadUserInput("no such group", field="group")

    response, shown = answer(work, field_errors=lambda e: {str(e.extensions["field"]): "x"})
    assert response.status_code == 400
    assert shown == [(400, {"title": "as typed"}, {"group": "x"}, "explained: no such group")]


def test_lost_update_is_409_without_field_errors() -> None:
    def work(session: Any) -> None:
        raise Conflict("changed meanwhile")

    response, shown = answer(work, field_errors=lambda e: {"never": "used"})
    assert response.status_code == 409
    assert shown == [(409, {"title": "as typed"}, {}, "explained: changed meanwhile")]


def test_errors_outside_catch_go_on_to_the_caller() -> None:
    def conflict(session: Any) -> None:
        raise Conflict("changed meanwhile")

    def missing(session: Any) -> None:
        raise NotFound("gone")

    with pytest.raises(Conflict):
        answer(conflict, catch=(BadUserInput,))
    with pytest.raises(NotFound):
        answer(missing)
