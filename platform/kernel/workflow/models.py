"""Stored process definitions: one row per version of a process, immutable once published."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, UTCDateTime, Versioned

DRAFT, PUBLISHED = "draft", "published"


class ProcessVersion(IdMixin, Timestamped, Versioned, Audited, Base):
    """Version `number` of a process (`key` is the BPMN process id). A draft may be replaced
    (`version` guards against two people replacing it at once); a published version never
    changes, and running instances stay on the version they began with."""

    __tablename__ = "wf_process_version"
    __record_kind__ = "process_version"
    __table_args__ = (
        UniqueConstraint("key", "number"),
        Index("ix_wf_process_version_key_state", "key", "state", "number"),
    )

    key: Mapped[str] = mapped_column(String(100))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default=DRAFT)
    xml: Mapped[str] = mapped_column(Text, info={"audit": False})
    checksum: Mapped[str] = mapped_column(String(64))
    # Where it came from: "upload", or "plugin:<name>" for a process a module ships.
    source: Mapped[str] = mapped_column(String(120), default="upload")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


# --- Running processes --------------------------------------------------------------------

RUNNING, COMPLETED, WITHDRAWN, TERMINATED = "running", "completed", "withdrawn", "terminated"
OPEN, DONE, CANCELLED = "open", "done", "cancelled"
ACTIVE, WAITING = "active", "waiting"


class ProcessInstance(IdMixin, Timestamped, Versioned, Base):
    """One run of a process version, usually driving one business record (`record_kind`,
    `record_id`). `variables` holds what steps decided and forms filled in; conditions and
    assignee expressions read them. A call activity's child names its parent and the token
    waiting for it."""

    __tablename__ = "wf_instance"
    __table_args__ = (
        Index("ix_wf_instance_record", "record_kind", "record_id"),
        Index("ix_wf_instance_starter", "starter_id", "state"),
        Index("ix_wf_instance_state", "state", "process_key"),
    )

    process_key: Mapped[str] = mapped_column(String(100))
    process_version_id: Mapped[int] = mapped_column(
        ForeignKey("wf_process_version.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[str] = mapped_column(String(20), default=RUNNING)
    record_kind: Mapped[str | None] = mapped_column(String(100))
    record_id: Mapped[int | None]
    starter_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parent_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("wf_instance.id", ondelete="CASCADE"), index=True
    )
    parent_token_id: Mapped[int | None]
    end_node: Mapped[str | None] = mapped_column(String(100))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Token(IdMixin, Base):
    """Where an instance stands: one row per path being followed. A token `waiting` at a
    user task, sub-process or call activity is done by its work items, its inner scope or
    its child instance; one waiting at a parallel join is done when every incoming flow
    has brought one. `scope_token_id` is the sub-process token a token runs inside."""

    __tablename__ = "wf_token"
    __table_args__ = (
        Index("ix_wf_token_instance", "instance_id", "state"),
        Index("ix_wf_token_due", "state", "due_at"),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default=ACTIVE)
    scope_token_id: Mapped[int | None]
    arrived_via: Mapped[str | None] = mapped_column(String(100))
    # When the token began to wait at its task, and when the task's first timer boundary
    # event fires (the deadline scan finds waiting tokens by it).
    entered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WorkItem(IdMixin, Versioned, Base):
    """A step waiting for a person: the inbox is this table. An item is either assigned
    (`assignee_id`) or offered to candidates (`WorkItemCandidate`: a department, a role or
    people) until one of them claims it. Countersign items share their token."""

    __tablename__ = "wf_work_item"
    __table_args__ = (
        Index("ix_wf_work_item_assignee", "assignee_id", "state", "due_at"),
        Index("ix_wf_work_item_instance", "instance_id", "state"),
        Index("ix_wf_work_item_token", "token_id", "state"),
        Index("ix_wf_work_item_due", "state", "due_at"),
        Index("ix_wf_work_item_remind", "state", "remind_at"),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    token_id: Mapped[int] = mapped_column(ForeignKey("wf_token.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(20), default=OPEN)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    # For a countersign per department: the department this signer speaks for.
    signer_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(String(50))
    comment: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    remind_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A deadline from the record's SLA (`response` / `resolution`): the clock's recompute
    # moves `due_at`; the fallback times are used while the clock has no due time.
    sla_target: Mapped[str | None] = mapped_column(String(16))
    fallback_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    fallback_remind_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    urged: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class WorkItemCandidate(IdMixin, Base):
    """Who may claim an unassigned item: members of a department, holders of a role, or a
    named person; exactly one of the three is set."""

    __tablename__ = "wf_work_item_candidate"
    __table_args__ = (
        Index("ix_wf_candidate_department", "department_id", "work_item_id"),
        Index("ix_wf_candidate_role", "role_code", "work_item_id"),
        Index("ix_wf_candidate_user", "user_id", "work_item_id"),
    )

    work_item_id: Mapped[int] = mapped_column(
        ForeignKey("wf_work_item.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE")
    )
    role_code: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))


class Transition(IdMixin, Base):
    """What happened in an instance, in order: the engine's log and the process's audit
    trail (who did what at which step, on whose behalf, from where to where)."""

    __tablename__ = "wf_transition"
    __table_args__ = (Index("ix_wf_transition_instance", "instance_id", "id"),)

    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    work_item_id: Mapped[int | None]
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    actor_label: Mapped[str] = mapped_column(String(200), default="system")
    from_node: Mapped[str | None] = mapped_column(String(100))
    to_node: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(50))
    comment: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
