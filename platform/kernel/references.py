"""Record references: `(kind, id)` links between modules that never import each other.

A module registers the kinds it owns (`register_record_kinds`); anyone may then store a
reference to, say, an incident, and the kernel resolves and describes it in one query per
kind. With the owning module disabled the kind is unknown and its references describe
themselves as unavailable instead of breaking the page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, inspect, select
from sqlalchemy.orm import Session

from openitsm.kernel.errors import BadUserInput, ConfigurationError
from openitsm.kernel.labels import pick_label

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from openitsm.kernel.access.scope import ScopeColumns
    from openitsm.kernel.actors import Actor
    from openitsm.kernel.plugins import PluginSet


@dataclass(frozen=True, order=True)
class RecordRef:
    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> RecordRef:
        kind, _, raw = text.partition(":")
        if not kind or not raw.isdigit():
            raise BadUserInput(f"'{text}' is not a record reference like 'incident:42'.")
        return cls(kind, int(raw))


@dataclass(frozen=True)
class RecordSummary:
    """How a referenced record shows up elsewhere: a title, a state and a link."""

    ref: RecordRef
    title: str
    status: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class RecordKind:
    """A kind of record a plugin owns.

    `describe(row)` returns the title (and optionally `status`) as a mapping; `url` is a
    template such as `/incidents/{id}`. `scope` names the columns data scopes compare with;
    a kind without it is visible to every actor (see `openitsm.kernel.access.scope`).

    Its fields, which field rules name, are the model's columns plus `extra_fields` (values
    kept elsewhere, such as a user's roles). `shows` lists the fields `describe` reads: a
    reader for whom one of them is hidden sees the reference as a bare `#id`. `link_rows`
    maps the audit kind of link rows to the field they make up (`{"user_role": "roles"}`),
    so their history is hidden with the field. `link_fields` maps a record-link relation to
    the field it makes up where this kind is the link's source (`{"caused_by": "caused_by"}`:
    a complaint's cause is kept as a link, not a column): the field's rules then govern the
    link on both records' link lists and histories, and making or removing it.

    Search (`openitsm.kernel.search`): `searched` names the text fields a search looks in,
    `search_number` a field (or `id`) an exact match of which ranks first, `search_order` how
    the other hits are ordered (`"-opened_at"` for newest first; by id, newest first, when
    empty), `search_action` the action a searcher needs (the one its list asks for), and
    `list_url` a template such as `/incidents?q={q}` for "more in the list".
    """

    name: str
    model: type[Any]
    labels: Mapping[str, str] = field(default_factory=dict)
    describe: Callable[[Any], Mapping[str, Any]] = lambda row: {"title": f"#{row.id}"}
    url: str | None = None
    scope: ScopeColumns | None = None
    visibility: Callable[[Actor], ColumnElement[bool]] | None = None
    extra_fields: tuple[str, ...] = ()
    shows: tuple[str, ...] = ()
    link_rows: Mapping[str, str] = field(default_factory=dict)
    link_fields: Mapping[str, str] = field(default_factory=dict)
    searched: tuple[str, ...] = ()
    search_number: str | None = None
    search_order: tuple[str, ...] = ()
    search_action: str | None = None
    list_url: str | None = None
    # Role code -> data scope given to the predefined roles when the kind is first installed.
    default_scopes: Mapping[str, str] = field(default_factory=dict)

    @property
    def restricted(self) -> bool:
        """Whether some actors see fewer of its rows than others."""
        return self.scope is not None or self.visibility is not None

    @property
    def searchable(self) -> bool:
        return bool(self.searched or self.search_number)

    @cached_property
    def fields(self) -> frozenset[str]:
        columns = (
            attribute.key
            for attribute in inspect(self.model).column_attrs
            # each custom field is a field of its own; a derived column is no field at all
            if not attribute.columns[0].info.get("custom_fields")
            and not attribute.columns[0].info.get("derived")
        )
        return frozenset((*columns, *self.extra_fields, *self.link_fields.values())) - {"id"}

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)

    def summary(self, row: Any, hidden: frozenset[str] = frozenset()) -> RecordSummary:
        """`hidden`: the reader's hidden fields of this kind; a title built from one of them
        would show its value, so the summary falls back to the bare id."""
        if hidden and not hidden.isdisjoint(self.shows):
            return RecordSummary(ref=RecordRef(self.name, row.id), title=f"#{row.id}")
        described = dict(self.describe(row))
        return RecordSummary(
            ref=RecordRef(self.name, row.id),
            title=str(described.get("title") or f"#{row.id}"),
            status=described.get("status"),
            url=self.url.format(id=row.id) if self.url else None,
        )


class RecordKinds:
    def __init__(self, kinds: Mapping[str, RecordKind]) -> None:
        self.kinds = dict(kinds)
        self.by_model = {kind.model: kind for kind in self.kinds.values()}
        self._statements: dict[str, Select[Any]] = {}

    @classmethod
    def collect(cls, plugins: PluginSet) -> RecordKinds:
        kinds: dict[str, RecordKind] = {}
        owners: dict[str, str] = {}
        for impl in reversed(plugins.hook.register_record_kinds.get_hookimpls()):
            for kind in impl.function() or ():
                if kind.name in kinds:
                    raise ConfigurationError(
                        f"record kind '{kind.name}' is registered by both "
                        f"'{owners[kind.name]}' and '{impl.plugin_name}'"
                    )
                kinds[kind.name] = kind
                owners[kind.name] = impl.plugin_name
        return cls(kinds)

    def __contains__(self, name: str) -> bool:
        return name in self.kinds

    def get(self, name: str) -> RecordKind:
        try:
            return self.kinds[name]
        except KeyError:
            raise BadUserInput(
                f"Unknown record kind '{name}'; known kinds: {', '.join(sorted(self.kinds))}.",
                field="kind",
            ) from None

    def kind_of(self, row: Any) -> RecordKind | None:
        found = self.by_model.get(type(row))
        if found is None:
            found = next((k for k in self.kinds.values() if isinstance(row, k.model)), None)
        return found

    def fetch(
        self, session: Session, refs: Iterable[RecordRef], actor: Actor | None = None
    ) -> dict[RecordRef, Any]:
        """The rows behind references, one query per kind; unknown kinds and ids are absent.

        With `actor`, rows outside the actor's data scope are absent too, exactly as if they
        did not exist.
        """
        from openitsm.kernel.access.scope import visible

        wanted: dict[str, set[int]] = defaultdict(set)
        for ref in refs:
            if ref.kind in self.kinds:
                wanted[ref.kind].add(ref.id)
        found: dict[RecordRef, Any] = {}
        for name, ids in wanted.items():
            kind = self.kinds[name]
            statement = self._by_ids(kind)
            if actor is not None:
                statement = visible(statement, actor, kind)
            for row in session.scalars(statement, {"ids": sorted(ids)}):
                found[RecordRef(name, row.id)] = row
        return found

    def _by_ids(self, kind: RecordKind) -> Select[Any]:
        """The kind's rows with the ids bound as `ids` as it runs; built once per kind, as
        pages describe records of the same few kinds on every request."""
        statement = self._statements.get(kind.name)
        if statement is None:
            statement = select(kind.model).where(
                kind.model.id.in_(bindparam("ids", expanding=True))
            )
            self._statements[kind.name] = statement
        return statement

    def describe(
        self, session: Session, refs: Iterable[RecordRef], actor: Actor | None = None
    ) -> dict[RecordRef, RecordSummary]:
        from openitsm.kernel.access.fields import field_access

        rows = self.fetch(session, refs, actor)
        summaries: dict[RecordRef, RecordSummary] = {}
        for ref, row in rows.items():
            hidden = field_access(actor, ref.kind).hidden if actor is not None else frozenset()
            summaries[ref] = self.kinds[ref.kind].summary(row, hidden)
        return summaries

    def exists(self, session: Session, ref: RecordRef, actor: Actor | None = None) -> bool:
        """Whether `ref` exists (and, with `actor`, is in their data scope); a record the
        request already read under the actor's scope (`access.scope.records_seen`) is not
        asked for again."""
        from openitsm.kernel.access.scope import seen

        self.get(ref.kind)
        if actor is not None and seen(actor, ref):
            return True
        return ref in self.fetch(session, [ref], actor)
