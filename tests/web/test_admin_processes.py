"""The process designer's pages and endpoints: who may see and change processes, drafts
checked by the server with their problems by element, publishing, and the diagram an
instance page draws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.organisation import service as org
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow import service as definitions
from openitsm.web.testing import csrf_of, signed_in

PASSWORD = "designer-pw-123"
SAMPLE = Path(__file__).parents[2] / "platform/kernel/workflow/processes/two_level_approval.bpmn"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        registry = action_registry(kernel)
        designer = org.create_role(
            session, registry, code="designer", labels={"en": "Designer"},
            actions=["process.read", "process.manage"],
        )  # fmt: skip
        reader = org.create_role(
            session, registry, code="reader", labels={"en": "Reader"}, actions=["process.read"]
        )
        for login, role in (("dana", designer), ("rhys", reader), ("nobody", None)):
            user = org.create_user(session, login=login, name=login.title(), password=PASSWORD)
            if role is not None:
                org.grant_role(session, user.id, role.id)
    yield kernel
    kernel.close()


def post_json(client: TestClient, url: str, body: dict) -> tuple[int, dict]:
    answer = client.post(
        url,
        content=json.dumps(body),
        headers={"content-type": "application/json", "x-csrf-token": csrf_of(client)},
    )
    return answer.status_code, answer.json()


def test_the_designer_is_for_process_readers_and_saving_for_managers(kernel: Kernel) -> None:
    nobody = signed_in(kernel, "nobody", PASSWORD)
    assert nobody.get("/admin/processes").status_code == 403
    rhys = signed_in(kernel, "rhys", PASSWORD)
    listing = rhys.get("/admin/processes")
    assert listing.status_code == 200 and "two_level_approval" in listing.text
    shown = rhys.get("/admin/processes/two_level_approval")
    assert shown.status_code == 200
    assert "data-save" not in shown.text and 'data-editable="false"' in shown.text
    assert "<\\/" not in shown.text and "\\u003cbpmn:definitions" in shown.text
    status, _ = post_json(rhys, "/admin/processes/draft", {"xml": SAMPLE.read_text()})
    assert status == 403


def test_a_draft_is_checked_saved_and_published(kernel: Kernel) -> None:
    dana = signed_in(kernel, "dana", PASSWORD)
    page = dana.get("/admin/processes/two_level_approval")
    assert "data-save" in page.text
    broken = SAMPLE.read_text().replace(
        'itsm:countersign="ratio:0.5/person"', 'itsm:countersign="most"'
    )
    status, refused = post_json(dana, "/admin/processes/draft", {"xml": broken})
    assert status == 400 and refused["ok"] is False
    assert [p["element"] for p in refused["problems"]] == ["it_countersign"]
    no_token = dana.post(
        "/admin/processes/draft",
        content=json.dumps({"xml": SAMPLE.read_text()}),
        headers={"content-type": "application/json"},
    )
    assert no_token.status_code == 400
    redrawn = SAMPLE.read_text().replace('itsm:deadline="PT8H"', 'itsm:deadline="PT6H"')
    status, saved = post_json(dana, "/admin/processes/draft", {"xml": redrawn})
    assert status == 200 and (saved["key"], saved["number"]) == ("two_level_approval", 2)
    status, conflict = post_json(dana, "/admin/processes/draft", {"xml": redrawn})
    assert status == 409 and conflict["code"] == "CONFLICT"  # say which draft you replace
    status, published = post_json(
        dana,
        "/admin/processes/two_level_approval/publish",
        {"number": saved["number"], "version": saved["version"]},
    )
    assert status == 200 and published["number"] == 2
    with kernel.session() as session:
        assert 'itsm:deadline="PT6H"' in definitions.current(session, "two_level_approval").xml


def test_an_instance_diagram_is_served_to_those_who_may_see_the_instance(kernel: Kernel) -> None:
    with kernel.session() as session:
        starter = org.create_user(session, login="sue", name="Sue", password=PASSWORD).id
    with kernel.session() as session:
        instance = runtime.start_process(
            session, kernel, actor_of(kernel, starter), "two_level_approval"
        ).id
    sue = signed_in(kernel, "sue", PASSWORD)
    diagram = sue.get(f"/processes/{instance}/diagram")
    assert diagram.status_code == 200 and "<bpmn:definitions" in diagram.text
    assert diagram.headers["content-type"].startswith("application/xml")
    page = sue.get(f"/processes/{instance}")
    assert f'data-xml-url="/processes/{instance}/diagram"' in page.text
    assert '"head_approval": "active"' in page.text.replace("&#34;", '"')
    nobody = signed_in(kernel, "nobody", PASSWORD)
    assert nobody.get(f"/processes/{instance}/diagram").status_code == 404


def test_the_problems_of_a_diagram_come_in_the_designers_language(kernel: Kernel) -> None:
    dana = signed_in(kernel, "dana", PASSWORD, headers={"accept-language": "zh-CN"})
    dana.get("/admin/processes")
    broken = (
        SAMPLE.read_text()
        .replace('itsm:countersign="ratio:0.5/person"', 'itsm:countersign="most"')
        .replace('itsm:deadline="PT8H"', 'itsm:deadlin="PT8H"')
    )
    status, refused = post_json(dana, "/admin/processes/draft", {"xml": broken})
    assert status == 400
    reasons = [(p["element"], p["reason"]) for p in refused["problems"]]
    assert ("head_approval", "userTask 没有属性 itsm:deadlin；您是指 itsm:deadline 吗？") in reasons
    assert any(
        element == "it_countersign" and reason.startswith("itsm:countersign 取值为")
        for element, reason in reasons
    )
    assert refused["message"].startswith("流程无法导入：head_approval：userTask 没有属性")
    assert "（另有" in refused["message"]


def test_the_designer_offers_deadlines_from_the_sla(kernel: Kernel) -> None:
    page = signed_in(kernel, "dana", PASSWORD).get("/admin/processes/two_level_approval").text
    assert 'list="itsm-deadline-choices"' in page
    for choice in ("sla:response", "sla:resolution"):
        assert f'<option value="{choice}">' in page
    assert 'data-attribute="deadlineFallback" data-kinds="userTask"' in page
