"""The self-service portal (自助服务门户, `/portal`): where people who are not agents
submit requests and follow them, on a phone as well as at a desk.

It has a layout of its own (`portal/base.html`: no agents' navigation) and a home page with
two parts: what the viewer may submit — the menu items modules declare in the `portal`
section — and their requests, which every module answering the `portal_requests` hook
lists, merged newest first (work dispatched to them, a vendor's, apart). People whose
roles give them nothing beyond self-service land here after signing in and whenever they
open `/`; agents keep the workbench and reach the portal from its navigation.

A module adds its portal pages under `/portal/<kind>/…` with the helpers below (see
docs/portal.md): `portal_context` for the viewer, `portal_explained` for refusals drawn in
the portal's layout, `read_upload_form` and `save_uploads` for forms with files (checked by
the kernel's attachments service), `comment_with_files` for a message that brings files,
`public_progress` for what the requester may follow of a record, and `field_messages` to
put a service's refusal next to its field; `post_rating` answers the requester's rating.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.access.actions import action_registry
from openitsm.kernel.actors import Actor
from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.comments import service as comments
from openitsm.kernel.errors import BadUserInput, OpenITSMError, _t
from openitsm.kernel.forms import Form, Submission, image_attachment_ids, sanitise_html
from openitsm.kernel.hookspecs import PortalRequest
from openitsm.kernel.organisation.service import load_role_specs
from openitsm.kernel.references import RecordRef
from openitsm.web.menus import MenuItem, portal_items
from openitsm.web.pages import STATUS, PageContext, check_csrf, page_context, read_post, site_of
from openitsm.web.posts import Errors, handle_post
from openitsm.web.timeline import merged_timeline

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel.app import Kernel
    from openitsm.kernel.attachments.models import Attachment

log = logging.getLogger("openitsm.web.portal")

HOME = "/portal"
# The predefined role of people who only submit and follow their own requests
# (openitsm/kernel/organisation/roles.toml); the actions declared for it are self-service.
SELF_SERVICE_ROLE = "end_user"
HOME_REQUESTS = 50  # requests on the home page, all modules together
FILES = "files"  # the file input of portal forms
MAX_FILES = 10  # files in one post
FORM_ROOM = 1024 * 1024  # the text fields and part headers around the files of one post
CHUNK = 64 * 1024
PROGRESS_LENGTH = 100

_SELF_SERVICE: weakref.WeakKeyDictionary[Kernel, frozenset[str]] = weakref.WeakKeyDictionary()


# --- who lands here ---------------------------------------------------------------------


def self_service_actions(kernel: Kernel) -> frozenset[str]:
    """The actions meant for the end-user role: those modules declare for it
    (`ActionSpec.roles`) and those the predefined role lists. Taken from the declarations,
    not the stored role, so an extra action an administrator grants the role later counts
    as agent work."""
    found = _SELF_SERVICE.get(kernel)
    if found is None:
        declared = {
            spec.name for spec in action_registry(kernel) if SELF_SERVICE_ROLE in spec.roles
        }
        listed = {
            action
            for spec in load_role_specs()
            if spec.code == SELF_SERVICE_ROLE
            for action in spec.actions
        }
        found = _SELF_SERVICE[kernel] = frozenset(declared | listed)
    return found


def lands_on_portal(kernel: Kernel, actor: Actor) -> bool:
    """Whether the portal is `actor`'s home: they hold a role, and none of their actions is
    agent work (anything beyond self-service). Superusers, and people without any role
    (whom nobody has placed yet), keep the workbench."""
    if actor.superuser or not actor.roles:
        return False
    return actor.actions <= self_service_actions(kernel)


def portal_context(request: Request, *actions: str) -> PageContext | Response:
    """`page_context` for a portal page: the viewer (or the sign-in redirect), FORBIDDEN
    unless they may do each of `actions`; templates also see `portal_only` (no link back
    to the workbench)."""
    page = page_context(request, *actions)
    if isinstance(page, PageContext):
        page.values["portal_only"] = lands_on_portal(page.kernel, page.actor)
    return page


def portal_explained(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """`pages.explained` for portal pages: a refusal (bad input, no permission, a record the
    viewer may not see) becomes a page in the portal's layout that says so."""

    @functools.wraps(handler)
    async def page(request: Request) -> Response:
        try:
            return await handler(request)
        except OpenITSMError as error:
            context = portal_context(request)
            if not isinstance(context, PageContext):
                return context
            return context.respond(
                "portal/error.html",
                status=STATUS.get(error.code, 400),
                message=context.explain(error),
            )

    return page


