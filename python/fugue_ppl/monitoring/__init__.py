"""Monitoring: the latency histogram, production metrics and the statistical
monitors (Welford, EWMA, Shewhart charts, CUSUM), all compiled, and their
Prometheus export (:mod:`fugue_ppl.monitoring.prometheus`).

Monitors attached to a :class:`ProductionMetrics` see every recorded latency;
their alarms are counted and exported.
"""

from fugue_ppl.monitoring._metrics import (
    MAX_WINDOW_SECONDS,
    LatencyHistogram,
    MetricsHandler,
    ProductionMetrics,
    clock_info,
)
from fugue_ppl.monitoring._metrics_config import MetricsConfig
from fugue_ppl.monitoring._monitors import (
    CUSUM,
    DEFAULT_WARMUP,
    EWMA,
    WESTERN_ELECTRIC_RULES,
    BatchResult,
    CUSUMConfig,
    EWMAConfig,
    ShewhartChart,
    Signal,
    Welford,
)

__all__ = [
    "LatencyHistogram", "ProductionMetrics", "MetricsHandler", "MetricsConfig", "clock_info",
    "MAX_WINDOW_SECONDS",
    "Welford", "EWMA", "ShewhartChart", "CUSUM", "Signal", "BatchResult",
    "EWMAConfig", "CUSUMConfig", "DEFAULT_WARMUP", "WESTERN_ELECTRIC_RULES",
]
