"""The registry's storage interface (:class:`Store`, :class:`Transaction`), the
versioned schema migrations, and the SQL both back-ends share.

A store opens transactions; the registry writes its logic once against them.
A write transaction holds the model's lock for its duration (SQLite: the
database's write lock, ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level
advisory lock on the model's name), and every update also names the revision
it expects (``UPDATE ... WHERE revision = ?``), so concurrent writers, in
threads or processes, never lose an update.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from fugue_ppl.errors import RegistryError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Dialect", "SQLTransaction", "Store", "Transaction",
           "pending"]

#: The columns of a version, in the order the SQL reads them.
VERSION_COLUMNS = ("name", "version", "model", "factory", "params", "params_schema",
                   "input_schema", "outputs", "status", "revision", "created", "updated")
#: The columns of a history entry, in the order the SQL reads them.
HISTORY_COLUMNS = ("id", "name", "version", "actor", "action", "at", "before", "after",
                   "revision")
#: The columns of a rollout, in the order the SQL reads them.
ROLLOUT_COLUMNS = ("id", "name", "strategy", "baseline", "candidate", "state", "active",
                   "settings", "data", "revision", "actor", "created", "updated")
#: The columns of a rollout's event, in the order the SQL reads them.
ROLLOUT_EVENT_COLUMNS = ("id", "rollout", "name", "actor", "action", "at", "state_before",
                         "state_after", "details", "revision")
_JSON_COLUMNS = {"params", "params_schema", "outputs", "before", "after", "settings", "data",
                 "details"}
_TIME_COLUMNS = {"created", "updated", "at"}
_BOOL_COLUMNS = {"factory", "active"}

#: The schema migrations: ``(version, description, {dialect: [statements]})``, applied in
#: order when a store opens; each store records those applied in ``fugue_schema_version``.
MIGRATIONS: tuple[tuple[int, str, dict[str, tuple[str, ...]]], ...] = (
    (1, "model versions and their history", {
        "sqlite": (
            """CREATE TABLE fugue_model_versions (
                name TEXT NOT NULL, version TEXT NOT NULL, model TEXT NOT NULL,
                factory INTEGER NOT NULL, params TEXT NOT NULL, params_schema TEXT,
                input_schema TEXT, outputs TEXT NOT NULL, status TEXT NOT NULL,
                revision INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
                PRIMARY KEY (name, version))""",
            """CREATE TABLE fugue_model_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                version TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                at TEXT NOT NULL, before TEXT, after TEXT, revision INTEGER)""",
            "CREATE INDEX fugue_model_history_name ON fugue_model_history (name, id)",
        ),
        "postgresql": (
            """CREATE TABLE fugue_model_versions (
                name TEXT NOT NULL, version TEXT NOT NULL, model TEXT NOT NULL,
                factory BOOLEAN NOT NULL, params JSONB NOT NULL, params_schema JSONB,
                input_schema TEXT, outputs JSONB NOT NULL, status TEXT NOT NULL,
                revision INTEGER NOT NULL, created TIMESTAMPTZ NOT NULL,
                updated TIMESTAMPTZ NOT NULL, PRIMARY KEY (name, version))""",
            """CREATE TABLE fugue_model_history (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL,
                version TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                at TIMESTAMPTZ NOT NULL, before JSONB, after JSONB, revision INTEGER)""",
            "CREATE INDEX fugue_model_history_name ON fugue_model_history (name, id)",
        ),
    }),
    (2, "one live version per model; the history is append-only", {
        "sqlite": (
            """CREATE UNIQUE INDEX fugue_model_versions_one_live
                ON fugue_model_versions (name) WHERE status = 'live'""",
            """CREATE TRIGGER fugue_model_history_no_update BEFORE UPDATE
                ON fugue_model_history
                BEGIN SELECT RAISE(ABORT, 'fugue_model_history is append-only'); END""",
            """CREATE TRIGGER fugue_model_history_no_delete BEFORE DELETE
                ON fugue_model_history
                BEGIN SELECT RAISE(ABORT, 'fugue_model_history is append-only'); END""",
        ),
        "postgresql": (
            """CREATE UNIQUE INDEX fugue_model_versions_one_live
                ON fugue_model_versions (name) WHERE status = 'live'""",
            """CREATE FUNCTION fugue_model_history_append_only() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'fugue_model_history is append-only'; END $$""",
            """CREATE TRIGGER fugue_model_history_append_only
                BEFORE UPDATE OR DELETE ON fugue_model_history
                FOR EACH ROW EXECUTE FUNCTION fugue_model_history_append_only()""",
        ),
    }),
    (3, "rollouts and their events", {
        "sqlite": (
            """CREATE TABLE fugue_rollouts (
                id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                strategy TEXT NOT NULL, baseline TEXT, candidate TEXT NOT NULL,
                state TEXT NOT NULL, active INTEGER NOT NULL, settings TEXT NOT NULL,
                data TEXT NOT NULL, revision INTEGER NOT NULL, actor TEXT NOT NULL,
                created TEXT NOT NULL, updated TEXT NOT NULL)""",
            """CREATE UNIQUE INDEX fugue_rollouts_one_active ON fugue_rollouts (name)
                WHERE active = 1""",
            """CREATE TABLE fugue_rollout_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, rollout INTEGER NOT NULL,
                name TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                at TEXT NOT NULL, state_before TEXT, state_after TEXT NOT NULL,
                details TEXT NOT NULL, revision INTEGER NOT NULL)""",
            "CREATE INDEX fugue_rollout_events_rollout ON fugue_rollout_events (rollout, id)",
            """CREATE TRIGGER fugue_rollout_events_no_update BEFORE UPDATE
                ON fugue_rollout_events
                BEGIN SELECT RAISE(ABORT, 'fugue_rollout_events is append-only'); END""",
            """CREATE TRIGGER fugue_rollout_events_no_delete BEFORE DELETE
                ON fugue_rollout_events
                BEGIN SELECT RAISE(ABORT, 'fugue_rollout_events is append-only'); END""",
        ),
        "postgresql": (
            """CREATE TABLE fugue_rollouts (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL,
                strategy TEXT NOT NULL, baseline TEXT, candidate TEXT NOT NULL,
                state TEXT NOT NULL, active BOOLEAN NOT NULL, settings JSONB NOT NULL,
                data JSONB NOT NULL, revision INTEGER NOT NULL, actor TEXT NOT NULL,
                created TIMESTAMPTZ NOT NULL, updated TIMESTAMPTZ NOT NULL)""",
            """CREATE UNIQUE INDEX fugue_rollouts_one_active ON fugue_rollouts (name)
                WHERE active""",
            """CREATE TABLE fugue_rollout_events (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, rollout BIGINT NOT NULL,
                name TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                at TIMESTAMPTZ NOT NULL, state_before TEXT, state_after TEXT NOT NULL,
                details JSONB NOT NULL, revision INTEGER NOT NULL)""",
            "CREATE INDEX fugue_rollout_events_rollout ON fugue_rollout_events (rollout, id)",
            """CREATE TRIGGER fugue_rollout_events_append_only
                BEFORE UPDATE OR DELETE ON fugue_rollout_events
                FOR EACH ROW EXECUTE FUNCTION fugue_model_history_append_only()""",
        ),
    }),
)

#: The newest schema version this code knows.
SCHEMA_VERSION = MIGRATIONS[-1][0]


class Transaction(Protocol):
    """One transaction of a store: the reads and writes the registry needs."""

    def get(self, name: str, version: str) -> dict | None:
        """The version's row (a dict by :data:`VERSION_COLUMNS`), or None."""

    def list(self, name: str | None = None, status: str | None = None) -> list[dict]:
        """The rows of one model (or all), optionally of one status, by name and creation."""

    def insert(self, row: dict) -> None:
        """Add a version (the caller checked it is new)."""

    def update(self, name: str, version: str, expected_revision: int, changes: dict,
               updated: datetime.datetime) -> int | None:
        """Apply ``changes`` if the row is at ``expected_revision``: the new revision, or
        None when the row is missing or at another revision (nothing written)."""

    def append(self, entry: dict) -> None:
        """Add a history entry (a dict by :data:`HISTORY_COLUMNS`, without ``id``)."""

    def history(self, name: str, version: str | None = None) -> list[dict]:
        """The model's history entries, oldest first."""

    def rollout_get(self, rollout_id: int) -> dict | None:
        """The rollout's row (a dict by :data:`ROLLOUT_COLUMNS`), or None."""

    def rollout_list(self, name: str | None = None, active: bool | None = None) -> list[dict]:
        """Rollouts (of one model, active or not), oldest first."""

    def rollout_insert(self, row: dict) -> int:
        """Add a rollout (a dict by :data:`ROLLOUT_COLUMNS` without ``id``): its id."""

    def rollout_update(self, rollout_id: int, expected_revision: int, changes: dict,
                       updated: datetime.datetime) -> int | None:
        """As :meth:`update`, for a rollout."""

    def rollout_append(self, entry: dict) -> None:
        """Add a rollout event (a dict by :data:`ROLLOUT_EVENT_COLUMNS` without ``id``)."""

    def rollout_events(self, rollout_id: int) -> list[dict]:
        """The rollout's events, oldest first."""


