"""What a module declares to run a record kind on the SLA, and what the SLA tells plugins.

A module returns `SlaSubject`s from `register_sla_subjects`; the kernel then builds each
record's clock from the record's own audit history (see `openitsm.kernel.sla.service`) and
calls `on_sla_event` with an `SlaEvent` when a warning or breach is crossed.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from openitsm.kernel.errors import ConfigurationError
from openitsm.kernel.references import RecordRef
from openitsm.kernel.sla.matrix import DIMENSIONS

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

SlaEventKind = Literal["warning", "breach"]


@dataclass(frozen=True)
class SlaSubject:
    """A record kind on the SLA and the fields of its model the clock reads.

    `status_field` carries the status: a status in `pause_statuses` pauses the clock, one in
    `resolved_statuses` (or `closed_statuses`) stops it, and leaving them again reopens it;
    the first time the status enters `responded_statuses`, or `responded_field` is first set,
    the record was responded to. `level_field` holds the SLA level's key (the module decides
    it, through `determine_level` or by hand); `service_unit_field` the service unit id whose
    calendar the clock counts on (the default calendar without one). `off_field` is a flag
    that switches the SLA off while true. `fact_fields` maps the matrix dimensions
    (`category`, `impact`, `urgency`, `service_unit`, `ci_importance`) to the fields that
    carry them, for `facts_of`.
    """

    kind: str
    level_field: str
    status_field: str = "status"
    service_unit_field: str | None = None
    pause_statuses: frozenset[str] = frozenset()
    resolved_statuses: frozenset[str] = frozenset()
    closed_statuses: frozenset[str] = frozenset()
    responded_statuses: frozenset[str] = frozenset()
    responded_field: str | None = None
    off_field: str | None = None
    restart_on_reopen: bool = False
    fact_fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def tracked_fields(self) -> tuple[str, ...]:
        """The fields whose history makes up the clock's events."""
        names = (
            self.status_field,
            self.level_field,
            self.service_unit_field,
            self.responded_field,
            self.off_field,
        )
        return tuple(dict.fromkeys(name for name in names if name))

    @property
    def stopping_statuses(self) -> frozenset[str]:
        return self.resolved_statuses | self.closed_statuses


@dataclass(frozen=True)
class SlaEvent:
    """A warning or breach just crossed, told to `on_sla_event` after it was recorded.

    `at` is the instant it was crossed, `due_at` when the target falls (fell) due, `target`
    `response` or `resolution`, `level` the level's key."""

    kind: SlaEventKind
    record: RecordRef
    target: str
    at: dt.datetime
    due_at: dt.datetime | None
    level: str | None


_SUBJECTS: weakref.WeakKeyDictionary[Kernel, dict[str, SlaSubject]] = weakref.WeakKeyDictionary()


def sla_subjects(kernel: Kernel) -> dict[str, SlaSubject]:
    """Every enabled plugin's SLA subjects by record kind, collected once per kernel."""
    found = _SUBJECTS.get(kernel)
    if found is not None:
        return found
    subjects: dict[str, SlaSubject] = {}
    owners: dict[str, str] = {}
    for owner, declared in kernel.contributions("register_sla_subjects"):
        for subject in declared:
            if not isinstance(subject, SlaSubject):
                raise ConfigurationError(
                    f"plugin '{owner}' returned {subject!r} from register_sla_subjects; "
                    "return openitsm.kernel.sla.SlaSubject objects"
                )
            if subject.kind in subjects:
                raise ConfigurationError(
                    f"the SLA of record kind '{subject.kind}' is declared by both "
                    f"'{owners[subject.kind]}' and '{owner}'"
                )
            if subject.kind not in kernel.record_kinds:
                raise ConfigurationError(
                    f"plugin '{owner}' declares an SLA for record kind '{subject.kind}', which "
                    "no enabled plugin registers (register_record_kinds)"
                )
            model = kernel.record_kinds.get(subject.kind).model
            missing = [
                name
                for name in (*subject.tracked_fields, *subject.fact_fields.values())
                if not hasattr(model, name)
            ]
            unknown = sorted(set(subject.fact_fields) - set(DIMENSIONS))
            if missing or unknown:
                raise ConfigurationError(
                    f"plugin '{owner}': the SLA of '{subject.kind}' names fields its model "
                    f"lacks: {missing or unknown}"
                )
            subjects[subject.kind] = subject
            owners[subject.kind] = owner
    _SUBJECTS[kernel] = subjects
    return subjects
