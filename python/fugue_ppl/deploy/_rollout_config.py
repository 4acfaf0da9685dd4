"""The rollouts' settings (``[rollout]``): a canary's traffic steps and how long
a step may wait for a decision, how often the analysis looks, how replicas
move, an A/B test's plan, shadow traffic, and the automatic rollback triggers.

:mod:`fugue_ppl.config` composes them; a strategy
(:mod:`fugue_ppl.deploy.strategies`) takes them directly and records them in
its rollout, so a resumed rollout keeps the settings it started with.
"""

from __future__ import annotations

import math
from typing import Any

from fugue_ppl.checks import (
    Bounded,
    Choice,
    Custom,
    Duration,
    Flag,
    Int,
    Settings,
    invalid,
    setting,
    settings,
    type_error,
)
from fugue_ppl.deploy.group_sequential import SPENDING_FUNCTIONS

__all__ = ["DEFAULT_STEPS", "RolloutConfig"]

#: A canary's default traffic steps (the candidate's share).
DEFAULT_STEPS = (0.01, 0.05, 0.25, 0.5, 1.0)


def _steps(value: Any, name: str, owner: str) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise type_error(owner, name, value, "a list of fractions")
    out = []
    for w in value:
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise type_error(owner, name, value, "a list of fractions")
        out.append(float(w))
    if not out:
        raise invalid(owner, name, value, "must hold at least one step")
    if any(not math.isfinite(w) or not 0.0 < w <= 1.0 for w in out):
        raise invalid(owner, name, value, "must hold fractions in (0, 1]")
    if any(a >= b for a, b in zip(out, out[1:], strict=False)):
        raise invalid(owner, name, value, "must increase strictly")
    if out[-1] != 1.0:
        raise invalid(owner, name, value, "must end at 1 (all traffic to the candidate)")
    return tuple(out)


@settings
class RolloutConfig(Settings):
    """How rollouts proceed: canary steps and timing, replicas, A/B tests, shadow
    traffic, and when a rollout is rolled back automatically.

    Examples
    --------
    >>> RolloutConfig(steps=[0.1, 0.5, 1.0]).steps
    (0.1, 0.5, 1.0)
    """

    steps: tuple[float, ...] = setting(
        DEFAULT_STEPS, check=Custom(_steps, "increasing fractions in (0, 1], ending at 1"),
        doc="A canary's traffic steps: the candidate's share at each step; reaching the last "
            "(1) promotes it.")
    max_step_seconds: float = setting(
        3600.0, check=Duration(maximum=30 * 86_400.0),
        doc="How long a canary step waits for a decision: still inconclusive then, the "
            "rollout is rolled back.")
    analysis_interval_seconds: float = setting(
        60.0, check=Duration(maximum=86_400.0),
        doc="Time between two looks of the analysis (a step() sooner only gathers counts).")
    min_samples_per_look: int = setting(
        100, check=Int(1, 10**9),
        doc="New candidate requests a look needs (fewer: the look waits).")
    bake_seconds: float = setting(
        600.0, check=Duration(maximum=30 * 86_400.0, zero=True),
        doc="Blue-green: how long the new colour is watched (automatic rollback armed) "
            "before the rollout ends.")
    replica_interval_seconds: float = setting(
        60.0, check=Duration(maximum=86_400.0, zero=True),
        doc="Rolling: the least time between two replicas moving to the candidate.")
    ab_split: float = setting(
        0.5, check=Bounded(0.0, 1.0, low_open=True, high_open=True),
        doc="A/B test: the candidate's share of the traffic.")
    ab_max_samples: int = setting(
        10_000, check=Int(2, 10**12),
        doc="A/B test: the planned sample of each arm (the last look).")
    ab_looks: int = setting(5, check=Int(1, 50),
                            doc="A/B test: planned looks, evenly spaced in the sample.")
    ab_spending: str = setting(
        "obrien-fleming", check=Choice(SPENDING_FUNCTIONS),
        doc="A/B test: the alpha-spending function of the group-sequential design.")
    shadow_fraction: float = setting(
        0.1, check=Bounded(0.0, 1.0, low_open=True),
        doc="Shadow: the fraction of calls also sent to the candidate.")
    shadow_seconds: float = setting(
        3600.0, check=Duration(maximum=30 * 86_400.0),
        doc="Shadow: how long the shadow traffic runs before the rollout completes.")
    rollback_on_breaker_failed: bool = setting(
        True, check=Flag(),
        doc="Roll back at once when the candidate's circuit breaker reaches FAILED.")
    rollback_on_burn_rate: bool = setting(
        True, check=Flag(),
        doc="Roll back at once when the candidate's error-budget burn rate passes a page "
            "threshold (the multi-window page rules).")
    slo_objective: float = setting(
        0.999, check=Bounded(0.0, 1.0, low_open=True, high_open=True),
        doc="The availability objective the candidate's burn rate is measured against.")
    burn_rate_min_events: int = setting(
        100, check=Int(0, 10**9),
        doc="Requests the candidate needs in the short window before its burn rate can "
            "roll it back.")
