"""Comments: as visible as their record, internal ones only with comment.internal, sanitised,
edited and removed by their author only, with optimistic locking and an audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from strawberry.relay import to_base64

from openitsm.kernel import Kernel, RecordRef
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.comments import service
from openitsm.kernel.comments.models import Comment
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, NotFound
from openitsm.kernel.identity import service as identity
from openitsm.kernel.testing import build_kernel, gql
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables


@dataclass
class World:
    kernel: Kernel
    agent: Actor  # sees every ticket, and internal comments
    other: Actor  # sees every ticket, no internal comments
    outsider: Actor  # sees only their own tickets: none
    ticket: RecordRef


def actor(user_id: int, name: str, *, internal: bool, scope: str) -> Actor:
    actions = {"comment.internal"} if internal else set()
    return Actor(
        user_id=user_id,
        label=name,
        actions=frozenset(actions),
        scopes=frozenset({("ticket", scope)}),
    )


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    kernel = build_kernel(tmp_path, database_url, plugins={"tickets": TicketPlugin()})
    create_tables(kernel.engine)
    try:
        with kernel.session() as session:
            ids = [
                identity.create_user(session, login, login.title()).id
                for login in ("agent", "other", "outsider")
            ]
            ticket = Ticket(title="Printer jam")
            session.add(ticket)
            session.flush()
            ref = RecordRef("ticket", ticket.id)
        yield World(
            kernel,
            actor(ids[0], "Agent", internal=True, scope="all"),
            actor(ids[1], "Other", internal=False, scope="all"),
            actor(ids[2], "Outsider", internal=True, scope="own"),
            ref,
        )
    finally:
        drop_tables(kernel.engine)
        kernel.close()


def add(world: World, who: Actor, body: str, internal: bool = False) -> Comment:
    with world.kernel.unit_of_work(actor=who) as session:
        comment = service.add_comment(session, world.kernel, world.ticket, body, who, internal)
        session.flush()
        session.expunge(comment)
        return comment


def bodies(world: World, who: Actor) -> list[str]:
    with world.kernel.session() as session:
        entries = service.timeline_entries(session, world.kernel, who, world.ticket)
    return [entry.body for entry in entries]


def test_out_of_scope_record_answers_like_a_missing_one(world: World) -> None:
    add(world, world.agent, "<p>seen by all</p>")
    missing = RecordRef("ticket", world.ticket.id + 100)
    with world.kernel.session() as session:
        for ref in (world.ticket, missing):
            with pytest.raises(NotFound) as error:
                service.add_comment(session, world.kernel, ref, "hi", world.outsider)
            assert error.value.code == "NOT_FOUND"
        assert service.timeline_entries(session, world.kernel, world.outsider, world.ticket) == []
    query = "query($r: RecordReferenceInput!) { comments(record: $r) { nodes { body } } }"
    for ref in (world.ticket, missing):
        answer = gql(
            world.kernel, query, {"r": {"kind": "ticket", "recordId": ref.id}}, world.outsider
        )
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    seen = gql(
        world.kernel, query, {"r": {"kind": "ticket", "recordId": world.ticket.id}}, world.other
    )
    assert seen["data"]["comments"]["nodes"] == [{"body": "<p>seen by all</p>"}]


def test_internal_comments_need_comment_internal(world: World) -> None:
    add(world, world.agent, "<p>public</p>")
    secret = add(world, world.agent, "<p>internal note</p>", internal=True)
    assert bodies(world, world.agent) == ["<p>internal note</p>", "<p>public</p>"]
    assert bodies(world, world.other) == ["<p>public</p>"]
    with world.kernel.session() as session, pytest.raises(NotFound):
        service.get_comment(session, world.kernel, secret.id, world.other)
    with world.kernel.session() as session, pytest.raises(Forbidden):
        service.add_comment(session, world.kernel, world.ticket, "x", world.other, internal=True)
    query = "query($r: RecordReferenceInput!) { comments(record: $r) { nodes { body internal } } }"
    variables = {"r": {"kind": "ticket", "recordId": world.ticket.id}}
    nodes = gql(world.kernel, query, variables, world.other)["data"]["comments"]["nodes"]
    assert nodes == [{"body": "<p>public</p>", "internal": False}]
    nodes = gql(world.kernel, query, variables, world.agent)["data"]["comments"]["nodes"]
    assert [n["internal"] for n in nodes] == [False, True]
    node = "query($id: ID!) { node(id: $id) { id } }"
    variables = {"id": to_base64("Comment", secret.id)}
    assert gql(world.kernel, node, variables, world.other)["data"]["node"] is None
    assert gql(world.kernel, node, variables, world.agent)["data"]["node"] is not None


def test_bodies_are_sanitised_and_empty_ones_refused(world: World) -> None:
    comment = add(world, world.agent, '<p onclick="x()">hi<script>alert(1)</script></p>')
    assert comment.body == "<p>hi</p>"
    with world.kernel.session() as session, pytest.raises(BadUserInput):
        service.add_comment(session, world.kernel, world.ticket, "<script>x</script>", world.agent)


def test_only_the_author_edits_with_the_current_version(world: World) -> None:
    comment = add(world, world.agent, "<p>first</p>")
    with world.kernel.unit_of_work(actor=world.other) as session, pytest.raises(Forbidden):
        service.edit_comment(session, world.kernel, comment.id, 1, "<p>mine now</p>", world.other)
    with world.kernel.unit_of_work(actor=world.agent) as session:
        edited = service.edit_comment(
            session, world.kernel, comment.id, 1, "<p>second</p>", world.agent
        )
        assert edited.edited_at is not None
    with world.kernel.unit_of_work(actor=world.agent) as session, pytest.raises(Conflict):
        service.edit_comment(session, world.kernel, comment.id, 1, "<p>stale</p>", world.agent)
    mutation = (
        "mutation($id: ID!, $v: Int!, $b: String!) "
        "{ editComment(id: $id, version: $v, body: $b) { body version } }"
    )
    variables = {"id": to_base64("Comment", comment.id), "v": 2, "b": "<p>third</p>"}
    answer = gql(world.kernel, mutation, variables, world.agent)
    assert answer.get("data") is not None, answer
    assert answer["data"]["editComment"] == {"body": "<p>third</p>", "version": 3}
    assert bodies(world, world.agent) == ["<p>third</p>"]


def test_removing_leaves_an_audited_tombstone(world: World) -> None:
    comment = add(world, world.agent, "<p>oops</p>")
    with world.kernel.unit_of_work(actor=world.other) as session, pytest.raises(Forbidden):
        service.remove_comment(session, world.kernel, comment.id, 1, world.other)
    mutation = (
        "mutation($id: ID!) { removeComment(id: $id, version: 1) { comment { body removedAt } } }"
    )
    answer = gql(world.kernel, mutation, {"id": to_base64("Comment", comment.id)}, world.agent)
    assert answer["data"]["removeComment"]["comment"]["body"] == ""
    assert answer["data"]["removeComment"]["comment"]["removedAt"] is not None
    with world.kernel.session() as session:
        (entry,) = service.timeline_entries(session, world.kernel, world.agent, world.ticket)
        assert entry.data["removed"] and not entry.data["mine"]
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor_label)
            .where(AuditEvent.record_kind == "comment", AuditEvent.record_id == comment.id)
            .order_by(AuditEvent.id)
        ).all()
        assert [tuple(e) for e in events] == [("create", "Agent"), ("update", "Agent")]
        old_body = session.scalar(
            select(AuditChange.old_value)
            .join(AuditEvent, AuditEvent.id == AuditChange.event_id)
            .where(AuditEvent.record_kind == "comment", AuditChange.field == "body")
            .where(AuditEvent.action == "update")
        )
        assert old_body == "<p>oops</p>"
    with world.kernel.unit_of_work(actor=world.agent) as session, pytest.raises(BadUserInput):
        service.edit_comment(session, world.kernel, comment.id, 2, "<p>back</p>", world.agent)


def test_pasted_images_join_the_record(world: World) -> None:
    from openitsm.kernel.attachments import service as attachments
    from openitsm.kernel.attachments.models import Attachment

    with world.kernel.unit_of_work(actor=world.agent) as session:
        pending = attachments.pending_ref(world.agent)
        upload = attachments.save_attachment(
            session, world.kernel, pending, "shot.txt", None, [b"pixels"], world.agent
        )
        upload_id = upload.id
    add(world, world.agent, f'<p>see <img src="/attachments/{upload_id}"></p>')
    with world.kernel.session() as session:
        moved = session.get(Attachment, upload_id)
        assert moved is not None and moved.target == world.ticket
