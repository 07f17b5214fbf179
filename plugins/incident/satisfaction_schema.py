"""Satisfaction statistics in GraphQL: `incidentSatisfaction(from:, to:, groupBy:)`, the
ratings of the incidents resolved in a period by assignment group, category or month, as
the viewer may see them (`satisfaction.py`); FORBIDDEN for a viewer who may not read the
incidents' `satisfaction`."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import strawberry
from strawberry.relay import to_base64
from strawberry.types import Info

from openitsm.kernel import Context
from openitsm.kernel.graphql.nodes import linked
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.organisation.schema import DepartmentType
from openitsm.plugins.incident import satisfaction


@strawberry.enum(description="How incidentSatisfaction puts the ratings in buckets.")
class IncidentSatisfactionGrouping(enum.Enum):
    GROUP = satisfaction.GROUP
    CATEGORY = satisfaction.CATEGORY
    MONTH = satisfaction.MONTH


@strawberry.type(description="The ratings of one assignment group, category or month.")
class IncidentSatisfactionBucket:
    key: str | None = strawberry.field(
        description="GROUP: the department's id; CATEGORY: the incident_category code; "
        "MONTH: YYYY-MM in the site's time zone. Null for incidents without a group or "
        "category (and for the total)."
    )
    label: str | None = strawberry.field(
        description="The group's name, the category's label in the reader's language, or the month."
    )
    count: int = strawberry.field(description="How many incidents were rated.")
    average: float | None = strawberry.field(description="The average rating, 1 to 5.")
    satisfied: float | None = strawberry.field(description="The share rated 4 or 5, 0 to 1.")
    distribution: list[int] = strawberry.field(
        description="How many were rated 1, 2, 3, 4 and 5, in that order."
    )
    group_id: strawberry.Private[int | None] = None

    @strawberry.field(description="GROUP: the assignment group.")
    def group(self, info: Info[Context, Any]) -> DepartmentType | None:
        return linked(info.context, Department, self.group_id)  # type: ignore[no-any-return]


@strawberry.type(description="Satisfaction statistics of the incidents resolved in a period.")
class IncidentSatisfaction:
    start: dt.datetime = strawberry.field(name="from", description="The period's start.")
    end: dt.datetime = strawberry.field(name="to", description="Its end (not included).")
    group_by: IncidentSatisfactionGrouping
    total: IncidentSatisfactionBucket = strawberry.field(description="Every bucket together.")
    buckets: list[IncidentSatisfactionBucket] = strawberry.field(
        description="By GROUP and CATEGORY the most rated first; by MONTH every month of "
        "the period in order, those without ratings too."
    )


def _bucket(found: satisfaction.Bucket, group_by: str) -> IncidentSatisfactionBucket:
    group_id = int(found.key) if group_by == satisfaction.GROUP and found.key else None
    return IncidentSatisfactionBucket(
        key=to_base64("Department", group_id) if group_id is not None else found.key,
        label=found.label,
        count=found.count,
        average=found.average,
        satisfied=found.satisfied,
        distribution=list(found.distribution),
        group_id=group_id,
    )


@strawberry.type
class SatisfactionQuery:
    @strawberry.field(
        description="How callers rated the incidents resolved in [from, to) that the viewer "
        "may see (default: the last 30 days): by assignment group, category or month. "
        "FORBIDDEN without incident.read, or when the viewer may not read `satisfaction` "
        "(or the field grouped by)."
    )
    def incident_satisfaction(
        self,
        info: Info[Context, Any],
        start: Annotated[dt.datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[dt.datetime | None, strawberry.argument(name="to")] = None,
        group_by: IncidentSatisfactionGrouping = IncidentSatisfactionGrouping.GROUP,
    ) -> IncidentSatisfaction:
        context = info.context
        actor = context.require_actor()
        since, until = satisfaction.period(start, end)
        found = satisfaction.statistics(
            context.session, actor, group_by.value, since, until, context.locale
        )
        return IncidentSatisfaction(
            start=since,
            end=until,
            group_by=group_by,
            total=_bucket(satisfaction.total(found), group_by.value),
            buckets=[_bucket(bucket, group_by.value) for bucket in found],
        )