# --- the home page ----------------------------------------------------------------------


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def collect_requests(page: PageContext, limit: int = HOME_REQUESTS) -> list[PortalRequest]:
    """Every module's answer to `portal_requests` for the viewer, newest first.

    Each implementation is asked on its own inside the one read-only session, so a module
    that fails is logged and left out while the others' requests still show."""
    kernel = page.kernel
    reader = replace(page.actor, locale=page.locale)
    arguments = {
        "kernel": kernel,
        "actor": reader,
        "locale": page.locale,
        "limit": limit,
    }
    found: list[PortalRequest] = []
    with kernel.unit_of_work(actor=page.actor) as session:
        arguments["session"] = session
        for impl in kernel.hook.portal_requests.get_hookimpls():
            try:
                answer = impl.function(*(arguments[name] for name in impl.argnames))
                found.extend(list(answer or ())[:limit])
            except Exception:
                log.exception("%s could not list its portal requests", impl.plugin_name)
                session.rollback()  # nothing was written; the next module starts afresh
    found.sort(key=lambda r: _aware(r.updated_at), reverse=True)
    return found[:limit]


@portal_explained
async def home(request: Request) -> Response:
    page = portal_context(request)
    if not isinstance(page, PageContext):
        return page

    # `?done=step`: someone who works from the portal (a vendor) finished a process step,
    # and the record it was on left their list.
    done = request.query_params.get("done", "")

    def draw() -> Response:
        offers = portal_items(site_of(page.kernel).menus, page.actor)
        found = collect_requests(page)
        return page.respond(
            "portal/home.html",
            offers=offers,
            requests=[r for r in found if not r.dispatched],
            dispatched=[r for r in found if r.dispatched],
            done=done if done == "step" else "",
        )

    return await run_in_threadpool(draw)


def home_redirect() -> Response:
    """Where `/` sends someone whose home is the portal."""
    return RedirectResponse(HOME, status_code=303)


# --- forms with files -------------------------------------------------------------------


@dataclass
class UploadForm:
    """A posted portal form: its text fields, and the files chosen in its file inputs
    (held by Starlette in spooled temporary files until `save_uploads` stores them)."""

    fields: dict[str, str]
    files: list[UploadFile] = field(default_factory=list)


async def read_upload_form(request: Request, max_files: int = MAX_FILES) -> UploadForm:
    """A `multipart/form-data` (or plain) post checked for this browser's CSRF token.

    A body larger than `max_files` files of the size limit (and room for the text) is
    refused before it is read; each file's own size and type are checked as it is stored."""
    kernel: Kernel = request.app.state.kernel
    limit = attachments.max_bytes(kernel.settings)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_files * limit + FORM_ROOM:
        raise BadUserInput(
            _t("The files together are more than one form may carry; send fewer or smaller ones."),
            field=FILES,
        )
    try:
        form = await request.form(max_files=max_files, max_fields=100)
    except (MultiPartException, HTTPException) as error:
        problem = str(getattr(error, "detail", None) or error)
        if "files" in problem.lower():
            raise BadUserInput(
                _t("Send at most {count} files at once."), field=FILES, params={"count": max_files}
            ) from None
        raise BadUserInput(_t("This form is too large to be read; shorten the text.")) from None
    check_csrf(request, form)
    fields: dict[str, str] = {}
    files: list[UploadFile] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.filename:  # an input left empty still sends a part without a name
                files.append(value)
        else:
            fields[name] = value
    return UploadForm(fields, files)


