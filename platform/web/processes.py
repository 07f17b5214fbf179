"""My items (我的事项, `/work`), items I registered, and a process instance's page
(`/processes/{id}`) with the actions the viewer may take on its open steps.

Every action goes through `openitsm.kernel.workflow.runtime`, which checks who may do it;
the pages only leave out the buttons that would be refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.attachments import service as attachments
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.references import RecordRef
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.engine import definition_of
from openitsm.kernel.workflow.models import OPEN, ProcessInstance, WorkItem
from openitsm.web.menus import MenuItem
from openitsm.web.pages import PageContext, check_csrf, explained, page_context
from openitsm.web.timeline import record_timeline
from openitsm.web.widgets import Widget
from openitsm.web.workbench import user_names

WIDGET_ROWS = 8
PAGE_ROWS = 50


def _titles(session: Any, instance_ids: set[int]) -> dict[int, ProcessInstance]:
    if not instance_ids:
        return {}
    return {
        row.id: row
        for row in session.scalars(
            select(ProcessInstance).where(ProcessInstance.id.in_(sorted(instance_ids)))
        )
    }


def _inbox_rows(page: PageContext, limit: int, after: int | None = None) -> dict[str, Any]:
    with page.kernel.session() as session:
        items = list(runtime.inbox(session, page.actor, limit=limit + 1, after=after))
        more = len(items) > limit
        items = items[:limit]
        instances = _titles(session, {item.instance_id for item in items})
        names = user_names(session, {item.assignee_id for item in items})
        step_names = {
            item.id: _step_label(session, instances[item.instance_id], item.node_id, page.locale)
            for item in items
        }
    now = utcnow()
    return {
        "items": items,
        "step_names": step_names,
        "instances": instances,
        "names": names,
        "overdue": {item.id for item in items if item.due_at is not None and item.due_at < now},
        "next_after": items[-1].id if more and items else None,
    }


def my_items(page: PageContext) -> Markup:
    """The workbench's box of steps waiting for me, most urgent first."""
    return page.render("widgets/my_items.html", **_inbox_rows(page, WIDGET_ROWS))


def registered(page: PageContext) -> Markup:
    """The workbench's box of what I started (我登记事项) and where each stands."""
    with page.kernel.session() as session:
        instances = list(runtime.started_by(session, page.actor, limit=WIDGET_ROWS))
        steps = _open_steps(session, instances, page.locale)
    return page.render("widgets/registered.html", instances=instances, steps=steps)


def _step_label(session: Any, instance: ProcessInstance, node_id: str, locale: str) -> str:
    """A step's name in the reader's language (definitions are cached per version)."""
    return definition_of(session, instance.process_version_id).node_label(node_id, locale)


def _open_steps(
    session: Any, instances: Sequence[ProcessInstance], locale: str
) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    by_id = {instance.id: instance for instance in instances}
    if not by_id:
        return found
    for instance_id, node_id in session.execute(
        select(WorkItem.instance_id, WorkItem.node_id)
        .where(WorkItem.instance_id.in_(sorted(by_id)), WorkItem.state == OPEN)
        .order_by(WorkItem.id)
    ):
        name = _step_label(session, by_id[instance_id], node_id, locale)
        if name not in found.setdefault(instance_id, []):
            found[instance_id].append(name)
    return found


def work_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    try:
        after = int(request.query_params.get("after", "") or 0) or None
    except ValueError:
        after = None
    with page.kernel.session() as session:
        mine = list(runtime.started_by(session, page.actor, limit=PAGE_ROWS))
        steps = _open_steps(session, mine, page.locale)
    return page.respond(
        "processes/work.html",
        registered=mine,
        steps=steps,
        **_inbox_rows(page, PAGE_ROWS, after),
    )


def _instance_data(page: PageContext, instance_id: int) -> dict[str, Any]:
    with page.kernel.session() as session:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None or not runtime.may_see_instance(session, page.actor, instance):
            raise NotFound(_t("No process instance {id}."), params={"id": instance_id})
        definition = definition_of(session, instance.process_version_id)
        items = list(runtime.running_items(session, instance.id))
        ref = RecordRef(runtime.INSTANCE_KIND, instance.id)
        files = attachments.files_of(session, ref)
        acting = runtime.acting_people(page.actor)
        actions = {
            item.id: {
                "complete": item.assignee_id in acting,
                "claim": item.assignee_id is None
                and runtime.is_candidate(session, page.actor, item),
                "urge": page.actor.can(runtime.SUPERVISE),
                "node": definition.nodes[item.node_id],
            }
            for item in items
        }
        names = user_names(session, {instance.starter_id} | {i.assignee_id for i in items})
        steps = runtime.step_states(session, instance)
        may_withdraw = runtime.may_withdraw(session, page.actor, instance)
    node_names = {node: definition.node_label(node, page.locale) for node in definition.nodes}
    return {
        "instance": instance,
        "items": items,
        "actions": actions,
        "files": files,
        "max_bytes": attachments.max_bytes(page.kernel.settings),
        "timeline": record_timeline(page, runtime.INSTANCE_KIND, instance.id, comments=True),
        "names": names,
        "node_names": node_names,
        "steps": steps,
        "may_withdraw": may_withdraw,
    }


