"""Sample incidents for `openitsm demo`, in every state; added once (idempotent)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident

SAMPLES: tuple[dict[str, Any], ...] = (
    {
        "title": "打印机卡纸 Printer jams on every page",
        "category": "printer",
        "nature": "fault",
        "impact": "minor",
        "urgency": "medium",
        "then": (),
    },
    {
        "title": "VPN 无法连接 VPN does not connect from home",
        "category": "vpn",
        "nature": "fault",
        "impact": "moderate",
        "urgency": "high",
        "then": ("assign",),
    },
    {
        "title": "邮箱容量已满 Mailbox is full",
        "category": "email",
        "nature": "service_request",
        "impact": "minor",
        "urgency": "low",
        "then": ("assign", "start"),
    },
    {
        "title": "忘记密码 Forgot my password",
        "category": "password",
        "nature": "service_request",
        "impact": "minor",
        "urgency": "high",
        "then": ("assign", "start", "resolve"),
    },
    {
        "title": "笔记本电脑无法开机 Laptop does not start",
        "category": "laptop",
        "nature": "fault",
        "impact": "significant",
        "urgency": "high",
        "then": ("assign", "start", "resolve", "rate", "close"),
    },
)


def load(session: Session, kernel: Any) -> None:
    if session.scalar(select(Incident.id).limit(1)) is not None:
        return
    users = {u.login: u for u in session.scalars(select(User))}
    caller, engineer = users.get("enduser"), users.get("engineer")
    ops = session.scalar(select(Department).where(Department.code == "it-ops"))
    for sample in SAMPLES:
        values = {k: v for k, v in sample.items() if k != "then"}
        incident = service.create_incident(
            session, caller_id=caller.id if caller else None, **values
        )
        for step in sample["then"]:
            if step == "assign":
                service.assign(
                    session,
                    incident.id,
                    assignee_id=engineer.id if engineer else None,
                    group_id=ops.id if ops else None,
                )
            elif step == "start":
                service.start_work(session, incident.id)
            elif step == "resolve":
                service.resolve(
                    session,
                    incident.id,
                    resolution="<p>已处理 Handled: see the steps in the history.</p>",
                    cost="0",
                    work_hours="0.5",
                )
            elif step == "rate":
                service.rate(session, incident.id, satisfaction=5, comment="很快 Quick, thanks")
            elif step == "close":
                service.close(session, incident.id)
