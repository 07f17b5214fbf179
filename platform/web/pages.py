"""What every page shares: who is looking, in which language and time zone, the layout.

A page handler calls `page_context(request)` to get the signed-in actor (or a redirect to
the sign-in page that comes back afterwards) and renders templates through it; templates
see the translated `_()`, the navigation filtered by the actor's actions, the CSRF token
and the user's time zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from openitsm.kernel.access import require
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import BadUserInput, OpenITSMError, _t
from openitsm.kernel.forms import Form, Submission, check_submission, sanitise_html
from openitsm.kernel.identity.routes import CSRF_COOKIE
from openitsm.web.i18n import LOCALES, format_number, format_when, pick_locale, translations
from openitsm.web.menus import MenuItem, MenuSection, visible_menu
from openitsm.web.template_texts import TranslatingCodeGenerator, plain_translation

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel.app import Kernel
    from openitsm.web.widgets import Widget

TEMPLATES = Path(__file__).parent / "templates"
# Rich texts up to this many characters are cleaned once per process, not on every view.
SANITISED_KEPT = 4096
DEFAULT_TIME_ZONE = "Asia/Shanghai"
TIME_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)


class Site:
    """Per-kernel web state: template environments per locale, menus and widgets."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.menus: list[MenuItem] = [m for part in kernel.hook.register_menus() for m in part]
        self.widgets: dict[str, Widget] = {}
        for part in kernel.hook.register_widgets():
            for widget in part:
                self.widgets.setdefault(widget.key, widget)
        self._environments: dict[str, Environment] = {}

    @cached_property
    def loader(self) -> ChoiceLoader:
        """The web's templates, and each plugin's `templates/` folder as `<plugin>/name`."""
        prefixed: dict[str, FileSystemLoader] = {}
        for info in self.kernel.plugins.enabled():
            source = getattr(info.module, "__file__", None)  # a module, or an object's module
            if source is None:
                source = getattr(sys.modules.get(type(info.module).__module__), "__file__", None)
            folder = Path(source).parent / "templates" if source else None
            if folder is not None and folder.is_dir():
                prefixed[info.name] = FileSystemLoader(folder)
        return ChoiceLoader([FileSystemLoader(TEMPLATES), PrefixLoader(prefixed)])

    def environment(self, locale: str) -> Environment:
        found = self._environments.get(locale)
        if found is None:
            found = Environment(
                loader=self.loader,
                autoescape=select_autoescape(default=True),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            catalogue = translations(locale)
            found.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
            _remember_plain_texts(found)
            # Fixed texts are translated as a template is compiled (`template_texts`).
            found.code_generator_class = TranslatingCodeGenerator
            found.extend(plain_translation=plain_translation(catalogue.ugettext))
            found.filters["localtime"] = functools.partial(_localtime, locale=locale)
            found.filters["number"] = functools.partial(_number, locale=locale)
            found.filters["cell"] = functools.partial(_cell, locale=locale)
            found.filters["safe_html"] = _safe_html
            self._environments[locale] = found
        return found


def _remember_plain_texts(environment: Environment) -> None:
    """`_()` in the templates, answering a text without variables from memory.

    A page calls it a few hundred times, mostly for the same few texts; jinja's gettext
    looks each up, marks it safe and %-formats it every time. The catalogue is fixed for
    the process, so the answer for a text is too; texts with variables are formatted on
    each call as before. `_` stops going through the context's `gettext` on the way, which
    no render overrides."""
    translate: Callable[..., str] = environment.globals["gettext"]  # type: ignore[assignment]
    answers: dict[tuple[str, bool], str] = {}

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        if variables:
            return translate(context, message, **variables)
        key = (message, context.eval_ctx.autoescape)
        found = answers.get(key)
        if found is None:
            found = answers[key] = translate(context, message)
        return found

    environment.globals["gettext"] = gettext
    environment.globals["_"] = gettext


@functools.lru_cache(maxsize=1024)
def _sanitised(html: str) -> Markup:
    return Markup(sanitise_html(html))


def _safe_html(html: str | None) -> Markup:
    """`{{ body|safe_html }}`: stored rich text cleaned again as it is shown. The cleaning
    is a pure function of the text and costs more than the rest of a comment's markup, so
    the answers for short texts (a timeline's comments, shown on every visit) are kept."""
    if html and len(html) <= SANITISED_KEPT:
        return _sanitised(html)
    return Markup(sanitise_html(html or ""))


def site_of(kernel: Kernel) -> Site:
    site: Site | None = getattr(kernel, "_web_site", None)
    if site is None:
        site = Site(kernel)
        kernel._web_site = site  # type: ignore[attr-defined]
    return site


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _localtime(
    value: dt.datetime | dt.date | None,
    zone: str | None,
    style: str = "datetime",
    *,
    locale: str,
) -> str:
    """`{{ at|localtime(time_zone) }}`: a stored (UTC) time as the user reads it, in their
    zone and language; `localtime(time_zone, "date")` only the day."""
    if isinstance(value, dt.date):  # a datetime too
        return _local_text(value, zone, style, locale)
    return format_when(value, _zone(zone), locale, style)


@functools.lru_cache(maxsize=4096)
def _local_text(value: dt.date, zone: str | None, style: str, locale: str) -> str:
    """A time's text depends on nothing but these, and a page shows the same few dozen
    times (its timeline's) on every visit: the answers are kept, not formatted again."""
    return format_when(value, _zone(zone), locale, style)


def _number(value: Any, places: int | None = None, *, locale: str) -> str:
    """`{{ count|number }}`, `{{ amount|number(2) }}`: grouped as the user's language does."""
    return format_number(value, locale, places)


def _cell(value: Any, kind: str, zone: str | None, *, locale: str) -> Any:
    """`{{ value|cell(column.kind, time_zone) }}`: a list cell by its column's kind (times
    in the user's zone, numbers grouped, money with two decimals); text as it is."""
    if isinstance(value, dt.date):  # a datetime too
        return _localtime(value, zone, "date" if kind == "date" else "datetime", locale=locale)
    if kind == "number":
        return format_number(value, locale)
    if kind == "money":
        return format_number(value, locale, 2)
    return value


def safe_target(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@dataclass
class PageContext:
    request: Request
    kernel: Kernel
    actor: Actor
    locale: str
    time_zone: str
    csrf: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def site(self) -> Site:
        return site_of(self.kernel)

    @property
    def menu(self) -> list[MenuSection]:
        return visible_menu(self.site.menus, self.actor, self.locale)

    @cached_property
    def unread_notifications(self) -> int:
        """The bell's number in the layout: the viewer's unread notifications."""
        from openitsm.web.notifications import unread

        return unread(self)

    def count_unread(self, session: Session) -> None:
        """Count the bell's number now, in `session` (a page's open one): the layout then
        takes it from there instead of opening a session and a transaction of its own."""
        from openitsm.web.notifications import unread

        self.__dict__["unread_notifications"] = unread(self, session)

    def gettext(self, message: str, **variables: Any) -> str:
        text = translations(self.locale).ugettext(message)
        return text % variables if variables else text

    def explain(self, error: OpenITSMError) -> str:
        """The message of `error` in the viewer's language, when it is a `_t` template."""
        return error.translated(translations(self.locale).ugettext)

    def render(self, template: str, **values: Any) -> Markup:
        """A template rendered for this viewer (a page or a fragment)."""
        environment = self.site.environment(self.locale)
        return Markup(
            environment.get_template(template).render(
                page=self,
                actor=self.actor,
                locale=self.locale,
                time_zone=self.time_zone,
                csrf=self.csrf,
                locales=LOCALES,
                time_zones=TIME_ZONES,
                **self.values,
                **values,
            )
        )

    def check(self, form: Form, posted: Mapping[str, str], lookups: Any = None) -> Submission:
        """`posted` checked against `form` under this viewer's field rules and time zone."""
        access = field_access(self.actor, form.resource)
        return check_submission(form, posted, access, time_zone=self.time_zone, lookups=lookups)

    def respond(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        response = HTMLResponse(self.render(template, **values), status_code=status)
        self.keep_csrf(response)
        return response

    def keep_csrf(self, response: Response) -> None:
        if self.request.cookies.get(CSRF_COOKIE) != self.csrf:
            response.set_cookie(
                CSRF_COOKIE,
                self.csrf,
                httponly=True,
                samesite="strict",
                secure=self.request.url.scheme == "https",
            )


def sign_in_redirect(request: Request) -> Response:
    """Back to the sign-in page, which returns here afterwards (an expired session too)."""
    if request.headers.get("hx-request"):
        # A fragment request: have htmx load the sign-in page in place of the whole page.
        current = urlsplit(request.headers.get("hx-current-url", "/"))
        back = current.path + (f"?{current.query}" if current.query else "")
        response = Response(status_code=200)
        response.headers["hx-redirect"] = "/login?next=" + quote(safe_target(back), safe="/")
        return response
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe="/"), status_code=303)


def page_context(request: Request, *actions: str) -> PageContext | Response:
    """The viewer of a page, or the redirect to sign in first; FORBIDDEN unless the viewer
    may do each of `actions`."""
    kernel: Kernel = request.app.state.kernel
    actor = kernel.hook.actor_from_request(request=request, kernel=kernel)
    if actor is None or actor.user_id is None:
        return sign_in_redirect(request)
    locale = pick_locale(
        actor.locale, request.headers.get("accept-language", ""), kernel.settings.language
    )
    for action in actions:
        require(actor, action)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    return PageContext(request, kernel, actor, locale, actor.time_zone or DEFAULT_TIME_ZONE, csrf)


def check_csrf(request: Request, form: Any = None) -> None:
    """Refuse a state-changing request without the CSRF token of this browser.

    Forms send it as the field `csrf`; htmx sends it in the `X-CSRF-Token` header, which the
    layout sets for every request it makes.
    """
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get("x-csrf-token") or (str(form.get("csrf", "")) if form else "")
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise BadUserInput(
            _t(
                "This form has expired or did not come from this site; "
                "reload the page and try again."
            ),
            field="csrf",
        )


async def read_post(request: Request) -> tuple[dict[str, str], int]:
    """A form post checked for this browser's CSRF token: its fields as text, and the
    version of the record it was edited from (0 when it names none)."""
    form = await request.form()
    check_csrf(request, form)
    posted = {name: str(value) for name, value in form.items()}
    raw = posted.get("version", "")
    return posted, int(raw) if raw.isdigit() else 0


STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
}


def explained(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Turn a refusal (bad input, no permission, a lost update) into a page that says so,
    never a stack trace; the browser's back button returns to the form as it was typed."""

    @functools.wraps(handler)
    async def page(request: Request) -> Response:
        try:
            return await handler(request)
        except OpenITSMError as error:
            context = page_context(request)
            if not isinstance(context, PageContext):
                return context
            return context.respond(
                "error.html", status=STATUS.get(error.code, 400), message=context.explain(error)
            )

    return page


def widgets_for(site: Site, actor: Actor) -> Iterable[Widget]:
    return (w for w in site.widgets.values() if w.allowed(actor))
