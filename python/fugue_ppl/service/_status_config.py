"""The status page's settings (``[status]``): how often the runners are sampled
(and the page refreshes), how many samples each plot keeps, and which series
each control chart watches.

The charts' own parameters are the monitors' settings (``[monitor.ewma]``,
``[monitor.cusum]``); the status page takes them as they are.
"""

from __future__ import annotations

from fugue_ppl.checks import Choice, Duration, Int, Settings, setting, settings

__all__ = ["CHARTED_SERIES", "StatusPageConfig"]

#: What a control chart may watch: each interval's mean latency (seconds) or its
#: error rate (errors, breaker rejections included, per request).
CHARTED_SERIES = ("latency", "error_rate")


@settings
class StatusPageConfig(Settings):
    """How the status page samples the runners and what its control charts watch.

    Examples
    --------
    >>> StatusPageConfig(interval_seconds=2.0, cusum_series="error_rate").cusum_series
    'error_rate'
    """

    interval_seconds: float = setting(
        1.0, check=Duration(maximum=60.0),
        doc="Time between two samples of each runner; the page refreshes as often.")
    history: int = setting(
        300, check=Int(10, 10_000),
        doc="Samples each plot keeps (the oldest is dropped first).")
    events: int = setting(
        50, check=Int(1, 1_000),
        doc="Breaker transitions and rollout events kept for the page (the newest).")
    ewma_series: str = setting("latency", check=Choice(CHARTED_SERIES),
                               doc="The series the EWMA chart watches.")
    shewhart_series: str = setting("latency", check=Choice(CHARTED_SERIES),
                                   doc="The series the Shewhart chart watches.")
    cusum_series: str = setting("latency", check=Choice(CHARTED_SERIES),
                                doc="The series the CUSUM chart watches.")
    shewhart_warmup: int = setting(
        30, check=Int(2, 2 ** 62),
        doc="Samples that estimate the Shewhart chart's centre and spread (no alarm "
            "during them).")
