"""Linking incidents from the incident page: the kernel's linked-records panel."""

from __future__ import annotations

from openitsm.web import testing as web_testing

from .conftest import PASSWORD, World


def test_linking_an_incident_from_its_page(world: World) -> None:
    first = world.create(title="Mail is down")
    second = world.create(title="Cannot send mail")
    hidden = world.create(title="Globex VPN", service_unit_id=world.units["globex"])
    agent = web_testing.signed_in(world.kernel, "agent", PASSWORD)
    base = f"/incidents/{second.id}"
    page = agent.get(base)
    assert 'id="record-links"' in page.text and 'action="/links"' in page.text
    form = {
        "csrf": web_testing.csrf_of(agent),
        "kind": "incident",
        "record_id": str(second.id),
        "next": base,
        "relation": "duplicate_of",
        "target": first.number,
    }
    assert agent.post("/links", data={**form, "csrf": "forged"}).status_code == 400
    done = agent.post("/links", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == base + "#record-links"
    page = agent.get(base).text
    panel = page[
        page.index('id="record-links"') : page.index("</section>", page.index('id="record-links"'))
    ]
    assert "Duplicate of" in panel and first.number in panel
    assert "linked" in page[page.index('id="timeline"') :]  # in this incident's history
    other = agent.get(f"/incidents/{first.id}").text
    assert "Duplicated by" in other and second.number in other
    # An incident the agent may not see is no more linkable than one that does not exist.
    refused = agent.post("/links", data={**form, "target": hidden.number})
    assert refused.status_code == 404
    assert "link-target-error" in refused.text and hidden.number in refused.text
    swapped = agent.post(
        "/links", data={**form, "target": "INC-1999-000001"}, headers={"hx-request": "true"}
    )
    assert swapped.status_code == 200 and swapped.text.lstrip().startswith("<section")
    assert "link-target-error" in swapped.text
    removed = agent.post(
        "/links/remove",
        data={
            **form,
            "source": f"incident:{second.id}",
            "target": f"incident:{first.id}",
        },
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert "No linked records." in agent.get(base).text
    caller = web_testing.signed_in(world.kernel, "caller", PASSWORD)
    assert 'action="/links"' not in caller.get(base).text  # end users do not link
    denied = caller.post("/links", data={**form, "csrf": web_testing.csrf_of(caller)})
    assert denied.status_code == 403