def upload_limit(kernel: Kernel) -> str:
    """The size limit of one file as the attachments service words it ("25 MB")."""
    return f"{kernel.settings.attachments.max_size_mb:g} MB"


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    upload.file.seek(0)
    while chunk := upload.file.read(CHUNK):
        yield chunk


def save_uploads(
    session: Session,
    kernel: Kernel,
    ref: RecordRef,
    files: Sequence[UploadFile],
    actor: Actor,
) -> list[Attachment]:
    """Attach `files` to the record `ref` in this unit of work through the kernel's
    attachments service (its size limit and refused types apply); the first refusal names
    the file, on the `files` field, and undoes the whole post (stored files included)."""
    saved = []
    for upload in files:
        name = attachments.sanitise_filename(upload.filename)
        try:
            saved.append(
                attachments.save_attachment(
                    session,
                    kernel,
                    ref,
                    upload.filename,
                    upload.content_type,
                    _chunks(upload),
                    actor,
                )
            )
        except attachments.BlockedType:
            raise BadUserInput(
                _t("“{name}” is a kind of file that is not accepted here."),
                field=FILES,
                params={"name": name},
            ) from None
        except attachments.UploadTooLarge as error:
            raise BadUserInput(
                _t("“{name}” is larger than the limit of {limit}."),
                field=FILES,
                params={"name": name, "limit": error.params.get("limit", "")},
            ) from None
    return saved


def attach_pasted_images(
    session: Session, kernel: Kernel, html: str | None, ref: RecordRef, actor: Actor
) -> None:
    """Images pasted into rich text were uploaded as the writer's pending files: they join
    the record, so whoever may read it sees them too."""
    ids = image_attachment_ids(html)
    if ids:
        attachments.attach_pending(session, kernel, ids, ref, actor, skip_others=True)


def with_files(text: str, saved: Sequence[Attachment]) -> Markup:
    """The comment's text followed by links to the files added with it, so the people
    working on the record see what came with which message."""
    if not saved:
        return Markup(text)  # sanitised by the caller
    links = Markup("").join(
        Markup('<li><a href="/attachments/{}">{}</a></li>').format(a.id, escape(a.filename))
        for a in saved
    )
    return Markup(text) + Markup("<ul>") + links + Markup("</ul>")


def comment_with_files(
    session: Session, page: PageContext, ref: RecordRef, body: str, form: UploadForm, field: str
) -> None:
    """Add what the viewer wrote (`body`, rich text) and the files of `form` to the record
    `ref` as one comment, in this unit of work; a post with neither text, a pasted image
    nor a file is refused on `field`."""
    text = sanitise_html(body).strip()
    saved = save_uploads(session, page.kernel, ref, form.files, page.actor)
    if not Markup(text).striptags().strip() and "<img" not in text and not saved:
        raise BadUserInput(_t("Write something or add a file."), field=field)
    comments.add_comment(session, page.kernel, ref, with_files(text, saved), page.actor)


