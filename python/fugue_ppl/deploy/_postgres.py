"""The PostgreSQL store: one registry shared by several replicas (the
``postgres`` extra: psycopg 3 and its connection pool).

Connections come from a ``psycopg_pool.ConnectionPool`` (checked before
use, so a restarted server is reconnected to). Migrations run under an
advisory lock, so replicas starting together migrate once. A write
transaction holds a transaction-level advisory lock on the model's name and
announces the versions it changed with ``NOTIFY``; a listener thread turns
other processes' announcements into cache invalidations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.checks import safe_text
from fugue_ppl.deploy._store import Dialect, SQLTransaction, pending
from fugue_ppl.errors import RegistryConflict, RegistryError, RegistryUnavailable

__all__ = ["PostgresStore", "describe_url"]

_log = logging.getLogger("fugue_ppl.deploy")

#: The advisory lock key of the migrations (one 64-bit key: "fugue_ppl" as a number).
MIGRATION_LOCK = 0x66756775655F7070
#: The first key of the models' advisory locks (the two-key space never meets the one-key).
MODEL_LOCK_CLASS = 0x66756775
#: The NOTIFY channel of version changes.
CHANNEL = "fugue_registry"
_FEATURE = "the PostgreSQL registry"


class _PgDialect(Dialect):
    name = "postgresql"
    placeholder = "%s"

    def __init__(self, jsonb: type):
        self._jsonb = jsonb

    def json_in(self, value: Any) -> Any:
        return None if value is None else self._jsonb(value)

    def time_in(self, value: Any) -> Any:
        return value

    def bool_in(self, value: bool) -> Any:
        return bool(value)


def describe_url(url: str) -> tuple[str, str | None]:
    """``(description, password)`` of a PostgreSQL URL: the description names the
    database, host and port, never the password (returned apart, to redact it).

    Raises
    ------
    RegistryError
        The URL does not parse (the message does not show it).
    """
    conninfo = require("postgres", "psycopg.conninfo", feature=_FEATURE)
    try:
        parts = conninfo.conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - the driver's message quotes the URL
        raise RegistryError("the registry's url is not a valid PostgreSQL URL (not shown: it "
                            "may hold a password)") from None
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    where = host if str(host).startswith("/") else f"{host}:{port}"
    db = parts.get("dbname") or parts.get("user") or "postgres"
    return (f"PostgreSQL database {safe_text(db, 80)!r} on {safe_text(where, 200)}",
            parts.get("password") or None)


class PostgresStore:
    """A registry store in a PostgreSQL database (see the module's description).

    Parameters
    ----------
    url : str
        A ``postgresql://`` URL.
    timeout : float
        Seconds to wait for a connection before the store counts as unavailable.
    min_size, max_size : int
        The connection pool's bounds.
    notify : bool
        Announce changes and listen to other processes' announcements.

    Raises
    ------
    RegistryUnavailable
        The server cannot be reached within the timeout.
    ModuleNotFoundError
        The ``postgres`` extra is not installed (the message names it).
    """

    def __init__(self, url: str, timeout: float, min_size: int, max_size: int,
                 notify: bool):
        self._psycopg = require("postgres", "psycopg", feature=_FEATURE)
        pool_module = require("postgres", "psycopg_pool", feature=_FEATURE)
        jsonb = require("postgres", "psycopg.types.json", feature=_FEATURE).Jsonb
        self._dialect = _PgDialect(jsonb)
        self.description, self._password = describe_url(url)
        self._url = url
        self._timeout = timeout
        self._notify = notify
        self._token = uuid.uuid4().hex
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._errors = (self._psycopg.OperationalError, self._psycopg.InterfaceError,
                        pool_module.PoolTimeout, pool_module.PoolClosed)
        self._pool = pool_module.ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, timeout=timeout,
            name="fugue-registry", check=pool_module.ConnectionPool.check_connection,
            # give up reconnecting after the timeout: the next request then connects at
            # once, so a server that comes back is used again within about a timeout
            reconnect_timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, math.ceil(timeout)),
                    "application_name": "fugue-ppl registry"})
        try:
            with self._translate():
                self._pool.open(wait=min_size > 0, timeout=timeout)
            self.applied = self._migrate()
        except BaseException:
            self._pool.close(timeout=0)
            raise

    # ------------------------------------------------------------ errors

    def _redact(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "***")
        return text.replace(self._url, "***")

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except self._errors as e:
            raise RegistryUnavailable(
                f"the registry's {self.description} is unavailable "
                f"({safe_text(self._redact(str(e).strip() or type(e).__name__), 160)})",
                store=self.description) from None
        except self._psycopg.errors.IntegrityError as e:
            raise RegistryConflict(f"the registry's {self.description} refused a write "
                                   f"({safe_text(self._redact(str(e)), 120)})") from None

    # ------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def _transaction(self, lock: str | None) -> Iterator[SQLTransaction]:
        with self._translate(), self._pool.connection(timeout=self._timeout) as conn, \
                conn.transaction(), conn.cursor() as cur:
            if lock is not None:
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                            (MODEL_LOCK_CLASS, lock))
            tx = SQLTransaction(cur, self._dialect)
            yield tx
            if self._notify:
                for name, version in dict.fromkeys(tx.touched):
                    cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(
                        {"model": name, "version": version, "by": self._token})))

    def write(self, name: str) -> contextlib.AbstractContextManager[SQLTransaction]:
        return self._transaction(name)

    def read(self) -> contextlib.AbstractContextManager[SQLTransaction]:
        return self._transaction(None)

    def _migrate(self) -> tuple[int, ...]:
        applied = []
        with self._transaction(None) as tx:
            cur = tx.cursor
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS fugue_schema_version (version INTEGER "
                        "PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ "
                        "NOT NULL DEFAULT now())")
            for version, description, statements in pending(self._current(cur),
                                                             self.description):
                for sql in statements["postgresql"]:
                    cur.execute(sql)
                cur.execute("INSERT INTO fugue_schema_version (version, description) "
                            "VALUES (%s, %s)", (version, description))
                applied.append(version)
        if applied:
            _log.info("registry %s: applied schema migrations %s", self.description, applied)
        return tuple(applied)

    @staticmethod
    def _current(cur: Any) -> int:
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM fugue_schema_version")
        return int(cur.fetchone()[0])

    def schema_version(self) -> int:
        with self.read() as tx:
            return self._current(tx.cursor)

    # ------------------------------------------------------------ invalidations

    def subscribe(self, callback: Callable[[str | None, str | None], None]) -> None:
        """Call ``callback(name, version)`` for each version another process changes, and
        ``callback(None, None)`` after the listener (re)connects (changes may have been
        missed while it was away)."""
        if not self._notify or self._listener is not None:
            return
        self._listener = threading.Thread(target=self._listen, args=(callback,),
                                          name="fugue-registry-listener", daemon=True)
        self._listener.start()

    def _listen(self, callback: Callable[[str | None, str | None], None]) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with self._psycopg.connect(self._url, autocommit=True,
                                           connect_timeout=max(1, math.ceil(self._timeout))
                                           ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    callback(None, None)
                    backoff = 0.1
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.2):
                            self._deliver(note.payload, callback)
            except self._psycopg.Error:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _deliver(self, payload: str, callback: Callable[[str, str], None]) -> None:
        try:
            note = json.loads(payload)
            if note.get("by") != self._token:
                callback(str(note["model"]), str(note["version"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            _log.warning("registry %s: ignored a malformed notification", self.description)

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5.0)
        self._pool.close(timeout=1.0)
