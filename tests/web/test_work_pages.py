"""My items, items I registered and the process instance page: what each person sees and
may do, through the real pages and forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from openitsm.kernel import Kernel
from openitsm.kernel.organisation import service as org
from openitsm.kernel.testing import actor_of, build_kernel
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.models import ProcessInstance, WorkItem
from openitsm.web.testing import csrf_of, signed_in

PASSWORD = "work-pages-pw-123"


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """Rita (sales) asks; Sally heads sales; Ian and Ina are IT; Otto is in neither."""
    kernel = build_kernel(tmp_path, database_url)
    with kernel.session() as session:
        sales = org.create_department(session, code="sales", name="Sales")
        it = org.create_department(session, code="it", name="IT")
        ids = {}
        for login, department in (
            ("rita", sales), ("sally", sales), ("ian", it), ("ina", it), ("otto", None)
        ):  # fmt: skip
            ids[login] = org.create_user(
                session,
                login=login,
                name=login.title(),
                password=PASSWORD,
                department_id=department.id if department else None,
            ).id
        org.update_department(session, sales.id, sales.version, {"head_user_id": ids["sally"]})
    kernel.ids = ids  # type: ignore[attr-defined]
    yield kernel
    kernel.close()


def start(kernel: Kernel, title: str) -> int:
    actor = actor_of(kernel, kernel.ids["rita"])  # type: ignore[attr-defined]
    with kernel.session() as session:
        return runtime.start_process(session, kernel, actor, "two_level_approval", title=title).id


def client(kernel: Kernel, login: str, language: str = "en") -> TestClient:
    return signed_in(kernel, login, PASSWORD, {"accept-language": language})


def test_my_items_and_what_i_registered_on_the_workbench_and_the_page(kernel: Kernel) -> None:
    instance = start(kernel, "New laptop for Rita")
    sally = client(kernel, "sally")
    home = sally.get("/")
    assert home.status_code == 200
    assert "New laptop for Rita" in home.text  # the my items box
    work = sally.get("/work")
    assert f'href="/processes/{instance}"' in work.text
    assert "Head of department approves" in work.text  # the step's English name
    assert "部门负责人审批" in client(kernel, "sally", "zh-CN").get("/work").text
    rita = client(kernel, "rita")
    assert "New laptop for Rita" in rita.get("/").text  # items I registered
    assert "Nothing is waiting for you." in rita.get("/work").text
    otto = client(kernel, "otto")
    assert "New laptop for Rita" not in otto.get("/").text
    assert otto.get(f"/processes/{instance}").status_code == 404


def test_deciding_a_step_on_the_instance_page_moves_the_process(kernel: Kernel) -> None:
    instance = start(kernel, "VPN access")
    with kernel.session() as session:
        item = session.scalar(select(WorkItem.id).where(WorkItem.instance_id == instance))
    sally = client(kernel, "sally")
    page = sally.get(f"/processes/{instance}")
    assert page.status_code == 200
    assert f'action="/work/items/{item}"' in page.text and 'value="approve"' in page.text
    rita = client(kernel, "rita")
    shown = rita.get(f"/processes/{instance}").text
    assert f'action="/work/items/{item}"' not in shown  # not hers to decide
    assert f'action="/processes/{instance}/withdraw"' in shown  # but hers to withdraw
    refused = rita.post(
        f"/work/items/{item}",
        data={"csrf": csrf_of(rita), "action": "complete", "outcome": "approve"},
    )
    assert refused.status_code == 403
    no_token = sally.post(f"/work/items/{item}", data={"action": "complete", "outcome": "approve"})
    assert no_token.status_code == 400
    done = sally.post(
        f"/work/items/{item}",
        data={"csrf": csrf_of(sally), "action": "complete", "outcome": "approve", "comment": "OK"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/processes/{instance}"
    after = sally.get(f"/processes/{instance}").text
    assert "IT countersign" in after
    assert re.search(r"completed\s*<a href=\"/processes/\d+\">Head of department approves", after)
    assert '<div class="entry-body">OK</div>' in after
    # IT members now see their countersign items; Rita can no longer withdraw.
    assert "VPN access" in client(kernel, "ian").get("/work").text
    assert f'action="/processes/{instance}/withdraw"' not in rita.get(f"/processes/{instance}").text


def test_the_starter_withdraws_from_the_page(kernel: Kernel) -> None:
    instance = start(kernel, "Printer")
    rita = client(kernel, "rita")
    rita.get(f"/processes/{instance}")
    answer = rita.post(
        f"/processes/{instance}/withdraw", data={"csrf": csrf_of(rita)}, follow_redirects=False
    )
    assert answer.status_code == 303
    with kernel.session() as session:
        found = session.get(ProcessInstance, instance)
        assert found is not None and found.state == "withdrawn"
    assert "Nothing is waiting for you." in client(kernel, "sally").get("/work").text


def test_a_record_driven_by_a_process_shows_its_steps_in_its_timeline(kernel: Kernel) -> None:
    ids = kernel.ids  # type: ignore[attr-defined]
    with kernel.session() as session:
        unit = org.create_service_unit(session, code="acme", name="Acme")
        boss = org.create_user(
            session, login="boss", name="Boss", password=PASSWORD, superuser=True
        )
        instance = runtime.start_process(
            session,
            kernel,
            actor_of(kernel, ids["rita"]),
            "two_level_approval",
            title="Onboard Acme",
            record_kind="service_unit",
            record_id=unit.id,
        )
        instance_id, unit_id, _ = instance.id, unit.id, boss.id
    page = client(kernel, "boss").get(f"/admin/service-units/{unit_id}")
    assert page.status_code == 200
    assert "started the process" in page.text
    assert f'href="/processes/{instance_id}"' in page.text


def test_comments_and_files_at_a_step_on_the_instance_page(kernel: Kernel) -> None:
    instance = start(kernel, "Docking station")
    sally = client(kernel, "sally")
    page = sally.get(f"/processes/{instance}").text
    assert 'name="kind" value="process_instance"' in page  # the comment form
    assert f'action="/processes/{instance}/files"' in page
    said = sally.post(
        "/comments",
        data={
            "csrf": csrf_of(sally),
            "kind": "process_instance",
            "record_id": str(instance),
            "body": "<p>Which model?</p><script>alert(1)</script>",
            "next": f"/processes/{instance}",
        },
        follow_redirects=False,
    )
    assert said.status_code == 303
    assert said.headers["location"].startswith(f"/processes/{instance}#comment-")
    uploaded = sally.post(
        "/attachments",
        data={"kind": "pending"},
        files={"file": ("spec.txt", b"USB-C, two screens\n", "text/plain")},
        headers={"x-csrf-token": csrf_of(sally)},
    )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["downloadUrl"].rsplit("/", 1)[1]
    added = sally.post(
        f"/processes/{instance}/files",
        data={"csrf": csrf_of(sally), "attachments": file_id},
        follow_redirects=False,
    )
    assert added.status_code == 303
    rita = client(kernel, "rita")
    seen = rita.get(f"/processes/{instance}").text
    assert "<p>Which model?</p>" in seen and "alert(1)" not in seen
    assert f'href="/attachments/{file_id}">spec.txt</a>' in seen
    assert rita.get(f"/attachments/{file_id}").content == b"USB-C, two screens\n"
    # Otto takes no part: the page, its comments and its files do not exist for him.
    otto = client(kernel, "otto")
    assert otto.get(f"/processes/{instance}").status_code == 404
    assert otto.get(f"/attachments/{file_id}").status_code == 404
    barged = otto.post(
        "/comments",
        data={
            "csrf": csrf_of(otto),
            "kind": "process_instance",
            "record_id": str(instance),
            "body": "me too",
            "next": "/",
        },
    )
    assert barged.status_code == 404
    empty = sally.post(f"/processes/{instance}/files", data={"csrf": csrf_of(sally)})
    assert empty.status_code == 400
    forged = sally.post(f"/processes/{instance}/files", data={"attachments": file_id})
    assert forged.status_code == 400