@explained
async def instance_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    data = await run_in_threadpool(_instance_data, page, int(request.path_params["instance_id"]))
    return page.respond("processes/instance.html", **data)


def _act(page: PageContext, item_id: int, form: Any) -> int:
    """Run the step action the form names; the instance to show afterwards."""
    action = str(form.get("action", ""))
    comment = str(form.get("comment", "")).strip() or None
    kernel = page.kernel
    with kernel.unit_of_work(actor=page.actor) as session:
        item = session.get(WorkItem, item_id)
        if item is None:
            raise NotFound(_t("No work item {id}."), params={"id": item_id})
        instance_id = item.instance_id
        if action == "complete":
            outcome = str(form.get("outcome", "")).strip() or None
            runtime.complete_item(
                session, kernel, page.actor, item_id, outcome=outcome, comment=comment
            )
        elif action == "claim":
            runtime.claim_item(session, page.actor, item_id)
        elif action == "send_back":
            runtime.send_back(
                session, kernel, page.actor, item_id, str(form.get("target", "")), comment=comment
            )
        elif action == "urge":
            runtime.supervise_item(session, kernel, page.actor, item_id, comment or "")
        else:
            raise BadUserInput(_t("Choose what to do with the step."), field="action")
    return instance_id


@explained
async def act_on_item(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    instance_id = await run_in_threadpool(_act, page, int(request.path_params["item_id"]), form)
    return RedirectResponse(f"/processes/{instance_id}", status_code=303)


@explained
async def withdraw_instance(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    instance_id = int(request.path_params["instance_id"])

    def withdraw() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            runtime.withdraw(
                session,
                page.kernel,
                page.actor,
                instance_id,
                comment=str(form.get("comment", "")).strip() or None,
            )

    await run_in_threadpool(withdraw)
    return RedirectResponse(f"/processes/{instance_id}", status_code=303)


@explained
async def add_files(request: Request) -> Response:
    """Files added at any step: uploaded first as the viewer's pending files (attachments.js),
    then moved onto the instance, which checks that the viewer may see it."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    instance_id = int(request.path_params["instance_id"])
    ids = [int(raw) for raw in str(form.get("attachments", "")).split(",") if raw.strip().isdigit()]
    if not ids:
        raise BadUserInput(_t("Choose the files to add first."), field="attachments")

    def attach() -> None:
        ref = RecordRef(runtime.INSTANCE_KIND, instance_id)
        with page.kernel.unit_of_work(actor=page.actor) as session:
            attachments.attach_pending(session, page.kernel, ids, ref, page.actor)

    await run_in_threadpool(attach)
    return RedirectResponse(f"/processes/{instance_id}#files", status_code=303)


def _diagram(page: PageContext, instance_id: int) -> str:
    from openitsm.kernel.workflow.models import ProcessVersion

    with page.kernel.session() as session:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None or not runtime.may_see_instance(session, page.actor, instance):
            raise NotFound(_t("No process instance {id}."), params={"id": instance_id})
        version = session.get(ProcessVersion, instance.process_version_id)
        return version.xml if version is not None else ""


@explained
async def instance_diagram(request: Request) -> Response:
    """The BPMN the instance runs on, for its page's diagram."""
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    xml = await run_in_threadpool(_diagram, page, int(request.path_params["instance_id"]))
    return Response(xml, media_type="application/xml", headers={"cache-control": "private"})


ROUTES = [
    Route("/work", work_page, methods=["GET"]),
    Route("/work/items/{item_id:int}", act_on_item, methods=["POST"]),
    Route("/processes/{instance_id:int}", instance_page, methods=["GET"]),
    Route("/processes/{instance_id:int}/diagram", instance_diagram, methods=["GET"]),
    Route("/processes/{instance_id:int}/withdraw", withdraw_instance, methods=["POST"]),
    Route("/processes/{instance_id:int}/files", add_files, methods=["POST"]),
]


WIDGETS = [
    Widget("my_items", {"zh-CN": "我的事项", "en": "My items"}, my_items, width=2, order=5),
    Widget("registered", {"zh-CN": "我登记事项", "en": "Items I registered"}, registered, order=10),
]
MENUS = [MenuItem("work", {"zh-CN": "我的事项", "en": "My items"}, "/work", "workbench", order=1)]
