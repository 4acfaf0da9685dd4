"""One model's served versions, kept in step with the registry: what a
long-running service replica holds for each model it serves.

:class:`ModelDeployment` loads every version of the model the registry does
not retire (and the versions of its active rollout), each behind its own
:class:`~fugue_ppl.ModelRunner`, and routes requests through one
:class:`~fugue_ppl.deploy.Router`. A replica calls :meth:`ModelDeployment.refresh`
periodically: it reads the registry again, loads new versions, drops retired
ones, routes all traffic to the live version, and drives the model's active
rollout (started anywhere: by :func:`start_rollout` from the command line or
the admin API, or by another replica) one step, through
:func:`~fugue_ppl.deploy.strategies.resume`. The registry keeps the rollout's
state, so every replica drives the same rollout and a transition is taken once.

:func:`start_rollout` and :func:`abort_rollout` record a rollout's start and
its abort in the registry without serving anything: the replicas do the rest.
:func:`rollout_status` says where a rollout is (its weights, the analysis at
each look, its events) for the command line and the admin API.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from fugue_ppl.checks import check_int, check_text, check_type, invalid, safe_text, thaw
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.deploy._router import Router
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.deploy.registry import ModelRegistry, ModelVersion
from fugue_ppl.deploy.rollouts import Rollout
from fugue_ppl.deploy.strategies import STRATEGIES, Immediate, Strategy, resume
from fugue_ppl.errors import (
    FugueError,
    RegistryConflict,
    RegistryError,
    RegistryUnavailable,
    UnknownModel,
    UnknownRollout,
    UnknownVersion,
)
from fugue_ppl.serving import ModelConfig, ModelRunner, RunnerConfig

__all__ = ["STRATEGY_NAMES", "ModelDeployment", "abort_rollout", "find_rollout",
           "rollout_status", "rollout_weights", "start_rollout"]

_log = logging.getLogger("fugue_ppl.deploy")

#: The strategies by the names a user gives them (the command line's and the admin
#: API's) and by the names their rollouts record.
STRATEGY_NAMES: dict[str, str] = {
    "immediate": "immediate", "blue-green": "blue_green", "blue_green": "blue_green",
    "canary": "canary", "rolling": "rolling", "ab": "ab_test", "ab_test": "ab_test",
    "shadow": "shadow"}
# Options whose JSON form (a list) the strategy takes as a tuple.
_TUPLES = ("smoke_args", "metrics")
# Options a rollout does not record: each replica's own, or kept in the rollout's data.
_UNRECORDED = ("replica_id", "replica_count")


def _kind(strategy: Any, owner: str) -> str:
    if not isinstance(strategy, str):
        raise TypeError(f"{owner}: strategy must be a str, got {type(strategy).__name__}")
    kind = STRATEGY_NAMES.get(strategy)
    if kind is None:
        raise invalid(owner, "strategy", strategy,
                      "must be one of " + ", ".join(k for k in STRATEGY_NAMES if "_" not in k))
    return kind


def _recorded_options(rollout: Rollout) -> dict[str, Any]:
    """The strategy's options a rollout was started with (``settings["options"]``)."""
    options = thaw(rollout.settings.get("options") or {})
    return {k: tuple(v) if k in _TUPLES and isinstance(v, list) else v
            for k, v in options.items()}


# ---------------------------------------------------------------- rollouts without runners


