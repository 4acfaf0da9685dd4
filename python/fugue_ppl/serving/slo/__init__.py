"""Alerts, service-level objectives, error budgets, availability and capacity planning.

====================  ============================================================
:mod:`.alerts`        :class:`AlertRules`: threshold alerts on a runner's error
                      rate, p99 latency, throughput and monitor alarms
:mod:`.objectives`    :class:`ServiceLevelObjectives`: targets over a period, the
                      error budget and what remains of it (:class:`SLOReport`)
:mod:`.events`        :class:`EventStore`: good and bad events per interval, in a
                      fixed ring of buckets (bounded memory)
:mod:`.burn_rate`     :class:`BurnRateAlerts`: multi-window burn-rate alerts over
                      an event store (page / ticket)
:mod:`.rules`         :func:`~.rules.prometheus_rules`: the same alerts as
                      Prometheus rules, from :class:`SLOConfig` (``fugue-ppl rules``)
:mod:`.availability`  :class:`BreakerHistory`: ``A = MTBF / (MTBF + MTTR)`` from a
                      circuit breaker's transitions; ``R(t)``, ``P(trip in T)``
:mod:`.capacity`      :class:`CapacityPlanner`: a scaling recommendation from the
                      utilisation ``rho = lambda / (c * mu)``
====================  ============================================================

What every piece shares:

* Time is read from ``clock``, a callable returning seconds; a
  :class:`~fugue_ppl.ManualClock` makes burn rates and availability
  reproducible. (Latencies and throughput are the metrics' own, in real time.)
* Durations are :class:`~datetime.timedelta` or seconds.
* A threshold fires only when strictly crossed, and ratios compare exactly: a
  float is the decimal it prints as (``0.999`` is ``999/1000``), so 144 errors
  in 10000 requests burn a 99.9% budget at exactly 14.4x, and do not page.
* From a :class:`~fugue_ppl.ModelRunner`, a request is an inference or a call
  its breaker rejected, and a bad one a failed inference (timeouts included)
  or a rejected call (``count_rejected=False`` leaves rejected calls out); a
  :class:`~fugue_ppl.ProductionMetrics` counts inferences only.

Examples
--------
An error budget, burn-rate alerts on a runner, and an SLO report:

>>> from datetime import timedelta
>>> import fugue_ppl as fp
>>> from fugue_ppl.models import sensor
>>> from fugue_ppl.serving.slo import BurnRateAlerts, EventStore, ServiceLevelObjectives
>>> ServiceLevelObjectives(availability_target=0.999).error_budget
datetime.timedelta(seconds=2592)
>>> clock = fp.ManualClock()
>>> runner = fp.ModelRunner(sensor, rng=0, fallback=(20.0, True))
>>> store = EventStore.from_runner(runner, resolution=60.0, clock=clock)
>>> alerts = BurnRateAlerts(store, slo=0.999)
>>> for minute in range(5):
...     for _ in range(100):
...         _ = runner.infer(22.0)
...     _ = store.sync()
...     clock.advance(60.0)
>>> alerts.evaluate(), alerts.burn_rate(timedelta(hours=1))
([], 0.0)
>>> report = ServiceLevelObjectives(0.999).evaluate(runner)
>>> report.compliant, report.total_events, report.budget_remaining
(True, 500, 1.0)
"""

from fugue_ppl.serving.slo.alerts import Alert, AlertRules
from fugue_ppl.serving.slo.availability import (
    AvailabilityReport,
    BreakerHistory,
    mean_time_to_trip,
    reliability,
    trip_probability,
)
from fugue_ppl.serving.slo.burn_rate import (
    DEFAULT_BURN_RATE_RULES,
    BurnRateAlert,
    BurnRateAlerts,
    BurnRateRule,
    BurnRateStatus,
)
from fugue_ppl.serving.slo.capacity import CapacityPlanner, CapacityRecommendation
from fugue_ppl.serving.slo.events import EventStore
from fugue_ppl.serving.slo.objectives import (
    ObjectiveStatus,
    ServiceLevelObjectives,
    SLOConfig,
    SLOReport,
)

__all__ = [
    "DEFAULT_BURN_RATE_RULES",
    "Alert",
    "AlertRules",
    "AvailabilityReport",
    "BreakerHistory",
    "BurnRateAlert",
    "BurnRateAlerts",
    "BurnRateRule",
    "BurnRateStatus",
    "CapacityPlanner",
    "CapacityRecommendation",
    "EventStore",
    "ObjectiveStatus",
    "SLOConfig",
    "SLOReport",
    "ServiceLevelObjectives",
    "mean_time_to_trip",
    "reliability",
    "trip_probability",
]
