"""Dictionaries in GraphQL: read by everyone signed in, edited by administrators."""

from __future__ import annotations

from typing import Any, ClassVar

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access import require
from openitsm.kernel.dictionaries import service
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import (
    Fields,
    ModelNode,
    active_children,
    children_loader,
    decode_id,
    link,
    prefetched,
    shows_inactive,
)

ITEM_ORDER = (DictionaryItem.sort_order, DictionaryItem.id)


def _require_admin(info: Info[Context, Any]) -> None:
    require(info.context.require_actor(), "dictionary.manage")


@strawberry.type(name="DictionaryItem")
class DictionaryItemType(ModelNode):
    __model__ = DictionaryItem
    __fields__: ClassVar[Fields] = {"label": "labels", "children": None}

    code: str
    sort_order: int
    active: bool
    builtin: bool = strawberry.field(description="Shipped as a default (still editable).")
    version: int
    labels: JSON = strawberry.field(
        description='Names by locale, e.g. {"zh-CN": "硬件", "en": "Hardware"}.'
    )

    @strawberry.field(description="The name in the given locale, else the viewer's.")
    def label(
        self,
        root: strawberry.Parent[DictionaryItem],
        info: Info[Context, Any],
        locale: str | None = None,
    ) -> str:
        return root.label(locale or info.context.locale)

    parent: DictionaryItemType | None = link(DictionaryItem, "parent_id")

    @strawberry.field
    async def children(
        self,
        root: strawberry.Parent[DictionaryItem],
        info: Info[Context, Any],
        include_inactive: bool = False,
    ) -> list[DictionaryItemType]:
        return await active_children(
            info.context, DictionaryItem, root.id, ITEM_ORDER, include_inactive
        )


@strawberry.type(name="Dictionary")
class DictionaryType(ModelNode):
    __model__ = Dictionary
    __fields__: ClassVar[Fields] = {"label": "labels", "items": None, "roots": None}

    code: str
    description: str
    owner: str
    labels: JSON

    @strawberry.field
    def label(
        self,
        root: strawberry.Parent[Dictionary],
        info: Info[Context, Any],
        locale: str | None = None,
    ) -> str:
        return root.label(locale or info.context.locale)

    @strawberry.field(
        description="Every item in tree order, parents before children (see `parent`)."
    )
    async def items(
        self,
        root: strawberry.Parent[Dictionary],
        info: Info[Context, Any],
        include_inactive: bool = False,
    ) -> list[DictionaryItemType]:
        rows = await children_loader(
            info.context, DictionaryItem, "dictionary_id", ITEM_ORDER
        ).load(root.id)
        by_parent: dict[int | None, list[DictionaryItem]] = {}
        everything = shows_inactive(info.context, DictionaryItem, include_inactive)
        for row in rows:
            if everything or row.active:
                by_parent.setdefault(row.parent_id, []).append(row)
        ordered: list[DictionaryItem] = []
        stack = list(reversed(by_parent.get(None, [])))
        while stack:
            row = stack.pop()
            ordered.append(row)
            stack.extend(reversed(by_parent.get(row.id, [])))
        return ordered  # type: ignore[return-value]

    @strawberry.field(description="Top-level items; descend with `children`.")
    async def roots(
        self,
        root: strawberry.Parent[Dictionary],
        info: Info[Context, Any],
        include_inactive: bool = False,
    ) -> list[DictionaryItemType]:
        rows = await children_loader(
            info.context, DictionaryItem, "dictionary_id", ITEM_ORDER
        ).load(root.id)
        everything = shows_inactive(info.context, DictionaryItem, include_inactive)
        return [r for r in rows if r.parent_id is None and (everything or r.active)]  # type: ignore[misc]


@strawberry.type
class DictionaryQuery:
    @strawberry.field
    def dictionaries(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> Connection[DictionaryType]:
        context = info.context
        context.require_actor()
        return prefetched(
            info,
            DictionaryType,
            context.paginate(
                select(Dictionary),
                keys=[SortKey(Dictionary.code)],
                tiebreak=Dictionary.id,
                first=first,
                after=after,
            ),
        )

    @strawberry.field
    def dictionary(self, info: Info[Context, Any], code: str) -> DictionaryType | None:
        info.context.require_actor()
        return info.context.session.scalar(select(Dictionary).where(Dictionary.code == code))  # type: ignore[return-value]


@strawberry.input
class CreateDictionaryItemInput:
    dictionary: str = strawberry.field(description="The dictionary's code.")
    code: str
    labels: JSON
    parent: relay.GlobalID | None = None
    sort_order: int | None = None


@strawberry.input
class UpdateDictionaryItemInput:
    labels: JSON | None = None
    sort_order: int | None = None
    active: bool | None = None


@strawberry.type
class DictionaryItemPayload:
    item: DictionaryItemType


def _labels(value: Any) -> dict[str, str]:
    from openitsm.kernel.errors import BadUserInput, _t

    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadUserInput(
            _t("labels must be an object like {example}."),
            field="labels",
            params={"example": '{"zh-CN": "…", "en": "…"}'},
        )
    return value


@strawberry.type
class DictionaryMutation:
    @strawberry.mutation
    def create_dictionary_item(
        self, info: Info[Context, Any], input: CreateDictionaryItemInput
    ) -> DictionaryItemPayload:
        _require_admin(info)
        item = service.create_item(
            info.context.session,
            input.dictionary,
            code=input.code,
            labels=_labels(input.labels),
            parent_id=decode_id(input.parent, DictionaryItemType, "parent")
            if input.parent
            else None,
            sort_order=input.sort_order,
        )
        return DictionaryItemPayload(item=item)  # type: ignore[arg-type]

    @strawberry.mutation
    def update_dictionary_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: UpdateDictionaryItemInput,
    ) -> DictionaryItemPayload:
        _require_admin(info)
        item_id = decode_id(id, DictionaryItemType)
        changes = {
            "labels": _labels(input.labels) if input.labels is not None else None,
            "sort_order": input.sort_order,
            "active": input.active,
        }
        return DictionaryItemPayload(
            item=service.update_item(info.context.session, item_id, version, changes)
        )  # type: ignore[arg-type]

    @strawberry.mutation
    def move_dictionary_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        parent: relay.GlobalID | None = None,
        sort_order: int | None = None,
    ) -> DictionaryItemPayload:
        _require_admin(info)
        parent_id = decode_id(parent, DictionaryItemType, "parent") if parent else None
        item = service.move_item(
            info.context.session, decode_id(id, DictionaryItemType), version, parent_id, sort_order
        )
        return DictionaryItemPayload(item=item)  # type: ignore[arg-type]
