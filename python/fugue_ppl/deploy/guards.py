"""Automatic rollback triggers: :class:`RollbackGuard` watches a candidate's
runner and says when its rollout must be rolled back at once, with the
statistics that decided it.

Two triggers, beside a failed analysis (which the strategies check
themselves): the candidate's circuit breaker reaching FAILED (a listener
catches the transition even when the breaker has moved on to RECOVERY by the
next look), and the candidate's error-budget burn rate passing a page
threshold (the multi-window page rules of
:data:`~fugue_ppl.serving.slo.burn_rate.DEFAULT_BURN_RATE_RULES`, over an
:class:`~fugue_ppl.serving.slo.EventStore` that follows the runner). Further
triggers are added with :meth:`RollbackGuard.add_trigger`, e.g. a drift alarm
on the candidate (:meth:`fugue_ppl.serving.drift.DriftMonitor.rollback_trigger`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fugue_ppl.checks import check_type
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.serving import BreakerState, ModelRunner
from fugue_ppl.serving.slo import BurnRateAlerts, EventStore
from fugue_ppl.serving.slo.burn_rate import DEFAULT_BURN_RATE_RULES

__all__ = ["PAGE_RULES", "RollbackGuard"]

#: The burn-rate rules whose firing rolls a candidate back: the page rules.
PAGE_RULES = tuple(r for r in DEFAULT_BURN_RATE_RULES if r.severity == "page")


class RollbackGuard:
    """Watch a candidate's runner for the automatic rollback triggers.

    Parameters
    ----------
    runner : ModelRunner
        The candidate's runner (with metrics, for the burn rate).
    config : RolloutConfig
        Which triggers are armed, the objective and the least events.
    clock : callable
        Seconds, for the burn rate's event store (``fugue_ppl.ManualClock`` in tests).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import sensor
    >>> guard = RollbackGuard(fp.ModelRunner(sensor, rng=0), RolloutConfig(),
    ...                       clock=fp.ManualClock())
    >>> guard.check() is None
    True
    """

    def __init__(self, runner: ModelRunner, config: RolloutConfig,
                 clock: Callable[[], float]):
        self.runner = check_type(runner, "runner", "RollbackGuard", ModelRunner, "a ModelRunner")
        self.config = check_type(config, "config", "RollbackGuard", RolloutConfig,
                                 "a RolloutConfig")
        self._lock = threading.Lock()
        self._failed: dict[str, Any] | None = None
        self._listening = config.rollback_on_breaker_failed
        if self._listening:
            runner.breaker.add_listener(self._on_transition)
        self._extra: list[Callable[[], dict[str, Any] | None]] = []
        self._alerts = None
        if config.rollback_on_burn_rate and runner.metrics is not None:
            store = EventStore.from_runner(runner, clock=clock)
            self._alerts = BurnRateAlerts(store, slo=config.slo_objective, rules=PAGE_RULES,
                                          min_events=config.burn_rate_min_events)

    def _on_transition(self, old: BreakerState, new: BreakerState) -> None:
        if new == BreakerState.FAILED:
            with self._lock:
                if self._failed is None:
                    m = self.runner.breaker.metrics
                    # (the window is cleared on opening: the totals say what led there)
                    self._failed = {"trigger": "breaker_failed", "from": old.name,
                                    "failed_calls": m["failed_calls"],
                                    "total_calls": m["total_calls"],
                                    "rejected_calls": m["rejected_calls"],
                                    "transitions": m["transitions"]}

    def check(self) -> dict[str, Any] | None:
        """The trigger that fired, with its statistics, or None.

        Returns
        -------
        dict or None
            ``{"trigger": "breaker_failed", ...}`` (the breaker's failure rate
            and window) or ``{"trigger": "burn_rate", "rule", "long_burn_rate",
            "short_burn_rate", "threshold", ...}``, or what an added trigger
            (:meth:`add_trigger`) returned.
        """
        with self._lock:
            if self._failed is not None:
                return dict(self._failed)
        if self._listening and self.runner.breaker.state == BreakerState.FAILED:
            self._on_transition(BreakerState.FAILED, BreakerState.FAILED)
            with self._lock:
                return dict(self._failed)
        if self._alerts is not None:
            self._alerts.store.sync()
            for s in self._alerts.status():
                if s.firing:
                    return {"trigger": "burn_rate", "rule": s.rule.name,
                            "long_burn_rate": s.long_burn_rate,
                            "short_burn_rate": s.short_burn_rate,
                            "threshold": s.rule.threshold, "short_events": s.short_events,
                            "long_events": s.long_events, "slo": self._alerts.slo}
        with self._lock:
            extra = list(self._extra)
        for trigger in extra:
            found = trigger()
            if found is not None:
                return dict(found)
        return None

    def add_trigger(self, trigger: Callable[[], dict[str, Any] | None]) -> None:
        """Also roll back when ``trigger()`` returns a dict (its ``"trigger"`` names it).

        Checked after the breaker and the burn rate, in the order added, at
        every look; e.g. ``guard.add_trigger(drift_monitor.rollback_trigger)``
        rolls the candidate back on a drift alarm. Held by this object only
        (a resumed strategy adds its triggers again).

        Raises
        ------
        TypeError
            ``trigger`` is not callable.
        """
        if not callable(trigger):
            raise TypeError(f"RollbackGuard.add_trigger: trigger must be callable, got "
                            f"{type(trigger).__name__}")
        with self._lock:
            self._extra.append(trigger)

    def close(self) -> None:
        """Stop listening to the breaker (idempotent)."""
        if self._listening:
            self._listening = False
            self.runner.breaker.remove_listener(self._on_transition)
