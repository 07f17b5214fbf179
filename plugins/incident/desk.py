"""What the desk sees beside the registration form while the caller is on the phone: the
caller's open and recent incidents and (when a module answers `person_assets`) their assets,
the open incidents like the one being typed, and (when a module answers
`reference_suggestions`) reference knowledge.

The panels are htmx fragments of `/incidents/new` — the caller panel when a caller is picked,
the suggestions while the title or description is typed (debounced) — and are drawn into the
page on the server as well when the form comes back with values (a refused post, a
template), so without JavaScript the form works exactly as before. Every list is one query
under the viewer's data scope, and fields hidden from the viewer are neither shown nor
searched.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, case, or_, select, union_all
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openitsm.kernel.access.fields import FieldAccess, field_access
from openitsm.kernel.access.scope import visible
from openitsm.kernel.actors import Actor
from openitsm.kernel.hookspecs import AssetSummary, Suggestion
from openitsm.kernel.identity.models import User
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import FINISHED, OPEN, Incident
from openitsm.web import pickers
from openitsm.web.pages import PageContext, explained, page_context, read_post

log = logging.getLogger("openitsm.incident")

OPEN_SHOWN = 10  # the caller's open incidents shown
PAST_SHOWN = 5  # and their most recent finished ones
SIMILAR_SHOWN = 5
ASSETS_SHOWN = 5
REFERENCES_SHOWN = 5
MAX_WORDS = 8  # words (or CJK character pairs) a similarity query looks for
MAX_TEXT = 2000  # characters of the typed text considered
ASSETS_HOOK = "person_assets"
REFERENCES_HOOK = "reference_suggestions"

WORD = re.compile(r"\w+")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
STOP_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "not",
        "but",
        "can",
        "cannot",
        "does",
        "did",
        "has",
        "have",
        "had",
        "was",
        "were",
        "are",
        "our",
        "you",
        "your",
        "this",
        "that",
        "from",
        "when",
        "after",
        "into",
        "out",
        "off",
        "any",
        "all",
        "its",
    ]
)


@dataclass(frozen=True)
class Line:
    """An incident as a panel lists it: only what the viewer may read (None otherwise)."""

    id: int
    number: str | None
    title: str | None
    status: str
    opened_at: dt.datetime | None
    same_caller: bool = False

    @property
    def url(self) -> str:
        return f"/incidents/{self.id}"


@dataclass(frozen=True)
class CallerPanel:
    """`assets` is None when no enabled module answers `person_assets` (no assets section)."""

    caller_id: int
    name: str
    open: list[Line] = field(default_factory=list)
    past: list[Line] = field(default_factory=list)
    assets: list[AssetSummary] | None = None
    history: bool = True  # False: the viewer may not read whose incidents are whose


@dataclass(frozen=True)
class SuggestionPanel:
    """`references` is None when no enabled module answers `reference_suggestions`."""

    similar: list[Line] = field(default_factory=list)
    references: list[Suggestion] | None = None
    searched: bool = False  # something was typed or a caller picked


# --- reading --------------------------------------------------------------------------


def _lines(rows: Iterable[Any], access: FieldAccess, caller_id: int | None = None) -> list[Line]:
    return [
        Line(
            id=row.id,
            number=row.number if access.readable("number") else None,
            title=row.title if access.readable("title") else None,
            status=row.status,
            opened_at=row.opened_at if access.readable("opened_at") else None,
            same_caller=caller_id is not None and row.caller_id == caller_id,
        )
        for row in rows
    ]


def _columns() -> tuple[Any, ...]:
    return (
        Incident.id,
        Incident.number,
        Incident.title,
        Incident.status,
        Incident.opened_at,
        Incident.caller_id,
    )


def caller_incidents(
    session: Session, actor: Actor, caller_id: int
) -> tuple[list[Line], list[Line]] | None:
    """The caller's open incidents and most recent finished ones the viewer may see, in one
    statement (two limited branches of a UNION ALL on the caller index); None when the
    viewer may not read whose incidents they are or their status."""
    access = field_access(actor, service.INCIDENT.name)
    if not (access.readable("caller_id") and access.readable("status")):
        return None

    def branch(statuses: Sequence[str], limit: int) -> Select[Any]:
        inner = (
            visible(select(*_columns()), actor, service.INCIDENT)
            .where(Incident.caller_id == caller_id, Incident.status.in_(statuses))
            .order_by(Incident.id.desc())
            .limit(limit)
            .subquery()
        )
        return select(inner)

    both = union_all(branch(OPEN, OPEN_SHOWN), branch(FINISHED, PAST_SHOWN)).subquery()
    rows = session.execute(select(both).order_by(both.c.id.desc())).all()
    lines = _lines(rows, access)
    return [x for x in lines if x.status in OPEN], [x for x in lines if x.status not in OPEN]


def words(text: str) -> list[str]:
    """What a similarity query looks for in titles: words of three letters or more (common
    English ones left out) and, since Chinese has no spaces, each pair of adjacent Chinese
    characters; lower case, each once, at most `MAX_WORDS`."""
    found: list[str] = []
    for token in WORD.findall(text[:MAX_TEXT].lower()):
        pieces = [p for p in CJK.split(token) if len(p) >= 3 and p not in STOP_WORDS]
        for run in CJK.findall(token):
            pieces.extend(run[i : i + 2] for i in range(len(run) - 1))
        for piece in pieces:
            if piece not in found:
                found.append(piece)
    return found[:MAX_WORDS]


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def similar_open(session: Session, actor: Actor, caller_id: int | None, text: str) -> list[Line]:
    """Open incidents of the same caller or with titles sharing enough of the typed words,
    the caller's first, then the best matches, newest first; one statement under the
    viewer's scope.

    No trigram or full-text index is needed on SQLite or PostgreSQL: the statement reads
    only open incidents through the (status, opened_at) index — a small share of all — and
    counts the words each title contains with plain `LIKE` (a third of them must match)."""
    access = field_access(actor, service.INCIDENT.name)
    if not access.readable("status"):
        return []
    wanted = words(text) if access.readable("title") else []
    by_caller = caller_id is not None and access.readable("caller_id")
    if not wanted and not by_caller:
        return []
    conditions: list[Any] = []
    order: list[Any] = []
    if by_caller:
        same = Incident.caller_id == caller_id
        conditions.append(same)
        order.append(case((same, 0), else_=1))
    if wanted:
        score = functools.reduce(
            operator.add,
            [
                case((Incident.title.ilike(f"%{_escaped(w)}%", escape="\\"), 1), else_=0)
                for w in wanted
            ],
        )
        conditions.append(score >= (len(wanted) + 2) // 3)
        order.append(score.desc())
    if access.readable("opened_at"):
        order.append(Incident.opened_at.desc())
    statement = (
        visible(select(*_columns()), actor, service.INCIDENT)
        .where(Incident.status.in_(OPEN), or_(*conditions))
        .order_by(*order, Incident.id.desc())
        .limit(SIMILAR_SHOWN)
    )
    return _lines(session.execute(statement).all(), access, caller_id if by_caller else None)


def _safe_url(url: str | None) -> str | None:
    """A link a plugin gave, kept only when it stays on the site or uses http(s)."""
    if url and (url.startswith(("https://", "http://")) or (url[:1] == "/" and url[1:2] != "/")):
        return url
    return None


def assets_of(kernel: Any, session: Session, actor: Actor, user_id: int) -> list[AssetSummary]:
    """What the enabled modules say the person holds; a module that fails is logged and
    the panel shown without its answer."""
    try:
        answers = kernel.hook.person_assets(
            kernel=kernel, session=session, actor=actor, user_id=user_id, limit=ASSETS_SHOWN
        )
        found = [asset for answer in answers for asset in answer or ()]
    except Exception:
        log.exception("person_assets failed")
        return []
    return [
        AssetSummary(a.title, _safe_url(a.url), a.kind_label, dict(a.facts))
        for a in found[:ASSETS_SHOWN]
    ]


def references_for(kernel: Any, session: Session, actor: Actor, text: str) -> list[Suggestion]:
    """The enabled modules' suggestions for what is typed, best score first."""
    if not text.strip():
        return []
    try:
        answers = kernel.hook.reference_suggestions(
            kernel=kernel,
            session=session,
            actor=actor,
            kind=service.INCIDENT.name,
            text=text[:MAX_TEXT],
            limit=REFERENCES_SHOWN,
        )
        found = [item for answer in answers for item in answer or ()]
    except Exception:
        log.exception("reference_suggestions failed")
        return []
    found.sort(key=lambda s: s.score, reverse=True)
    return [
        Suggestion(s.title, _safe_url(s.url) or "", s.summary, s.ref, s.score)
        for s in found[:REFERENCES_SHOWN]
    ]


