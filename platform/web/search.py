"""Search (`/search`): the results page of the layout's search box, and its live suggestions.

Both go through `openitsm.kernel.search`, so they find what GraphQL's `search` finds: only
records in the viewer's data scope, by fields the viewer may read.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel.search import SearchGroup, clean, search
from openitsm.web.pages import PageContext, explained, page_context

PER_KIND = 10  # hits per kind on the page
ONE_KIND = 50  # hits on a page searching one kind
SUGGESTED = 5  # hits per kind under the search box
SUGGEST_FROM = 2  # characters typed before suggestions start


def _groups(page: PageContext, text: str, kind: str | None, first: int) -> list[SearchGroup]:
    with page.kernel.session() as session:
        only = [kind] if kind else None
        return search(session, page.kernel.record_kinds, page.actor, text, only=only, first=first)


@explained
async def search_page(request: Request) -> Response:
    """Every kind's hits, grouped; `kind=` narrows the search to one kind."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    text = clean(request.query_params.get("q"))
    kind_name = request.query_params.get("kind") or None
    kind = page.kernel.record_kinds.get(kind_name) if kind_name else None
    first = ONE_KIND if kind else PER_KIND
    groups = await run_in_threadpool(_groups, page, text, kind_name, first) if text else []
    return page.respond(
        "search.html",
        search_text=text,
        kind=kind,
        groups=groups,
        searched=bool(text),
    )


@explained
async def suggest(request: Request) -> Response:
    """A few hits per kind as the viewer types (htmx swaps them in under the box)."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    text = clean(request.query_params.get("q"))
    groups = []
    if len(text) >= SUGGEST_FROM:
        groups = await run_in_threadpool(_groups, page, text, None, SUGGESTED)
    return page.respond("search_suggestions.html", search_text=text, groups=groups)


ROUTES = [
    Route("/search", search_page, methods=["GET"]),
    Route("/search/suggest", suggest, methods=["GET"]),
]
