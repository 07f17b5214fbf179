"""The offers between modules: one module asks (`kernel.offers(name)` first), another answers.

The dummy plugin answers each; the incident module's tests (tests/plugins/incident/
test_offers.py) show the pages and GraphQL using the answers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from openitsm.kernel import SYSTEM, Kernel, RecordRef
from openitsm.kernel.hookspecs import AssetSummary, RecordDraft, Suggestion
from openitsm.kernel.identity import service as identity
from openitsm.kernel.testing import build_kernel

OFFERS = ("reference_suggestions", "archive_to_knowledge", "escalate_to_problem", "person_assets")


@pytest.fixture
def dummy_kernel(tmp_path: Path, database_url: str, dummy_plugin: ModuleType) -> Iterator[Kernel]:
    built = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    yield built
    built.close()


def note_model(dummy_plugin: ModuleType) -> type:
    return sys.modules[dummy_plugin.__name__.rpartition(".")[0] + ".models"].DummyNote


def test_offers_says_whether_a_plugin_answers(dummy_kernel: Kernel, tmp_path: Path) -> None:
    assert all(dummy_kernel.offers(name) for name in OFFERS)
    bare = build_kernel(
        tmp_path / "bare", f"sqlite:///{tmp_path / 'bare.db'}", modules=[], migrate=False
    )
    try:
        assert not any(bare.offers(name) for name in OFFERS)
    finally:
        bare.close()


def test_hook_reference_suggestions(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    note = note_model(dummy_plugin)
    with dummy_kernel.session() as session:
        session.add_all([note(text="Printer jams: open the tray"), note(text="VPN drops")])
    with dummy_kernel.session() as session:
        answers = dummy_kernel.hook.reference_suggestions(
            kernel=dummy_kernel,
            session=session,
            actor=SYSTEM,
            kind="incident",
            text="printer out of paper",
            limit=5,
        )
        none = dummy_kernel.hook.reference_suggestions(
            kernel=dummy_kernel, session=session, actor=SYSTEM, kind="incident", text="", limit=5
        )
    found = [suggestion for answer in answers for suggestion in answer]
    assert [type(s) for s in found] == [Suggestion]
    assert found[0].title == "Printer jams: open the tray" and found[0].summary == "for incident"
    assert found[0].ref is not None and found[0].url == f"/dummy/notes/{found[0].ref.id}"
    assert [s for answer in none for s in answer] == []


def test_hook_archive_to_knowledge(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    draft = RecordDraft(
        RecordRef("incident", 7), "Printer jams", "<p>Cleaned it</p>", {"category": "printer"}
    )
    with dummy_kernel.session() as session:
        made = dummy_kernel.hook.archive_to_knowledge(
            kernel=dummy_kernel, session=session, actor=SYSTEM, draft=draft
        )
    assert isinstance(made, RecordRef) and made.kind == "dummy_note"  # firstresult: one answer
    with dummy_kernel.session() as session:
        text = session.get(note_model(dummy_plugin), made.id).text
    assert text == "knowledge: Printer jams (incident:7)"


def test_hook_escalate_to_problem(dummy_kernel: Kernel, dummy_plugin: ModuleType) -> None:
    draft = RecordDraft(RecordRef("incident", 7), "Printer jams")
    with dummy_kernel.session() as session:
        first = dummy_kernel.hook.escalate_to_problem(
            kernel=dummy_kernel, session=session, actor=SYSTEM, draft=draft
        )
    with dummy_kernel.session() as session:
        again = dummy_kernel.hook.escalate_to_problem(
            kernel=dummy_kernel, session=session, actor=SYSTEM, draft=draft
        )
        other = dummy_kernel.hook.escalate_to_problem(
            kernel=dummy_kernel,
            session=session,
            actor=SYSTEM,
            draft=RecordDraft(RecordRef("incident", 8), "Printer jams"),
        )
    assert isinstance(first, RecordRef) and first == again and other != first


def test_hook_person_assets(dummy_kernel: Kernel) -> None:
    with dummy_kernel.session() as session:
        user_id = identity.create_user(session, "liwei", "Li Wei").id
    with dummy_kernel.session() as session:
        answers = dummy_kernel.hook.person_assets(
            kernel=dummy_kernel, session=session, actor=SYSTEM, user_id=user_id, limit=3
        )
        nobody = dummy_kernel.hook.person_assets(
            kernel=dummy_kernel, session=session, actor=SYSTEM, user_id=user_id + 99, limit=3
        )
    found = [asset for answer in answers for asset in answer]
    assert found == [
        AssetSummary("Laptop of liwei", "/dummy/ping", kind_label="Laptop", facts={"Model": "T14"})
    ]
    assert [a for answer in nobody for a in answer] == []
