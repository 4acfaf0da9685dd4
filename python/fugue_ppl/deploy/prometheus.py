"""Prometheus export of a :class:`~fugue_ppl.deploy.Router`: every version's
families, labelled by version.

:class:`RouterCollector` is a ``prometheus_client`` collector. Each family a
version's runner exports (:meth:`PrometheusCollector.from_runner
<fugue_ppl.monitoring.prometheus.PrometheusCollector.from_runner>`: its
metrics, trace pool, breaker and worker pool) appears once, with a
``version`` label on every sample; the process's figures appear once,
unlabelled, and ``<prefix>_route_weight{version}`` gives the current weights.

Examples
--------
>>> import fugue_ppl as fp
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from fugue_ppl.deploy import Router
>>> from fugue_ppl.deploy.prometheus import RouterCollector
>>> from fugue_ppl.models import sensor
>>> from fugue_ppl.serving import ModelConfig, RunnerConfig
>>> def runner(v):
...     return fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=v)), rng=1)
>>> router = Router({"1": runner("1"), "2": runner("2")}, weights={"1": 0.5, "2": 0.5})
>>> _ = router.infer(22.0, key="a")
>>> registry = CollectorRegistry()
>>> registry.register(RouterCollector(router))
>>> b'fugue_route_weight{version="2"} 0.5' in generate_latest(registry)
True
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fugue_ppl.checks import check_type
from fugue_ppl.deploy._router import Router
from fugue_ppl.monitoring.prometheus import ProcessExporter, PrometheusCollector

__all__ = ["RouterCollector"]


class RouterCollector(Collector):
    """The metric families of a router's versions, each sample labelled ``version``.

    Parameters
    ----------
    router : Router
    prefix : str
        Metric name prefix (as :class:`~fugue_ppl.monitoring.prometheus.PrometheusCollector`).

    Raises
    ------
    TypeError
        ``router`` is not a Router.
    InvalidArgument
        A version's runner was built with ``metrics=False``; a bad prefix.
    """

    def __init__(self, router: Router, prefix: str = "fugue"):
        self.router = check_type(router, "router", type(self).__name__, Router, "a Router")
        self.prefix = prefix
        self._collectors = {
            version: PrometheusCollector.from_runner(runner, process=False, prefix=prefix)
            for version, runner in router.runners.items()}
        self._process = ProcessExporter()

    def describe(self) -> Iterable[Metric]:
        return list(self.collect())

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for version, collector in self._collectors.items():
            for fam in collector.collect():
                out = merged.get(fam.name)
                if out is None:
                    out = merged[fam.name] = Metric(fam.name, fam.documentation, fam.type,
                                                    fam.unit)
                for s in fam.samples:
                    out.add_sample(s.name, {"version": version, **s.labels}, s.value,
                                   s.timestamp, s.exemplar)
        yield from merged.values()
        yield from self._process.prometheus_families(self.prefix)
        weights = GaugeMetricFamily(f"{self.prefix}_route_weight",
                                    "Share of the traffic routed to each version.",
                                    labels=["version"])
        for version, w in self.router.weights.items():
            weights.add_metric([version], w)
        yield weights

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.router!r}, prefix={self.prefix!r})"