def field_messages(
    page: PageContext, error: BadUserInput, names: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A service's refusal as `{form field: message}`, to show next to that field; `names`
    maps the service's field names (`contactPhone`) to the form's (`contact_phone`). A
    refusal naming no field of the form is put under `""` (the top of the form)."""
    raw = str(error.extensions.get("field", ""))
    return {(names or {}).get(raw, raw): page.explain(error)}


class Rate(Protocol):
    """A service's rating by the requester of their own record (`rate_as_caller`…)."""

    def __call__(
        self,
        session: Session,
        record_id: int,
        version: int | None,
        /,
        *,
        satisfaction: int,
        comment: str | None,
    ) -> object: ...


class FollowPage(Protocol):
    """The page the requester follows their record on, drawn again with the refused form
    `failed`: the values as typed and the messages by field."""

    def __call__(
        self,
        page: PageContext,
        record_id: int,
        status: int,
        /,
        *,
        failed: str,
        values: Mapping[str, str],
        errors: Errors,
    ) -> Response: ...


async def post_rating(
    request: Request,
    page: PageContext,
    record_id: int,
    form: Form,
    rate: Rate,
    follow_page: FollowPage,
    record_url: str,
    names: Mapping[str, str],
) -> Response:
    """Answer the rating form (`satisfaction`, `satisfaction_comment`) on the page the
    requester follows their record on: `rate` in one unit of work, then back to `record_url`
    with `?done=rate`, or the page again with the refusal (`names` as for `field_messages`).

    Incidents and complaints are rated alike on the portal but may not import one another,
    so the answer lives here.
    """
    posted, version = await read_post(request)

    def save(session: Session) -> Submission | None:
        submission = page.check(form, posted)
        if not submission.valid:
            return submission
        rate(
            session,
            record_id,
            version or None,
            satisfaction=int(submission.values["satisfaction"]),
            comment=submission.values.get("satisfaction_comment"),
        )
        return None

    def refused(status: int, values: Mapping[str, str], errors: Errors, message: str) -> Response:
        # A lost update names no field: its message goes at the top of the form.
        placed = {"": message} if status == 409 else errors
        return follow_page(page, record_id, status, failed="rate", values=values, errors=placed)

    return await handle_post(
        page,
        posted,
        save,
        refused,
        lambda _: f"{record_url}?done=rate",
        field_errors=lambda error: field_messages(page, error, names),
    )


# --- what the requester may follow of a record ------------------------------------------


@dataclass(frozen=True)
class ProgressEntry:
    """One step of a request's public progress: `submitted`, a `status` change (its new
    state's label) or a `comment` (its body, sanitised HTML)."""

    at: dt.datetime
    kind: str
    actor_label: str = ""
    status: str = ""
    body: Markup = field(default_factory=Markup)
    mine: bool = False


def public_progress(
    page: PageContext,
    session: Session,
    ref: RecordRef,
    status_labels: Mapping[str, str],
    status_field: str = "status",
    limit: int = PROGRESS_LENGTH,
) -> list[ProgressEntry]:
    """What the requester may follow of `ref`, newest first: when it was submitted, the
    changes of its state and the comments that are not internal.

    It is the record's timeline read through the viewer's rules (hidden fields and records
    outside their scope give nothing), narrowed further: other field changes, process steps
    and internal comments stay on the agents' page, whoever is looking."""
    timeline = merged_timeline(page, session, ref, limit=limit)
    shown: list[ProgressEntry] = []
    for entry in timeline.entries:
        if entry.kind == "history":
            if entry.data.get("action") == "create":
                shown.append(ProgressEntry(entry.at, "submitted", entry.actor_label))
                continue
            for change in entry.data.get("changes", ()):
                if change.field == status_field and change.new is not None:
                    label = status_labels.get(str(change.new), str(change.new))
                    shown.append(ProgressEntry(entry.at, "status", entry.actor_label, label))
        elif entry.kind == "comment" and not entry.data.get("internal"):
            if entry.data.get("removed"):
                continue
            shown.append(
                ProgressEntry(
                    entry.at,
                    "comment",
                    entry.actor_label,
                    body=Markup(entry.body),  # sanitised by the comments service
                    mine=bool(entry.data.get("mine")),
                )
            )
    return shown


ROUTES = [Route(HOME, home, methods=["GET"])]
MENUS = [
    MenuItem(
        "portal",
        {"zh-CN": "自助服务门户", "en": "Self-service portal"},
        HOME,
        "workbench",
        order=90,
    )
]
