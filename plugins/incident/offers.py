"""An incident handed to another module: escalated to a problem (升级为问题) or archived to
knowledge (归档知识库), through the kernel hooks `escalate_to_problem` and
`archive_to_knowledge`, never by importing that module.

Each is offered only while some enabled plugin answers its hook (`kernel.offers`); asking
without one is BAD_USER_INPUT. The answer runs in the same unit of work, so a refusal on the
other side undoes both. The incident then links itself to the record it got back
(`escalated_to`, `archived_to` in the kernel's record links), which its page shows without
any of the other module's code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel import BadUserInput, RecordRef, check_version, require
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import get_visible
from openitsm.kernel.errors import _t
from openitsm.kernel.forms import sanitise_html
from openitsm.kernel.hookspecs import RecordDraft
from openitsm.kernel.labels import pick_label
from openitsm.kernel.links import service as links
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.links.relations import ARCHIVED_TO, ESCALATED_TO
from openitsm.plugins.incident.models import CANCELLED, CLOSED, RESOLVED, Incident
from openitsm.plugins.incident.service import (
    ARCHIVE_KNOWLEDGE,
    ESCALATE_PROBLEM,
    INCIDENT,
    actor_of,
)

ESCALATE_HOOK = "escalate_to_problem"
ARCHIVE_HOOK = "archive_to_knowledge"
# The incident's fields a draft carries, when the asker may read them.
DRAFT_FIELDS = ("category", "impact", "urgency", "resolution")
RESOLUTION_HEADING = {"zh-CN": "解决方案", "en": "Resolution"}


@dataclasses.dataclass(frozen=True)
class Offer:
    """One hand-over: the action it needs, the hook that answers, the link it makes."""

    action: str
    hook: str
    relation: str


ESCALATE = Offer(ESCALATE_PROBLEM, ESCALATE_HOOK, ESCALATED_TO)
ARCHIVE = Offer(ARCHIVE_KNOWLEDGE, ARCHIVE_HOOK, ARCHIVED_TO)


def _kernel(session: Session) -> Any:
    return session.info.get("kernel")


def offered(kernel: Any, offer: Offer) -> bool:
    """Whether some enabled plugin takes this hand-over (pages show its button only then)."""
    return kernel is not None and bool(kernel.offers(offer.hook))


def may_offer(kernel: Any, actor: Any, incident: Incident, offer: Offer) -> bool:
    """Whether the page should show the button: offered, permitted, and the incident's state
    allows it (the service checks all of it again)."""
    return offered(kernel, offer) and actor.can(offer.action) and _state_allows(incident, offer)


def _state_allows(incident: Incident, offer: Offer) -> bool:
    if offer is ARCHIVE:
        return incident.status in (RESOLVED, CLOSED)
    return incident.status != CANCELLED


def draft_of(session: Session, incident: Incident, locale: str | None = None) -> RecordDraft:
    """What the other module starts from: the title, the description and resolution as
    sanitised HTML, and the coded fields and caller — only what the asker may read."""
    access = field_access(actor_of(session), INCIDENT.name)
    title = incident.title if access.readable("title") else incident.number
    parts = []
    if access.readable("description") and incident.description:
        parts.append(incident.description)
    if access.readable("resolution") and incident.resolution:
        heading = pick_label(RESOLUTION_HEADING, locale or "zh-CN", "Resolution")
        parts.append(f"<h3>{heading}</h3>{incident.resolution}")
    fields: dict[str, Any] = {
        name: getattr(incident, name)
        for name in DRAFT_FIELDS
        if access.readable(name) and getattr(incident, name) is not None
    }
    if access.readable("caller_id") and incident.caller_id is not None:
        fields["caller"] = incident.caller_id
    return RecordDraft(
        source=RecordRef(INCIDENT.name, incident.id),
        title=title,
        body_html=sanitise_html("".join(parts)),
        fields=fields,
    )


def linked_to(session: Session, incident_id: int, relation: str) -> list[RecordRef]:
    """The records the incident was handed to by `relation`, oldest first (one query)."""
    rows = session.execute(
        select(RecordLink.target_kind, RecordLink.target_id)
        .where(
            RecordLink.source_kind == INCIDENT.name,
            RecordLink.source_id == incident_id,
            RecordLink.relation == relation,
        )
        .order_by(RecordLink.id)
    )
    return [RecordRef(kind, record_id) for kind, record_id in rows]


def _hand_over(session: Session, incident_id: int, version: int | None, offer: Offer) -> RecordRef:
    actor = actor_of(session)
    require(actor, offer.action)
    kernel = _kernel(session)
    if not offered(kernel, offer):
        raise BadUserInput(
            _t("No enabled module takes this: {what} is not available."),
            field="id",
            params={"what": offer.hook},
        )
    incident: Incident = get_visible(session, INCIDENT, incident_id)
    if version is not None:
        check_version(incident, version, "incident")
    if not _state_allows(incident, offer):
        message = (
            _t("Only a resolved or closed incident can be archived to knowledge.")
            if offer is ARCHIVE
            else _t("A cancelled incident cannot be escalated to a problem.")
        )
        raise BadUserInput(message, field="status")
    if offer is ARCHIVE:
        # One knowledge draft per incident, while it exists: a second click makes no second.
        made = kernel.record_kinds.fetch(session, linked_to(session, incident.id, offer.relation))
        if made:
            raise BadUserInput(_t("This incident is already archived to knowledge."), field="id")
    draft = draft_of(session, incident, actor.locale or kernel.settings.language)
    answer = getattr(kernel.hook, offer.hook)(
        kernel=kernel, session=session, actor=actor, draft=draft
    )
    if not isinstance(answer, RecordRef):
        raise BadUserInput(
            _t("No enabled module took this incident; nothing was made."), field="id"
        )
    # The hand-over's own permission grants the link it leaves: the asker needs neither
    # `record.link` nor sight of what the other module made. History names the asker.
    links.add_link(
        session,
        draft.source,
        answer,
        offer.relation,
        actor=dataclasses.replace(actor, superuser=True),
    )
    return answer


def escalate_to_problem(session: Session, incident_id: int, version: int | None) -> RecordRef:
    """Open a problem from the incident (or get the one already opened from it) through the
    `escalate_to_problem` hook, link the incident to it, and return its reference."""
    return _hand_over(session, incident_id, version, ESCALATE)


def archive_to_knowledge(session: Session, incident_id: int, version: int | None) -> RecordRef:
    """Start a knowledge draft from a resolved or closed incident through the
    `archive_to_knowledge` hook, link the incident to it, and return its reference."""
    return _hand_over(session, incident_id, version, ARCHIVE)