# --- panels ---------------------------------------------------------------------------


def _caller_id(raw: Any) -> int | None:
    text = str(raw if raw is not None else "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def caller_panel(page: PageContext, caller_id: int | None) -> Markup:
    """The picked caller's panel, or nothing for no (or no such) caller."""
    if caller_id is None:
        return Markup("")
    with page.kernel.session(page.actor) as session:
        user = session.get(User, caller_id)
        if user is None:
            return Markup("")
        name = pickers.user_label(user, field_access(page.actor, "user")).label
        history = caller_incidents(session, page.actor, caller_id)
        assets = (
            assets_of(page.kernel, session, page.actor, caller_id)
            if page.kernel.offers(ASSETS_HOOK)
            else None
        )
    panel = CallerPanel(
        caller_id=caller_id,
        name=name,
        open=history[0] if history else [],
        past=history[1] if history else [],
        assets=assets,
        history=history is not None,
    )
    return page.render("incident/desk_caller.html", panel=panel, status_label=_status_label)


def suggestion_panel(page: PageContext, values: Mapping[str, Any]) -> Markup:
    """Similar open incidents and reference knowledge for the typed title and description."""
    title = str(values.get("title") or "")[:200]
    description = Markup(str(values.get("description") or "")[: MAX_TEXT * 4]).striptags()
    text = f"{title} {description}".strip()
    caller_id = _caller_id(values.get("caller_id"))
    offered = page.kernel.offers(REFERENCES_HOOK)
    if not text and caller_id is None:  # a fresh form: nothing to look for yet
        return page.render(
            "incident/desk_suggestions.html",
            panel=SuggestionPanel(references=[] if offered else None),
            status_label=_status_label,
        )
    with page.kernel.session(page.actor) as session:
        similar = similar_open(session, page.actor, caller_id, text)
        references = references_for(page.kernel, session, page.actor, text) if offered else None
    panel = SuggestionPanel(
        similar=similar, references=references, searched=bool(text or caller_id)
    )
    return page.render("incident/desk_suggestions.html", panel=panel, status_label=_status_label)


def panels(page: PageContext, values: Mapping[str, Any]) -> dict[str, Markup]:
    """Both panels drawn on the server for a form shown with values (no JavaScript needed)."""
    return {
        "caller": caller_panel(page, _caller_id(values.get("caller_id"))),
        "suggestions": suggestion_panel(page, values),
    }


def _status_label(status: str, locale: str) -> str:
    from openitsm.plugins.incident.pages import status_label

    return status_label(status, locale)


# --- fragments ------------------------------------------------------------------------


def _viewer(request: Request) -> PageContext | Response:
    return page_context(request, service.READ, service.CREATE)


@explained
async def caller_fragment(request: Request) -> Response:
    """GET /incidents/new/caller?caller_id=N: the caller panel (htmx)."""
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    caller_id = _caller_id(request.query_params.get("caller_id"))
    body = await run_in_threadpool(caller_panel, page, caller_id)
    return page.respond("fragment.html", body=body)


@explained
async def suggestions_fragment(request: Request) -> Response:
    """POST /incidents/new/suggestions (title, description, caller_id, csrf): similar open
    incidents and reference knowledge (htmx). A post, since a description can be long."""
    page = _viewer(request)
    if not isinstance(page, PageContext):
        return page
    posted, _ = await read_post(request)
    body = await run_in_threadpool(suggestion_panel, page, posted)
    return page.respond("fragment.html", body=body)


ROUTES = [
    Route("/incidents/new/caller", caller_fragment, methods=["GET"]),
    Route("/incidents/new/suggestions", suggestions_fragment, methods=["POST"]),
]
