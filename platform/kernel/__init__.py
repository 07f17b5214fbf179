"""OpenITSM's kernel and the public API for plugins.

Plugins import from here only (`from openitsm.kernel import hookimpl, Base, task`), never
from the kernel's internals, so the internals can change without breaking them.
"""

from openitsm.kernel.access import ActionSpec, require
from openitsm.kernel.actors import ANONYMOUS, SYSTEM, Actor
from openitsm.kernel.app import Kernel, current_kernel
from openitsm.kernel.audit import Audited
from openitsm.kernel.db import (
    Base,
    IdMixin,
    Timestamped,
    UTCDateTime,
    Versioned,
    check_version,
    utcnow,
)
from openitsm.kernel.db.session import after_commit, flush
from openitsm.kernel.dictionaries import DictionarySpec, ItemSpec
from openitsm.kernel.errors import (
    BadUserInput,
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    OpenITSMError,
    Unauthenticated,
)
from openitsm.kernel.graphql.connection import (
    Connection,
    PageRequest,
    SortDirection,
    SortKey,
    paginate,
)
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.graphql.nodes import ModelNode, by_id_loader, children_loader, decode_id
from openitsm.kernel.graphql.types import RecordReference, RecordReferenceInput
from openitsm.kernel.hookspecs import hookimpl, hookspec
from openitsm.kernel.migrations import MigrationBranch
from openitsm.kernel.queue import Task, crontab, periodic_task, task
from openitsm.kernel.references import RecordKind, RecordRef, RecordSummary
from openitsm.kernel.settings import PluginSettings

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "ActionSpec",
    "Actor",
    "Audited",
    "BadUserInput",
    "Base",
    "ConfigurationError",
    "Conflict",
    "Connection",
    "Context",
    "DictionarySpec",
    "Forbidden",
    "GraphQLContribution",
    "IdMixin",
    "ItemSpec",
    "Kernel",
    "MigrationBranch",
    "ModelNode",
    "NotFound",
    "OpenITSMError",
    "PageRequest",
    "PluginSettings",
    "RecordKind",
    "RecordRef",
    "RecordReference",
    "RecordReferenceInput",
    "RecordSummary",
    "SortDirection",
    "SortKey",
    "Task",
    "Timestamped",
    "UTCDateTime",
    "Unauthenticated",
    "Versioned",
    "after_commit",
    "by_id_loader",
    "check_version",
    "children_loader",
    "crontab",
    "current_kernel",
    "decode_id",
    "flush",
    "hookimpl",
    "hookspec",
    "paginate",
    "periodic_task",
    "require",
    "task",
    "utcnow",
]
