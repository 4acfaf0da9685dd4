"""Rollout strategies: small state machines that move traffic from a baseline
version to a candidate through a :class:`~fugue_ppl.deploy.Router`, with their
state persisted in the registry (:class:`~fugue_ppl.deploy.rollouts.Rollout`).

Every strategy works the same way: :meth:`Strategy.start` records the
rollout; :meth:`Strategy.step` (a service calls it periodically: there is no
background thread) reads the rollout from the registry, takes the next
transition if one is due, writes it with the revision it read, and sets the
router's weights from the persisted state. A restarted process or another
replica builds the strategy again with :func:`resume` and continues where the
registry says. Two writers never both apply a transition: the loser's write
is refused (a stale revision), it reads the rollout again and decides again.

Every transition is an event: a record of the logger ``fugue_ppl.deploy``
and a registry event (:meth:`~fugue_ppl.deploy.ModelRegistry.rollout_events`)
with the statistics that decided it. Time comes from ``clock`` (seconds; the
wall clock by default, shared by replicas; ``fugue_ppl.ManualClock`` in tests).

The state machines (terminal states in brackets):

* :class:`Immediate`: ``pending`` -> [``promoted``] after a smoke run of the
  candidate, or [``refused``] when it fails; ``promoted`` -> [``rolled_back``]
  on :meth:`~Strategy.rollback` (the baseline, kept on ``standby``, is live again).
* :class:`BlueGreen`: ``pending`` -> ``switched`` (all traffic on the new
  colour, the old one on ``standby``) or [``refused``]; ``switched`` ->
  [``promoted``] after ``bake_seconds``, or [``rolled_back``] (automatic
  rollback, or :meth:`~Strategy.rollback`, also after promotion).
* :class:`Canary`: ``canary`` at step ``i`` (the candidate's share
  ``steps[i]``) -> ``canary`` at ``i + 1`` when the step's analysis decides
  promote (better, or the planned sample without harm) -> [``promoted``] on
  reaching the last step (1); [``rolled_back``] when an analysis finds the
  candidate worse, when a step stays inconclusive for ``max_step_seconds``, or
  on an automatic rollback trigger.
* :class:`Rolling`: ``rolling`` <-> ``paused`` (a moved replica degraded; resumed
  when it is healthy again) -> [``promoted``] once every replica moved;
  [``rolled_back``] on an automatic trigger.
* :class:`ABTest`: ``running`` (a fixed split) -> [``promoted``] (the candidate
  wins at a look), [``rolled_back``] (the baseline wins) or [``no_difference``]
  (no winner at the last look: the baseline stays).
* :class:`ShadowRollout`: ``shadowing`` -> [``completed``] after
  ``shadow_seconds``, [``rolled_back``] on an automatic trigger.

Every active rollout can be aborted ([``aborted``], traffic back to the baseline).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from fugue_ppl.checks import check_int, check_type, invalid, safe_text, thaw
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.deploy._router import Router
from fugue_ppl.deploy._samples import RunnerDeltas
from fugue_ppl.deploy.analysis import (
    AnalysisConfig,
    SequentialMeanTest,
    SequentialProportionTest,
    welch_t_test_from_stats,
)
from fugue_ppl.deploy.group_sequential import GroupSequentialDesign
from fugue_ppl.deploy.guards import RollbackGuard
from fugue_ppl.deploy.registry import ModelRegistry
from fugue_ppl.deploy.rollouts import Rollout, RolloutEvent
from fugue_ppl.errors import RegistryConflict, UnknownRollout
from fugue_ppl.serving import BreakerState

__all__ = ["ABTest", "BlueGreen", "Canary", "Immediate", "Rolling", "ShadowRollout",
           "Strategy", "STRATEGIES", "resume"]

_log = logging.getLogger("fugue_ppl.deploy")
# Reads and decisions again after a stale write, before giving up for this step.
_RETRIES = 8
_ROLLBACK_ACTIONS = ("rollback", "refuse", "abort")


def _jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as None (JSON documents hold no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _router_and_clock(owner: str, router: Router, versions: Iterable[str | None],
                      clock: Any) -> Callable[[], float]:
    # The router must hold a runner of each of the rollout's versions; the
    # clock (default: the wall clock, shared by replicas) must be callable.
    for v in versions:
        if v is not None and v not in router.runners:
            raise invalid(owner, "router", v, "must hold a runner of the rollout's "
                          f"versions (it has {', '.join(router.runners)})")
    clock = time.time if clock is None else clock
    if not callable(clock):
        raise TypeError(f"{owner}: clock must be callable, got {type(clock).__name__}")
    return clock


class Strategy:
    """Base of the rollout strategies (see the module's description).

    Build one with :meth:`start` (a new rollout) or :func:`resume` (an
    existing one); the constructor takes a rollout already read.

    Parameters
    ----------
    registry : ModelRegistry
        Where the rollout is kept.
    rollout : Rollout
        The rollout this object drives.
    router : Router
        This process's router, holding the baseline's and the candidate's runners.
    clock : callable, optional
        Seconds (the wall clock by default: replicas share it).
    actor : str, optional
        Who the events name (default ``"rollout:<strategy>"``).

    Raises
    ------
    TypeError
        A wrong type of registry, rollout, router or clock.
    InvalidArgument
        The router lacks the baseline or the candidate, or the rollout is of
        another strategy.
    """

    kind: ClassVar[str] = ""

    def __init__(self, registry: ModelRegistry, rollout: Rollout, router: Router, *,
                 clock: Callable[[], float] | None = None, actor: str | None = None,
                 **options: Any):
        owner = type(self).__name__
        self.registry = check_type(registry, "registry", owner, ModelRegistry,
                                   "a ModelRegistry")
        rollout = check_type(rollout, "rollout", owner, Rollout, "a Rollout")
        if rollout.strategy != self.kind:
            raise invalid(owner, "rollout", rollout.strategy,
                          f"must be a {self.kind} rollout (resume() picks the strategy)")
        self.router = check_type(router, "router", owner, Router, "a Router")
        self._clock = _router_and_clock(owner, router, (rollout.baseline, rollout.candidate),
                                        clock)
        self.actor = actor or f"rollout:{self.kind}"
        self.config = RolloutConfig(**rollout.settings["rollout"])
        self.analysis = AnalysisConfig(**rollout.settings["analysis"])
        self._rollout = rollout
        self._lock = threading.RLock()
        self._after: list[Callable[[], None]] = []
        self._options(**options)
        self.guard = RollbackGuard(router.runners[rollout.candidate], self.config, self._clock)
        self._route(rollout)

    def _options(self, **options: Any) -> None:
        """Take the strategy's own options (checked by :meth:`_validate`)."""
        self._validate(**options)

    @classmethod
    def _validate(cls, **options: Any) -> dict[str, Any]:
        """The strategy's options checked (TypeError, InvalidArgument)."""
        if options:
            raise TypeError(f"{cls.__name__}: unknown option {', '.join(map(repr, options))}")
        return {}

    # ------------------------------------------------------------ starting

    @classmethod
    def start(cls, registry: ModelRegistry, name: str, candidate: str, router: Router, *,
              baseline: str | None = None, config: RolloutConfig | None = None,
              analysis: AnalysisConfig | None = None,
              clock: Callable[[], float] | None = None, actor: str | None = None,
              **options: Any) -> Strategy:
        """Start a rollout of ``candidate`` and return its strategy.

        Parameters
        ----------
        registry, router, clock, actor
            As for the class.
        name : str
            The model.
        candidate : str
            The version rolled out (registered).
        baseline : str, optional
            The version serving now (default: the live version).
        config : RolloutConfig, optional
            The rollout's settings (``[rollout]``), recorded with it.
        analysis : AnalysisConfig, optional
            The analysis' settings (``[analysis]``), recorded with it.
        **options
            The strategy's own (e.g. ``smoke_args`` of :class:`BlueGreen`).

        Raises
        ------
        UnknownModel, UnknownVersion
            The model or a version is not registered.
        RegistryConflict
            Another rollout of the model is active.
        InvalidArgument
            No live baseline (where one is needed), the baseline is the
            candidate, or the router lacks one of them.
        """
        owner = f"{cls.__name__}.start"
        registry = check_type(registry, "registry", owner, ModelRegistry, "a ModelRegistry")
        router = check_type(router, "router", owner, Router, "a Router")
        config = RolloutConfig() if config is None else check_type(
            config, "config", owner, RolloutConfig, "a RolloutConfig")
        analysis = AnalysisConfig() if analysis is None else check_type(
            analysis, "analysis", owner, AnalysisConfig, "an AnalysisConfig")
        registry.get(name, candidate, cached=False)       # (UnknownModel / UnknownVersion)
        if baseline is None:
            live = registry.list(name, status="live")
            baseline = live[0].version if live else None
        else:
            registry.get(name, baseline, cached=False)
        if baseline is None and cls.kind != Immediate.kind:
            raise invalid(owner, "baseline", None, f"must be given: {name} has no live version")
        if baseline == candidate:
            raise invalid(owner, "candidate", candidate, "must differ from the baseline")
        clock = _router_and_clock(owner, router, (baseline, candidate), clock)
        cls._validate(**options)          # (before anything is recorded)
        now = float(clock())
        state, data, versions = cls._initial(config, analysis, now, **options)
        rollout = registry.start_rollout(
            name, cls.kind, candidate, baseline=baseline, state=state,
            settings={"rollout": config.to_dict(), "analysis": analysis.to_dict()},
            data=_jsonable(data), actor=actor or f"rollout:{cls.kind}",
            versions=[(candidate, status) for status in versions],
            details={"baseline": baseline, "candidate": candidate})
        _log.info("rollout %d of %s: %s of %s (baseline %s) started", rollout.id, name,
                  cls.kind, candidate, baseline,
                  extra={"rollout": rollout.id, "model": name, "action": "start"})
        return cls(registry, rollout, router, clock=clock, actor=actor, **options)

    @classmethod
    def _initial(cls, config: RolloutConfig, analysis: AnalysisConfig, now: float,
                 **options: Any) -> tuple[str, dict, tuple[str, ...]]:
        """The first state, its data and the candidate's status changes."""
        raise NotImplementedError

    # ------------------------------------------------------------ reading

    @property
    def id(self) -> int:
        """The rollout's id in the registry."""
        return self._rollout.id

    @property
    def rollout(self) -> Rollout:
        """The rollout as last read or written by this object."""
        return self._rollout

    @property
    def state(self) -> str:
        """The state as last read or written by this object."""
        return self._rollout.state

    def now(self) -> float:
        """The clock's reading."""
        return float(self._clock())

    def events(self) -> list[RolloutEvent]:
        """The rollout's events, oldest first (from the registry)."""
        return self.registry.rollout_events(self.id)

    # ------------------------------------------------------------ stepping

    def step(self) -> Rollout:
        """Take the transition due now, if any; set the router's weights.

        Returns
        -------
        Rollout
            As the registry holds it after this step.

        Raises
        ------
        RegistryUnavailable
            The registry cannot be reached (the router keeps its weights).
        """
        return self._transact(self._advance)

    def rollback(self, reason: str = "manual") -> Rollout:
        """Roll back now: the baseline serves everything again.

        Raises
        ------
        RegistryConflict
            Nothing to roll back (the rollout is over, or its versions moved since).
        """
        def act(ro: Rollout) -> Rollout:
            if not self._can_roll_back(ro):
                raise RegistryConflict(f"rollout {ro.id} of {ro.name} is {ro.state}: nothing "
                                       "to roll back", model=ro.name, version=ro.candidate)
            return self._rollback(ro, {"trigger": reason})
        return self._transact(act)

    def abort(self) -> Rollout:
        """Stop an active rollout; the baseline serves everything again.

        Raises
        ------
        RegistryConflict
            The rollout is over already.
        """
        def act(ro: Rollout) -> Rollout:
            if not ro.active:
                raise RegistryConflict(f"rollout {ro.id} of {ro.name} is over ({ro.state})",
                                       model=ro.name, version=ro.candidate)
            return self._commit(ro, "abort", state="aborted",
                                versions=self._back_versions(ro),
                                details={"trigger": "abort"})
        return self._transact(act)

    def _transact(self, act: Callable[[Rollout], Rollout]) -> Rollout:
        with self._lock:
            for _ in range(_RETRIES):
                self._after = []
                ro = self.registry.rollout(self.id)
                read = ro.revision
                try:
                    ro = act(ro)
                except RegistryConflict as e:
                    if e.expected is None:      # (not a stale revision: a real refusal)
                        raise
                    continue                    # another writer moved it: decide again
                if ro.revision != read:     # (written: what it took is in the registry)
                    for fn in self._after:
                        fn()
                break
            self._after = []
            self._rollout = ro
            self._route(ro)
            return ro

    def _advance(self, ro: Rollout) -> Rollout:
        if not ro.active:
            return ro
        trigger = self.guard.check()
        if trigger is not None:
            return self._rollback(ro, trigger)
        return self._next(ro)

    def _next(self, ro: Rollout) -> Rollout:
        """The strategy's own transition from an active state (or ``ro``: none due)."""
        raise NotImplementedError

    def _can_roll_back(self, ro: Rollout) -> bool:
        return ro.active

    def _back_versions(self, ro: Rollout) -> list[tuple[str, str]]:
        """The version changes that give the traffic back to the baseline."""
        return [(ro.candidate, "retired")]

    def _rollback(self, ro: Rollout, details: Mapping[str, Any]) -> Rollout:
        return self._commit(ro, "rollback", state="rolled_back",
                            versions=self._back_versions(ro), details=details)

    def _commit(self, ro: Rollout, action: str | None, *, state: str | None = None,
                data: Mapping[str, Any] | None = None,
                details: Mapping[str, Any] | None = None,
                versions: list[tuple[str, str]] = ()) -> Rollout:
        details = _jsonable(dict(details or {}))
        new = self.registry.update_rollout(
            ro.id, expected_revision=ro.revision, actor=self.actor, action=action,
            state=state, data=None if data is None else _jsonable(data), details=details,
            versions=versions)
        if action is not None:
            level = logging.WARNING if action in _ROLLBACK_ACTIONS else logging.INFO
            _log.log(level, "rollout %d of %s (%s of %s): %s, %s -> %s (%s)", ro.id, ro.name,
                     ro.strategy, ro.candidate, action, ro.state, new.state,
                     safe_text(details, 400),
                     extra={"rollout": ro.id, "model": ro.name, "action": action,
                            "state": new.state, "details": details})
        return new

    # ------------------------------------------------------------ routing

    def _weights(self, ro: Rollout) -> dict[str, float] | None:
        """The router's weights in ``ro``'s state (None: leave them)."""
        if ro.state in ("promoted", "switched"):
            return {ro.candidate: 1.0}
        return None if ro.baseline is None else {ro.baseline: 1.0}

    def _route(self, ro: Rollout) -> None:
        weights = self._weights(ro)
        if weights is not None and dict(self.router.weights) != {
                v: weights.get(v, 0.0) for v in self.router.runners}:
            self.router.set_weights(weights)

    def close(self) -> None:
        """Stop watching the candidate's breaker (the rollout goes on in the registry)."""
        self.guard.close()

    def __repr__(self) -> str:
        ro = self._rollout
        return (f"{type(self).__name__}(id={ro.id}, model={ro.name!r}, "
                f"candidate={ro.candidate!r}, state={ro.state!r})")


# ============================================================ switch at once


class Immediate(Strategy):
    """Switch all traffic to the candidate at once, after a smoke run.

    The smoke run calls the candidate's runner once with ``smoke_args`` and
    ``smoke_kwargs``; anything but an ``ok`` result refuses the switch
    (state ``refused``, the error in the event). The previous live version
    goes to ``standby``: :meth:`~Strategy.rollback` makes it live again.

    Parameters
    ----------
    smoke_args : tuple
        Positional arguments of the smoke run.
    smoke_kwargs : mapping, optional
        Keyword arguments of the smoke run.

    Examples
    --------
    >>> import fugue_ppl as fp, os, tempfile
    >>> from fugue_ppl.deploy import ModelRegistry, Router
    >>> from fugue_ppl.models import sensor
    >>> from fugue_ppl.serving import ModelConfig, RunnerConfig
    >>> reg = ModelRegistry(url=os.path.join(tempfile.mkdtemp(), "r.sqlite3"))
    >>> _ = reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci", status="live")
    >>> _ = reg.register("sensor", "2", "fugue_ppl.models:sensor", actor="ci")
    >>> run = {v: fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=v)), rng=1)
    ...        for v in ("1", "2")}
    >>> router = Router(run)
    >>> s = Immediate.start(reg, "sensor", "2", router, smoke_args=(22.0,))
    >>> s.step().state, dict(router.weights)
    ('promoted', {'1': 0.0, '2': 1.0})
    >>> s.rollback().state, reg.get("sensor", "1").status
    ('rolled_back', 'live')
    >>> reg.close()
    """

    kind = "immediate"
    _switched = "promoted"

    @classmethod
    def _validate(cls, smoke_args: tuple = (), smoke_kwargs: Mapping | None = None,
                  **rest: Any) -> dict[str, Any]:
        super()._validate(**rest)
        if not isinstance(smoke_args, tuple):
            raise TypeError(f"{cls.__name__}: smoke_args must be a tuple, got "
                            f"{type(smoke_args).__name__}")
        if smoke_kwargs is not None and not isinstance(smoke_kwargs, Mapping):
            raise TypeError(f"{cls.__name__}: smoke_kwargs must be a mapping, got "
                            f"{type(smoke_kwargs).__name__}")
        return {"smoke_args": smoke_args, "smoke_kwargs": dict(smoke_kwargs or {})}

    def _options(self, **options: Any) -> None:
        checked = self._validate(**options)
        self.smoke_args, self.smoke_kwargs = checked["smoke_args"], checked["smoke_kwargs"]

    @classmethod
    def _initial(cls, config, analysis, now, **options):
        return "pending", {}, ()

    def smoke(self) -> dict[str, Any]:
        """Run the candidate once on the smoke arguments: ``{"ok": bool, ...}``."""
        runner = self.router.runners[self._rollout.candidate]
        try:
            res = runner.infer(*self.smoke_args, **self.smoke_kwargs)
        except Exception as e:  # noqa: BLE001 - any failure refuses the switch
            return {"ok": False, "error": type(e).__name__, "message": safe_text(e, 200)}
        if res.status != "ok":
            return {"ok": False, "status": res.status}
        return {"ok": True, "status": res.status, "duration": res.duration}

    def _advance(self, ro: Rollout) -> Rollout:
        if ro.state == "pending":       # (the smoke run, not the triggers, judges it now)
            return self._next(ro)
        return super()._advance(ro)

    def _next(self, ro: Rollout) -> Rollout:
        if ro.state != "pending":
            return self._after_switch(ro)
        smoke = self.smoke()
        if not smoke["ok"]:
            return self._commit(ro, "refuse", state="refused", details={"smoke": smoke},
                                versions=[])
        return self._commit(ro, "switch", state=self._switched, versions=[
            (ro.candidate, "promote")], data={"switched_at": self.now()},
            details={"smoke": smoke})

    def _after_switch(self, ro: Rollout) -> Rollout:
        return ro

    def _can_roll_back(self, ro: Rollout) -> bool:
        if ro.state not in ("switched", "promoted") or ro.baseline is None:
            return False
        live = self.registry.get(ro.name, ro.candidate, cached=False).status
        base = self.registry.get(ro.name, ro.baseline, cached=False).status
        return live == "live" and base == "standby"

    def _back_versions(self, ro: Rollout) -> list[tuple[str, str]]:
        if ro.state in ("switched", "promoted"):
            return [] if ro.baseline is None else [(ro.baseline, "promote")]
        return []

    def _weights(self, ro: Rollout) -> dict[str, float] | None:
        if ro.state == "pending" and ro.baseline is None:
            return None
        return super()._weights(ro)


class BlueGreen(Immediate):
    """Switch all traffic to the new colour at once after a smoke run; watch it for
    ``bake_seconds`` with the automatic rollback armed, then end the rollout.

    The old colour stays registered as ``standby``: :meth:`~Strategy.rollback`
    (during the bake or after) makes it live again in one transaction.
    Options as for :class:`Immediate`.
    """

    kind = "blue_green"
    _switched = "switched"

    def _after_switch(self, ro: Rollout) -> Rollout:
        if self.now() - ro.data["switched_at"] >= self.config.bake_seconds:
            return self._commit(ro, "promote", state="promoted",
                                details={"baked_seconds": self.now() - ro.data["switched_at"]})
        return ro


# ============================================================ canary


class Canary(Strategy):
    """Move traffic to the candidate in steps, with a sequential analysis at each step.

    At each step the candidate gets ``steps[i]`` of the traffic. Each
    ``step()`` adds what this process's runners served since its last
    ``step()`` (the deltas of their request, error and latency counters,
    see :class:`~fugue_ppl.deploy._samples.RunnerDeltas`) to the step's
    sequential tests, kept in the rollout, so every replica's traffic counts:
    the error rate (:class:`~fugue_ppl.deploy.analysis.SequentialProportionTest`)
    and the log latency (:class:`~fugue_ppl.deploy.analysis.SequentialMeanTest`).
    Every ``analysis_interval_seconds``, given ``min_samples_per_look`` new
    candidate requests, the tests look: a rollback decision of either rolls
    back at once; promote decisions of all (significantly better, or the
    planned ``max_samples`` without harm) move to the next step, the last
    one promoting the candidate. A step still undecided after
    ``max_step_seconds`` is rolled back.

    Each step starts fresh tests at level ``alpha / (tests x analysed steps)``,
    so an equal candidate is rolled back with probability at most ``alpha``
    over the whole rollout, however often it is looked at.

    Parameters
    ----------
    metrics : tuple of str
        The tests: ``"errors"`` and/or ``"latency"`` (both by default).
    """

    kind = "canary"
    METRICS = ("errors", "latency")

    @classmethod
    def _validate(cls, metrics: tuple[str, ...] = METRICS, **rest: Any) -> dict[str, Any]:
        super()._validate(**rest)
        if isinstance(metrics, str) or not isinstance(metrics, (tuple, list)):
            raise TypeError(f"{cls.__name__}: metrics must be a tuple of str, got "
                            f"{type(metrics).__name__}")
        metrics = tuple(metrics)
        if not metrics or any(m not in cls.METRICS for m in metrics) or len(
                set(metrics)) != len(metrics):
            raise invalid(cls.__name__, "metrics", metrics,
                          "must name distinct tests among 'errors', 'latency'")
        return {"metrics": metrics}

    def _options(self, **options: Any) -> None:
        self.metrics = self._validate(**options)["metrics"]
        ro = self._rollout
        self._deltas = {v: RunnerDeltas(self.router.runners[v])
                        for v in (ro.baseline, ro.candidate)}

    @classmethod
    def _initial(cls, config, analysis, now, **options):
        return "canary", cls._step_data(0, config, now), ("canary",)

    @staticmethod
    def _step_data(i: int, config: RolloutConfig, now: float) -> dict:
        return {"step": i, "weight": config.steps[i], "step_started": now, "last_look": now,
                "looks": 0, "n_at_look": 0, "tests": {}, "last_decisions": {}}

    def _test_config(self) -> AnalysisConfig:
        analysed = max(1, sum(1 for w in self.config.steps if w < 1.0))
        return self.analysis.replace(alpha=self.analysis.alpha / (analysed * len(self.metrics)))

    def _tests(self, data: Mapping) -> dict[str, Any]:
        cfg = self._test_config()
        tests = {}
        for m in self.metrics:
            state = data["tests"].get(m)
            kind = SequentialProportionTest if m == "errors" else SequentialMeanTest
            tests[m] = kind(cfg) if state is None else kind.from_dict(thaw(state))
        return tests

    def _gather(self, ro: Rollout, tests: dict[str, Any]) -> int:
        """Add this process's deltas to the tests; the candidate's new requests."""
        new = 0
        snaps = {}
        for arm, v in (("baseline", ro.baseline), ("candidate", ro.candidate)):
            snap, d = self._deltas[v].peek()
            snaps[v] = snap
            if "errors" in tests and d["requests"]:
                tests["errors"].update(arm, d["errors"], d["requests"])
            n, mean, var = d["latency"]
            if "latency" in tests and n:
                tests["latency"].update_stats(arm, n, mean, var)
            if arm == "candidate":
                new = d["requests"]
        self._after.append(lambda: [self._deltas[v].commit(s) for v, s in snaps.items()])
        return new

    def _next(self, ro: Rollout) -> Rollout:
        data = thaw(ro.data)
        now = self.now()
        if data["weight"] >= 1.0:
            return self._commit(ro, "promote", state="promoted", details={"step": data["step"]},
                                versions=[(ro.candidate, "promote")])
        tests = self._tests(data)
        new = self._gather(ro, tests)
        n_candidate = max(t._sizes()[1] for t in tests.values())
        due = (now - data["last_look"] >= self.config.analysis_interval_seconds
               and n_candidate - data["n_at_look"] >= self.config.min_samples_per_look)
        if due:
            decisions = {m: t.decide() for m, t in tests.items()}
            data.update(last_look=now, looks=data["looks"] + 1, n_at_look=n_candidate,
                        last_decisions={m: d.to_dict() for m, d in decisions.items()})
            stats = {"step": data["step"], "weight": data["weight"], "look": data["looks"],
                     "decisions": data["last_decisions"]}
            worse = [m for m, d in decisions.items() if d.action == "rollback"]
            if worse:
                return self._rollback(ro, {"trigger": "analysis", "worse": worse, **stats})
            if all(d.action == "promote" for d in decisions.values()):
                i = data["step"] + 1
                nxt = self._step_data(i, self.config, now)
                if nxt["weight"] >= 1.0:
                    return self._commit(ro, "promote", state="promoted", data={**data, **nxt},
                                        versions=[(ro.candidate, "promote")], details=stats)
                return self._commit(ro, "step", data=nxt, details={**stats, "next_step": i,
                                                                  "next_weight": nxt["weight"]})
        data["tests"] = {m: t.to_dict() for m, t in tests.items()}
        if now - data["step_started"] >= self.config.max_step_seconds:
            return self._rollback(ro, {
                "trigger": "inconclusive", "step": data["step"], "weight": data["weight"],
                "held_seconds": now - data["step_started"],
                "decisions": data["last_decisions"]})
        if due or new:
            return self._commit(ro, None, data=data)
        return ro

    def _weights(self, ro: Rollout) -> dict[str, float] | None:
        if ro.state == "canary":
            w = float(ro.data["weight"])
            return {ro.baseline: 1.0 - w, ro.candidate: w}
        return super()._weights(ro)


# ============================================================ rolling


class Rolling(Strategy):
    """Move the replicas to the candidate one at a time.

    Each replica runs this strategy with its ``replica_id`` (0 to
    ``replica_count - 1``) over the shared registry. Replica ``k`` moves
    (all its traffic to the candidate) once replicas ``0 .. k-1`` have moved
    and ``replica_interval_seconds`` passed since the last move. A moved
    replica whose candidate breaker is not HEALTHY reports itself degraded:
    the rollout pauses (no replica moves) until every moved replica is
    healthy again. The last replica's move promotes the candidate.

    Parameters
    ----------
    replica_id : int
        This replica, 0 to ``replica_count - 1``.
    replica_count : int
        Replicas in the rollout (recorded at the start; later objects must agree).
    """

    kind = "rolling"

    @classmethod
    def _validate(cls, replica_id: int = 0, replica_count: int = 1,
                  **rest: Any) -> dict[str, Any]:
        super()._validate(**rest)
        count = check_int(replica_count, "replica_count", cls.__name__, low=1)
        return {"replica_id": check_int(replica_id, "replica_id", cls.__name__, low=0,
                                        high=count - 1), "replica_count": count}

    def _options(self, replica_id: int = 0, replica_count: int | None = None) -> None:
        count = int(self._rollout.data["replicas"])
        if replica_count is not None and replica_count != count:
            raise invalid(type(self).__name__, "replica_count", replica_count,
                          f"must be the rollout's ({count})")
        self.replica_id = self._validate(replica_id, count)["replica_id"]

    @classmethod
    def _initial(cls, config, analysis, now, replica_count: int = 1, **options):
        count = check_int(replica_count, "replica_count", "Rolling.start", low=1)
        return "rolling", {"replicas": count, "moved": {}, "degraded": {},
                           "last_move": None}, ("canary",)

    def _advance(self, ro: Rollout) -> Rollout:
        if not ro.active:
            return ro
        me = str(self.replica_id)
        if me in ro.data["moved"]:          # (only a moved replica serves the candidate)
            trigger = self.guard.check()
            if trigger is not None:
                return self._rollback(ro, {**trigger, "replica": self.replica_id})
        return self._next(ro)

    def _next(self, ro: Rollout) -> Rollout:
        data = thaw(ro.data)
        me = str(self.replica_id)
        now = self.now()
        if me in data["moved"]:
            state = self.router.runners[ro.candidate].breaker.state
            if state != BreakerState.HEALTHY and me not in data["degraded"]:
                data["degraded"][me] = state.name
                m = self.router.runners[ro.candidate].breaker.metrics
                return self._commit(ro, "pause", state="paused", data=data, details={
                    "replica": self.replica_id, "breaker": state.name,
                    "failure_rate": m["failure_rate"], "window_calls": m["window_calls"]})
            if state == BreakerState.HEALTHY and me in data["degraded"]:
                del data["degraded"][me]
                resumed = ro.state == "paused" and not data["degraded"]
                return self._commit(ro, "resume" if resumed else "healthy",
                                    state="rolling" if resumed else None, data=data,
                                    details={"replica": self.replica_id, "breaker": state.name})
            return ro
        if ro.state != "rolling":
            return ro
        turn = all(str(k) in data["moved"] for k in range(self.replica_id))
        last = data["last_move"]
        if not turn or (last is not None
                        and now - last < self.config.replica_interval_seconds):
            return ro
        data["moved"][me] = now
        data["last_move"] = now
        details = {"replica": self.replica_id, "moved": len(data["moved"]),
                   "replicas": data["replicas"]}
        if len(data["moved"]) == data["replicas"]:
            return self._commit(ro, "promote", state="promoted", data=data, details=details,
                                versions=[(ro.candidate, "promote")])
        return self._commit(ro, "move", data=data, details=details)

    def _weights(self, ro: Rollout) -> dict[str, float] | None:
        if ro.state in ("rolling", "paused"):
            moved = str(self.replica_id) in ro.data["moved"]
            return {ro.candidate: 1.0} if moved else {ro.baseline: 1.0}
        return super()._weights(ro)


# ============================================================ A/B test


class ABTest(Strategy):
    """A fixed split with a planned sample and a group-sequential design.

    The candidate gets ``ab_split`` of the traffic. The compared metric is
    either the log latency from the runners' histograms (``metric="latency"``,
    lower is better) or values the service reports with :meth:`observe`
    (``metric="observed"``: a quality score, a conversion; higher is better
    unless ``lower_is_better``). The design
    (:class:`~fugue_ppl.deploy.group_sequential.GroupSequentialDesign`,
    ``ab_looks`` looks at ``alpha``) looks when both arms reach the next
    fraction ``k / ab_looks`` of ``ab_max_samples``; each look's Welch t-test
    (candidate minus baseline) is an event. A boundary crossed stops the test
    early: the candidate wins (promoted) or the baseline wins (rolled back);
    no winner at the last look ends it as ``no_difference``.

    Parameters
    ----------
    metric : {"latency", "observed"}
    lower_is_better : bool, optional
        Default: True for latency, False for observed values.
    """

    kind = "ab_test"

    @classmethod
    def _validate(cls, metric: str = "latency", lower_is_better: bool | None = None,
                  **rest: Any) -> dict[str, Any]:
        super()._validate(**rest)
        if metric not in ("latency", "observed"):
            raise invalid(cls.__name__, "metric", metric, "must be 'latency' or 'observed'")
        return {"metric": metric, "lower_is_better": lower_is_better}

    def _options(self, metric: str = "latency", lower_is_better: bool | None = None) -> None:
        self._validate(metric, lower_is_better)
        self.metric = metric
        self.lower_is_better = (metric == "latency") if lower_is_better is None else bool(
            lower_is_better)
        cfg = self.config
        self.design = GroupSequentialDesign(cfg.ab_looks, alpha=self.analysis.alpha,
                                            spending=cfg.ab_spending)
        ro = self._rollout
        self._deltas = {v: RunnerDeltas(self.router.runners[v])
                        for v in (ro.baseline, ro.candidate)}
        self._observed = {"baseline": [], "candidate": []}

    @classmethod
    def _initial(cls, config, analysis, now, **options):
        arm = {"n": 0, "mean": 0.0, "m2": 0.0}
        return "running", {"arms": {"baseline": dict(arm), "candidate": dict(arm)},
                           "look": 0, "looks": []}, ("canary",)

    def observe(self, version: str, values: Any) -> None:
        """Report values of the observed metric for requests ``version`` served."""
        ro = self._rollout
        arms = {ro.baseline: "baseline", ro.candidate: "candidate"}
        if version not in arms:
            raise invalid("ABTest.observe", "version", version,
                          f"must be {ro.baseline!r} or {ro.candidate!r}")
        vals = [float(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
        if not all(math.isfinite(v) for v in vals):
            raise invalid("ABTest.observe", "values", values, "must be finite")
        with self._lock:
            self._observed[arms[version]].extend(vals)

    def _batches(self, ro: Rollout) -> dict[str, tuple[int, float, float]]:
        out = {}
        if self.metric == "observed":
            taken = {a: list(v) for a, v in self._observed.items()}
            for arm, vals in taken.items():
                n = len(vals)
                mean = math.fsum(vals) / n if n else 0.0
                out[arm] = (n, mean, math.fsum((x - mean) ** 2 for x in vals))

            def forget(taken=taken):
                for arm, vals in taken.items():
                    del self._observed[arm][:len(vals)]
            self._after.append(forget)
            return out
        snaps = {}
        for arm, v in (("baseline", ro.baseline), ("candidate", ro.candidate)):
            snaps[v], d = self._deltas[v].peek()
            n, mean, var = d["latency"]
            out[arm] = (n, mean, var * (n - 1) if n > 1 else 0.0)
        self._after.append(lambda: [self._deltas[v].commit(s) for v, s in snaps.items()])
        return out

    def _next(self, ro: Rollout) -> Rollout:
        data = thaw(ro.data)
        batches = self._batches(ro)
        for arm, (n, mean, m2) in batches.items():
            a = data["arms"][arm]
            if n:
                total = a["n"] + n
                delta = mean - a["mean"]
                a["mean"] += delta * n / total
                a["m2"] += m2 + delta * delta * a["n"] * n / total
                a["n"] = total
        arms = data["arms"]
        k = data["look"] + 1
        need = math.ceil(k / self.design.looks * self.config.ab_max_samples)
        n_min = min(arms["baseline"]["n"], arms["candidate"]["n"])
        if k > self.design.looks or n_min < need or n_min < 2:
            if any(n for n, _, _ in batches.values()):
                return self._commit(ro, None, data=data)
            return ro
        b, c = arms["baseline"], arms["candidate"]
        t = welch_t_test_from_stats(c["n"], c["mean"], c["m2"] / (c["n"] - 1),
                                    b["n"], b["mean"], b["m2"] / (b["n"] - 1))
        look = self.design.evaluate(k, t.t, t.df if t.std_error > 0.0 else None)
        result = {"look": k, "welch": t.to_dict(), "group_sequential": look.to_dict(),
                  "n_baseline": b["n"], "n_candidate": c["n"],
                  "mean_baseline": b["mean"], "mean_candidate": c["mean"],
                  "metric": self.metric, "lower_is_better": self.lower_is_better}
        data["look"] = k
        data["looks"].append(_jsonable(result))
        if not look.stop:
            return self._commit(ro, "look", data=data, details=result)
        if look.winner is None:
            return self._commit(ro, "no_difference", state="no_difference", data=data,
                                details=result, versions=[(ro.candidate, "staged")])
        candidate_wins = (look.winner == "candidate") != self.lower_is_better
        if candidate_wins:
            return self._commit(ro, "promote", state="promoted", data=data, details=result,
                                versions=[(ro.candidate, "promote")])
        return self._commit(ro, "rollback", state="rolled_back", data=data,
                            details={"trigger": "baseline_wins", **result},
                            versions=self._back_versions(ro))

    def _weights(self, ro: Rollout) -> dict[str, float] | None:
        if ro.state == "running":
            s = self.config.ab_split
            return {ro.baseline: 1.0 - s, ro.candidate: s}
        return super()._weights(ro)


# ============================================================ shadow


class ShadowRollout(Strategy):
    """Send a fraction of the calls to the candidate too, off the request path.

    The router's :meth:`~fugue_ppl.deploy.Router.set_shadow` queues copies of
    ``shadow_fraction`` of the calls for the candidate's worker threads; the
    served responses never change. :attr:`stats` is the comparison so far
    (:class:`~fugue_ppl.deploy.shadow.ShadowStats`); the rollout completes
    after ``shadow_seconds`` with the comparison in its event, or is rolled
    back by an automatic trigger.
    """

    kind = "shadow"

    @classmethod
    def _initial(cls, config, analysis, now, **options):
        return "shadowing", {"started": now}, ("shadow",)

    @property
    def stats(self) -> dict[str, Any] | None:
        """The shadow comparison in this process (``ShadowStats.to_dict``), or None."""
        s = self.router.shadow
        return None if s is None or s.version != self._rollout.candidate else s.to_dict()

    def _next(self, ro: Rollout) -> Rollout:
        if self.now() - ro.data["started"] >= self.config.shadow_seconds:
            return self._commit(ro, "complete", state="completed",
                                details={"shadow": self.stats},
                                versions=[(ro.candidate, "staged")])
        return ro

    def _rollback(self, ro: Rollout, details: Mapping[str, Any]) -> Rollout:
        return super()._rollback(ro, {**details, "shadow": self.stats})

    def _route(self, ro: Rollout) -> None:
        super()._route(ro)
        if ro.state == "shadowing":
            s = self.router.shadow
            if s is None or s.version != ro.candidate:
                self.router.set_shadow(ro.candidate, self.config.shadow_fraction)
        elif self.router.shadow is not None and self.router.shadow.version == ro.candidate:
            self.router.set_shadow(None)


#: The strategies by the name their rollouts record.
STRATEGIES: dict[str, type[Strategy]] = {
    cls.kind: cls for cls in (Immediate, BlueGreen, Canary, Rolling, ABTest, ShadowRollout)}


def resume(registry: ModelRegistry, rollout: int | str, router: Router, **kwargs: Any
           ) -> Strategy:
    """The strategy of an existing rollout, to drive it from this process.

    Parameters
    ----------
    registry : ModelRegistry
    rollout : int or str
        A rollout's id, or a model's name (its active rollout).
    router : Router
        This process's router.
    **kwargs
        ``clock``, ``actor`` and the strategy's options (e.g. ``replica_id``).

    Raises
    ------
    UnknownRollout
        No such rollout, or the model has no active rollout.
    """
    registry = check_type(registry, "registry", "resume", ModelRegistry, "a ModelRegistry")
    if isinstance(rollout, str):
        found = registry.active_rollout(rollout)
        if found is None:
            raise UnknownRollout(f"model {rollout!r} has no active rollout", model=rollout)
    else:
        found = registry.rollout(rollout)
    return STRATEGIES[found.strategy](registry, found, router, **kwargs)
