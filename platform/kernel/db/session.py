"""The unit of work: one session and one transaction per request or task."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from openitsm.kernel.errors import Conflict, _t

if TYPE_CHECKING:
    from openitsm.kernel.actors import Actor

AfterCommit = Callable[[], None]


class UnitOfWork:
    """Hands out sessions that commit when the block ends and roll back on any error.

    Work registered with `after_commit(session, fn)` runs only once the data is durable,
    so notifications and queue tasks never announce something that was rolled back.
    """

    def __init__(self, engine: Engine, info: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.factory = sessionmaker(engine, expire_on_commit=False)
        self.info = info or {}

    def open(self, actor: Actor | None = None, request_id: str | None = None) -> Session:
        session = self.factory()
        session.info.update(self.info)
        session.info["actor"] = actor
        session.info["request_id"] = request_id
        session.info["after_commit"] = []
        return session

    def close(self, session: Session, *, succeeded: bool) -> None:
        """Commit (or roll back), close, then run the after-commit work of a commit."""
        try:
            if succeeded and not session.info.get("rollback_only"):
                commit(session)
            else:
                session.rollback()
                session.info["after_commit"] = []
        except BaseException:
            session.rollback()
            session.close()
            raise
        session.close()
        for callback in session.info["after_commit"]:
            callback()

    @contextlib.contextmanager
    def __call__(
        self, actor: Actor | None = None, *, request_id: str | None = None
    ) -> Iterator[Session]:
        session = self.open(actor, request_id)
        try:
            yield session
        except BaseException:
            session.rollback()
            session.close()
            raise
        self.close(session, succeeded=True)


class LazyUnitOfWork:
    """A unit of work whose session opens on first use: a request that needs nothing from
    the database (or only reads that already happened) costs no transaction."""

    def __init__(self, unit: UnitOfWork, actor: Actor | None, request_id: str | None) -> None:
        self.unit = unit
        self.actor = actor
        self.request_id = request_id
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.unit.open(self.actor, self.request_id)
        return self._session

    def close(self, *, succeeded: bool) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            self.unit.close(session, succeeded=succeeded)


STALE_MESSAGE = _t(
    "This record was changed by someone else while you were editing it. "
    "Reload it and apply your change again."
)
# SQLite in WAL mode cannot turn a read snapshot that another writer has since overtaken
# into a write; the transaction must start again, which is what a conflict asks for.
BUSY_MESSAGE = _t("Someone else saved a change at the same moment. Try again.")


def _is_sqlite_busy(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)


def commit(session: Session) -> None:
    """Commit, turning a lost optimistic-locking race into a CONFLICT error."""
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(STALE_MESSAGE) from exc
    except OperationalError as exc:
        session.rollback()
        if _is_sqlite_busy(exc):
            raise Conflict(BUSY_MESSAGE) from exc
        raise


def flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(STALE_MESSAGE) from exc
    except OperationalError as exc:
        if _is_sqlite_busy(exc):
            raise Conflict(BUSY_MESSAGE) from exc
        raise


def begin_write(session: Session) -> None:
    """Hold SQLite's write lock from the first statement of this unit of work, so that what
    it reads next cannot change before it writes (BEGIN IMMEDIATE; others wait their turn).

    PostgreSQL needs nothing here: its callers lock the rows they decide on (FOR UPDATE).
    When the transaction has already read, a write takes the lock at once, and a snapshot
    another writer has overtaken is a CONFLICT to try again.
    """
    if session.get_bind().dialect.name != "sqlite" or session.info.get("write_begun"):
        return
    from openitsm.kernel.db.engine import IMMEDIATE

    session.info["write_begun"] = True  # until the transaction ends (_forget_write_lock)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        connection = session.connection(execution_options={IMMEDIATE: True})
    if not caught:
        return  # a new connection: it began with BEGIN IMMEDIATE
    try:
        # Any write statement takes the lock, even one that changes no row.
        connection.exec_driver_sql("UPDATE grants_version SET value = value WHERE 0")
    except OperationalError as exc:
        if _is_sqlite_busy(exc):
            raise Conflict(BUSY_MESSAGE) from exc
        raise


@event.listens_for(Session, "after_transaction_end")
def _forget_write_lock(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop("write_begun", None)


def after_commit(session: Session, callback: AfterCommit) -> None:
    session.info.setdefault("after_commit", []).append(callback)


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def selects(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT")]


@contextlib.contextmanager
def count_statements(engine: Engine) -> Iterator[StatementLog]:
    """Record every SQL statement sent on `engine` inside the block (tests pin N+1 with it)."""
    log = StatementLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.strip().upper() not in (
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
        ) and not statement.startswith("PRAGMA"):
            log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", record)
