"""Kerberos single sign-on (SPNEGO) for browsers on domain-joined machines.

`GET /sign-in/negotiate?next=/…` answers `401 WWW-Authenticate: Negotiate`; the browser sends
its Kerberos ticket for `HTTP/<host>`, we accept it with the service key from the keytab, map
the principal to the synced directory user and open the same session (cookie, audit event)
as the sign-in page. Only users mirrored from the directory can sign in this way, and only
from the configured realm. Unknown and inactive users get the same answer.

Needs the `kerberos` extra (pyspnego with gssapi and krb5); it is imported on first use.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import logging
import os
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from openitsm.adapters.ad.models import DirectoryAccount
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel.identity import events, service
from openitsm.kernel.identity.models import User
from openitsm.kernel.identity.routes import client_address, safe_next, signed_in_redirect

if TYPE_CHECKING:
    from openitsm.kernel import Kernel

log = logging.getLogger("openitsm.adapters.ad")
PATH = "/sign-in/negotiate"
TEXT = {
    "zh-CN": {
        "challenge": "正在使用 Windows 域账号登录……如未自动登录，请",
        "refused": "此 Windows 域账号无法在此登录。请",
        "bad": "浏览器发送的 Kerberos 凭据无效。请",
        "link": "使用用户名和密码登录",
        "missing": "Windows 域账号登录暂不可用。请",
    },
    "en": {
        "challenge": "Signing in with your Windows account… If nothing happens,",
        "refused": "This Windows account cannot sign in here. Please",
        "bad": "The browser sent a Kerberos ticket that could not be accepted. Please",
        "link": "sign in with your login and password",
        "missing": "Signing in with your Windows account is not available right now. Please",
    },
}


@dataclass(frozen=True)
class Accepted:
    """A completed Kerberos exchange: who the client is, and the token for mutual auth."""

    principal: str
    reply: bytes | None


def kerberos_installed() -> bool:
    """Whether the `kerberos` extra is there: without gssapi and krb5, pyspnego offers only
    NTLM, which would refuse every browser with a confusing error."""
    return all(importlib.util.find_spec(name) for name in ("spnego", "gssapi", "krb5"))


def accept(settings: Settings, token: bytes) -> Accepted | None:
    """Check one SPNEGO token with the service key; None when it is not valid Kerberos."""
    import spnego
    from spnego.exceptions import SpnegoError

    if settings.keytab:
        # MIT Kerberos reads the acceptor's keytab from here for each new context.
        os.environ["KRB5_KTNAME"] = str(settings.keytab)
    options: dict[str, Any] = {"service": "HTTP"}
    if settings.service_principal:
        service_name, host = settings.service_principal.split("/")
        options = {
            "service": service_name,
            "hostname": host,
            "credentials": spnego.CredentialCache(username=f"{service_name}@{host}"),
        }
    try:
        context = spnego.server(protocol="negotiate", **options)
        reply = context.step(token)
    except (SpnegoError, ValueError, OSError) as exc:
        log.info("Kerberos sign-in refused: %s", exc)
        return None
    # Negotiate may fall back to NTLM; only a complete Kerberos exchange names a principal.
    if not context.complete or context.negotiated_protocol != "kerberos":
        return None
    return Accepted(str(context.client_principal), reply)


def local_name(principal: str, settings: Settings) -> str | None:
    """`alice` for `alice@REALM` when REALM is the configured realm; None otherwise."""
    name, _, realm = principal.rpartition("@")
    if not name or not settings.realm or realm.lower() != settings.realm.lower():
        return None
    return name


def sign_in(kernel: Kernel, settings: Settings, principal: str, request: Request) -> str | None:
    """Open a session for the directory user behind `principal`; its token, or None."""
    address = client_address(request)
    with kernel.unit_of_work() as session:
        name = local_name(principal, settings)
        user = None
        if name is not None:
            user = session.scalar(
                select(User)
                .join(DirectoryAccount, DirectoryAccount.user_id == User.id)
                .where(func.lower(User.login) == name.lower())
            )
        if user is None or not user.active:
            events.refused(session, user, principal[:150], address=address, reason="kerberos")
            return None
        events.by_user(session, user, "sign_in", address=address, method="kerberos")
        return service.open_session(session, user, request.headers.get("user-agent"))


def _page(request: Request, key: str, target: str, status: int) -> HTMLResponse:
    accept_language = request.headers.get("accept-language", "").lower()
    text = TEXT["zh-CN" if accept_language.startswith("zh") else "en"]
    login = "/login?next=" + quote(target, safe="/")
    html = (
        '<!doctype html><meta charset="utf-8"><p>'
        f'{escape(text[key])} <a href="{escape(login)}">{escape(text["link"])}</a>.</p>'
    )
    return HTMLResponse(html, status_code=status)


async def negotiate(request: Request) -> Response:
    kernel: Kernel = request.app.state.kernel
    settings: Settings = kernel.plugins.settings_of("ad")
    if not (settings.configured and settings.kerberos):
        return Response(status_code=404)
    target = safe_next(request.query_params.get("next"))
    if not kerberos_installed():
        log.error("kerberos = true, but pyspnego, gssapi or krb5 is missing (the kerberos extra)")
        return _page(request, "missing", target, 503)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "negotiate" or not value.strip():
        response = _page(request, "challenge", target, 401)
        response.headers["www-authenticate"] = "Negotiate"
        return response
    try:
        token = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return _page(request, "bad", target, 401)
    accepted = await run_in_threadpool(accept, settings, token)
    if accepted is None:
        return _page(request, "bad", target, 401)
    session_token = await run_in_threadpool(sign_in, kernel, settings, accepted.principal, request)
    if session_token is None:
        return _page(request, "refused", target, 403)
    response = signed_in_redirect(request, kernel, session_token, target)
    if accepted.reply:
        response.headers["www-authenticate"] = "Negotiate " + base64.b64encode(
            accepted.reply
        ).decode("ascii")
    return response


routes = [Route(PATH, negotiate, methods=["GET"])]
