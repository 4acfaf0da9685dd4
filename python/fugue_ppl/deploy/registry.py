"""The model registry and parameter store: model versions, their parameters,
their status, and the history of every change.

A version names its model by import path (``package.module:function``), so
every process can load it, but only from the configured module prefixes, so
registering cannot run arbitrary code. Its parameters are a JSON document
checked against the JSON Schema the version declares. Every write names the
revision it expects (optimistic concurrency) and the actor who makes it, and
appends to the model's history in the same transaction. Reads go through a
bounded LRU cache with a TTL (see :class:`~fugue_ppl.deploy._cache.ParamCache`).

The store is SQLite by default (a file) or PostgreSQL (a URL) shared by
replicas; see :class:`~fugue_ppl.deploy.RegistryConfig`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.checks import (
    check_choice,
    check_flag,
    check_int,
    check_text,
    check_type,
    freeze,
    invalid,
    is_secret_name,
    safe_repr,
    safe_text,
    thaw,
    type_error,
)
from fugue_ppl.deploy._cache import ParamCache
from fugue_ppl.deploy._registry_config import RegistryConfig, store_kind
from fugue_ppl.deploy.rollouts import TERMINAL_STATES, Rollout, RolloutEvent, plain_record
from fugue_ppl.errors import (
    InvalidModelParams,
    ModelImportError,
    RegistryConflict,
    RegistryUnavailable,
    UnknownModel,
    UnknownRollout,
    UnknownVersion,
)
from fugue_ppl.serving._import_path import resolve_import_path, split_import_path
from fugue_ppl.serving._runner_config import ModelConfig
from fugue_ppl.validation.violations import Violation

__all__ = ["HistoryEntry", "ModelRegistry", "ModelVersion", "OUTPUT_TYPES", "STATUSES"]

_log = logging.getLogger("fugue_ppl.deploy")

#: The statuses of a version: ``staged`` (registered, serving nothing), ``live`` (at most
#: one per model), ``canary``, ``shadow``, ``standby`` (the previous blue-green colour) and
#: ``retired``.
STATUSES = ("staged", "live", "canary", "shadow", "standby", "retired")
#: The types a version's outputs may declare.
OUTPUT_TYPES = ("float", "int", "bool", "str")
#: Largest parameters document, in bytes of JSON.
MAX_PARAMS_BYTES = 1_000_000

_LISTED = 10


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model (read-only; the registry changes it).

    Attributes
    ----------
    name, version : str
        The model and the version.
    model : str
        Import path of the model function, or of its factory
        (``package.module:function``).
    factory : bool
        ``model`` names ``make(params) -> model``, called with the parameters.
    params : Mapping
        The parameters, a JSON document (read-only; ``thaw`` gives a dict).
    params_schema : Mapping or None
        The JSON Schema the parameters are checked against.
    input_schema : str or None
        Import path of the input schema (a ``fugue_ppl.validation.Schema``).
    outputs : tuple of Mapping
        The outputs' ``name`` and ``type`` (one of :data:`OUTPUT_TYPES`).
    status : str
        One of :data:`STATUSES`.
    revision : int
        Increases by one with each change; writes name the revision they expect.
    created, updated : datetime.datetime
        When it was registered and last changed (UTC).
    """

    name: str
    version: str
    model: str
    factory: bool
    params: Mapping[str, Any]
    params_schema: Mapping[str, Any] | None
    input_schema: str | None
    outputs: tuple[Mapping[str, str], ...]
    status: str
    revision: int
    created: datetime.datetime
    updated: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        """The version as plain JSON values (times in ISO 8601)."""
        return plain_record(self)

    @classmethod
    def _from_row(cls, row: dict) -> ModelVersion:
        return cls(**{**row, "params": freeze(row["params"]),
                      "params_schema": freeze(row["params_schema"]),
                      "outputs": freeze(row["outputs"])})


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a model, as the append-only history records it.

    Attributes
    ----------
    id : int
        Increasing in the order of the changes of a model.
    model, version : str
        The version changed.
    actor : str
        Who made the change.
    action : str
        ``register``, ``set_status``, ``promote``, ``standby`` (moved aside by the
        promotion of another version), ``update_params``, ``rollback`` (a standby
        version live again) or ``retire`` (the live version it replaced).
    at : datetime.datetime
        When (UTC).
    before, after : Mapping or None
        The fields changed, before and after (``before`` is None for ``register``,
        whose ``after`` is the whole version).
    revision : int
        The version's revision after the change.
    """

    id: int
    model: str
    version: str
    actor: str
    action: str
    at: datetime.datetime
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    revision: int


def _open_store(cfg: RegistryConfig):
    url = cfg.store_url
    if store_kind(url) == "postgresql":
        from fugue_ppl.deploy._postgres import PostgresStore

        return PostgresStore(url, cfg.timeout_seconds, cfg.pool_min_size, cfg.pool_max_size,
                             cfg.notify)
    from fugue_ppl.deploy._sqlite import SQLiteStore

    return SQLiteStore(url, cfg.timeout_seconds)


class ModelRegistry:
    """The registry of model versions and their parameters.

    Opening it opens the store and applies any pending schema migration.
    Thread-safe; one per process is enough (close it, or use it as a
    context manager).

    Parameters
    ----------
    config : RegistryConfig, optional
        The settings (``[registry]`` of the configuration).
    **settings
        Settings overriding ``config``'s, e.g. ``url="models.sqlite3"``.

    Raises
    ------
    RegistryUnavailable
        The store cannot be reached.
    TypeError, InvalidArgument
        A bad setting.
    ModuleNotFoundError
        The ``deploy`` extra (or, for PostgreSQL, the ``postgres`` extra) is
        not installed; the message names it.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "models.sqlite3")
    >>> with ModelRegistry(url=path) as reg:
    ...     v = reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci")
    ...     v = reg.promote("sensor", "1", expected_revision=v.revision, actor="ci")
    ...     (v.status, v.revision), [e.action for e in reg.history("sensor")]
    (('live', 2), ['register', 'promote'])
    """

    def __init__(self, config: RegistryConfig | None = None, **settings: Any):
        cfg = RegistryConfig() if config is None else check_type(
            config, "config", "ModelRegistry", RegistryConfig, "a RegistryConfig")
        if settings:
            cfg = cfg.replace(**settings)
        self.config = cfg
        self._cache = ParamCache(cfg.cache_size, cfg.cache_ttl_seconds)
        # params() is the compiled cached read itself (one C call on a hit); a miss reads
        # through get()
        self._cache.on_params_miss(self._params_miss)
        self.params = self._cache.params
        self._store = _open_store(cfg)
        self._store.subscribe(self._invalidate)

    # ------------------------------------------------------------ plumbing

    @property
    def store(self) -> str:
        """What and where the store is (never a password)."""
        return self._store.description

    @property
    def applied_migrations(self) -> tuple[int, ...]:
        """The schema migrations this object applied on opening (empty when up to date)."""
        return self._store.applied

    def schema_version(self) -> int:
        """The store's schema version (the newest migration applied)."""
        return self._store.schema_version()

    @property
    def cache_stats(self) -> dict[str, int]:
        """The parameter cache's ``hits``, ``misses`` and fresh ``size``."""
        return {"hits": self._cache.hits, "misses": self._cache.misses,
                "size": len(self._cache)}

    def _invalidate(self, name: str | None, version: str | None) -> None:
        self._cache.invalidate(None if name is None else (name, version))

    def close(self) -> None:
        """Close the store's connections (idempotent)."""
        self._store.close()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ModelRegistry(store={self.store!r})"

    # ------------------------------------------------------------ reads

    def get(self, name: str, version: str, *, cached: bool = True) -> ModelVersion:
        """The version ``version`` of ``name``.

        Served from the cache while fresh (``cached=False`` asks the store).
        When the store is unavailable, the last version read is served,
        however old, and counts as fresh for another TTL (so requests do not
        each wait for the store's timeout).

        Raises
        ------
        UnknownModel, UnknownVersion
            No such model, or no such version of it.
        RegistryUnavailable
            The store is unavailable and the version was never read.
        """
        if cached:
            try:
                found = self._cache.get((name, version))    # (only checked keys are cached)
            except TypeError:   # unhashable: the checks below say what is wrong
                found = None
            if found is not None:
                return found
        key = (_name(name, "ModelRegistry.get"), _version(version, "ModelRegistry.get"))
        try:
            with self._store.read() as tx:
                row = tx.get(*key)
                if row is None:
                    raise _unknown(tx, *key)
        except RegistryUnavailable:
            last = self._cache.last_known(key)
            if last is None:
                raise
            _log.warning("registry %s unavailable: serving %s %s at revision %d from the "
                         "cache", self.store, key[0], key[1], last.revision)
            self._cache.put(key, last)      # (fresh again: the next reads wait for nothing)
            return last
        found = ModelVersion._from_row(row)
        self._cache.put(key, found)
        return found

    def params(self, name: str, version: str) -> Mapping[str, Any]:
        """The parameters of a version (read-only), through the cache (see :meth:`get`).

        On an instance this is the compiled read of the cache
        (:class:`~fugue_ppl.deploy._fresh.FreshIndex`): a fresh entry is
        served without a lock or an argument check (the arguments are checked
        on a miss only, which reads through :meth:`get`); this method is what
        it does.

        Raises
        ------
        UnknownModel, UnknownVersion, RegistryUnavailable
            As :meth:`get`.
        """
        return self._cache.params(name, version)      # (a miss: _params_miss)

    def _params_miss(self, name: str, version: str) -> Mapping[str, Any]:
        return self.get(name, version).params

    def list(self, name: str | None = None, *, status: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name``, of ``status``), by model and registration; from the
        store."""
        if name is not None:
            _name(name, "ModelRegistry.list")
        if status is not None:
            check_choice(status, "status", "ModelRegistry.list", STATUSES)
        with self._store.read() as tx:
            rows = tx.list(name, status)
        return [ModelVersion._from_row(r) for r in rows]

    def versions(self, name: str) -> list[ModelVersion]:
        """The versions of ``name``, in the order they were registered.

        Raises
        ------
        UnknownModel
            No version of ``name`` is registered.
        """
        found = self.list(name)
        if not found:
            raise UnknownModel(f"model {safe_repr(name)} is not registered", model=name)
        return found

    def models(self) -> list[str]:
        """The names of the registered models, sorted."""
        return sorted({v.name for v in self.list()})

    def history(self, name: str, version: str | None = None) -> list[HistoryEntry]:
        """The changes of a model (or of one version), oldest first.

        Raises
        ------
        UnknownModel, UnknownVersion
        """
        _name(name, "ModelRegistry.history")
        if version is not None:
            _version(version, "ModelRegistry.history")
        with self._store.read() as tx:
            missing = (not tx.list(name)) if version is None else (
                tx.get(name, version) is None)
            if missing:
                raise _unknown(tx, name, version)
            rows = tx.history(name, version)
        return [HistoryEntry(id=r["id"], model=r["name"], version=r["version"],
                             actor=r["actor"], action=r["action"], at=r["at"],
                             before=freeze(r["before"]), after=freeze(r["after"]),
                             revision=r["revision"]) for r in rows]

    # ------------------------------------------------------------ writes

    def register(self, name: str, version: str, model: str, *, actor: str,
                 params: Mapping[str, Any] | None = None,
                 params_schema: Mapping[str, Any] | None = None, factory: bool = False,
                 input_schema: str | None = None,
                 outputs: Iterable[Mapping[str, str]] = (), status: str = "staged"
                 ) -> ModelVersion:
        """Register a new version (nothing is imported: :meth:`load_model` does that).

        Parameters
        ----------
        name, version : str
            1 to 64 ASCII letters, digits, ``_``, ``-`` or ``.``.
        model : str
            ``package.module:function`` under an allowed prefix: the model, or
            its factory ``make(params) -> model`` when ``factory``.
        actor : str
            Who registers it (recorded in the history).
        params : mapping, optional
            The parameters, a JSON document (an object).
        params_schema : mapping, optional
            A JSON Schema the parameters must satisfy, now and on every update.
        factory : bool
            ``model`` is a factory.
        input_schema : str, optional
            Import path of the input schema, under an allowed prefix.
        outputs : iterable of mapping
            Each output's ``name`` and ``type``.
        status : str
            The initial status (``"live"`` only when no other version is live).

        Returns
        -------
        ModelVersion
            At revision 1.

        Raises
        ------
        RegistryConflict
            The version exists, or ``status`` is live while another version is.
        InvalidModelParams
            ``params`` fails ``params_schema`` (each violation named by its JSON path).
        ModelImportError
            ``model`` or ``input_schema`` is malformed or outside the allowed prefixes.
        TypeError, InvalidArgument
            A bad argument (naming it).
        RegistryUnavailable
            The store is unavailable: nothing was written.
        """
        owner = "ModelRegistry.register"
        name, version = _name(name, owner), _version(version, owner)
        actor = _actor(actor, owner)
        self._check_path(model, name, version, "model")
        if input_schema is not None:
            self._check_path(input_schema, name, version, "input_schema")
        factory = check_flag(factory, "factory", owner)
        status = check_choice(status, "status", owner, STATUSES)
        doc = _document({} if params is None else params, "params", owner)
        schema = None if params_schema is None else _schema(params_schema, owner)
        if schema is not None:
            _validate(doc, schema, name, version)
        now = _now()
        row = {"name": name, "version": version, "model": model, "factory": factory,
               "params": doc, "params_schema": schema, "input_schema": input_schema,
               "outputs": _outputs(outputs, owner), "status": status, "revision": 1,
               "created": now, "updated": now}
        with self._store.write(name) as tx:
            if tx.get(name, version) is not None:
                raise RegistryConflict(f"{name} {version} is already registered",
                                       model=name, version=version)
            if status == "live":
                _no_other_live(tx, name, version)
            tx.insert(row)
            tx.append(_entry(row, actor, "register", None, _json_row(row), 1, now))
        found = ModelVersion._from_row(row)
        self._cache.put((name, version), found)
        return found

    def set_status(self, name: str, version: str, status: str, *, expected_revision: int,
                   actor: str) -> ModelVersion:
        """Set a version's status.

        ``"live"`` is refused while another version is live: :meth:`promote`
        swaps them.

        Raises
        ------
        RegistryConflict
            ``expected_revision`` is stale, or another version is live.
        UnknownModel, UnknownVersion
        RegistryUnavailable
        """
        owner = "ModelRegistry.set_status"
        status = check_choice(status, "status", owner, STATUSES)

        def change(tx, row, now, moved):
            if status == "live":
                _no_other_live(tx, row["name"], row["version"])
            return "set_status", {"status": status}

        return self._write(owner, name, version, expected_revision, actor, change)

    def promote(self, name: str, version: str, *, expected_revision: int,
                actor: str) -> ModelVersion:
        """Make a version live; the version live before it goes to ``standby`` (the previous
        colour, ready for a rollback), in the same transaction.

        Raises
        ------
        RegistryConflict
            ``expected_revision`` is stale.
        UnknownModel, UnknownVersion
        RegistryUnavailable
        """
        owner = "ModelRegistry.promote"

        def change(tx, row, now, moved):
            for other in tx.list(row["name"], "live"):
                if other["version"] == row["version"]:
                    continue
                rev = tx.update(other["name"], other["version"], other["revision"],
                                {"status": "standby"}, now)
                if rev is None:  # (impossible under the model's lock; never write half)
                    raise RegistryConflict(f"{other['name']} {other['version']} changed "
                                           "during the promotion", model=other["name"],
                                           version=other["version"])
                tx.append(_entry(other, actor, "standby", {"status": "live"},
                                 {"status": "standby", "promoted": row["version"]}, rev, now))
                moved.append(other["version"])
            return "promote", {"status": "live"}

        return self._write(owner, name, version, expected_revision, actor, change)

    def rollback(self, name: str, *, actor: str,
                 expected_live: str | None = None) -> ModelVersion:
        """Put the previous version back live: the ``standby`` version most recently moved
        aside becomes ``live`` again, and the live version is ``retired`` (it was judged
        bad: a second rollback does not bring it back; :meth:`promote` still can), in one
        transaction under the model's lock, with a history entry for each (``rollback``
        and ``retire``).

        Parameters
        ----------
        name : str
            The model.
        actor : str
            Who rolls back (recorded in the history).
        expected_live : str, optional
            Refuse unless this version is the live one (so an automated rollback never
            undoes a promotion it did not see).

        Returns
        -------
        ModelVersion
            The version live again.

        Raises
        ------
        RegistryConflict
            No version is live, none is in standby, or the live one is not
            ``expected_live``; nothing was written.
        UnknownModel
        RegistryUnavailable
        """
        owner = "ModelRegistry.rollback"
        name, actor = _name(name, owner), _actor(actor, owner)
        if expected_live is not None:
            expected_live = _version(expected_live, owner)
        with self._store.write(name) as tx:
            rows = tx.list(name)
            if not rows:
                raise _unknown(tx, name, None)
            live = [r for r in rows if r["status"] == "live"]
            if not live:
                raise RegistryConflict(f"{name}: no version is live, nothing to roll back",
                                       model=name)
            current = live[0]
            if expected_live is not None and current["version"] != expected_live:
                raise RegistryConflict(
                    f"{name}: {current['version']} is live, not {expected_live}; "
                    "nothing rolled back", model=name, version=expected_live)
            standby = {r["version"]: r for r in rows if r["status"] == "standby"}
            moved_at = {e["version"]: e["id"] for e in tx.history(name)
                        if e["version"] in standby and (e["after"] or {}).get("status")
                        == "standby"}
            if not standby:
                raise RegistryConflict(f"{name}: no version is in standby to roll back to "
                                       f"(live: {current['version']})", model=name,
                                       version=current["version"])
            back = standby[max(standby, key=lambda v: moved_at.get(v, 0))]
            now = _now()
            out = []
            for row, status, action, after in (
                    (current, "retired", "retire", {"rolled_back_to": back["version"]}),
                    (back, "live", "rollback", {"rolled_back": current["version"]})):
                rev = tx.update(name, row["version"], row["revision"], {"status": status},
                                now)
                if rev is None:  # (impossible under the model's lock; never write half)
                    raise _stale(name, row["version"], row["revision"], None)
                tx.append(_entry(row, actor, action, {"status": row["status"]},
                                 {"status": status, **after}, rev, now))
                out.append(tx.get(name, row["version"]))
        found = [ModelVersion._from_row(r) for r in out]
        for v in found:
            self._cache.put((v.name, v.version), v)
        return found[1]

    def update_params(self, name: str, version: str, params: Mapping[str, Any], *,
                      expected_revision: int, actor: str) -> ModelVersion:
        """Replace a version's parameters, checked against its JSON Schema.

        Raises
        ------
        InvalidModelParams
            ``params`` fails the version's schema (every violation, by JSON path).
        RegistryConflict
            ``expected_revision`` is stale.
        UnknownModel, UnknownVersion
        RegistryUnavailable
        """
        owner = "ModelRegistry.update_params"
        doc = _document(params, "params", owner)

        def change(tx, row, now, moved):
            if row["params_schema"] is not None:
                _validate(doc, row["params_schema"], row["name"], row["version"])
            return "update_params", {"params": doc}

        return self._write(owner, name, version, expected_revision, actor, change)

    def _write(self, owner: str, name: str, version: str, expected_revision: int, actor: str,
               change: Callable) -> ModelVersion:
        """One change of one version under the model's lock, with its history entry."""
        name, version = _name(name, owner), _version(version, owner)
        expected = check_int(expected_revision, "expected_revision", owner, low=1)
        actor = _actor(actor, owner)
        moved: list[str] = []           # other versions the change moved
        with self._store.write(name) as tx:
            row = tx.get(name, version)
            if row is None:
                raise _unknown(tx, name, version)
            if row["revision"] != expected:
                raise _stale(name, version, expected, row["revision"])
            now = _now()
            action, changes = change(tx, row, now, moved)
            rev = tx.update(name, version, expected, changes, now)
            if rev is None:
                raise _stale(name, version, expected, None)
            before = {k: row[k] for k in changes}
            tx.append(_entry(row, actor, action, before, changes, rev, now))
            new = tx.get(name, version)
            refreshed = [tx.get(name, v) for v in moved]
        out = [ModelVersion._from_row(r) for r in (new, *refreshed)]
        for v in out:
            self._cache.put((v.name, v.version), v)
        return out[0]


    # ------------------------------------------------------------ rollouts

    def start_rollout(self, name: str, strategy: str, candidate: str, *,
                      baseline: str | None, state: str, settings: Mapping[str, Any],
                      data: Mapping[str, Any], actor: str,
                      details: Mapping[str, Any] | None = None,
                      versions: Iterable[tuple[str, str]] = ()) -> Rollout:
        """Record the start of a rollout (with its ``start`` event) and the version
        changes it makes (``versions``: ``(version, "promote" or a status)``), in one
        transaction.

        Raises
        ------
        UnknownModel, UnknownVersion
            The candidate or the baseline is not registered.
        RegistryConflict
            Another rollout of the model is active.
        RegistryUnavailable
        """
        owner = "ModelRegistry.start_rollout"
        name, candidate = _name(name, owner), _version(candidate, owner)
        if baseline is not None:
            baseline = _version(baseline, owner)
        actor = _actor(actor, owner)
        strategy = check_text(strategy, "strategy", owner, max_length=32)
        state = check_text(state, "state", owner, max_length=32)
        now = _now()
        row = {"name": name, "strategy": strategy, "baseline": baseline,
               "candidate": candidate, "state": state, "active": state not in TERMINAL_STATES,
               "settings": _document(settings, "settings", owner),
               "data": _document(data, "data", owner), "revision": 1, "actor": actor,
               "created": now, "updated": now}
        with self._store.write(name) as tx:
            for v in (candidate, baseline):
                if v is not None and tx.get(name, v) is None:
                    raise _unknown(tx, name, v)
            for other in tx.rollout_list(name, True):
                raise RegistryConflict(
                    f"{name}: rollout {other['id']} ({other['strategy']} of "
                    f"{other['candidate']}) is active; abort it or wait for its end",
                    model=name, version=candidate)
            row["id"] = tx.rollout_insert(row)
            moved = _version_changes(tx, name, versions, actor, now)
            tx.rollout_append(_event(row, actor, "start", None,
                                     {**thaw(details or {}), "versions": moved}, 1, now))
        self._refresh(name, [v for v, _ in versions])
        return _rollout(row)

    def rollout(self, rollout_id: int) -> Rollout:
        """The rollout ``rollout_id``, from the store (never cached).

        Raises
        ------
        UnknownRollout
        RegistryUnavailable
        """
        rid = check_int(rollout_id, "rollout_id", "ModelRegistry.rollout", low=1)
        with self._store.read() as tx:
            row = tx.rollout_get(rid)
        if row is None:
            raise UnknownRollout(f"no rollout {rid} in the registry")
        return _rollout(row)

    def active_rollout(self, name: str) -> Rollout | None:
        """The model's active rollout, or None."""
        name = _name(name, "ModelRegistry.active_rollout")
        with self._store.read() as tx:
            rows = tx.rollout_list(name, True)
        return _rollout(rows[0]) if rows else None

    def rollouts(self, name: str | None = None) -> list[Rollout]:
        """Every rollout (of ``name``), oldest first."""
        if name is not None:
            name = _name(name, "ModelRegistry.rollouts")
        with self._store.read() as tx:
            rows = tx.rollout_list(name)
        return [_rollout(r) for r in rows]

    def rollout_events(self, rollout_id: int) -> list[RolloutEvent]:
        """The events of a rollout, oldest first.

        Raises
        ------
        UnknownRollout
        """
        rid = check_int(rollout_id, "rollout_id", "ModelRegistry.rollout_events", low=1)
        with self._store.read() as tx:
            if tx.rollout_get(rid) is None:
                raise UnknownRollout(f"no rollout {rid} in the registry")
            rows = tx.rollout_events(rid)
        return [RolloutEvent(**{**r, "details": freeze(r["details"])}) for r in rows]

    def update_rollout(self, rollout_id: int, *, expected_revision: int, actor: str,
                       action: str | None, state: str | None = None,
                       data: Mapping[str, Any] | None = None,
                       details: Mapping[str, Any] | None = None,
                       versions: Iterable[tuple[str, str]] = ()) -> Rollout:
        """Change a rollout (its state, its data) if it is at ``expected_revision``, make
        the version changes of the transition (``versions``: ``(version, "promote" or a
        status)``, each with its model history entry) and append the event ``action``
        with ``details`` (None: a change of data without an event), in one transaction.

        Raises
        ------
        RegistryConflict
            ``expected_revision`` is stale: another writer changed the rollout
            (nothing written; read it again).
        UnknownRollout
        RegistryUnavailable
        """
        owner = "ModelRegistry.update_rollout"
        rid = check_int(rollout_id, "rollout_id", owner, low=1)
        expected = check_int(expected_revision, "expected_revision", owner, low=1)
        actor = _actor(actor, owner)
        changes: dict[str, Any] = {}
        if state is not None:
            changes["state"] = check_text(state, "state", owner, max_length=32)
            changes["active"] = changes["state"] not in TERMINAL_STATES
        if data is not None:
            changes["data"] = _document(data, "data", owner)
        versions = list(versions)
        with self._store.read() as tx:
            found = tx.rollout_get(rid)
        if found is None:
            raise UnknownRollout(f"no rollout {rid} in the registry")
        name = found["name"]
        with self._store.write(name) as tx:
            row = tx.rollout_get(rid)
            if row["revision"] != expected:
                raise _stale_rollout(rid, name, expected, row["revision"])
            now = _now()
            rev = tx.rollout_update(rid, expected, changes, now) if changes else None
            if rev is None and changes:
                raise _stale_rollout(rid, name, expected, None)
            if rev is None:     # (an event without a change still takes a revision)
                rev = tx.rollout_update(rid, expected, {"state": row["state"]}, now)
            moved = _version_changes(tx, name, versions, actor, now)
            if action is not None:
                tx.rollout_append(_event(row, actor, action, row["state"],
                                         {**thaw(details or {}), "versions": moved}
                                         if moved else thaw(details or {}), rev, now,
                                         changes.get("state", row["state"])))
            new = tx.rollout_get(rid)
        self._refresh(name, [v for v, _ in versions])
        return _rollout(new)

    def _refresh(self, name: str, versions: list[str]) -> None:
        for v in versions:
            self._cache.invalidate((name, v))

    # ------------------------------------------------------------ loading

    def _check_path(self, path: Any, name: str | None, version: str | None,
                    what: str) -> tuple[str, str]:
        """(module, attribute) of an import path under an allowed prefix; nothing imported."""
        return split_import_path(path, self.config.allowed_prefixes, what=what,
                                 owner="ModelRegistry", model=name, version=version)

    def _resolve(self, path: str, name: str | None, version: str | None, what: str) -> Any:
        return resolve_import_path(path, self.config.allowed_prefixes, what=what,
                                   owner="ModelRegistry", model=name, version=version)

    def load_model(self, version: ModelVersion) -> Callable:
        """Import a version's model; for a factory, the model it makes from the parameters.

        Only modules under the allowed prefixes are imported: any other path
        is refused before importing.

        Raises
        ------
        ModelImportError
            The path is malformed, outside the allowed prefixes, does not
            import, names nothing callable, or the factory fails or returns
            something not callable.
        """
        version = check_type(version, "version", "ModelRegistry.load_model", ModelVersion,
                             "a ModelVersion")
        n, v = version.name, version.version
        fn = self._resolve(version.model, n, v, "model")
        if not callable(fn):
            raise ModelImportError(f"{n} {v}: model {version.model!r} is a "
                                   f"{type(fn).__name__}, not a function", path=version.model,
                                   model=n, version=v)
        if not version.factory:
            return fn
        try:
            model = fn(thaw(version.params))
        except Exception as e:  # noqa: BLE001 - the factory's failure is the version's
            raise ModelImportError(
                f"{n} {v}: factory {version.model!r} failed on the version's params "
                f"({type(e).__name__}: {safe_text(e, 120)})", path=version.model, model=n,
                version=v) from e
        if not callable(model):
            raise ModelImportError(f"{n} {v}: factory {version.model!r} returned a "
                                   f"{type(model).__name__}, not a model function",
                                   path=version.model, model=n, version=v)
        return model

    def load_input_schema(self, version: ModelVersion) -> Any:
        """Import a version's input schema (None when it declares none).

        Raises
        ------
        ModelImportError
            As for :meth:`load_model`.
        """
        version = check_type(version, "version", "ModelRegistry.load_input_schema",
                             ModelVersion, "a ModelVersion")
        if version.input_schema is None:
            return None
        return self._resolve(version.input_schema, version.name, version.version,
                             "input_schema")


