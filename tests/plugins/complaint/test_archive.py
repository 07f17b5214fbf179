"""Archiving a complaint to knowledge (归档知识库): offered only when some enabled plugin
answers `archive_to_knowledge`, here a small stand-in for the knowledge module with a record
kind of its own; the complaint keeps the draft as its `archived_to` record link."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from openitsm.kernel import Actor, BadUserInput, Forbidden, RecordKind, RecordRef, hookimpl
from openitsm.kernel.access.fields import set_field_rule
from openitsm.kernel.db import IdMixin
from openitsm.kernel.hookspecs import RecordDraft
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.testing import build_kernel, error_codes, gql
from openitsm.plugins.complaint import plugin, service
from openitsm.plugins.complaint.models import Complaint
from openitsm.web import testing as web_testing

from .conftest import PASSWORD, SETTINGS, World, populate

ARCHIVE = """mutation($id: ID!) { archiveComplaintToKnowledge(id: $id) {
  complaint { archivedTo { kind recordId } } knowledge { kind recordId } } }"""


class ArticleBase(DeclarativeBase):
    """Kept apart from the kernel's metadata, so migrations never see the stand-in's table."""


class Article(IdMixin, ArticleBase):
    __tablename__ = "test_complaint_article"

    title: Mapped[str] = mapped_column(String(200))


ARTICLE = RecordKind(
    "knowledge",
    Article,
    labels={"zh-CN": "知识", "en": "Knowledge"},
    describe=lambda row: {"title": f"KB-{row.id:04d} {row.title}"},
    url="/knowledge/{id}",
)


class KnowledgeDrafts:
    """Takes knowledge drafts: keeps each one as an article and answers `knowledge:<id>`;
    refuses with `refusal` when set (after writing, so the refusal must undo it)."""

    def __init__(self) -> None:
        self.drafts: list[tuple[str, RecordDraft]] = []
        self.refusal: Exception | None = None

    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [ARTICLE]

    @hookimpl
    def archive_to_knowledge(
        self, session: Session, actor: Actor, draft: RecordDraft
    ) -> RecordRef | None:
        article = Article(title=draft.title)
        session.add(article)
        session.flush()
        if self.refusal is not None:
            raise self.refusal
        self.drafts.append((actor.label, draft))
        return RecordRef("knowledge", article.id)


@pytest.fixture
def knowledge() -> KnowledgeDrafts:
    return KnowledgeDrafts()


@pytest.fixture
def with_knowledge(
    tmp_path: Path, database_url: str, knowledge: KnowledgeDrafts
) -> Iterator[World]:
    kernel = build_kernel(
        tmp_path,
        database_url,
        plugins={"complaint": plugin, "knowledge": knowledge},
        plugin_settings=SETTINGS,
    )
    ArticleBase.metadata.create_all(kernel.engine)
    yield populate(kernel)
    ArticleBase.metadata.drop_all(kernel.engine)
    kernel.close()


def archived_links(world: World, complaint_id: int) -> list[tuple[str, int]]:
    with world.kernel.session() as session:
        rows = session.execute(
            select(RecordLink.target_kind, RecordLink.target_id).where(
                RecordLink.source_kind == "complaint",
                RecordLink.source_id == complaint_id,
                RecordLink.relation == "archived_to",
            )
        )
        return [(kind, target) for kind, target in rows]


def gid(key: int) -> str:
    return base64.b64encode(f"Complaint:{key}".encode()).decode()


def answered(world: World) -> Complaint:
    complaint = world.create(
        title="Charged twice", category="billing", description="<p>Two invoices</p>"
    )
    with world.kernel.session(world.actor("agent")) as session:
        return service.give_feedback(session, complaint.id, feedback="<p>Refunded one</p>")


def test_without_a_knowledge_module_nothing_is_offered(world: World) -> None:
    assert not world.kernel.offers("archive_to_knowledge")
    complaint = answered(world)
    result = gql(world.kernel, ARCHIVE, {"id": gid(complaint.id)}, world.actor("agent"))
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["reason"] == "UNSUPPORTED"
    agent = web_testing.signed_in(world.kernel, "agent", PASSWORD)
    page = agent.get(f"/complaints/{complaint.id}").text
    assert f'action="/complaints/{complaint.id}/close"' in page
    assert f'action="/complaints/{complaint.id}/archive"' not in page
    posted = agent.post(
        f"/complaints/{complaint.id}/archive", data={"csrf": web_testing.csrf_of(agent)}
    )
    assert posted.status_code == 400


def test_an_answered_complaint_becomes_a_knowledge_draft_once(
    with_knowledge: World, knowledge: KnowledgeDrafts
) -> None:
    world = with_knowledge
    assert world.kernel.offers("archive_to_knowledge")
    open_one = world.create()
    with (
        world.kernel.session(world.actor("agent")) as session,
        pytest.raises(BadUserInput, match="feedback first"),
    ):
        service.archive_to_knowledge(session, open_one.id)
    complaint = answered(world)
    with world.kernel.session(world.actor("caller")) as session, pytest.raises(Forbidden):
        service.archive_to_knowledge(session, complaint.id)  # end users hold no update
    result = gql(world.kernel, ARCHIVE, {"id": gid(complaint.id)}, world.actor("agent"))
    assert "errors" not in result, result
    [(kind, article)] = archived_links(world, complaint.id)  # the one store of the reference
    made = {"kind": kind, "recordId": article}
    assert kind == "knowledge"
    assert result["data"]["archiveComplaintToKnowledge"] == {
        "complaint": {"archivedTo": made},
        "knowledge": made,
    }
    [(who, draft)] = knowledge.drafts
    assert who == "Agent"
    assert draft.source == RecordRef("complaint", complaint.id)
    assert draft.title == "Charged twice"
    assert "<p>Two invoices</p>" in draft.body_html and "<p>Refunded one</p>" in draft.body_html
    assert draft.fields["category"] == "billing"
    assert draft.fields["resolution"] == "<p>Refunded one</p>"
    again = gql(world.kernel, ARCHIVE, {"id": gid(complaint.id)}, world.actor("agent"))
    assert error_codes(again) == ["BAD_USER_INPUT"]
    assert len(knowledge.drafts) == 1


def test_the_draft_leaves_out_what_the_archiver_may_not_read(
    with_knowledge: World, knowledge: KnowledgeDrafts
) -> None:
    world = with_knowledge
    complaint = answered(world)
    with world.kernel.session() as session:
        set_field_rule(
            session, world.kernel.record_kinds, world.roles["service_desk_agent"],
            "complaint", "description", "hidden",
        )  # fmt: skip
    with world.kernel.session(world.actor("agent")) as session:
        service.archive_to_knowledge(session, complaint.id)
    [(_, draft)] = knowledge.drafts
    assert "Two invoices" not in draft.body_html and "Refunded one" in draft.body_html


def test_a_refusal_of_the_knowledge_module_undoes_the_archive(
    with_knowledge: World, knowledge: KnowledgeDrafts
) -> None:
    world = with_knowledge
    complaint = answered(world)
    knowledge.refusal = Forbidden("Only reviewers may draft articles.")
    result = gql(world.kernel, ARCHIVE, {"id": gid(complaint.id)}, world.actor("agent"))
    assert error_codes(result) == ["FORBIDDEN"]
    with world.kernel.session() as session:
        kept: Any = session.get(Complaint, complaint.id)
        assert kept.version == complaint.version
        assert session.scalars(select(Article)).all() == []  # the other side undone too
    assert archived_links(world, complaint.id) == []


def test_the_page_offers_the_button_and_links_the_draft(
    with_knowledge: World, knowledge: KnowledgeDrafts
) -> None:
    world = with_knowledge
    complaint = answered(world)
    agent = web_testing.signed_in(world.kernel, "agent", PASSWORD)
    base = f"/complaints/{complaint.id}"
    assert f'action="{base}/archive"' in agent.get(base).text
    done = agent.post(
        f"{base}/archive",
        data={"csrf": web_testing.csrf_of(agent), "version": str(complaint.version)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = agent.get(done.headers["location"]).text
    assert "archived to knowledge" in page
    [(_, article)] = archived_links(world, complaint.id)
    assert f'<a href="/knowledge/{article}">KB-{article:04d} Charged twice</a>' in page
    assert page.count(f'href="/knowledge/{article}"') == 2  # the summary and the links panel
    assert f'action="{base}/archive"' not in page