def start_rollout(registry: ModelRegistry, name: str, candidate: str, strategy: str, *,
                  actor: str, baseline: str | None = None,
                  config: RolloutConfig | None = None, analysis: AnalysisConfig | None = None,
                  clock: Callable[[], float] | None = None, **options: Any) -> Rollout:
    """Record the start of a rollout; the replicas serving the model drive it.

    Unlike :meth:`Strategy.start <fugue_ppl.deploy.Strategy.start>`, nothing
    is loaded or served here: the rollout, its settings and the strategy's
    options are recorded (with the candidate's status change), and each
    :class:`ModelDeployment` resumes it at its next :meth:`~ModelDeployment.refresh`.

    Parameters
    ----------
    registry : ModelRegistry
    name : str
        The model.
    candidate : str
        The version rolled out (registered).
    strategy : str
        ``immediate``, ``blue-green``, ``canary``, ``rolling``, ``ab`` or
        ``shadow`` (or the names rollouts record: ``blue_green``, ``ab_test``).
    actor : str
        Who starts it (recorded with the rollout and its ``start`` event).
    baseline : str, optional
        The version serving now (default: the live version).
    config, analysis : RolloutConfig, AnalysisConfig, optional
        The settings it runs with (recorded: a resumed rollout keeps them).
    clock : callable, optional
        Seconds (the wall clock by default, which replicas share).
    **options
        The strategy's own: ``smoke_args`` and ``smoke_kwargs`` (JSON values) of
        ``immediate`` and ``blue-green``, ``metrics`` of ``canary``,
        ``replica_count`` of ``rolling``, ``metric`` and ``lower_is_better`` of ``ab``.

    Returns
    -------
    Rollout
        As recorded (revision 1).

    Raises
    ------
    UnknownModel, UnknownVersion
        The model, the candidate or the baseline is not registered.
    RegistryConflict
        Another rollout of the model is active.
    TypeError, InvalidArgument
        A bad argument or option (naming it), no live baseline where one is
        needed, or the baseline is the candidate.
    RegistryUnavailable
    """
    owner = "start_rollout"
    registry = check_type(registry, "registry", owner, ModelRegistry, "a ModelRegistry")
    kind = _kind(strategy, owner)
    cls = STRATEGIES[kind]
    actor = check_text(actor, "actor", owner)
    config = RolloutConfig() if config is None else check_type(
        config, "config", owner, RolloutConfig, "a RolloutConfig")
    analysis = AnalysisConfig() if analysis is None else check_type(
        analysis, "analysis", owner, AnalysisConfig, "an AnalysisConfig")
    clock = time.time if clock is None else clock
    if not callable(clock):
        raise TypeError(f"{owner}: clock must be callable, got {type(clock).__name__}")
    options = {k: tuple(v) if k == "smoke_args" and isinstance(v, list) else v
               for k, v in options.items()}     # (JSON gives lists)
    checked = cls._validate(**options)      # (the strategy's own checks of its options)
    recorded = {}
    for key, value in checked.items():
        if key in _UNRECORDED:
            continue
        try:
            recorded[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            raise invalid(owner, key, value, "must be JSON values (numbers, strings, "
                          "booleans, null, lists, objects)") from None
    registry.get(name, candidate, cached=False)       # (UnknownModel / UnknownVersion)
    if baseline is None:
        live = registry.list(name, status="live")
        baseline = live[0].version if live else None
    else:
        registry.get(name, baseline, cached=False)
    if baseline is None and kind != Immediate.kind:
        raise invalid(owner, "baseline", None, f"must be given: {name} has no live version")
    if baseline == candidate:
        raise invalid(owner, "candidate", candidate,
                      f"must differ from the baseline ({candidate} is live)")
    state, data, versions = cls._initial(config, analysis, float(clock()), **{
        k: v for k, v in options.items() if k != "replica_id"})
    rollout = registry.start_rollout(
        name, kind, candidate, baseline=baseline, state=state,
        settings={"rollout": config.to_dict(), "analysis": analysis.to_dict(),
                  "options": recorded},
        data=json.loads(json.dumps(data)), actor=actor,
        versions=[(candidate, status) for status in versions],
        details={"baseline": baseline, "candidate": candidate, "options": recorded})
    _log.info("rollout %d of %s: %s of %s (baseline %s) recorded by %s", rollout.id, name,
              kind, candidate, baseline, actor,
              extra={"rollout": rollout.id, "model": name, "action": "start"})
    return rollout


def _placeholder(name: str, version: str) -> ModelRunner:
    # A runner that serves nothing: a strategy that only writes (an abort) needs a
    # router holding the rollout's versions, not their models.
    return ModelRunner(lambda *args, **kwargs: None,
                       RunnerConfig(model=ModelConfig(name=name, version=version)))


def abort_rollout(registry: ModelRegistry, rollout: int | str, *, actor: str) -> Rollout:
    """Abort an active rollout in the registry: the baseline serves everything again
    once the replicas refresh.

    Parameters
    ----------
    registry : ModelRegistry
    rollout : int or str
        The rollout's id, or the model's name (its active rollout).
    actor : str
        Who aborts it (the ``abort`` event names them).

    Returns
    -------
    Rollout
        In state ``aborted``.

    Raises
    ------
    UnknownRollout
        No such rollout, or the model has no active rollout.
    RegistryConflict
        The rollout is over already.
    RegistryUnavailable
    """
    owner = "abort_rollout"
    registry = check_type(registry, "registry", owner, ModelRegistry, "a ModelRegistry")
    actor = check_text(actor, "actor", owner)
    if isinstance(rollout, str):
        found = registry.active_rollout(rollout)
        if found is None:
            raise UnknownRollout(f"model {rollout!r} has no active rollout", model=rollout)
    else:
        found = registry.rollout(check_int(rollout, "rollout", owner, low=1))
    if not found.active:
        raise RegistryConflict(f"rollout {found.id} of {found.name} is over ({found.state})",
                               model=found.name, version=found.candidate)
    versions = [v for v in (found.baseline, found.candidate) if v is not None]
    router = Router({v: _placeholder(found.name, v) for v in versions})
    strategy = resume(registry, found.id, router, actor=actor, clock=time.time,
                      **{k: v for k, v in _recorded_options(found).items()
                         if not k.startswith("smoke")})
    try:
        return strategy.abort()
    finally:
        strategy.close()
        router.close()


def find_rollout(registry: ModelRegistry, name: str | None = None,
                 rollout_id: int | None = None) -> Rollout:
    """The rollout ``rollout_id``, or the model's active rollout, else its latest one.

    Raises
    ------
    UnknownRollout
        No such rollout, or the model never had one.
    UnknownModel
        ``name`` is not registered.
    TypeError, InvalidArgument
        Neither (or both) given, or a bad one.
    """
    owner = "find_rollout"
    registry = check_type(registry, "registry", owner, ModelRegistry, "a ModelRegistry")
    if (name is None) == (rollout_id is None):
        raise TypeError(f"{owner}: give a model's name or a rollout's id (one of them)")
    if rollout_id is not None:
        return registry.rollout(check_int(rollout_id, "rollout_id", owner, low=1))
    found = registry.active_rollout(name)
    if found is not None:
        return found
    every = registry.rollouts(name)
    if not every:
        registry.versions(name)         # (UnknownModel for a model never registered)
        raise UnknownRollout(f"model {name!r} has no rollout", model=name)
    return every[-1]


def rollout_weights(rollout: Rollout) -> dict[str, float]:
    """Each version's share of the traffic in the rollout's state, as its strategy
    routes it (a rolling rollout: the share of replicas moved; empty while nothing
    is live)."""
    ro, data = rollout, rollout.data
    base, cand = ro.baseline, ro.candidate

    def split(w: float) -> dict[str, float]:
        return {cand: 1.0} if base is None else {base: 1.0 - w, cand: w}

    if ro.state == "canary":
        return split(float(data["weight"]))
    if ro.state == "running":
        return split(float(ro.settings["rollout"]["ab_split"]))
    if ro.state in ("rolling", "paused"):
        return split(len(data["moved"]) / int(data["replicas"]))
    if ro.state in ("promoted", "switched"):
        return split(1.0)
    return {} if base is None else split(0.0)


def _look(event: Any) -> dict[str, Any] | None:
    """The analysis an event records (a canary's decisions, an A/B test's t-test)."""
    d = thaw(event.details)
    if "decisions" in d:
        return {"event": event.id, "at": event.at.isoformat(), "action": event.action,
                "step": d.get("step"), "weight": d.get("weight"), "look": d.get("look"),
                "decisions": d["decisions"]}
    if "welch" in d:
        return {"event": event.id, "at": event.at.isoformat(), "action": event.action,
                "look": d.get("look"), "welch": d["welch"],
                "group_sequential": d.get("group_sequential"),
                "n_baseline": d.get("n_baseline"), "n_candidate": d.get("n_candidate")}
    return None


def rollout_status(registry: ModelRegistry, rollout: Rollout) -> dict[str, Any]:
    """Where a rollout is, as JSON values: ``rollout`` (the record), ``weights``
    (:func:`rollout_weights`), ``shadow`` (the fraction of calls copied to the
    candidate, or None), ``looks`` (the analysis each decision recorded),
    ``current`` (a canary step's latest look, not yet decisive) and ``events``.

    Raises
    ------
    RegistryUnavailable
    """
    registry = check_type(registry, "registry", "rollout_status", ModelRegistry,
                          "a ModelRegistry")
    rollout = check_type(rollout, "rollout", "rollout_status", Rollout, "a Rollout")
    events = registry.rollout_events(rollout.id)
    looks = [look for look in map(_look, events) if look is not None]
    current = None
    data = thaw(rollout.data)
    if rollout.state == "canary" and data.get("last_decisions"):
        current = {"step": data["step"], "weight": data["weight"], "look": data["looks"],
                   "decisions": data["last_decisions"]}
    return {"rollout": rollout.to_dict(), "weights": rollout_weights(rollout),
            "shadow": (float(rollout.settings["rollout"]["shadow_fraction"])
                       if rollout.state == "shadowing" else None),
            "looks": looks, "current": current, "events": [e.to_dict() for e in events]}


# ---------------------------------------------------------------- the deployment


class _Loaded:
    """A loaded version: its record, the key of what its runner was built from, the runner."""

    __slots__ = ("key", "runner", "version")

    def __init__(self, version: ModelVersion, key: str, runner: ModelRunner):
        self.version, self.key, self.runner = version, key, runner


def _load_key(v: ModelVersion) -> str:
    # What a runner is built from: a change of any of it loads the version again.
    return json.dumps([v.model, v.factory, thaw(v.params), v.input_schema], sort_keys=True)


class ModelDeployment:
    """One model's served versions, kept in step with the registry.

    Parameters
    ----------
    registry : ModelRegistry
        Where the versions and rollouts are kept (shared with the other replicas).
    name : str
        The model.
    runner_config : RunnerConfig, optional
        The base settings of each version's runner (the model's name and
        version are filled in).
    rollout_config, analysis_config : RolloutConfig, AnalysisConfig, optional
        The settings of the rollouts :meth:`start_rollout` starts (a rollout
        keeps the settings it was started with).
    clock : callable, optional
        Seconds, for the rollouts' timing (the wall clock by default, which
        replicas share; ``fugue_ppl.ManualClock`` in tests).
    replica_id : int, optional
        This replica's number in a rolling rollout (0 to its replica count - 1).
    rng : int, optional
        Seed of the runners' streams (each version its own, derived from the
        seed and the version; None: fresh entropy).

    Raises
    ------
    TypeError, InvalidArgument
        A bad argument (naming it).

    Notes
    -----
    Nothing is read from the registry until the first :meth:`refresh`.
    Requests read :attr:`router` once each: the router is replaced whole
    (a new one) when the set of served versions changes, and its weights
    are replaced whole, so a request sees one consistent routing.

    Examples
    --------
    >>> import os, tempfile
    >>> from fugue_ppl.deploy import ModelRegistry
    >>> reg = ModelRegistry(url=os.path.join(tempfile.mkdtemp(), "r.sqlite3"))
    >>> _ = reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci", status="live")
    >>> dep = ModelDeployment(reg, "sensor", rng=1)
    >>> dep.refresh()
    >>> dep.live_version, dep.router.infer(22.0, key="user-1").model_version
    ('1', '1')
    >>> dep.close(); reg.close()
    """

    def __init__(self, registry: ModelRegistry, name: str, *,
                 runner_config: RunnerConfig | None = None,
                 rollout_config: RolloutConfig | None = None,
                 analysis_config: AnalysisConfig | None = None,
                 clock: Callable[[], float] | None = None, replica_id: int = 0,
                 rng: int | None = None):
        owner = "ModelDeployment"
        self.registry = check_type(registry, "registry", owner, ModelRegistry,
                                   "a ModelRegistry")
        self.name = ModelConfig.check_field("name", name, owner)
        self.runner_config = RunnerConfig() if runner_config is None else check_type(
            runner_config, "runner_config", owner, RunnerConfig, "a RunnerConfig")
        self.rollout_config = RolloutConfig() if rollout_config is None else check_type(
            rollout_config, "rollout_config", owner, RolloutConfig, "a RolloutConfig")
        self.analysis_config = AnalysisConfig() if analysis_config is None else check_type(
            analysis_config, "analysis_config", owner, AnalysisConfig, "an AnalysisConfig")
        if clock is not None and not callable(clock):
            raise TypeError(f"{owner}: clock must be callable, got {type(clock).__name__}")
        # (always given to the strategies: their guards need a callable)
        self._clock = time.time if clock is None else clock
        self.replica_id = check_int(replica_id, "replica_id", owner, low=0)
        self._rng = None if rng is None else check_int(rng, "rng", owner, low=0)
        self._refresh_lock = threading.Lock()
        self._loaded: dict[str, _Loaded] = {}      # served versions, live first
        self._failed: dict[str, str] = {}          # version -> load key that failed
        self._retiring: list[ModelRunner] = []     # dropped: closed at the next refresh
        self._router: Router | None = None
        self._routable = False
        self._live: str | None = None
        self._strategy: Strategy | None = None
        self._active: Rollout | None = None
        self._stuck: tuple[int, Router] | None = None   # a rollout that cannot be driven here
        self._unavailable = False
        self._closed = False

    # ------------------------------------------------------------ reading

    @property
    def router(self) -> Router:
        """The current router (read it once per request: a refresh may replace it).

        Raises
        ------
        UnknownModel
            Nothing to route to: no version of the model is loaded, or none is
            live and no rollout routes the traffic.
        """
        router = self._router
        if router is None or not self._routable:
            raise UnknownModel(f"model {self.name!r} has no live version to serve",
                               model=self.name)
        return router

    def runner(self, version: str) -> ModelRunner:
        """A served version's runner.

        Raises
        ------
        UnknownVersion
            The version is not served here (not registered, retired, or it
            failed to load).
        """
        loaded = self._loaded.get(version) if isinstance(version, str) else None
        if loaded is None:
            served = ", ".join(self._loaded) or "none"
            raise UnknownVersion(f"model {self.name!r} serves no version {version!r} "
                                 f"(served: {served})", model=self.name,
                                 version=version if isinstance(version, str) else None)
        return loaded.runner

    def versions(self) -> list[ModelVersion]:
        """The served versions (non-retired and loaded), live first, as last read."""
        return [entry.version for entry in list(self._loaded.values())]

    @property
    def live_version(self) -> str | None:
        """The live version, as last read (None: none is live or served)."""
        return self._live

    def rollout(self) -> Rollout | None:
        """The model's rollout in progress (as last read or written here), or None."""
        strategy = self._strategy
        return strategy.rollout if strategy is not None else self._active

    # ------------------------------------------------------------ refreshing

    def refresh(self) -> None:
        """Read the registry again and follow it; drive the active rollout one step.

        Loads new versions (a version that fails to load is left out and
        logged once, until it changes), drops retired ones, routes the
        traffic to the live version (or as the active rollout's strategy
        says), resumes the active rollout and steps it once. One refresh at a
        time (a second waits for the first).

        A store that is down raises nothing: the last routing keeps serving,
        and the outage is logged (once, then its end).
        """
        with self._refresh_lock:
            if self._closed:
                return
            for runner in self._retiring:
                runner.close()
            self._retiring = []
            try:
                self._sync()
                self._step()
            except RegistryUnavailable as e:
                if not self._unavailable:
                    _log.warning("deployment of %s: the registry is unavailable (%s); serving "
                                 "the last known versions", self.name, safe_text(e, 300),
                                 extra={"model": self.name})
                self._unavailable = True
                return
            if self._unavailable:
                _log.info("deployment of %s: the registry is reachable again", self.name,
                          extra={"model": self.name})
                self._unavailable = False

    def _sync(self) -> None:
        """Follow the registry's versions, statuses and active rollout."""
        listed = self.registry.list(self.name)
        active = self.registry.active_rollout(self.name)
        rollout_versions = set() if active is None else {active.baseline, active.candidate}
        wanted = {v.version: v for v in listed
                  if v.status != "retired" or v.version in rollout_versions}
        loaded: dict[str, _Loaded] = {}
        for version, record in wanted.items():
            key = _load_key(record)
            old = self._loaded.get(version)
            if old is not None and old.key == key:
                old.version = record
                loaded[version] = old
            elif self._failed.get(version) != key:
                runner = self._load(record, key)
                if runner is not None:
                    loaded[version] = _Loaded(record, key, runner)
        live = next((v for v, e in loaded.items() if e.version.status == "live"), None)
        order = sorted(loaded, key=lambda v: v != live)     # (live first, then by registration)
        loaded = {v: loaded[v] for v in order}
        router = self._router
        runners = {v: e.runner for v, e in loaded.items()}
        if router is None or set(runners) != set(router.runners) or any(
                router.runners[v] is not r for v, r in runners.items()):
            router = Router(runners) if runners else None
        strategy = self._strategy
        if strategy is not None and (active is None or strategy.id != active.id
                                     or strategy.router is not router):
            strategy.close()
            strategy = None
        if (active is not None and strategy is None and router is not None
                and self._stuck != (active.id, router)):
            strategy = self._resume(active, router)
        if strategy is None and router is not None and live is not None:
            if dict(router.weights) != {v: float(v == live) for v in router.runners}:
                router.set_weights({live: 1.0})
            if router.shadow is not None:
                router.set_shadow(None)
        self._strategy, self._active, self._live = strategy, active, live
        self._routable = router is not None and (live is not None or strategy is not None)
        previous = self._router
        self._loaded = loaded
        self._router = router                   # (one reference swap)
        if previous is not None and previous is not router:
            kept = {id(e.runner) for e in loaded.values()}
            self._retiring.extend(r for r in previous.runners.values() if id(r) not in kept)
        for version in list(self._failed):
            if version not in wanted:
                del self._failed[version]

    def _load(self, record: ModelVersion, key: str) -> ModelRunner | None:
        """A runner of ``record``, or None (logged) when it does not load."""
        try:
            model = self.registry.load_model(record)
            schema = self.registry.load_input_schema(record)
            base = self.runner_config
            config = base.replace(model=base.model.replace(name=self.name,
                                                           version=record.version))
            return ModelRunner(model, config, schema=schema, rng=self._seed(record.version))
        except Exception as e:  # noqa: BLE001 - a version that does not load is left out
            self._failed[record.version] = key
            _log.error("deployment of %s: version %s does not load and is not served (%s: %s)",
                       self.name, record.version, type(e).__name__, safe_text(e, 300),
                       extra={"model": self.name, "version": record.version})
            return None

    def _seed(self, version: str) -> np.random.SeedSequence | None:
        if self._rng is None:
            return None
        return np.random.SeedSequence([self._rng, zlib.crc32(version.encode("utf-8"))])

    def _resume(self, active: Rollout, router: Router) -> Strategy | None:
        options = _recorded_options(active)
        if active.strategy == "rolling":
            options["replica_id"] = self.replica_id
        try:
            return resume(self.registry, active.id, router, clock=self._clock,
                          actor=f"rollout:{active.strategy}", **options)
        except RegistryUnavailable:
            raise
        except (FugueError, TypeError) as e:
            self._stuck = (active.id, router)       # (tried again with other runners only)
            _log.error("deployment of %s: rollout %d (%s of %s) cannot be driven here (%s)",
                       self.name, active.id, active.strategy, active.candidate,
                       safe_text(e, 300), extra={"model": self.name, "rollout": active.id})
            return None

    def _step(self) -> None:
        strategy = self._strategy
        if strategy is None:
            return
        before = strategy.rollout
        try:
            after = strategy.step()
        except RegistryUnavailable:
            raise
        except RegistryError as e:
            _log.error("deployment of %s: step of rollout %d failed (%s)", self.name,
                       strategy.id, safe_text(e, 300),
                       extra={"model": self.name, "rollout": strategy.id})
            return
        if after.state != before.state or not after.active:
            self._sync()            # (the transition changed statuses: follow them now)

    # ------------------------------------------------------------ starting rollouts

    def start_rollout(self, candidate: str, strategy: str, *, actor: str,
                      baseline: str | None = None, **options: Any) -> Rollout:
        """Record a rollout of ``candidate`` with this deployment's settings and
        drive it at once (:func:`start_rollout`, then :meth:`refresh`).

        Raises
        ------
        As :func:`start_rollout`.
        """
        rollout = start_rollout(self.registry, self.name, candidate, strategy, actor=actor,
                                baseline=baseline, config=self.rollout_config,
                                analysis=self.analysis_config, clock=self._clock, **options)
        self.refresh()
        return rollout

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Stop driving the rollout and close the runners (idempotent; the rollout
        goes on in the registry)."""
        with self._refresh_lock:
            if self._closed:
                return
            self._closed = True
            if self._strategy is not None:
                self._strategy.close()
                self._strategy = None
            runners = [e.runner for e in self._loaded.values()] + self._retiring
            self._retiring = []
            self._routable = False
        for runner in runners:
            runner.close()

    def __enter__(self) -> ModelDeployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ModelDeployment(name={self.name!r}, live={self._live!r}, "
                f"versions={list(self._loaded)!r})")