class Store(Protocol):
    """Where the registry keeps its versions and history.

    Attributes
    ----------
    description : str
        What and where the store is, for messages (never a password).
    applied : tuple of int
        The migrations this object applied when it opened the store.
    """

    description: str
    applied: tuple[int, ...]

    def write(self, name: str) -> contextlib.AbstractContextManager[Transaction]:
        """A write transaction holding ``name``'s lock; committed when the block ends."""

    def read(self) -> contextlib.AbstractContextManager[Transaction]:
        """A read transaction (one consistent view)."""

    def schema_version(self) -> int:
        """The newest migration applied to the store."""

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(name, version)`` when another process changes a version
        (a no-op where the store cannot tell)."""

    def close(self) -> None:
        """Release connections (idempotent)."""


class Dialect:
    """How one SQL dialect writes parameters and reads values back.

    The shared SQL is written with ``?`` placeholders; ``placeholder``
    replaces them.
    """

    name = "sqlite"
    placeholder = "?"

    def json_in(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, allow_nan=False,
                                                     separators=(",", ":"))

    def json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def time_in(self, value: datetime.datetime) -> Any:
        return value.isoformat()

    def time_out(self, value: Any) -> datetime.datetime:
        if isinstance(value, str):
            value = datetime.datetime.fromisoformat(value)
        return value.astimezone(datetime.timezone.utc)

    def bool_in(self, value: bool) -> Any:
        return int(value)


class SQLTransaction:
    """:class:`Transaction` over a DB-API cursor, in ``dialect``'s SQL.

    ``touched`` collects the ``(name, version)`` of every write (for
    invalidations).
    """

    def __init__(self, cursor: Any, dialect: Dialect):
        self.cursor = cursor
        self.dialect = dialect
        self.touched: list[tuple[str, str]] = []

    def _execute(self, sql: str, params: tuple = ()) -> Any:
        if self.dialect.placeholder != "?":
            sql = sql.replace("?", self.dialect.placeholder)
        self.cursor.execute(sql, params)
        return self.cursor

    def _row(self, columns: tuple[str, ...], values: tuple) -> dict:
        d = self.dialect
        row = {}
        for col, v in zip(columns, values, strict=True):
            if col in _JSON_COLUMNS:
                v = d.json_out(v)
            elif col in _TIME_COLUMNS:
                v = d.time_out(v)
            elif col in _BOOL_COLUMNS:
                v = bool(v)
            row[col] = v
        return row

    def _values(self, row: dict, columns: tuple[str, ...]) -> tuple:
        d = self.dialect
        out = []
        for col in columns:
            v = row[col]
            if col in _JSON_COLUMNS:
                v = d.json_in(v)
            elif col in _TIME_COLUMNS:
                v = d.time_in(v)
            elif col in _BOOL_COLUMNS:
                v = d.bool_in(v)
            out.append(v)
        return tuple(out)

    def get(self, name: str, version: str) -> dict | None:
        cur = self._execute(f"SELECT {', '.join(VERSION_COLUMNS)} FROM fugue_model_versions "
                            "WHERE name = ? AND version = ?", (name, version))
        found = cur.fetchone()
        return None if found is None else self._row(VERSION_COLUMNS, found)

    def list(self, name: str | None = None, status: str | None = None) -> list[dict]:
        where, params = [], []
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        cur = self._execute(f"SELECT {', '.join(VERSION_COLUMNS)} FROM fugue_model_versions"
                            f"{clause} ORDER BY name, created, version", tuple(params))
        return [self._row(VERSION_COLUMNS, r) for r in cur.fetchall()]

    def insert(self, row: dict) -> None:
        marks = ", ".join("?" for _ in VERSION_COLUMNS)
        self._execute(f"INSERT INTO fugue_model_versions ({', '.join(VERSION_COLUMNS)}) "
                      f"VALUES ({marks})", self._values(row, VERSION_COLUMNS))
        self.touched.append((row["name"], row["version"]))

    def update(self, name: str, version: str, expected_revision: int, changes: dict,
               updated: datetime.datetime) -> int | None:
        cols = tuple(changes)
        sets = ", ".join(f"{c} = ?" for c in cols)
        cur = self._execute(
            f"UPDATE fugue_model_versions SET {sets}, revision = revision + 1, updated = ? "
            "WHERE name = ? AND version = ? AND revision = ?",
            (*self._values(changes, cols), self.dialect.time_in(updated), name, version,
             expected_revision))
        if cur.rowcount != 1:
            return None
        self.touched.append((name, version))
        return expected_revision + 1

    def append(self, entry: dict) -> None:
        cols = HISTORY_COLUMNS[1:]
        marks = ", ".join("?" for _ in cols)
        self._execute(f"INSERT INTO fugue_model_history ({', '.join(cols)}) VALUES ({marks})",
                      self._values(entry, cols))

    def history(self, name: str, version: str | None = None) -> list[dict]:
        sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM fugue_model_history WHERE name = ?"
        params: tuple = (name,)
        if version is not None:
            sql += " AND version = ?"
            params = (name, version)
        cur = self._execute(sql + " ORDER BY id", params)
        return [self._row(HISTORY_COLUMNS, r) for r in cur.fetchall()]

    # ---------------------------------------------------------------- rollouts

    def rollout_get(self, rollout_id: int) -> dict | None:
        cur = self._execute(f"SELECT {', '.join(ROLLOUT_COLUMNS)} FROM fugue_rollouts "
                            "WHERE id = ?", (rollout_id,))
        found = cur.fetchone()
        return None if found is None else self._row(ROLLOUT_COLUMNS, found)

    def rollout_list(self, name: str | None = None, active: bool | None = None) -> list[dict]:
        where, params = [], []
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if active is not None:
            where.append("active = ?")
            params.append(self.dialect.bool_in(active))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        cur = self._execute(f"SELECT {', '.join(ROLLOUT_COLUMNS)} FROM fugue_rollouts"
                            f"{clause} ORDER BY id", tuple(params))
        return [self._row(ROLLOUT_COLUMNS, r) for r in cur.fetchall()]

    def rollout_insert(self, row: dict) -> int:
        cols = ROLLOUT_COLUMNS[1:]
        marks = ", ".join("?" for _ in cols)
        cur = self._execute(f"INSERT INTO fugue_rollouts ({', '.join(cols)}) VALUES ({marks}) "
                            "RETURNING id", self._values(row, cols))
        return int(cur.fetchone()[0])

    def rollout_update(self, rollout_id: int, expected_revision: int, changes: dict,
                       updated: datetime.datetime) -> int | None:
        cols = tuple(changes)
        sets = "".join(f"{c} = ?, " for c in cols)
        cur = self._execute(
            f"UPDATE fugue_rollouts SET {sets}revision = revision + 1, updated = ? "
            "WHERE id = ? AND revision = ?",
            (*self._values(changes, cols), self.dialect.time_in(updated), rollout_id,
             expected_revision))
        return expected_revision + 1 if cur.rowcount == 1 else None

    def rollout_append(self, entry: dict) -> None:
        cols = ROLLOUT_EVENT_COLUMNS[1:]
        marks = ", ".join("?" for _ in cols)
        self._execute(f"INSERT INTO fugue_rollout_events ({', '.join(cols)}) "
                      f"VALUES ({marks})", self._values(entry, cols))

    def rollout_events(self, rollout_id: int) -> list[dict]:
        cur = self._execute(f"SELECT {', '.join(ROLLOUT_EVENT_COLUMNS)} FROM "
                            "fugue_rollout_events WHERE rollout = ? ORDER BY id",
                            (rollout_id,))
        return [self._row(ROLLOUT_EVENT_COLUMNS, r) for r in cur.fetchall()]


def pending(current: int, description: str) -> Iterator[tuple[int, str, dict]]:
    """The migrations newer than ``current``; a store newer than this code is refused.

    Raises
    ------
    RegistryError
        The store's schema is newer than :data:`SCHEMA_VERSION`.
    """
    if current > SCHEMA_VERSION:
        raise RegistryError(f"the registry in {description} has schema version {current}, "
                            f"newer than this fugue-ppl knows ({SCHEMA_VERSION}): upgrade "
                            "fugue-ppl")
    return iter([m for m in MIGRATIONS if m[0] > current])
