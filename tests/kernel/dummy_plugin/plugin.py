"""One implementation of every kernel hook; each leaves a trace a test can check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import strawberry
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.types import Info

from openitsm.kernel import (
    ActionSpec,
    Actor,
    DictionarySpec,
    GraphQLContribution,
    ItemSpec,
    MigrationBranch,
    PluginSettings,
    RecordKind,
    RecordRef,
    hookimpl,
    task,
)
from openitsm.kernel.hookspecs import (
    Announcement,
    AssetSummary,
    CredentialsCheck,
    InboundMail,
    PortalRequest,
    RecordDraft,
    Suggestion,
    TimelineEntry,
)
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications import Channel, NotificationEvent, Templates
from openitsm.kernel.workflow.engine import ServiceAction
from openitsm.kernel.workflow.service import ProcessSpec

from . import hookspecs
from .models import DummyNote

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openitsm.kernel import Kernel
    from openitsm.kernel.audit import RecordEventData

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"
ACTOR_HEADER = "x-dummy-actor"
DIRECTORY_LOGIN = "dummy-directory-user"
DIRECTORY_PASSWORD = "letmein"
DEMO_TEXT = "dummy demo note"
ANNOUNCEMENT = "Dummy maintenance tonight"
STEP_AT = dt.datetime(2001, 2, 3, 4, 5, tzinfo=dt.UTC)

# Traces of hook calls, cleared by the `dummy_plugin` fixture before each test.
events: list[RecordEventData] = []
lifecycle: list[str] = []


class Settings(PluginSettings):
    greeting: str = "hello"
    limit: int = 5
    api_token: SecretStr | None = None


@strawberry.type
class DummyQuery:
    @strawberry.field
    def dummy_note_count(self, info: Info[Any, Any]) -> int:
        return info.context.session.scalar(select(func.count()).select_from(DummyNote)) or 0

    @strawberry.field
    def dummy_whoami(self, info: Info[Any, Any]) -> str:
        return info.context.actor.label

    @strawberry.field
    def dummy_greeting(self, info: Info[Any, Any]) -> str:
        return info.context.kernel.plugins.settings_of("dummy").greeting


@strawberry.type
class DummyMutation:
    @strawberry.mutation
    def add_dummy_note(self, info: Info[Any, Any], text: str) -> int:
        note = DummyNote(text=text)
        info.context.session.add(note)
        info.context.session.flush()
        kernel = info.context.kernel
        kernel.hook.dummy_thing_happened(thing=text, kernel=kernel)
        return note.id


@task()
def add_note(session: Session, text: str) -> int:
    note = DummyNote(text=text)
    session.add(note)
    session.flush()
    return note.id


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"pong from {request.app.state.kernel.settings.language}")


@click.command("dummy-hello")
@click.argument("name")
def hello_command(name: str) -> None:
    """Greet NAME (proves plugins can add commands)."""
    click.echo(f"dummy says hello to {name}")


@hookimpl
def add_hookspecs(plugin_manager: Any) -> None:
    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_models() -> list[type]:
    return [DummyNote]


@hookimpl
def register_migrations() -> MigrationBranch:
    return MigrationBranch("dummy", MIGRATIONS)


@hookimpl
def register_graphql() -> GraphQLContribution:
    return GraphQLContribution(query=DummyQuery, mutation=DummyMutation)


@hookimpl
def register_routes() -> list[Route]:
    return [Route("/dummy/ping", ping, methods=["GET"])]


@hookimpl
def sign_in_options(kernel: Any) -> list[Any]:
    from openitsm.kernel.identity.routes import SignInOption

    return [SignInOption({"en": "Dummy sign-in", "zh-CN": "示例登录"}, "/dummy/sign-in")]


@hookimpl
def register_menus() -> list[Any]:
    from openitsm.web.menus import MenuItem

    return [MenuItem("dummy", {"en": "Dummy", "zh-CN": "示例"}, "/dummy/ping", order=50)]


@hookimpl
def register_widgets() -> list[Any]:
    from openitsm.web.widgets import Widget

    return [Widget("dummy", {"en": "Dummy"}, lambda page: "dummy widget", default=False)]


@hookimpl
def register_tasks() -> list[Any]:
    return [add_note]


@hookimpl
def register_processes() -> list[ProcessSpec]:
    return [ProcessSpec(Path(__file__).parent / "processes" / "dummy_review.bpmn")]


@hookimpl
def register_dictionaries() -> list[DictionarySpec]:
    return [
        DictionarySpec(
            "dummy_colour",
            {"zh-CN": "颜色", "en": "Colour"},
            items=(
                ItemSpec("red", {"zh-CN": "红", "en": "Red"}),
                ItemSpec("blue", {"zh-CN": "蓝", "en": "Blue"}),
            ),
        )
    ]


@hookimpl
def register_actions() -> list[ActionSpec]:
    return [ActionSpec("dummy.poke", {"zh-CN": "戳一下", "en": "Poke"}, "Poke the dummy.")]


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    return [
        RecordKind(
            "dummy_note",
            DummyNote,
            labels={"zh-CN": "测试便笺", "en": "Dummy note"},
            describe=lambda note: {"title": note.text, "status": "open"},
            url="/dummy/notes/{id}",
        )
    ]


@hookimpl
def register_notification_events() -> list[NotificationEvent]:
    return [
        NotificationEvent(
            "dummy.noted",
            {"zh-CN": "新便笺", "en": "New note"},
            {
                "zh-CN": Templates("新便笺：{{ record.text }}", "{{ url }}"),
                "en": Templates("New note: {{ record.text }}", "{{ url }}"),
            },
            channels=("in_app", "dummy_outbox"),
        )
    ]


# What the dummy channel "sent": (user id, subject).
outbox: list[tuple[int, str]] = []


@hookimpl
def register_notification_channels() -> list[Channel]:
    return [
        Channel(
            "dummy_outbox",
            {"zh-CN": "测试发件箱", "en": "Dummy outbox"},
            send=lambda kernel, message: outbox.append((message.user_id, message.subject)),
            address=lambda user: user.login,
        )
    ]


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(hello_command)


@hookimpl
def load_demo_data(session: Session, kernel: Kernel) -> None:
    exists = session.scalar(select(DummyNote.id).where(DummyNote.text == DEMO_TEXT))
    if exists is None:
        session.add(DummyNote(text=DEMO_TEXT))


@hookimpl
def seed_bench_data(site: Any, scale: Any) -> None:
    """One note per ten incidents of the scale, each naming a seeded caller."""
    count = scale.incidents // 10
    first = site.reserve(DummyNote.__table__, count)
    rows = [
        (first + n, f"bench note {n} for {site.pick(site.callers).name}", 1) for n in range(count)
    ]
    site.insert(DummyNote.__table__, ("id", "text", "version"), rows)
    site.report("dummy notes", count)


@hookimpl
def actor_from_request(request: Request) -> Actor | None:
    raw = request.headers.get(ACTOR_HEADER)
    if raw is None or not raw.isdigit():
        return None
    return Actor(user_id=int(raw), label=f"dummy actor {raw}")


@hookimpl
def authenticate_credentials(
    login: str, password: str, session: Session
) -> CredentialsCheck | None:
    if login != DIRECTORY_LOGIN:
        return None
    if password != DIRECTORY_PASSWORD:
        return CredentialsCheck(unavailable=True, detail="dummy directory is down")
    user_id = session.scalar(select(User.id).where(User.login == login))
    if user_id is None:
        user = User(login=login, name="Dummy directory user")
        session.add(user)
        session.flush()
        user_id = user.id
    return CredentialsCheck(user_id=user_id)


@hookimpl
def workbench_announcements(actor: Actor, session: Session) -> list[Announcement]:
    """One notice for signed-in users, once a dummy note exists (proves the session is usable)."""
    if actor.user_id is None or session.scalar(select(func.count()).select_from(DummyNote)) == 0:
        return []
    return [Announcement(ANNOUNCEMENT, url="/dummy/ping", level="warning")]


@hookimpl
def record_timeline_entries(
    kernel: Kernel,
    session: Session,
    actor: Actor,
    ref: RecordRef,
    before: dt.datetime | None,
    limit: int,
) -> list[TimelineEntry]:
    """One process step, long ago, on every existing dummy note's timeline."""
    if ref.kind != "dummy_note" or limit < 1 or (before is not None and before <= STEP_AT):
        return []
    if not kernel.record_kinds.exists(session, ref, actor):
        return []
    return [
        TimelineEntry(
            STEP_AT, "step", "dummy workflow", "Dummy step reached", "<b>done</b>", tone="success"
        )
    ]


