"""`/admin/mail`: the support mailbox's intake as administrators see it — how its last
reading went, and the mail that was refused, failed or is being read, each with why, a
button to try it again and one to put it aside."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.adapters.mail import intake
from openitsm.adapters.mail.models import (
    DISMISSED,
    DONE,
    FAILED,
    IGNORED,
    NEEDS_ATTENTION,
    PROCESSING,
    REFUSED,
    STATES,
    InboundMessage,
)
from openitsm.web.i18n import translations
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context

BASE = "/admin/mail"
# Which mail a filter shows: those needing a decision by default.
FILTERS: dict[str, tuple[str, ...]] = {
    "": NEEDS_ATTENTION,
    REFUSED: (REFUSED,),
    FAILED: (FAILED,),
    "all": STATES,
}


def explain(page: PageContext, row: InboundMessage) -> str:
    """Why a mail was refused or failed, in the reader's language when it can be."""
    if row.error_template:
        try:
            text = translations(page.locale).ugettext(row.error_template)
            return text.format_map(row.error_params or {})
        except (KeyError, IndexError, ValueError):
            pass
    return row.error or ""


def state_labels(page: PageContext) -> dict[str, str]:
    return {
        PROCESSING: page.gettext("being read"),
        DONE: page.gettext("registered"),
        REFUSED: page.gettext("refused"),
        FAILED: page.gettext("failed"),
        IGNORED: page.gettext("ignored"),
        DISMISSED: page.gettext("put aside"),
    }


def _load(page: PageContext, shown: str) -> dict[str, Any]:
    settings = intake.settings_of(page.kernel)
    with page.kernel.session() as session:
        rows = intake.messages(session, page.actor, FILTERS[shown])
        status = intake.status(session, page.actor)
        summaries = page.kernel.record_kinds.describe(
            session, [r.record for r in rows if r.record is not None], page.actor
        )
    return {
        "rows": [(row, explain(page, row), summaries.get(row.record)) for row in rows],
        "last": status,
        "configured": settings.intake_configured,
        "mailbox": settings.mailbox_label,
    }


@explained
async def admin_mail(request: Request) -> Response:
    page = page_context(request, intake.MANAGE)
    if not isinstance(page, PageContext):
        return page
    shown = request.query_params.get("state", "")
    shown = shown if shown in FILTERS else ""
    loaded = await run_in_threadpool(_load, page, shown)
    done = request.query_params.get("done", "")
    return page.respond(
        "mail/admin_mail.html",
        shown=shown,
        labels=state_labels(page),
        done=done if done in ("dismissed", *STATES) else "",
        **loaded,
    )


@explained
async def retry(request: Request) -> Response:
    page = page_context(request, intake.MANAGE)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    row_id = int(request.path_params["id"])
    state = await run_in_threadpool(intake.retry, page.kernel, page.actor, row_id)
    return RedirectResponse(f"{BASE}?done={state or ''}#mail-{row_id}", 303)


@explained
async def dismiss(request: Request) -> Response:
    page = page_context(request, intake.MANAGE)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    row_id = int(request.path_params["id"])

    def save() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            intake.dismiss(session, page.actor, row_id)

    await run_in_threadpool(save)
    return RedirectResponse(f"{BASE}?done=dismissed", 303)


ROUTES = [
    Route(BASE, admin_mail, methods=["GET"]),
    Route(BASE + "/{id:int}/retry", retry, methods=["POST"]),
    Route(BASE + "/{id:int}/dismiss", dismiss, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.mail",
        {"zh-CN": "邮件收件", "en": "Incoming mail"},
        BASE,
        "admin",
        intake.MANAGE,
        96,
    )
]
