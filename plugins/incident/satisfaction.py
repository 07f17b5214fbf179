"""Satisfaction statistics (满意度统计): how callers rated the incidents resolved in a period —
their rating on the portal or the desk's call-back, both kept in `satisfaction` (1–5) — by
assignment group, category or month.

One query for any grouping, under the reader's data scope and field rules: who may not read
`satisfaction` gets FORBIDDEN, and grouping or filtering by a hidden field is refused as a
filter on it would be. The workbench widget "Satisfaction" (`widgets.py`) and the GraphQL
query `incidentSatisfaction` (`satisfaction_schema.py`) both read it here.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.orm import Session

from openitsm.kernel import Actor, BadUserInput, require, utcnow
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import scopes_of, visible
from openitsm.kernel.dictionaries.models import Dictionary, DictionaryItem
from openitsm.kernel.errors import Forbidden, _t
from openitsm.kernel.labels import pick_label
from openitsm.kernel.organisation.models import Department
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import Incident

GROUP, CATEGORY, MONTH = "group", "category", "month"
GROUPINGS = (GROUP, CATEGORY, MONTH)
SCORES = (1, 2, 3, 4, 5)
WINDOW = dt.timedelta(days=30)  # the widget's period, and the query's when none is given
MAX_MONTHS = 120  # buckets by month over at most ten years
# The field each grouping reads, so a hidden one is refused.
GROUPED_FIELD = {GROUP: "group_id", CATEGORY: "category", MONTH: "resolved_at"}


@dataclass(frozen=True)
class Bucket:
    """The ratings of one group, category or month: `key` is the department id (as text),
    the category code or `YYYY-MM`, None for incidents without a group or category;
    `label` its name in the reader's language (None without a key); `distribution` how
    many incidents were rated 1, 2, 3, 4 and 5."""

    key: str | None
    label: str | None
    distribution: tuple[int, int, int, int, int]

    @property
    def count(self) -> int:
        return sum(self.distribution)

    @property
    def average(self) -> float | None:
        if not self.count:
            return None
        return sum(score * n for score, n in zip(SCORES, self.distribution, strict=True)) / (
            self.count
        )

    @property
    def satisfied(self) -> float | None:
        """The share rated 4 or 5 (0 to 1)."""
        return (self.distribution[3] + self.distribution[4]) / self.count if self.count else None


def total(buckets: Sequence[Bucket]) -> Bucket:
    """Every bucket together."""
    summed = tuple(sum(b.distribution[i] for b in buckets) for i in range(len(SCORES)))
    return Bucket(None, None, summed)  # type: ignore[arg-type]


def sees_beyond_own(actor: Actor) -> bool:
    """Whether the actor's incident scope reaches past their own incidents (a department,
    its subtree, service units or all): statistics of one's own few ratings say nothing."""
    return actor.superuser or bool(scopes_of(actor, service.INCIDENT.name) - {"own"})


