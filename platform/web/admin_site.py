"""The site (`/admin/site`): enabled modules and every setting; secrets never shown.

Those with `site.manage` change here what openitsm.toml and the environment leave open: each
module's settings (checked by its own schema) and the enabled modules. Values fixed by the
file or an `OPENITSM_*` variable are shown with where they come from and cannot be edited.
Changes take effect in new processes; the page lists what differs from the running one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.errors import BadUserInput, Conflict, NotFound
from openitsm.kernel.settings import is_secret
from openitsm.kernel.sitesettings import service
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context, read_post

SECRET_WORDS = ("password", "secret", "token", "key")
BASE = "/admin/site"
DONE = ("saved", "cleared", "modules")


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or any(word in name.lower() for word in SECRET_WORDS)


def settings_rows(model: BaseModel, prefix: str = "") -> list[tuple[str, str, str, bool]]:
    """(name, value, description, secret) for each setting, nested sections flattened.

    A secret shows only whether it is set: the page is for checking a site, and a secret
    shown once is a secret leaked.
    """
    rows: list[tuple[str, str, str, bool]] = []
    fields = type(model).model_fields
    for name, info in fields.items():
        if info.exclude:
            continue
        value = getattr(model, name)
        label = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows.extend(settings_rows(value, f"{label}."))
            continue
        if isinstance(value, dict) and name == "plugins":
            continue  # shown per plugin, through each plugin's own schema
        secret = _is_secret(name, value)
        shown = ("set" if value else "") if secret else ("" if value is None else str(value))
        rows.append((label, shown, info.description or "", secret))
    return rows


def error_text(page: PageContext, error: dict[str, Any]) -> str:
    """A schema's refusal in the viewer's words where we know it, else pydantic's text."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return page.gettext("Enter a whole number.")
    if kind in ("float_parsing", "float_type"):
        return page.gettext("Enter a number.")
    if kind == "greater_than_equal":
        return page.gettext("At least %(min)s.", min=ctx.get("ge"))
    if kind == "less_than_equal":
        return page.gettext("At most %(max)s.", max=ctx.get("le"))
    if kind == "literal_error":
        return page.gettext("Choose one of the options.")
    if kind == "bool_parsing":
        return page.gettext("Choose yes or no.")
    if kind == "json_invalid":
        return page.gettext('Enter valid JSON, e.g. ["a", "b"] or {"a": "b"}.')
    return str(error.get("msg", "")).removeprefix("Value error, ")


def _page(page: PageContext, status: int = 200, **extra: Any) -> Response:
    kernel = page.kernel
    plugins = []
    for info in sorted(kernel.plugins.plugins.values(), key=lambda i: (not i.builtin, i.name)):
        plugins.append((info, len(info.hooks(kernel.plugins.pm))))
    with kernel.session() as session:
        configurable = service.describe_plugins(kernel, session)
        modules = service.describe_modules(kernel, session)
    pending = [f"{v.plugin}.{v.key}" for p in configurable for v in p.settings if v.pending]
    return page.respond(
        "admin/site.html",
        status=status,
        plugins=plugins,
        configurable=configurable,
        modules=modules,
        module_views={m.name: m for m in modules.modules},
        pending=pending,
        settings=settings_rows(kernel.settings),
        database=kernel.engine.dialect.name,
        source=kernel.settings.source,
        file_name=service.file_name(kernel.settings),
        may_manage=page.actor.can("site.manage"),
        errors=extra.pop("errors", {}),
        typed=extra.pop("typed", {}),
        conflict=extra.pop("conflict", ""),
        message=extra.pop("message", ""),
        done=extra.pop("done", ""),
        added=extra.pop("added", []),
    )


@explained
async def site_page(request: Request) -> Response:
    page = page_context(request, "site.read")
    if not isinstance(page, PageContext):
        return page
    done = request.query_params.get("done", "")
    added = [n for n in request.query_params.get("added", "").split(",") if n]
    return await run_in_threadpool(_page, page, done=done if done in DONE else "", added=added)


def _secret(page: PageContext, plugin: str, key: str) -> bool:
    spec = service.schema_of(page.kernel, plugin).model_fields.get(key)
    return spec is None or is_secret(spec)


@explained
async def save_setting(request: Request) -> Response:
    """Save, replace or clear one setting of one module (a form per setting)."""
    page = page_context(request, "site.read", "site.manage")
    if not isinstance(page, PageContext):
        return page
    posted, version = await read_post(request)
    plugin, key = posted.get("plugin", ""), posted.get("key", "")
    where = f"{plugin}.{key}"
    clearing = posted.get("action") == "clear"
    text = "" if clearing else posted.get("value", "")

    def save() -> None:
        value = service.value_from_text(page.kernel, plugin, key, text)
        with page.kernel.unit_of_work(actor=page.actor) as session:
            service.set_value(session, page.kernel, page.actor, plugin, key, value, version)

    try:
        await run_in_threadpool(save)
    except service.SettingRejected as error:
        # Typing is kept, except a secret's: it is never sent back to the browser.
        typed = {} if _secret(page, plugin, key) else {where: text}
        errors = {where: "; ".join(error_text(page, e) for e in error.errors)}
        return await run_in_threadpool(_page, page, 400, errors=errors, typed=typed)
    except Conflict as error:
        typed = {} if _secret(page, plugin, key) else {where: text}
        return await run_in_threadpool(
            _page, page, 409, conflict=where, typed=typed, message=page.explain(error)
        )
    except (BadUserInput, NotFound) as error:
        return await run_in_threadpool(_page, page, 400, message=page.explain(error))
    done = "cleared" if clearing or text.strip() == "" else "saved"
    return RedirectResponse(f"{BASE}?done={done}#{plugin}", status_code=303)


@explained
async def save_modules(request: Request) -> Response:
    """The enabled modules: the ticked ones, with what they require."""
    page = page_context(request, "site.read", "site.manage")
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    names = [str(name) for name in form.getlist("module")]
    raw = str(form.get("version", ""))
    version = int(raw) if raw.isdigit() else 0

    def save() -> list[str]:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            return service.set_modules(session, page.kernel, page.actor, names, version)[1]

    try:
        added = await run_in_threadpool(save)
    except (BadUserInput, Conflict) as error:
        status = 409 if isinstance(error, Conflict) else 400
        return await run_in_threadpool(_page, page, status, message=page.explain(error))
    return RedirectResponse(f"{BASE}?done=modules&added={','.join(added)}#modules", status_code=303)


ROUTES = [
    Route(BASE, site_page, methods=["GET"]),
    Route(BASE + "/settings", save_setting, methods=["POST"]),
    Route(BASE + "/modules", save_modules, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.site",
        {"zh-CN": "模块与设置", "en": "Modules and settings"},
        "/admin/site",
        "admin",
        "site.read",
        90,
    )
]
