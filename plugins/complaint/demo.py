"""Sample complaints for `openitsm demo`, in several states; added once (idempotent).

One of them is caused by the first incident when the site has the record kind `incident`
(looked up through the kernel's record kinds: this module never imports another)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department
from openitsm.plugins.complaint import service
from openitsm.plugins.complaint.models import Complaint

SAMPLES: tuple[dict[str, Any], ...] = (
    {
        "title": "电话无人接听 Nobody answered the desk's phone",
        "channel": "phone",
        "category": "response_time",
        "severity": "minor",
        "then": (),
    },
    {
        "title": "工程师态度生硬 The engineer was rude on site",
        "channel": "walk_in",
        "category": "attitude",
        "severity": "major",
        "then": ("assign",),
    },
    {
        "title": "打印机反复故障 The printer keeps failing after every repair",
        "channel": "email",
        "category": "resolution",
        "nature": "serious",
        "severity": "serious",
        "caused_by_incident": True,
        "then": ("assign", "start"),
    },
    {
        "title": "服务费重复收取 Charged twice for one repair",
        "channel": "letter",
        "category": "billing",
        "severity": "major",
        "then": ("assign", "start", "feedback", "rate", "close"),
    },
)


def _first_incident(session: Session, kernel: Any) -> str | None:
    kinds = getattr(kernel, "record_kinds", None)
    if kinds is None or "incident" not in kinds:
        return None
    model = kinds.get("incident").model
    found = session.scalar(select(model.id).order_by(model.id).limit(1))
    return f"incident:{found}" if found is not None else None


def load(session: Session, kernel: Any) -> None:
    if session.scalar(select(Complaint.id).limit(1)) is not None:
        return
    users = {u.login: u for u in session.scalars(select(User))}
    complainant, engineer = users.get("enduser"), users.get("engineer")
    ops = session.scalar(select(Department).where(Department.code == "it-ops"))
    incident = _first_incident(session, kernel)
    for sample in SAMPLES:
        values = {k: v for k, v in sample.items() if k not in ("then", "caused_by_incident")}
        if sample.get("caused_by_incident") and incident:
            values["caused_by"] = incident
        if "assign" in sample["then"]:  # routed at registration: the process follows
            values["department_id"] = ops.id if ops else None
            values["assignee_id"] = engineer.id if engineer else None
        complaint = service.create_complaint(
            session, complainant_id=complainant.id if complainant else None, **values
        )
        for step in sample["then"]:
            if step == "start":
                service.start_work(session, complaint.id)
            elif step == "feedback":
                service.give_feedback(
                    session,
                    complaint.id,
                    feedback="<p>已退还重复收取的费用 The second charge was refunded.</p>",
                )
            elif step == "rate":
                service.rate(session, complaint.id, satisfaction=4, comment="处理及时 Quick")
            elif step == "close":
                service.close(session, complaint.id)