def months(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> list[tuple[str, dt.datetime]]:
    """(`YYYY-MM`, the month's first instant in UTC) of each calendar month in `zone` that
    [start, end) touches, in order."""
    first = start.astimezone(zone)
    year, month = first.year, first.month
    found: list[tuple[str, dt.datetime]] = []
    while True:
        begins = dt.datetime(year, month, 1, tzinfo=zone).astimezone(dt.UTC)
        if begins >= end and found:
            return found
        found.append((f"{year:04d}-{month:02d}", begins))
        if len(found) > MAX_MONTHS:
            raise BadUserInput(
                _t("Count by month over at most {count} months; shorten the period."),
                field="from",
                params={"count": MAX_MONTHS},
            )
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _month_key(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> ColumnElement[Any]:
    """The month of `resolved_at` as `YYYY-MM` in `zone`: a CASE over the months' borders,
    the same on SQLite and PostgreSQL and right across daylight-saving changes."""
    found = months(start, end, zone)
    if len(found) == 1:
        return literal(found[0][0])
    whens = [
        (Incident.resolved_at < begins, key) for (key, _), (_, begins) in itertools.pairwise(found)
    ]
    return case(*whens, else_=literal(found[-1][0]))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def period(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end): `end` defaults to now, `start` to 30 days before `end`."""
    until = _aware(end) if end is not None else utcnow()
    since = _aware(start) if start is not None else until - WINDOW
    if since >= until:
        raise BadUserInput(_t("The period must start before it ends."), field="from")
    return since, until


def statistics(
    session: Session,
    actor: Actor,
    group_by: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    locale: str = "en",
) -> list[Bucket]:
    """The ratings of the incidents resolved in [start, end) that `actor` may see, one
    bucket per group, category or month (`group_by`), in one query. By group and category
    the buckets come most rated first; by month, every calendar month of the site
    (`time_zone`) that the period touches, in order, those without ratings too."""
    require(actor, service.READ)
    if group_by not in GROUPINGS:
        raise BadUserInput(
            _t("Group by one of {choices}."),
            field="groupBy",
            params={"choices": ", ".join(GROUPINGS)},
        )
    access = field_access(actor, service.INCIDENT.name)
    if not access.readable("satisfaction"):
        raise Forbidden(
            _t("Your roles do not allow you to read the satisfaction of incidents."),
            field="satisfaction",
            resource=service.INCIDENT.name,
        )
    access.check_read(["resolved_at", GROUPED_FIELD[group_by]])
    since, until = period(start, end)
    zone = service.site_zone(session)
    if group_by == MONTH:
        key: ColumnElement[Any] = _month_key(since, until, zone)
    elif group_by == GROUP:
        key = Incident.group_id
    else:
        key = Incident.category
    # The key is worked out below the grouping, so PostgreSQL groups by a plain column
    # even when the key is an expression with parameters (the months).
    ratings = (
        visible(
            select(key.label("key"), Incident.satisfaction.label("score")),
            actor,
            service.INCIDENT,
        )
        .where(
            Incident.satisfaction.is_not(None),
            Incident.resolved_at >= since,
            Incident.resolved_at < until,
        )
        .subquery("ratings")
    )
    rated = (
        select(
            ratings.c.key,
            *(
                func.sum(case((ratings.c.score == score, 1), else_=0)).label(f"s{score}")
                for score in SCORES
            ),
        )
        .group_by(ratings.c.key)
        .subquery("rated")
    )
    scores = [rated.c[f"s{score}"] for score in SCORES]
    if group_by == GROUP:
        statement = select(rated.c.key, Department.name, *scores).outerjoin(
            Department, Department.id == rated.c.key
        )
    elif group_by == CATEGORY:
        items = (
            select(DictionaryItem.code, DictionaryItem.labels)
            .join(Dictionary, Dictionary.id == DictionaryItem.dictionary_id)
            .where(Dictionary.code == service.DICTIONARIES["category"])
            .subquery("items")
        )
        statement = select(rated.c.key, items.c.labels, *scores).outerjoin(
            items, items.c.code == rated.c.key
        )
    else:
        statement = select(rated.c.key, literal(None).label("name"), *scores)
    buckets = []
    for row in session.execute(statement):
        raw, name, *counts = row
        bucket_key = None if raw is None else str(raw)
        if bucket_key is None:
            label = None
        elif group_by == CATEGORY:
            label = pick_label(name or {}, locale, bucket_key)
        else:
            label = str(name or bucket_key)
        distribution = tuple(int(n or 0) for n in counts)
        buckets.append(Bucket(bucket_key, label, distribution))  # type: ignore[arg-type]
    if group_by == MONTH:  # every month of the period, those without ratings too
        found = {bucket.key: bucket for bucket in buckets}
        return [
            found.get(month) or Bucket(month, month, (0, 0, 0, 0, 0))
            for month, _ in months(since, until, zone)
        ]
    return sorted(buckets, key=lambda b: (-b.count, b.key is None, b.label or ""))