@hookimpl
def reference_suggestions(
    session: Session, actor: Actor, kind: str, text: str, limit: int
) -> list[Suggestion]:
    """Dummy notes whose text contains the first word typed (one query)."""
    words = text.split()
    if not words or limit < 1:
        return []
    rows = session.scalars(
        select(DummyNote)
        .where(DummyNote.text.ilike(f"%{words[0]}%"))
        .order_by(DummyNote.id)
        .limit(limit)
    )
    return [
        Suggestion(
            note.text,
            f"/dummy/notes/{note.id}",
            summary=f"for {kind}",
            ref=RecordRef("dummy_note", note.id),
            score=1.0,
        )
        for note in rows
    ]


def _note_from(session: Session, prefix: str, draft: RecordDraft) -> RecordRef:
    note = DummyNote(text=f"{prefix}: {draft.title} ({draft.source})"[:200])
    session.add(note)
    session.flush()
    return RecordRef("dummy_note", note.id)


@hookimpl
def archive_to_knowledge(session: Session, draft: RecordDraft) -> RecordRef:
    """A dummy note stands in for the knowledge draft."""
    return _note_from(session, "knowledge", draft)


@hookimpl
def escalate_to_problem(session: Session, draft: RecordDraft) -> RecordRef:
    """A dummy note stands in for the problem; the same source gets the same note again."""
    text = f"problem: {draft.title} ({draft.source})"[:200]
    found = session.scalar(select(DummyNote.id).where(DummyNote.text == text))
    if found is not None:
        return RecordRef("dummy_note", found)
    return _note_from(session, "problem", draft)


