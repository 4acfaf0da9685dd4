"""Threshold alerts on a runner's current metrics: :class:`AlertRules`, and the
:class:`Alert` every rule of the package returns (burn-rate rules:
:mod:`~fugue_ppl.serving.slo.burn_rate`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from fractions import Fraction
from typing import Any

from fugue_ppl.checks import check_flag, check_int, invalid, safe_repr, type_error
from fugue_ppl.serving.slo._common import (
    Source,
    check_number,
    duration_seconds,
    exact,
    metrics_of,
    request_counts,
)


@dataclass(frozen=True)
class Alert:
    """One alert: what fired, how bad, the value seen and the limit it crossed.

    Attributes
    ----------
    kind : str
        ``"error_rate"``, ``"latency_p99"``, ``"throughput"``,
        ``"monitor_alarm"`` or ``"burn_rate"``.
    severity : str
        ``"critical"`` / ``"warning"`` for :class:`AlertRules` (configurable),
        ``"page"`` / ``"ticket"`` for burn-rate rules.
    observed : float
        The value that crossed the threshold.
    threshold : float
    message : str
        One line, safe to log.
    window : timedelta or None
        The window the value was measured over, when there is one.
    subject : str or None
        What the alert is about when a kind has several (a monitor's name, a
        burn-rate rule's name).
    """

    kind: str
    severity: str
    observed: float
    threshold: float
    message: str
    window: timedelta | None = None
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The alert as a JSON-serialisable dict (windows in seconds)."""
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = v.total_seconds() if isinstance(v, timedelta) else v
        return d


_ALERT_KINDS = ("error_rate", "latency_p99", "throughput", "monitor_alarm")
_DEFAULT_SEVERITIES = {"error_rate": "critical", "latency_p99": "warning",
                       "throughput": "warning", "monitor_alarm": "warning"}


class AlertRules:
    """Threshold alerts on a runner's (or a metrics object's) current values.

    Each rule is optional (``None`` turns it off). A rule fires when the
    observed value is strictly beyond its threshold.

    Parameters
    ----------
    max_error_rate : float or None
        Fires when bad requests / requests ``> max_error_rate`` (in
        ``[0, 1]``), counted since the metrics started (see
        :mod:`fugue_ppl.serving.slo` for what a runner counts). Needs at least
        ``min_requests`` requests.
    max_latency_p99 : float or timedelta or None
        Fires when the 99th percentile of the latency histogram (seconds,
        0.4% resolution) is ``> max_latency_p99``. Off without any inference.
    min_throughput : float or None
        Fires when the throughput over the metrics' sliding window
        (``window_throughput``, inferences per second) is ``< min_throughput``;
        no traffic at all fires it.
    monitor_alarms : bool or int or None
        Fires once per attached monitor whose alarm count (cumulative, see
        :meth:`~fugue_ppl.ProductionMetrics.attach`) is above the allowance:
        ``True`` allows none, an int ``n`` allows ``n``, ``False`` / ``None``
        turns the rule off.
    min_requests : int
        Fewest requests before the error-rate rule is considered.
    count_rejected : bool
        Whether calls the runner's breaker rejected count as failed requests.
    severities : mapping, optional
        Severity per kind, overriding the defaults (``"critical"`` for the
        error rate, ``"warning"`` for the others).

    Raises
    ------
    TypeError, ValueError
        A threshold of the wrong type or out of range (the message names it).

    Examples
    --------
    >>> from fugue_ppl import ProductionMetrics
    >>> from fugue_ppl.serving.slo import AlertRules
    >>> metrics = ProductionMetrics()
    >>> for i in range(100):
    ...     metrics.record(0.002, error="RuntimeError" if i < 6 else None)
    >>> [(a.kind, a.severity, a.observed) for a in
    ...  AlertRules(max_error_rate=0.05, max_latency_p99=0.01).evaluate(metrics)]
    [('error_rate', 'critical', 0.06)]
    """

    def __init__(self, *, max_error_rate: float | None = 0.1,
                 max_latency_p99: float | timedelta | None = None,
                 min_throughput: float | None = None,
                 monitor_alarms: bool | int | None = True,
                 min_requests: int = 1, count_rejected: bool = True,
                 severities: Mapping[str, str] | None = None) -> None:
        owner = "AlertRules"
        if max_error_rate is not None:
            max_error_rate = check_number(max_error_rate, "max_error_rate", owner, 0.0, 1.0)
        p99 = None
        if max_latency_p99 is not None:
            p99 = duration_seconds(max_latency_p99, "max_latency_p99", owner)
        if min_throughput is not None:
            min_throughput = check_number(min_throughput, "min_throughput", owner, 0.0)
        if monitor_alarms is None or monitor_alarms is False:
            allowed: int | None = None
        elif monitor_alarms is True:
            allowed = 0
        else:
            allowed = check_int(monitor_alarms, "monitor_alarms", owner, low=0)
        min_requests = check_int(min_requests, "min_requests", owner, low=0)
        count_rejected = check_flag(count_rejected, "count_rejected", owner)
        sev = dict(_DEFAULT_SEVERITIES)
        if severities is not None:
            if not isinstance(severities, Mapping):
                raise type_error(owner, "severities", severities, "a mapping")
            for k, v in severities.items():
                if k not in sev:
                    raise ValueError(f"AlertRules: severities has an unknown kind "
                                     f"{safe_repr(k)} (known: {', '.join(_ALERT_KINDS)})")
                if not isinstance(v, str) or not v.strip():
                    raise invalid(owner, f"severities[{k!r}]", v, "must be a non-empty str")
                sev[k] = v
        self.max_error_rate = max_error_rate
        self.max_latency_p99 = p99
        self.min_throughput = min_throughput
        self.monitor_alarms = allowed
        self.min_requests = min_requests
        self.count_rejected = count_rejected
        self.severities = sev

    def evaluate(self, source: Source) -> list[Alert]:
        """The alerts firing now, in the order error rate, latency, throughput, monitors.

        Parameters
        ----------
        source : ModelRunner or ProductionMetrics

        Returns
        -------
        list of Alert
            Empty when nothing fires.

        Raises
        ------
        TypeError
            ``source`` is neither a runner nor metrics.
        ValueError
            The runner was built with ``metrics=False``.
        """
        m = metrics_of(source, "source", "AlertRules.evaluate")
        alerts: list[Alert] = []
        if self.max_error_rate is not None:
            total, bad = request_counts(source, "source", "AlertRules.evaluate",
                                        self.count_rejected)
            if total > 0 and total >= self.min_requests:
                rate = Fraction(bad, total)
                if rate > exact(self.max_error_rate):
                    alerts.append(Alert(
                        "error_rate", self.severities["error_rate"], float(rate),
                        self.max_error_rate,
                        f"error rate {float(rate):.4g} ({bad} of {total} requests) above "
                        f"{self.max_error_rate:g}"))
        if self.max_latency_p99 is not None and m.latency.count > 0:
            p99 = m.latency.quantile(0.99)
            if p99 > self.max_latency_p99:
                alerts.append(Alert(
                    "latency_p99", self.severities["latency_p99"], p99, self.max_latency_p99,
                    f"p99 latency {p99 * 1e3:.4g} ms above {self.max_latency_p99 * 1e3:g} ms"))
        if self.min_throughput is not None:
            tp = m.window_throughput
            if tp < self.min_throughput:
                alerts.append(Alert(
                    "throughput", self.severities["throughput"], tp, self.min_throughput,
                    f"throughput {tp:.4g}/s over the last {m.window}s below "
                    f"{self.min_throughput:g}/s", window=timedelta(seconds=m.window)))
        if self.monitor_alarms is not None:
            for name, n in sorted(m.monitor_alarms.items()):
                if n > self.monitor_alarms:
                    alerts.append(Alert(
                        "monitor_alarm", self.severities["monitor_alarm"], float(n),
                        float(self.monitor_alarms),
                        f"monitor {name!r} raised {n} alarm{'s' if n != 1 else ''} "
                        f"(allowed: {self.monitor_alarms})", subject=name))
        return alerts

    def __repr__(self) -> str:
        return (f"AlertRules(max_error_rate={self.max_error_rate!r}, "
                f"max_latency_p99={self.max_latency_p99!r}, "
                f"min_throughput={self.min_throughput!r}, "
                f"monitor_alarms={safe_repr(self.monitor_alarms)})")
