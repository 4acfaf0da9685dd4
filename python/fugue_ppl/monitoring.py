"""Monitoring statistics, implemented in C++.

:class:`LatencyHistogram` (log-linear, bounded relative error on every
quantile), :class:`Welford` (running mean and variance, mergeable),
:class:`EWMA` (with time-varying control limits), :class:`ShewhartChart`
(X-bar and individuals charts with the Western Electric rules) and
:class:`CUSUM` (tabular). Monitors can be attached to a
:class:`~fugue_ppl.metrics.ProductionMetrics` so every recorded latency
updates them and their alarms are counted and exported.
"""

from fugue_ppl._metrics import LatencyHistogram

__all__ = ["LatencyHistogram"]

from fugue_ppl import _monitors as _m

for _name in getattr(_m, "__all__", ()):
    globals()[_name] = getattr(_m, _name)
    __all__.append(_name)
