"""The kernel's dictionaries and the default ITSM set, registered like any plugin's."""

from __future__ import annotations

from pathlib import Path

from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.dictionaries.spec import DictionarySpec, load_specs
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.references import RecordKind

DEFAULTS = Path(__file__).parent / "defaults.toml"


@hookimpl
def register_models() -> list[type]:
    return [Dictionary, DictionaryItem]


@hookimpl
def register_dictionaries() -> list[DictionarySpec]:
    return load_specs(DEFAULTS)


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    return [
        RecordKind(
            "dictionary_item",
            DictionaryItem,
            labels={"zh-CN": "字典项", "en": "Dictionary item"},
            describe=lambda item: {
                "title": item.label("en"),
                "status": "active" if item.active else "inactive",
            },
            shows=("labels", "active"),
        )
    ]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.dictionaries.schema import (
        DictionaryItemType,
        DictionaryMutation,
        DictionaryQuery,
        DictionaryType,
    )

    return GraphQLContribution(
        query=DictionaryQuery,
        mutation=DictionaryMutation,
        types=[DictionaryType, DictionaryItemType],
    )
