"""Linked records on any record page, and the posts that add and remove links (`/links`).

A module's page handler calls `record_links(page, ref)` and prints the markup it returns
where the panel belongs. The panel lists the record's links the viewer may see and, for
those with `record.link`, a form taking `kind:id` or a number (`INC-2026-000001`) and a
remove button per link. With htmx the panel swaps itself in place, refusals included;
without it each post returns to the record page, or to a page that says what was wrong.
Who may link what is the kernel's links service's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.errors import BadUserInput, NotFound, OpenITSMError, _t
from openitsm.kernel.links import service
from openitsm.kernel.links.relations import INCOMING, RELATIONS
from openitsm.kernel.references import RecordRef
from openitsm.web.pages import PageContext, explained, page_context, read_post, safe_target

ANCHOR = "#record-links"


@dataclass(frozen=True)
class LinksPanel:
    """What `records/links.html` draws. `choices` are (value, label) of the relations one
    may add, each non-symmetric one from both ends (`caused_by` and `caused_by/incoming`)."""

    ref: RecordRef
    links: list[service.LinkView]
    here: str
    may_link: bool
    choices: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    typed: str = ""
    chosen: str = "related"


def relation_choices(locale: str) -> list[tuple[str, str]]:
    choices = []
    for relation in RELATIONS.values():
        choices.append((relation.name, relation.label(locale)))
        if not relation.symmetric:
            choices.append((f"{relation.name}/{INCOMING}", relation.label(locale, INCOMING)))
    return choices


def links_panel(
    page: PageContext,
    session: Session,
    ref: RecordRef,
    here: str | None = None,
    *,
    error: str = "",
    typed: str = "",
    chosen: str = "related",
) -> LinksPanel:
    """The panel of `ref` for the viewer, read in `session` (a constant number of queries)."""
    may_link = service.may_link(page.actor)
    return LinksPanel(
        ref=ref,
        links=service.links_of(session, ref, page.actor),
        here=safe_target(here or page.request.url.path),
        may_link=may_link,
        choices=relation_choices(page.locale) if may_link else [],
        error=error,
        typed=typed,
        chosen=chosen,
    )


def record_links(
    page: PageContext, ref: RecordRef, here: str | None = None, *, session: Session | None = None
) -> Markup:
    """The linked-records panel of `ref` as HTML, for a record page to print; read in the
    page's `session` when it has one open."""
    if session is not None:
        panel = links_panel(page, session, ref, here)
    else:
        with page.kernel.session() as reading:
            panel = links_panel(page, reading, ref, here)
    return page.render("records/links_fragment.html", panel=panel)


def _posted_ref(posted: dict[str, str]) -> RecordRef:
    raw = posted.get("record_id", "")
    if not raw.isdigit():
        raise BadUserInput(
            _t("'{text}' is not a record id."), field="record_id", params={"text": raw}
        )
    return RecordRef(posted.get("kind", ""), int(raw))


def _ends(here: RecordRef, other: RecordRef, chosen: str) -> tuple[RecordRef, RecordRef, str]:
    """Source, target and relation of a link chosen on `here`'s page (`caused_by/incoming`:
    the other record is caused by this one)."""
    relation, _, direction = chosen.partition("/")
    if direction == INCOMING:
        return other, here, relation
    return here, other, relation


def _answer(
    page: PageContext,
    request: Request,
    ref: RecordRef,
    here: str,
    error: OpenITSMError | None = None,
    typed: str = "",
    chosen: str = "related",
) -> Response:
    """After a post: the panel again for htmx (a refusal inside it), else back to the
    record, or to a page with the refusal next to the field."""
    if error is None and not request.headers.get("hx-request"):
        return RedirectResponse(safe_target(here) + ANCHOR, status_code=303)
    message = page.explain(error) if error is not None else ""

    def draw() -> LinksPanel:
        with page.kernel.session() as session:
            return links_panel(page, session, ref, here, error=message, typed=typed, chosen=chosen)

    panel = draw()
    if request.headers.get("hx-request"):
        # htmx swaps only successful answers: the refusal is drawn inside the panel.
        return page.respond("records/links_fragment.html", panel=panel)
    status = 404 if isinstance(error, NotFound) else 400
    return page.respond("records/links_page.html", status=status, panel=panel)


@explained
async def add_link(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    ref = _posted_ref(posted)
    here = posted.get("next", "/")
    typed, chosen = posted.get("target", "").strip(), posted.get("relation", "related")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            other = service.resolve_ref(session, typed, page.actor)
            source, target, relation = _ends(ref, other, chosen)
            service.add_link(session, source, target, relation, page.actor)

    try:
        await run_in_threadpool(save)
    except (BadUserInput, NotFound) as error:
        if error.extensions.get("field") not in ("target", "relation", "source"):
            raise
        return await run_in_threadpool(_answer, page, request, ref, here, error, typed, chosen)
    return await run_in_threadpool(_answer, page, request, ref, here)


@explained
async def remove_link(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    ref = _posted_ref(posted)
    here = posted.get("next", "/")
    source = RecordRef.parse(posted.get("source", ""))
    target = RecordRef.parse(posted.get("target", ""))
    if ref not in (source, target):
        raise BadUserInput(_t("The link to remove is not one of this record's."), field="source")

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.remove_link(session, source, target, posted.get("relation"), page.actor)

    try:
        await run_in_threadpool(save)
    except NotFound as error:
        if error.extensions.get("field") != "target":
            raise
        return await run_in_threadpool(_answer, page, request, ref, here, error)
    return await run_in_threadpool(_answer, page, request, ref, here)


ROUTES = [
    Route("/links", add_link, methods=["POST"]),
    Route("/links/remove", remove_link, methods=["POST"]),
]