# ---------------------------------------------------------------- checks


def _name(value: Any, owner: str) -> str:
    return ModelConfig.check_field("name", value, owner)


def _version(value: Any, owner: str) -> str:
    return ModelConfig.check_field("version", value, owner)


def _actor(value: Any, owner: str) -> str:
    return check_text(value, "actor", owner, max_length=200)


def _document(value: Any, what: str, owner: str) -> dict:
    """``value`` as a JSON object (a plain dict), or TypeError / InvalidArgument."""
    if not isinstance(value, Mapping):
        raise type_error(owner, what, value, "a mapping (a JSON object)")
    try:
        text = json.dumps(thaw(value), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise invalid(owner, what, value, f"must be a JSON document ({safe_text(e, 80)})") \
            from None
    if len(text) > MAX_PARAMS_BYTES:
        raise invalid(owner, what, value, f"must be at most {MAX_PARAMS_BYTES} bytes of JSON")
    return json.loads(text)


def _schema(value: Any, owner: str) -> dict:
    doc = _document(value, "params_schema", owner)
    jsonschema = require("deploy", "jsonschema", feature="the registry's parameter schemas")
    try:
        jsonschema.validators.validator_for(doc).check_schema(doc)
    except jsonschema.SchemaError as e:
        where = e.json_path if hasattr(e, "json_path") else "$"
        raise invalid(owner, "params_schema", value,
                      f"must be a valid JSON Schema ({where}: {safe_text(e.message, 120)})") \
            from None
    return doc


def _validate(doc: dict, schema: Mapping, name: str, version: str) -> None:
    """Raise InvalidModelParams listing every violation of ``schema`` by ``doc``."""
    jsonschema = require("deploy", "jsonschema", feature="the registry's parameter schemas")
    schema = thaw(schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.path)),
                                                               str(e.validator)))
    if not errors:
        return
    violations = []
    for e in errors:
        secret = any(is_secret_name(p) for p in e.path)
        message = f"fails {e.validator}" if secret else safe_text(e.message, 200)
        violations.append(Violation(e.json_path, str(e.validator), message,
                                    safe_repr(e.instance, secret=secret)))
    listed = "; ".join(f"{v.field}: {v.message}" for v in violations[:_LISTED])
    more = f"; and {len(violations) - _LISTED} more" if len(violations) > _LISTED else ""
    raise InvalidModelParams(f"{name} {version}: params fail the version's JSON Schema: "
                             f"{listed}{more}", violations=violations, model=name,
                             version=version)


