"""The kinds of link between records, with their names read from either end.

A link is stored once, from `source` to `target`; each relation has a label for the source's
page ("Duplicate of INC-2") and an inverse label for the target's page ("Duplicated by
INC-1"). A symmetric relation reads the same from both ends. The registry lives here so
every module and the API agree on the names; a new relation is one more entry below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.labels import pick_label

OUTGOING = "outgoing"
INCOMING = "incoming"


@dataclass(frozen=True)
class Relation:
    """`labels` name the target as seen from the source; `inverse_labels` the source as
    seen from the target (the same for a symmetric relation)."""

    name: str
    labels: Mapping[str, str]
    inverse_labels: Mapping[str, str] = field(default_factory=dict)
    symmetric: bool = False

    def label(self, locale: str, direction: str = OUTGOING) -> str:
        if direction == INCOMING and not self.symmetric:
            return pick_label(self.inverse_labels, locale, self.name)
        return pick_label(self.labels, locale, self.name)


RELATED = "related"
DUPLICATE_OF = "duplicate_of"
CAUSED_BY = "caused_by"
# Made by the offers between modules (hookspecs `escalate_to_problem`, `archive_to_knowledge`).
ESCALATED_TO = "escalated_to"
ARCHIVED_TO = "archived_to"

RELATIONS: Mapping[str, Relation] = {
    relation.name: relation
    for relation in (
        Relation(RELATED, {"zh-CN": "相关", "en": "Related to"}, symmetric=True),
        Relation(
            DUPLICATE_OF,
            {"zh-CN": "重复于", "en": "Duplicate of"},
            {"zh-CN": "被重复", "en": "Duplicated by"},
        ),
        Relation(
            CAUSED_BY,
            {"zh-CN": "由…引起", "en": "Caused by"},
            {"zh-CN": "引起", "en": "Causes"},
        ),
        Relation(
            ESCALATED_TO,
            {"zh-CN": "已升级为问题", "en": "Escalated to"},
            {"zh-CN": "升级自", "en": "Escalated from"},
        ),
        Relation(
            ARCHIVED_TO,
            {"zh-CN": "已归档为知识", "en": "Archived to"},
            {"zh-CN": "归档自", "en": "Archived from"},
        ),
    )
}


def get_relation(name: str | None) -> Relation:
    """The relation called `name` (`related` when empty), else BAD_USER_INPUT."""
    found = RELATIONS.get((name or RELATED).strip())
    if found is None:
        raise BadUserInput(
            _t("Unknown relation '{relation}'; choose one of {choices}."),
            field="relation",
            params={"relation": name, "choices": ", ".join(RELATIONS)},
        )
    return found
