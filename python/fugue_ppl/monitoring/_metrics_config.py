"""The settings of the production metrics (the ``[metrics]`` section).

:class:`~fugue_ppl.ModelRunner` builds its :class:`~fugue_ppl.ProductionMetrics`
from them; :mod:`fugue_ppl.config` layers them.
"""

from __future__ import annotations

from fugue_ppl.checks import Flag, Int, Settings, setting, settings
from fugue_ppl.monitoring._metrics import DEFAULT_WINDOW_SECONDS, MAX_WINDOW_SECONDS

__all__ = ["MetricsConfig"]


@settings
class MetricsConfig(Settings):
    """Whether a runner records metrics, and over which window.

    Examples
    --------
    >>> MetricsConfig(window_seconds=30)
    MetricsConfig(enabled=True, window_seconds=30)
    """

    enabled: bool = setting(True, check=Flag(), doc="Record and export metrics.")
    window_seconds: int = setting(
        DEFAULT_WINDOW_SECONDS, check=Int(1, MAX_WINDOW_SECONDS),
        doc="Seconds of the sliding window of the throughput and rate gauges.")