def _outputs(value: Any, owner: str) -> list[dict]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise type_error(owner, "outputs", value, "a list of {name, type} mappings")
    out = []
    for i, item in enumerate(value):
        label = f"outputs[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"name", "type"}:
            raise invalid(owner, label, item, "must be a mapping of exactly 'name' and 'type'")
        out.append({"name": check_text(item["name"], f"{label}.name", owner, max_length=64),
                    "type": check_choice(item["type"], f"{label}.type", owner, OUTPUT_TYPES)})
    names = [o["name"] for o in out]
    if len(set(names)) != len(names):
        raise invalid(owner, "outputs", names, "must have distinct names")
    return out


# ---------------------------------------------------------------- errors and entries


def _unknown(tx, name: str, version: str | None) -> UnknownModel:
    known = [r["version"] for r in tx.list(name)]
    if not known:
        return UnknownModel(f"model {name!r} is not registered", model=name)
    shown = ", ".join(known[:_LISTED]) + (", ..." if len(known) > _LISTED else "")
    return UnknownVersion(f"model {name!r} has no version {version!r} (versions: {shown})",
                          model=name, version=version)


def _stale(name: str, version: str, expected: int, actual: int | None) -> RegistryConflict:
    holds = f"holds revision {actual}" if actual is not None else "changed it meanwhile"
    return RegistryConflict(
        f"{name} {version}: expected revision {expected}, but the registry {holds} (another "
        "writer changed it); read it again and retry", model=name, version=version,
        expected=expected, actual=actual)


