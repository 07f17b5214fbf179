"""Sign-in and sign-out over HTTP: a signed, HttpOnly, SameSite cookie backed by the database."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import _t
from openitsm.kernel.identity import events, lockout, service
from openitsm.kernel.identity.models import User
from openitsm.kernel.labels import pick_label

# The sign-in page speaks the pages' language from the pages' catalogues. The web layer is a
# kernel plugin on every site ("kernel.web"), and its `i18n` needs nothing but Babel, so
# importing it here makes no cycle.
from openitsm.web.i18n import pick_locale, translations

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel


@dataclass(frozen=True)
class SignInOption:
    """Another way to sign in, shown as a link under the form; `next` is appended to `url`."""

    labels: Mapping[str, str]
    url: str

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.url)


SESSION_COOKIE = "openitsm_session"
CSRF_COOKIE = "openitsm_csrf"
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(),
)
# Why a sign-in was refused, as `_t` templates (`{minutes}` is filled in after translating).
FAILED = _t("Wrong login or password.")
LOCKED = _t(
    "Too many failed sign-ins: this account is temporarily locked. "
    "Try again in {minutes} minute(s)."
)
EXPIRED = _t("This page expired; please submit it again.")
DIRECTORY_DOWN = _t(
    "The directory cannot be reached right now; try again later. "
    "Local administrator accounts can still sign in."
)


def _say(lang: str, message: str, **params: object) -> str:
    """`message` in `lang`, filled in with `params`."""
    return translations(lang).ugettext(message).format(**params)


def _serializer(kernel: Kernel) -> URLSafeSerializer:
    return URLSafeSerializer(kernel.settings.secret(), salt="openitsm.session")


def session_token(kernel: Kernel, request: Request) -> str | None:
    """The session token from the signed cookie or an `Authorization: Bearer` header."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return str(_serializer(kernel).loads(cookie))
    except BadSignature:
        return None


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def signed_in_redirect(request: Request, kernel: Kernel, token: str, target: str) -> Response:
    """The redirect that ends every way of signing in, carrying the new session's cookie."""
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        _serializer(kernel).dumps(token),
        max_age=service.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _language(request: Request, kernel: Kernel) -> str:
    """The browser's language (nobody is signed in yet), else the site's."""
    return pick_locale(None, request.headers.get("accept-language", ""), kernel.settings.language)


def _page(
    request: Request, kernel: Kernel, *, error: str = "", login: str = "", status: int = 200
) -> Response:
    lang = _language(request, kernel)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    options = [o for part in kernel.hook.sign_in_options(kernel=kernel) for o in part]
    catalogue = translations(lang)
    html = _templates.get_template("login.html").render(
        options=[(o.label(lang), o.url) for o in options],
        lang=lang,
        _=catalogue.ugettext,
        csrf=csrf,
        next=safe_next(request.query_params.get("next")),
        error=error,
        login=login,
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


def _refusal(
    request: Request, kernel: Kernel, lang: str, login: str, result: lockout.SignInResult
) -> Response:
    if result.directory_unavailable and result.locked_until is None:
        message = _say(lang, DIRECTORY_DOWN)
        return _page(request, kernel, error=message, login=login, status=503)
    if result.locked_until is None:
        return _page(request, kernel, error=_say(lang, FAILED), login=login, status=401)
    seconds = max(1, math.ceil((result.locked_until - utcnow()).total_seconds()))
    message = _say(lang, LOCKED, minutes=math.ceil(seconds / 60))
    response = _page(request, kernel, error=message, login=login, status=429)
    response.headers["retry-after"] = str(seconds)
    return response


async def login_page(request: Request) -> Response:
    kernel: Kernel = request.app.state.kernel
    if request.method == "GET":
        return _page(request, kernel)
    form = await request.form()
    lang = _language(request, kernel)
    csrf = request.cookies.get(CSRF_COOKIE)
    if not csrf or not secrets.compare_digest(csrf, str(form.get("csrf", ""))):
        return _page(
            request, kernel, error=_say(lang, EXPIRED), login=str(form.get("login", "")), status=400
        )
    login, password = str(form.get("login", "")), str(form.get("password", ""))

    def sign_in() -> str | lockout.SignInResult:
        with kernel.unit_of_work() as session:
            result = lockout.sign_in(
                session, login, password, address=client_address(request), kernel=kernel
            )
            if result.user is None:
                return result
            return service.open_session(session, result.user, request.headers.get("user-agent"))

    token = await run_in_threadpool(sign_in)
    if isinstance(token, lockout.SignInResult):
        return _refusal(request, kernel, lang, login, token)
    return signed_in_redirect(request, kernel, token, str(form.get("next", "/")))


async def logout(request: Request) -> Response:
    kernel: Kernel = request.app.state.kernel
    token = session_token(kernel, request)
    if token:

        def revoke() -> None:
            with kernel.unit_of_work() as session:
                user_id = service.revoke_session(session, token)
                user = session.get(User, user_id) if user_id is not None else None
                if user is not None:
                    events.by_user(session, user, "sign_out", address=client_address(request))

        await run_in_threadpool(revoke)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


routes = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
