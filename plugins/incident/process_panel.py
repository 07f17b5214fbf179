"""The incident's process on its page: the kernel's diagram of the instance with its steps
marked, and its open steps (assignee, due time), for viewers who may see the instance under
the kernel's rules (`runtime.instance_visibility`, which `may_see_instance` asks too); for
others the section is left out, as the instance page itself would refuse them."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.actors import Actor
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.engine import definition_of
from openitsm.kernel.workflow.models import ProcessInstance
from openitsm.plugins.incident import service
from openitsm.web.pages import PageContext
from openitsm.web.statements import per_viewer
from openitsm.web.workbench import user_names


@per_viewer
def _latest_statement(actor: Actor) -> Select[Any]:
    """The incident's latest process instance, with whether the viewer may see it; the
    incident's id is bound as it runs."""
    return (
        select(ProcessInstance, runtime.instance_visibility(actor).label("seen"))
        .where(
            ProcessInstance.record_kind == service.INCIDENT.name,
            ProcessInstance.record_id == bindparam("incident_id"),
        )
        .order_by(ProcessInstance.id.desc())
        .limit(1)
    )


def process_panel(page: PageContext, session: Session, incident_id: int) -> Markup:
    """The section, or nothing when the incident has no process the viewer may see. The
    latest instance is shown: a reopened incident may have run its process before."""
    # Whether the viewer may see it comes with it: `may_see_instance`'s condition, asked
    # of the same row, in the same query.
    latest = session.execute(_latest_statement(page.actor), {"incident_id": incident_id}).first()
    if latest is None or not latest.seen:
        return Markup("")
    instance: ProcessInstance = latest[0]
    definition = definition_of(session, instance.process_version_id)
    items = list(runtime.running_items(session, instance.id))
    return page.render(
        "incident/process.html",
        instance=instance,
        steps=runtime.step_states(session, instance),
        items=items,
        names=user_names(session, {i.assignee_id for i in items if i.assignee_id}),
        node_names={node: definition.node_label(node, page.locale) for node in definition.nodes},
    )
