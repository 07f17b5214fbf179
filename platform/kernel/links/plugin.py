"""Record links, registered like any plugin: their table, the action that allows linking,
and their GraphQL fields."""

from __future__ import annotations

from openitsm.kernel.access.actions import ActionSpec
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.links import service
from openitsm.kernel.links.models import RecordLink

# The predefined roles that work on records; end users and vendors only read theirs.
LINKING_ROLES = (
    "service_desk_agent",
    "second_line_engineer",
    "third_line_expert",
    "problem_manager",
    "change_manager",
    "configuration_manager",
    "knowledge_reviewer",
    "administrator",
)


@hookimpl
def register_models() -> list[type]:
    return [RecordLink]


@hookimpl
def register_actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            service.ACTION,
            {"zh-CN": "关联记录", "en": "Link records"},
            "Link two records one may see (related, duplicate of, caused by) and remove links.",
            roles=LINKING_ROLES,
        )
    ]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.links.schema import LinkMutation, LinkQuery, RecordLinkType

    return GraphQLContribution(query=LinkQuery, mutation=LinkMutation, types=[RecordLinkType])