@hookimpl
def record_from_mail(session: Session, mail: InboundMail) -> RecordRef | None:
    """A mail becomes a dummy note; a reply to another kind's record is not the dummy's."""
    if mail.refers_to is not None and mail.refers_to.kind != "dummy_note":
        return None
    note = DummyNote(text=f"mail from {mail.from_address}: {mail.subject}"[:200])
    session.add(note)
    session.flush()
    return RecordRef("dummy_note", note.id)


@hookimpl
def person_assets(session: Session, user_id: int, limit: int) -> list[AssetSummary]:
    """One laptop for every existing person."""
    login = session.scalar(select(User.login).where(User.id == user_id))
    if login is None or limit < 1:
        return []
    return [
        AssetSummary(
            f"Laptop of {login}", "/dummy/ping", kind_label="Laptop", facts={"Model": "T14"}
        )
    ]


@hookimpl
def portal_requests(session: Session, actor: Actor, locale: str, limit: int) -> list[PortalRequest]:
    """Every dummy note as one of a signed-in viewer's requests (one query), the newest note
    changed last; notes with an even id wait for a rating."""
    if actor.user_id is None or limit < 1:
        return []
    notes = session.scalars(select(DummyNote).order_by(DummyNote.id.desc()).limit(limit))
    return [
        PortalRequest(
            "dummy_note",
            f"DN-{note.id}",
            note.text,
            "处理中" if locale == "zh-CN" else "Open",
            f"/dummy/notes/{note.id}",
            STEP_AT + dt.timedelta(days=note.id),
            kind_label="Dummy",
            needs_rating=note.id % 2 == 0,
        )
        for note in notes
    ]


@hookimpl
def on_startup(kernel: Kernel) -> None:
    lifecycle.append("startup")


@hookimpl
def on_shutdown(kernel: Kernel) -> None:
    lifecycle.append("shutdown")


@hookimpl
def on_record_changed(event: RecordEventData) -> None:
    events.append(event)


@hookimpl
def register_service_actions() -> list[ServiceAction]:
    return [ServiceAction("dummy.touch", lambda context: {"touched": True}, "Sets touched.")]


@hookimpl
def workflow_record(session: Any, kind: str, record_id: int) -> dict[str, Any] | None:
    return {"id": record_id} if kind == "dummy_thing" else None


@hookimpl
def on_workflow_event(event: Any) -> None:
    events.append(event)


@hookimpl
def register_sla_subjects() -> list[Any]:
    """The dummy note has no status or level: it runs on no SLA."""
    return []


@hookimpl
def on_sla_event(event: Any) -> None:
    events.append(event)
