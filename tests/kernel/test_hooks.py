"""One test per kernel hook, each proving the hook is called and its result used.

The dummy plugin (tests/kernel/dummy_plugin) implements every hook; `test_hooks_meta.py`
fails when a hook in openitsm.kernel.hookspecs has no `test_hook_<name>` here or elsewhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from starlette.testclient import TestClient

from openitsm.kernel import SYSTEM, ConfigurationError, Kernel, RecordRef, hookimpl
from openitsm.kernel import cli as cli_module
from openitsm.kernel.testing import build_kernel, gql


@pytest.fixture
def dummy_kernel(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    """A migrated kernel with the dummy plugin enabled, on SQLite and PostgreSQL."""
    built = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    yield built
    built.close()


@pytest.fixture
def unmigrated_kernel(tmp_path: Path, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    """The dummy plugin loaded, no database touched: for hooks that need no tables."""
    built = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        plugins={"dummy": dummy_plugin},
        migrate=False,
    )
    yield built
    built.close()


def note_model(dummy_plugin: ModuleType) -> type:
    return sys.modules[dummy_plugin.__name__.rpartition(".")[0] + ".models"].DummyNote


class Listener:
    """A second plugin that implements the hook the dummy plugin declares."""

    def __init__(self) -> None:
        self.things: list[str] = []

    @hookimpl
    def dummy_thing_happened(self, thing: str) -> None:
        self.things.append(thing)


def test_hook_add_hookspecs(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> None:
    listener = Listener()
    kernel = build_kernel(
        tmp_path, database_url, plugins={"dummy": dummy_plugin, "listener": listener}
    )
    try:
        result = gql(kernel, 'mutation { addDummyNote(text: "disk full") }')
        assert "errors" not in result, result
        assert listener.things == ["disk full"]
    finally:
        kernel.close()


def test_plugin_hook_without_its_declaring_plugin_is_a_startup_error(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    with pytest.raises(ConfigurationError, match=r"'listener'.*dummy_thing_happened"):
        build_kernel(
            tmp_path,
            f"sqlite:///{tmp_path / 'unused.db'}",
            plugins={"dummy": dummy_plugin, "listener": Listener()},
            modules=["listener"],
            migrate=False,
        )


def test_optional_plugin_hook_is_accepted_without_its_declaring_plugin(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    class Optional:
        @hookimpl(optionalhook=True)
        def dummy_thing_happened(self, thing: str) -> None:
            raise AssertionError("never called: nobody declares this hook")

    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        plugins={"optional": Optional()},
        migrate=False,
    )
    assert kernel.plugins.plugins["optional"].enabled


def test_misspelt_plugin_hook_is_a_startup_error(tmp_path: Path, dummy_plugin: ModuleType) -> None:
    class Misspelt:
        @hookimpl
        def dummy_thing_hapened(self, thing: str) -> None:
            pass

    with pytest.raises(ConfigurationError) as raised:
        build_kernel(
            tmp_path,
            f"sqlite:///{tmp_path / 'unused.db'}",
            plugins={"dummy": dummy_plugin, "misspelt": Misspelt()},
            migrate=False,
        )
    message = str(raised.value)
    assert "'misspelt'" in message
    assert "dummy_thing_hapened" in message
    assert "did you mean 'dummy_thing_happened'" in message


def test_hook_register_models(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    assert dummy_kernel.model_owners["dummy_note"] == "dummy"
    assert "dummy_note" in sa.inspect(dummy_kernel.engine).get_table_names()
    note_class = note_model(dummy_plugin)
    with dummy_kernel.session() as session:
        session.add(note_class(text="stored"))
    with dummy_kernel.session() as session:
        assert session.scalars(sa.select(note_class.text)).all() == ["stored"]


def test_model_not_derived_from_base_is_a_startup_error(tmp_path: Path) -> None:
    class Stray:
        __tablename__ = "stray"

    class Plugin:
        @hookimpl
        def register_models(self) -> list[type]:
            return [Stray]

    with pytest.raises(ConfigurationError, match=r"'stray_models'.*openitsm.kernel.Base"):
        build_kernel(
            tmp_path,
            f"sqlite:///{tmp_path / 'unused.db'}",
            plugins={"stray_models": Plugin()},
            migrate=False,
        )


def test_hook_register_graphql(dummy_kernel: Kernel) -> None:
    added = gql(dummy_kernel, 'mutation { addDummyNote(text: "printer jam") }')
    assert isinstance(added["data"]["addDummyNote"], int), added
    assert gql(dummy_kernel, "{ dummyNoteCount }") == {"data": {"dummyNoteCount": 1}}


def test_hook_register_routes(unmigrated_kernel: Kernel) -> None:
    client = TestClient(unmigrated_kernel.asgi())
    response = client.get("/dummy/ping")
    assert response.status_code == 200
    assert response.text == "pong from zh-CN"


def test_hook_sign_in_options(unmigrated_kernel: Kernel) -> None:
    client = TestClient(unmigrated_kernel.asgi())
    page = client.get("/login?next=/admin/users", headers={"accept-language": "en"}).text
    assert '<a class="sso" href="/dummy/sign-in?next=/admin/users">Dummy sign-in</a>' in page
    chinese = client.get("/login", headers={"accept-language": "zh-CN"}).text
    assert ">示例登录</a>" in chinese


def test_hook_workbench_announcements(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    client = TestClient(dummy_kernel.asgi(), headers={"accept-language": "en"})
    headers = {"x-dummy-actor": "7"}
    assert dummy_plugin.ANNOUNCEMENT not in client.get("/", headers=headers).text
    with dummy_kernel.session() as session:
        session.add(note_model(dummy_plugin)(text="a note"))
    page = client.get("/", headers=headers).text
    assert f'<a href="/dummy/ping">{dummy_plugin.ANNOUNCEMENT}</a>' in page
    assert 'class="announcement announcement-warning"' in page


def test_hook_register_tasks(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    assert "dummy.add_note" in dummy_kernel.tasks
    dummy_kernel.tasks["dummy.add_note"]("queued note")  # the test queue runs tasks inline
    with dummy_kernel.session() as session:
        texts = session.scalars(sa.select(note_model(dummy_plugin).text)).all()
    assert texts == ["queued note"]


def test_hook_register_processes(dummy_kernel: Kernel) -> None:
    from openitsm.kernel.workflow import service as workflow

    shipped = dummy_kernel.shipped_processes
    assert ("dummy", "dummy_review") in {(p, s.path.stem) for p, s in shipped}
    with dummy_kernel.session() as session:  # migrating published both; a second run adds none
        assert workflow.sync_shipped(session, shipped) == 0
        published = workflow.current(session, "dummy_review")
        assert (published.number, published.state, published.source) == (
            1,
            "published",
            "plugin:dummy",
        )


def test_hook_register_dictionaries(dummy_kernel: Kernel) -> None:
    result = gql(
        dummy_kernel,
        '{ dictionary(code: "dummy_colour") { label(locale: "en") items { code } } }',
        actor=SYSTEM,
    )
    assert result == {
        "data": {"dictionary": {"label": "Colour", "items": [{"code": "red"}, {"code": "blue"}]}}
    }


def test_hook_register_record_kinds(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    assert "dummy_note" in dummy_kernel.record_kinds
    with dummy_kernel.session() as session:
        note = note_model(dummy_plugin)(text="VPN down")
        session.add(note)
        session.flush()
        ref = RecordRef("dummy_note", note.id)
        summary = dummy_kernel.record_kinds.describe(session, [ref])[ref]
    assert (summary.title, summary.status) == ("VPN down", "open")
    assert summary.url == f"/dummy/notes/{note.id}"


def test_hook_register_commands(
    installed_dummy: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # `main` adds plugin commands to the shared group; give it a copy to add them to.
    monkeypatch.setattr(cli_module.cli, "commands", dict(cli_module.cli.commands))
    monkeypatch.setattr(sys, "argv", ["openitsm", "dummy-hello", "world"])
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == 0
    assert capsys.readouterr().out == "dummy says hello to world\n"


def test_hook_load_demo_data(
    installed_dummy: ModuleType, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENITSM_DATABASE_URL", database_url)
    monkeypatch.setenv("OPENITSM_MODULES", "dummy")
    runner = CliRunner()
    for _ in range(2):  # demo data must be idempotent
        result = runner.invoke(cli_module.cli, ["demo", "--password", "demo-pw"])
        assert result.exit_code == 0, result.output
    kernel = build_kernel(
        Path.cwd(), database_url, plugins={"dummy": installed_dummy}, migrate=False
    )
    try:
        with kernel.session() as session:
            texts = session.scalars(sa.select(note_model(installed_dummy).text)).all()
    finally:
        kernel.close()
    assert texts == [installed_dummy.DEMO_TEXT]


def test_hook_actor_from_request(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    from openitsm.kernel.identity import service

    with dummy_kernel.session() as session:
        user = service.create_user(session, "root", "Root", password="secret-pw")
    query = {"query": "{ viewer { login } dummyWhoami }"}
    client = TestClient(dummy_kernel.asgi())

    as_user = client.post("/graphql", json=query, headers={dummy_plugin.ACTOR_HEADER: str(user.id)})
    assert as_user.json() == {
        "data": {"viewer": {"login": "root"}, "dummyWhoami": f"dummy actor {user.id}"}
    }
    # Without the header the dummy plugin answers None and the next plugin (identity) decides.
    anonymous = client.post("/graphql", json=query)
    assert anonymous.json() == {"data": {"viewer": None, "dummyWhoami": "anonymous"}}


def test_hook_on_startup(unmigrated_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    app = unmigrated_kernel.asgi()
    assert dummy_plugin.lifecycle == []
    with TestClient(app):
        assert dummy_plugin.lifecycle == ["startup"]


def test_hook_on_shutdown(unmigrated_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    with TestClient(unmigrated_kernel.asgi()):
        assert "shutdown" not in dummy_plugin.lifecycle
    assert dummy_plugin.lifecycle == ["startup", "shutdown"]


def test_hook_on_record_changed(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    note_class = note_model(dummy_plugin)
    dummy_plugin.events.clear()  # building the kernel stored the default dictionaries
    with dummy_kernel.session() as session:
        note = note_class(text="first")
        session.add(note)
        session.flush()
        assert dummy_plugin.events == []  # not before the commit
    [created] = dummy_plugin.events
    assert (created.record_kind, created.record_id, created.action) == (
        "dummy_note",
        note.id,
        "create",
    )
    assert [(c.field, c.old, c.new) for c in created.changes] == [("text", None, "first")]

    with pytest.raises(RuntimeError), dummy_kernel.session() as session:
        session.get(note_class, note.id).text = "rolled back"
        session.flush()
        raise RuntimeError("abandon the transaction")
    assert len(dummy_plugin.events) == 1  # nothing announced for a rollback

    with dummy_kernel.session() as session:
        session.get(note_class, note.id).text = "second"
    updated = dummy_plugin.events[-1]
    assert updated.action == "update"
    assert [(c.field, c.old, c.new) for c in updated.changes] == [("text", "first", "second")]


def test_hook_record_timeline_entries(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    import datetime as dt

    from openitsm.web.pages import PageContext
    from openitsm.web.timeline import merged_timeline

    with dummy_kernel.unit_of_work(actor=SYSTEM) as session:
        note = note_model(dummy_plugin)(text="timeline note")
        session.add(note)
        session.flush()
        ref = RecordRef("dummy_note", note.id)
    page = PageContext(None, dummy_kernel, SYSTEM, "en", "UTC", "csrf")  # type: ignore[arg-type]
    with dummy_kernel.session() as session:
        found = merged_timeline(page, session, ref)
        older = merged_timeline(page, session, ref, before=dummy_plugin.STEP_AT.replace(year=2002))
        other = merged_timeline(page, session, RecordRef("dummy_note", note.id + 1))
    # The plugin's step (2001) is merged below the note's creation (now), newest first.
    assert [(e.kind, e.title) for e in found.entries] == [
        ("history", ""),
        ("step", "Dummy step reached"),
    ]
    assert found.entries[1].at == dummy_plugin.STEP_AT and found.older is None
    assert [e.kind for e in older.entries] == ["step"]
    assert other.entries == []
    assert found.entries[0].at > dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
