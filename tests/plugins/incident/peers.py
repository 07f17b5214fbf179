"""Small stand-ins for the modules that answer the incident module's offers: problems,
knowledge and a configuration database. Each keeps what it was asked, so tests can check
the drafts; their tables live on their own metadata (never in a migration), made with
`create_tables(engine)` once the kernel is migrated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from openitsm.kernel import Actor, Forbidden, RecordKind, RecordRef, hookimpl
from openitsm.kernel.db import IdMixin
from openitsm.kernel.hookspecs import AssetSummary, RecordDraft, Suggestion


class PeerBase(DeclarativeBase):
    """Kept apart from the kernel's metadata, so migrations never see these tables."""


class FakeProblem(IdMixin, PeerBase):
    __tablename__ = "test_fake_problem"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(64))


class FakeArticle(IdMixin, PeerBase):
    __tablename__ = "test_fake_article"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")


def create_tables(engine: Engine) -> None:
    PeerBase.metadata.create_all(engine)


PROBLEM = RecordKind(
    "problem",
    FakeProblem,
    labels={"zh-CN": "问题", "en": "Problem"},
    describe=lambda row: {"title": f"PRB-{row.id:06d} {row.title}", "status": "open"},
    url="/problems/{id}",
)
KNOWLEDGE = RecordKind(
    "knowledge",
    FakeArticle,
    labels={"zh-CN": "知识", "en": "Knowledge"},
    describe=lambda row: {"title": f"KB-{row.id:06d} {row.title}", "status": "draft"},
    url="/knowledge/{id}",
)


class Problems:
    """Answers `escalate_to_problem`: one problem per source record."""

    def __init__(self) -> None:
        self.drafts: list[tuple[Actor, RecordDraft]] = []
        self.refuse = False

    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [PROBLEM]

    @hookimpl
    def escalate_to_problem(self, session: Session, actor: Actor, draft: RecordDraft) -> RecordRef:
        self.drafts.append((actor, draft))
        found = session.scalar(select(FakeProblem).where(FakeProblem.source == str(draft.source)))
        if found is None:
            found = FakeProblem(title=draft.title, body=draft.body_html, source=str(draft.source))
            session.add(found)
            session.flush()
        if self.refuse:  # after writing: the refusal must undo this side too
            raise Forbidden("problems are closed today")
        return RecordRef("problem", found.id)


class Knowledge:
    """Answers `archive_to_knowledge` and `reference_suggestions` (articles whose title
    holds the first word typed)."""

    def __init__(self) -> None:
        self.drafts: list[RecordDraft] = []
        self.asked: list[str] = []

    @hookimpl
    def register_record_kinds(self) -> list[RecordKind]:
        return [KNOWLEDGE]

    @hookimpl
    def archive_to_knowledge(self, session: Session, draft: RecordDraft) -> RecordRef:
        self.drafts.append(draft)
        article = FakeArticle(title=draft.title, body=draft.body_html)
        session.add(article)
        session.flush()
        return RecordRef("knowledge", article.id)

    @hookimpl
    def reference_suggestions(
        self, session: Session, kind: str, text: str, limit: int
    ) -> list[Suggestion]:
        self.asked.append(text)
        first = (text.split() or [""])[0]
        rows = session.scalars(
            select(FakeArticle).where(FakeArticle.title.ilike(f"%{first}%")).limit(limit)
        )
        return [
            Suggestion(
                row.title,
                f"/knowledge/{row.id}",
                summary="<b>read me</b>",
                ref=RecordRef("knowledge", row.id),
                score=float(row.id),
            )
            for row in rows
        ]


class Assets:
    """Answers `person_assets` with one laptop for anyone; a bad link is dropped by the page."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    @hookimpl
    def person_assets(self, user_id: int, limit: int) -> list[AssetSummary]:
        self.asked.append(user_id)
        return [
            AssetSummary(
                "ThinkPad T14 #4711",
                "javascript:alert(1)",
                kind_label="Laptop",
                facts={"OS": "Windows 11 <22H2>"},
            )
        ][:limit]


def peers() -> dict[str, Any]:
    return {"problems": Problems(), "knowledge": Knowledge(), "assets": Assets()}
