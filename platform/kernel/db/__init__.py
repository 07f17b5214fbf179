"""Storage: one metadata for every plugin's tables, engines, and the unit of work."""

from openitsm.kernel.db.base import (
    NAMING_CONVENTION,
    Base,
    IdMixin,
    Timestamped,
    UTCDateTime,
    Versioned,
    check_version,
    utcnow,
)
from openitsm.kernel.db.engine import create_engine_for, is_postgresql, is_sqlite
from openitsm.kernel.db.session import UnitOfWork, count_statements

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "IdMixin",
    "Timestamped",
    "UTCDateTime",
    "UnitOfWork",
    "Versioned",
    "check_version",
    "count_statements",
    "create_engine_for",
    "is_postgresql",
    "is_sqlite",
    "utcnow",
]
