"""The process designer (`/admin/processes`): every process with its versions, and a bpmn-js
modeler with a small form for our `itsm:` attributes that checks, saves and publishes drafts.

The diagram is checked on the server by the same `import_definition` the API uses; its
problems come back element by element and the designer marks those elements.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openitsm.kernel.access import require
from openitsm.kernel.errors import BadUserInput, NotFound, OpenITSMError, _t
from openitsm.kernel.workflow import service
from openitsm.kernel.workflow.definition import DefinitionError
from openitsm.kernel.workflow.models import ProcessVersion
from openitsm.web.menus import MenuItem
from openitsm.web.pages import STATUS, PageContext, check_csrf, explained, page_context

READ, MANAGE = "process.read", "process.manage"
BLANK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:itsm="https://openitsm.org/schema/bpmn" id="definitions"
  targetNamespace="https://openitsm.org/processes">
  <bpmn:process id="new_process" name="New process" isExecutable="true">
    <bpmn:startEvent id="start" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram">
    <bpmndi:BPMNPlane id="plane" bpmnElement="new_process">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="152" y="102" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _all_versions(page: PageContext) -> list[ProcessVersion]:
    with page.kernel.session() as session:
        return list(
            session.scalars(
                select(ProcessVersion).order_by(ProcessVersion.key, ProcessVersion.number.desc())
            )
        )


@explained
async def processes_page(request: Request) -> Response:
    page = page_context(request, READ)
    if not isinstance(page, PageContext):
        return page
    rows = await run_in_threadpool(_all_versions, page)
    grouped: dict[str, list[ProcessVersion]] = {}
    for row in rows:
        grouped.setdefault(row.key, []).append(row)
    return page.respond(
        "admin/processes.html", processes=grouped, may_manage=page.actor.can(MANAGE)
    )


def _designer_data(page: PageContext, key: str | None) -> dict[str, Any]:
    if key is None:
        return {"key": None, "xml": BLANK, "draft": None, "current": None, "versions": []}
    with page.kernel.session() as session:
        versions = service.versions(session, key)
    if not versions:
        raise NotFound(_t("No published process '{key}'."), params={"key": key})
    draft = next((v for v in versions if v.state == "draft"), None)
    current = next((v for v in versions if v.state == "published"), None)
    shown = draft or current or versions[0]
    return {"key": key, "xml": shown.xml, "draft": draft, "current": current, "versions": versions}


@explained
async def designer_page(request: Request) -> Response:
    page = page_context(request, READ)
    if not isinstance(page, PageContext):
        return page
    key = request.path_params.get("key")
    data = await run_in_threadpool(_designer_data, page, key)
    return page.respond(
        "admin/process_designer.html",
        may_manage=page.actor.can(MANAGE),
        # Inside <script type="application/json">: no "<" may close the element early.
        xml_json=json.dumps(data["xml"]).replace("<", "\\u003c"),
        **data,
    )


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadUserInput(_t("The request is not a JSON object."))
    return body


def _problems(error: OpenITSMError, page: PageContext) -> dict[str, Any]:
    problems = error.translated_problems(page.gettext) if isinstance(error, DefinitionError) else []
    return {"ok": False, "code": error.code, "message": page.explain(error), "problems": problems}


JsonWork = Callable[[PageContext, Request, dict[str, Any]], dict[str, Any]]


def _managing(work: JsonWork) -> Callable[[Request], Awaitable[Response]]:
    """A JSON endpoint of the designer: process.manage, the CSRF header, a JSON object in;
    the work's answer out, or the refusal with its problems by element."""

    async def endpoint(request: Request) -> Response:
        page = page_context(request)
        if not isinstance(page, PageContext):
            return page
        try:
            require(page.actor, MANAGE)
            check_csrf(request)
            body = await _json_body(request)
            return JSONResponse(await run_in_threadpool(work, page, request, body))
        except OpenITSMError as error:
            return JSONResponse(_problems(error, page), status_code=STATUS.get(error.code, 400))

    return endpoint


@_managing
def save_draft(page: PageContext, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Check the diagram and keep it as the process's draft."""
    draft_version = body.get("draftVersion")
    if draft_version is not None and not isinstance(draft_version, int):
        raise BadUserInput(_t("The draft's version is a number."), field="draftVersion")
    with page.kernel.unit_of_work(actor=page.actor) as session:
        row, _ = service.import_definition(
            session,
            str(body.get("xml", "")),
            actor_id=page.actor.user_id,
            draft_version=draft_version,
        )
        return {"ok": True, "key": row.key, "number": row.number, "version": row.version}


@_managing
def publish_draft(page: PageContext, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    number, version = body.get("number"), body.get("version")
    if not isinstance(number, int) or not isinstance(version, int):
        raise BadUserInput(_t("Say which draft to publish: its number and version."))
    with page.kernel.unit_of_work(actor=page.actor) as session:
        row = service.publish(
            session, request.path_params["key"], number, version, actor_id=page.actor.user_id
        )
        return {"ok": True, "key": row.key, "number": row.number}


ROUTES = [
    Route("/admin/processes", processes_page, methods=["GET"]),
    Route("/admin/processes/new", designer_page, methods=["GET"]),
    Route("/admin/processes/{key}", designer_page, methods=["GET"]),
    Route("/admin/processes/draft", save_draft, methods=["POST"]),
    Route("/admin/processes/{key}/publish", publish_draft, methods=["POST"]),
]
MENUS = [
    MenuItem(
        "admin.processes",
        {"zh-CN": "流程设计", "en": "Processes"},
        "/admin/processes",
        "admin",
        READ,
        60,
    )
]
