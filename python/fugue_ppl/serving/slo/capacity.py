"""Capacity planning: :class:`CapacityPlanner` turns an arrival rate and a service time
(given, or measured by a runner's metrics) into a utilisation ``rho = lambda / (c * mu)``
and a :class:`CapacityRecommendation` to scale up, scale down or do nothing."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

from fugue_ppl.checks import check_int, safe_repr
from fugue_ppl.serving.slo._common import (
    Source,
    check_number,
    duration_seconds,
    exact,
    metrics_of,
    to_float,
)


@dataclass(frozen=True)
class CapacityRecommendation:
    """What :meth:`CapacityPlanner.recommend` returns.

    Attributes
    ----------
    action : str
        ``"scale_up"``, ``"scale_down"`` or ``"no_action"``.
    utilisation : float
        ``rho = arrival_rate * service_time / current_replicas``.
    replicas : int
        The recommended number of replicas.
    current_replicas : int
    factor : float
        ``replicas / current_replicas`` (1.0 for no action).
    arrival_rate : float
        Requests per second (lambda).
    service_time : float
        Seconds per request (1 / mu).
    message : str
    limited_by : str or None
        ``"max_replicas"`` or ``"min_replicas"`` when a bound changed the
        replicas the load asks for.
    """

    action: str
    utilisation: float
    replicas: int
    current_replicas: int
    factor: float
    arrival_rate: float
    service_time: float
    message: str
    limited_by: str | None = None

    @property
    def projected_utilisation(self) -> float:
        """The utilisation with the recommended replicas."""
        lam, s, c = self.arrival_rate, self.service_time, self.replicas
        try:
            u = lam * s / c
        except OverflowError:                    # more replicas than a float holds
            u = math.inf
        if math.isinf(u) and math.isfinite(lam) and math.isfinite(s):
            u = to_float(exact(lam) * exact(s) / c)  # beyond the float range on the way: exactly
        return u

    @property
    def saturated(self) -> bool:
        """``utilisation >= 1``: requests arrive faster than the replicas can serve them."""
        return self.utilisation >= 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["projected_utilisation"] = self.projected_utilisation
        return d


class CapacityPlanner:
    """Utilisation ``rho = lambda / (c * mu)`` and a scaling recommendation.

    ``lambda`` is the arrival rate (requests per second), ``1 / mu`` the mean
    service time and ``c`` the number of replicas (servers: processes,
    workers). Above ``scale_up_threshold`` the planner scales up, below
    ``scale_down_threshold`` it scales down, in between (thresholds
    included) it does nothing; a change aims at ``target_utilisation``:
    ``replicas = ceil(lambda / (mu * target))``, kept within
    ``[min_replicas, max_replicas]``.

    Parameters
    ----------
    scale_up_threshold, scale_down_threshold, target_utilisation : float
        ``0 <= scale_down_threshold < target_utilisation < scale_up_threshold <= 1``.
    min_replicas : int
    max_replicas : int or None
        ``None``: no upper bound.

    Raises
    ------
    TypeError, ValueError
        Thresholds out of order or range, bad replica bounds (the message
        names the parameter).

    Examples
    --------
    >>> from fugue_ppl.serving.slo import CapacityPlanner
    >>> planner = CapacityPlanner()
    >>> r = planner.recommend(arrival_rate=90.0, service_time=0.02, replicas=2)
    >>> r.action, r.utilisation, r.replicas, r.factor
    ('scale_up', 0.9, 4, 2.0)
    >>> planner.recommend(arrival_rate=7.0, service_time=0.1, replicas=1).action
    'no_action'
    """

    def __init__(self, scale_up_threshold: float = 0.7, scale_down_threshold: float = 0.3,
                 target_utilisation: float = 0.5, min_replicas: int = 1,
                 max_replicas: int | None = None) -> None:
        owner = "CapacityPlanner"
        up = check_number(scale_up_threshold, "scale_up_threshold", owner, 0.0, 1.0,
                          low_open=True)
        down = check_number(scale_down_threshold, "scale_down_threshold", owner, 0.0, 1.0,
                            high_open=True)
        target = check_number(target_utilisation, "target_utilisation", owner, 0.0, 1.0,
                              low_open=True, high_open=True)
        if not down < target < up:
            raise ValueError(f"CapacityPlanner: thresholds must satisfy scale_down_threshold "
                             f"< target_utilisation < scale_up_threshold, got {down:g}, "
                             f"{target:g}, {up:g}")
        lo = check_int(min_replicas, "min_replicas", owner, low=1)
        hi = None
        if max_replicas is not None:
            hi = check_int(max_replicas, "max_replicas", owner, low=0)
            if hi < lo:
                raise ValueError(f"CapacityPlanner: max_replicas ({safe_repr(hi)}) must be >= "
                                 f"min_replicas ({safe_repr(lo)})")
        self.scale_up_threshold = up
        self.scale_down_threshold = down
        self.target_utilisation = target
        self.min_replicas = lo
        self.max_replicas = hi

    def recommend(self, arrival_rate: float, service_time: float,
                  replicas: int = 1) -> CapacityRecommendation:
        """A recommendation from the arrival rate, the mean service time and the replicas.

        Parameters
        ----------
        arrival_rate : float
            lambda, requests per second (>= 0).
        service_time : float or timedelta
            1 / mu, seconds per request (>= 0).
        replicas : int
            c, the replicas serving now (>= 1).

        Returns
        -------
        CapacityRecommendation

        Notes
        -----
        Utilisation is compared with the thresholds exactly (floats taken as
        the decimals they print as): ``arrival_rate=7.0, service_time=0.1``
        on one replica is exactly at 0.7 and does not scale up.
        """
        owner = "CapacityPlanner.recommend"
        lam = check_number(arrival_rate, "arrival_rate", owner, 0.0)
        if isinstance(service_time, timedelta):
            s = duration_seconds(service_time, "service_time", owner, zero=True)
        else:
            s = check_number(service_time, "service_time", owner, 0.0)
        c = check_int(replicas, "replicas", owner, low=1)
        load = exact(lam) * exact(s)                      # offered load, in replicas
        rho = load / c
        needed = math.ceil(load / exact(self.target_utilisation))
        if rho > exact(self.scale_up_threshold):
            desired, why = max(needed, c + 1), (f"above the scale-up threshold "
                                                f"{self.scale_up_threshold:g}")
        elif rho < exact(self.scale_down_threshold):
            desired, why = min(needed, c), (f"below the scale-down threshold "
                                            f"{self.scale_down_threshold:g}")
        else:
            desired, why = c, (f"within [{self.scale_down_threshold:g}, "
                               f"{self.scale_up_threshold:g}]")
        final, limited = desired, None
        if self.max_replicas is not None and final > self.max_replicas:
            final, limited = self.max_replicas, "max_replicas"
        if final < self.min_replicas:
            final, limited = self.min_replicas, "min_replicas"
        action = "scale_up" if final > c else "scale_down" if final < c else "no_action"
        # inf beyond the float range (a load of more than ~1e308 replicas)
        utilisation, factor = to_float(rho), to_float(Fraction(final, c))
        msg = f"utilisation {utilisation:.3g} {why}: "
        if action == "no_action":
            msg += f"keep {safe_repr(c)} replica{'s' if c != 1 else ''}"
        else:
            msg += f"scale from {safe_repr(c)} to {safe_repr(final)} replicas (x{factor:.3g})"
        if limited is not None:
            bound = self.max_replicas if limited == "max_replicas" else self.min_replicas
            msg += f" (limited by {limited}={safe_repr(bound)})"
        return CapacityRecommendation(action, utilisation, final, c, factor, lam, s, msg,
                                      limited)

    def from_metrics(self, source: Source, replicas: int = 1, *,
                     arrival_rate: float | None = None,
                     service_time: float | None = None) -> CapacityRecommendation:
        """A recommendation from measured metrics.

        Parameters
        ----------
        source : ModelRunner or ProductionMetrics
            Supplies the arrival rate (``window_throughput``: inferences per
            second over the metrics' sliding window) and the mean service
            time (the latency histogram's mean; 0 without inferences). The
            rate is taken as the arrival rate of all ``replicas`` together,
            e.g. the workers sharing these metrics.
        replicas : int
        arrival_rate, service_time : float, optional
            Override the measured values (e.g. ``store.rate(window)`` from an
            :class:`EventStore`, or one replica's rate times the replicas).

        Returns
        -------
        CapacityRecommendation
        """
        m = metrics_of(source, "source", "CapacityPlanner.from_metrics")
        if arrival_rate is None:
            arrival_rate = m.window_throughput
        if service_time is None:
            service_time = m.latency.mean if m.latency.count > 0 else 0.0
        return self.recommend(arrival_rate, service_time, replicas)

    def __repr__(self) -> str:
        return (f"CapacityPlanner(scale_up_threshold={self.scale_up_threshold:g}, "
                f"scale_down_threshold={self.scale_down_threshold:g}, "
                f"target_utilisation={self.target_utilisation:g}, "
                f"min_replicas={safe_repr(self.min_replicas)}, "
                f"max_replicas={safe_repr(self.max_replicas)})")
