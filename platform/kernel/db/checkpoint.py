"""Copy SQLite's write-ahead log back into the database from a thread of its own.

SQLite checkpoints inside whichever commit pushes the log past 1,000 pages, and that request
then waits while the pages are copied and synced. At a million incidents a registration
writes about 50 pages, so every twentieth one paid for the others. A server process (web or
queue worker) runs a `WalCheckpointer` instead: its connections only checkpoint themselves
past a backstop, and the thread runs PASSIVE checkpoints, which never wait for readers or
writers, a few times a second. With the sqlite3 module releasing the GIL while SQLite
works, the copying runs beside the requests rather than inside one.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, event

from openitsm.kernel.db.engine import is_sqlite

log = logging.getLogger("openitsm.db")

# Pages (4 KiB) the log may reach before a commit checkpoints it anyway: the thread stopped
# or fell behind. ~40 MB, a few seconds of registrations at full speed.
BACKSTOP_PAGES = 10_000
INTERVAL_SECONDS = 0.25


class WalCheckpointer:
    """Checkpoints `engine`'s database every `interval` seconds until `stop()`."""

    def __init__(self, engine: Engine, interval: float = INTERVAL_SECONDS) -> None:
        self.engine = engine
        self.interval = interval
        self.checkpoints = 0
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def applies_to(engine: Engine) -> bool:
        database = engine.url.database
        return is_sqlite(engine) and bool(database) and database != ":memory:"

    def _backstop(self, dbapi_connection: Any, _record: Any) -> None:
        # A method, so two checkpointers on one engine (two apps of one kernel) each add
        # and remove a listener of their own.
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

    def start(self) -> WalCheckpointer:
        if self._thread is not None or not self.applies_to(self.engine):
            return self
        self._stopped.clear()  # started again after a stop
        event.listen(self.engine, "connect", self._backstop)
        # Pooled connections opened before now still checkpoint at 1,000 pages.
        self.engine.dispose()
        # Its own connection, opened here rather than in the thread: opening runs the
        # engine's connect listeners, which another checkpointer may be changing meanwhile.
        connection = self.engine.raw_connection()
        self._thread = threading.Thread(
            target=self._run, args=(connection,), name="openitsm-wal-checkpoint", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopped.set()
        self._thread.join()
        self._thread = None
        event.remove(self.engine, "connect", self._backstop)

    def _run(self, connection: Any) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except Exception:  # a locked or vanished file: try again next time
                    log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            connection.close()
