"""`input_values`: a mutation input turned into a service's arguments."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import strawberry
from strawberry import relay

from openitsm.kernel import BadUserInput
from openitsm.kernel.graphql.nodes import input_values
from openitsm.kernel.organisation.schema import DepartmentType, UserType

LINKS = (("owner", "owner_id", UserType), ("group", "group_id", DepartmentType))


@dataclasses.dataclass
class Input:
    title: Any = strawberry.UNSET
    note: Any = strawberry.UNSET
    owner: Any = strawberry.UNSET
    group: Any = strawberry.UNSET


def test_fields_left_out_are_not_passed_and_links_are_decoded() -> None:
    sent = Input(title="Printer", note=None, owner=relay.GlobalID("User", "7"), group=None)
    assert input_values(sent, ("title", "note"), LINKS) == {
        "title": "Printer",
        "note": None,
        "owner_id": 7,
        "group_id": None,
    }
    assert input_values(Input(), ("title", "note"), LINKS) == {}


def test_a_link_to_another_type_is_refused_on_its_field() -> None:
    with pytest.raises(BadUserInput) as refused:
        input_values(Input(group=relay.GlobalID("User", "7")), (), LINKS)
    assert refused.value.extensions["field"] == "group"