def _no_other_live(tx, name: str, version: str) -> None:
    for other in tx.list(name, "live"):
        if other["version"] != version:
            raise RegistryConflict(
                f"{name} {other['version']} is live: promote({name!r}, {version!r}) moves it "
                "to standby", model=name, version=version)


def _json_row(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime.datetime) else v)
            for k, v in row.items()}


def _entry(row: dict, actor: str, action: str, before: dict | None, after: dict | None,
           revision: int, at: datetime.datetime) -> dict:
    return {"name": row["name"], "version": row["version"], "actor": actor, "action": action,
            "at": at, "before": before, "after": after, "revision": revision}


def _stale_rollout(rid: int, name: str, expected: int, actual: int | None) -> RegistryConflict:
    holds = f"holds revision {actual}" if actual is not None else "changed it meanwhile"
    return RegistryConflict(
        f"rollout {rid} of {name}: expected revision {expected}, but the registry {holds} "
        "(another writer changed it); read it again and retry", model=name,
        expected=expected, actual=actual)


def _rollout(row: dict) -> Rollout:
    return Rollout(**{**row, "settings": freeze(row["settings"]), "data": freeze(row["data"])})


def _event(row: dict, actor: str, action: str, before: str | None, details: dict,
           revision: int, at: datetime.datetime, after: str | None = None) -> dict:
    return {"rollout": row["id"], "name": row["name"], "actor": actor, "action": action,
            "at": at, "state_before": before, "state_after": after or row["state"],
            "details": json.loads(json.dumps(details, default=str)), "revision": revision}


def _version_changes(tx, name: str, versions: Iterable[tuple[str, str]], actor: str,
                     now: datetime.datetime) -> list[dict]:
    """Apply ``(version, "promote" or a status)`` changes under the model's lock, each with
    its history entry (a promotion moves the live version to standby)."""
    done = []
    for version, op in versions:
        row = tx.get(name, version)
        if row is None:
            raise _unknown(tx, name, version)
        if op == "promote":
            for other in tx.list(name, "live"):
                if other["version"] == version:
                    continue
                rev = tx.update(name, other["version"], other["revision"],
                                {"status": "standby"}, now)
                tx.append(_entry(other, actor, "standby", {"status": "live"},
                                 {"status": "standby", "promoted": version}, rev, now))
                done.append({"version": other["version"], "status": "standby"})
            status, action = "live", "promote"
        else:
            status, action = check_choice(op, "status", "ModelRegistry.update_rollout",
                                          STATUSES), "set_status"
            if status == "live":
                _no_other_live(tx, name, version)
        if row["status"] == status:
            continue
        rev = tx.update(name, version, row["revision"], {"status": status}, now)
        tx.append(_entry(row, actor, action, {"status": row["status"]}, {"status": status},
                         rev, now))
        done.append({"version": version, "status": status})
    return done
