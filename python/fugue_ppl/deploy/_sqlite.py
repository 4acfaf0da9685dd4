"""The SQLite store: the registry's embedded default, one file on one machine.

The file is in WAL mode (readers never wait for the writer); each thread has
its own connection (closed once the thread has ended); a write transaction
starts with ``BEGIN IMMEDIATE``, so writers in threads and processes queue
for the file's write lock (up to the timeout) instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

from fugue_ppl.checks import safe_text
from fugue_ppl.deploy._store import Dialect, SQLTransaction, pending
from fugue_ppl.errors import RegistryConflict, RegistryError, RegistryUnavailable

__all__ = ["SQLiteStore", "sqlite_path"]

_DIALECT = Dialect()


def sqlite_path(url: str) -> str:
    """The file a SQLite URL names: ``sqlite:///relative``, ``sqlite:////absolute`` or a path."""
    return url[len("sqlite:///"):] if url.lower().startswith("sqlite:///") else url


class SQLiteStore:
    """A registry store in a SQLite file (see the module's description).

    Parameters
    ----------
    url : str
        A file path, or ``sqlite:///path``.
    timeout : float
        Seconds a transaction waits for another process's write lock.

    Raises
    ------
    RegistryUnavailable
        The file cannot be opened or is not a SQLite database.
    """

    def __init__(self, url: str, timeout: float):
        self.path = sqlite_path(url)
        self.description = f"SQLite file {safe_text(os.path.abspath(self.path), 300)!r}"
        self._timeout = timeout
        self._local = threading.local()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.applied = self._migrate()

    # ------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RegistryError(f"the registry's {self.description} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._translate():
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
            try:
                self._set_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
        with self._lock:
            # (the connections of threads that ended are closed, so they do not pile up)
            ended = [t for t in self._connections if not t.is_alive()]
            stale = [self._connections.pop(t) for t in ended]
            self._connections[threading.current_thread()] = conn
        for old in stale:
            with contextlib.suppress(sqlite3.Error):
                old.close()
        self._local.conn = conn
        return conn

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a fresh file to WAL takes an exclusive lock, and SQLite
        # answers "locked" at once (without its busy wait) while another
        # process holds one: retried here up to the timeout.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as e:
            raise RegistryConflict(f"the registry's {self.description} refused a write "
                                   f"({safe_text(e, 120)})") from None
        except sqlite3.Error as e:
            raise RegistryUnavailable(
                f"the registry's {self.description} is unavailable ({safe_text(e, 120)})",
                store=self.description) from None

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[SQLTransaction]:
        conn = self._connect()
        with self._translate():
            conn.execute(begin)
            try:
                tx = SQLTransaction(conn.cursor(), _DIALECT)
                yield tx
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------ Store

    def write(self, name: str) -> contextlib.AbstractContextManager[SQLTransaction]:
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> contextlib.AbstractContextManager[SQLTransaction]:
        return self._transaction("BEGIN")

    def _migrate(self) -> tuple[int, ...]:
        applied = []
        with self._transaction("BEGIN IMMEDIATE") as tx:
            cur = tx.cursor
            cur.execute("CREATE TABLE IF NOT EXISTS fugue_schema_version (version INTEGER "
                        "PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)")
            for version, description, statements in pending(self._current(cur),
                                                             self.description):
                for sql in statements["sqlite"]:
                    cur.execute(sql)
                cur.execute("INSERT INTO fugue_schema_version VALUES (?, ?, ?)",
                            (version, description,
                             datetime.datetime.now(datetime.timezone.utc).isoformat()))
                applied.append(version)
        return tuple(applied)

    @staticmethod
    def _current(cur: sqlite3.Cursor) -> int:
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM fugue_schema_version")
        return int(cur.fetchone()[0])

    def schema_version(self) -> int:
        with self.read() as tx:
            return self._current(tx.cursor)

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Nothing to subscribe to: other processes' writes reach this one through the TTL."""

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._connections = list(self._connections.values()), {}
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
