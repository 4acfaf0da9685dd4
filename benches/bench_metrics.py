"""Metrics benchmarks: the latency histogram and the cost of MetricsHandler.

1. ``LatencyHistogram.record`` against ``prometheus_client.Histogram.observe``
   (the standard way a Python service records a latency), both called from
   Python in the same loop over the same 1000 latencies, the bound method
   hoisted out of the loop. The Prometheus histogram has the buckets the
   collector exports (``DEFAULT_LATENCY_BUCKETS``) and is registered nowhere.
   Target: at least 5x faster.
2. ``MetricsHandler`` around ``PooledPriorHandler`` against the bare
   ``PooledPriorHandler`` on the sensor model (reading 22.0), with the loop of
   ``bench_runtime.py``'s pooled benchmark on both sides. Target: at most 10%
   slower.

Each benchmarked call makes ``CALLS_PER_ROUND`` records / ``RUNS_PER_CALL``
runs, so the harness's own per-call cost does not blur the per-record cost.
"""

import numpy as np
import pytest
from prometheus_client import Histogram

import fugue_ppl as fp
from fugue_ppl.models import sensor
from fugue_ppl.monitoring.prometheus import (
    DEFAULT_LATENCY_BUCKETS,
    LatencyHistogram,
    ProductionMetrics,
)

SEED = 20240611
READING = 22.0
CALLS_PER_ROUND = 1000
RUNS_PER_CALL = 200

# Realistic latencies: lognormal around 2 ms, spanning ~3 decades.
LATENCIES = [float(x) for x in
             np.random.default_rng(SEED).lognormal(np.log(0.002), 1.0, CALLS_PER_ROUND)]


def _finish(bench, per_call, unit):
    bench.extra_info[f"{unit}_per_call"] = per_call
    if bench.stats is not None:
        bench.extra_info[f"per_{unit}_s"] = bench.stats.stats.min / per_call


# ---------------------------------------------------------------- 1. record vs observe

def _record_loop(record, values):
    def calls():
        for x in values:
            record(x)
    return calls


@pytest.mark.benchmark(group="latency record: 1000 calls")
def test_record_fugue_latency_histogram(bench):
    h = LatencyHistogram()
    bench(_record_loop(h.record, LATENCIES))
    _finish(bench, CALLS_PER_ROUND, "record")
    assert h.count >= CALLS_PER_ROUND and h.count % CALLS_PER_ROUND == 0


@pytest.mark.benchmark(group="latency record: 1000 calls")
def test_record_prometheus_histogram(bench):
    h = Histogram("bench_latency_seconds", "Latency.", buckets=DEFAULT_LATENCY_BUCKETS,
                  registry=None)
    bench(_record_loop(h.observe, LATENCIES))
    _finish(bench, CALLS_PER_ROUND, "record")
    assert h._sum.get() > 0


@pytest.mark.benchmark(group="latency record_many: 1000 values")
def test_record_many_fugue_latency_histogram(bench):
    # For reference (no target): the array form, GIL released.
    h = LatencyHistogram()
    x = np.asarray(LATENCIES)
    bench(h.record_many, x)
    assert h.count % CALLS_PER_ROUND == 0


# ---------------------------------------------------------------- 2. MetricsHandler overhead

def _pooled_loop(handler, model, args, n):
    run = fp.run

    def runs():
        for _ in range(n):
            _value, _trace = run(handler, model, *args)   # freed at the rebinding: back to the pool
    return runs


@pytest.mark.benchmark(group="metrics handler: sensor")
def test_sensor_pooled_bare(bench):
    handler = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(64))
    bench(_pooled_loop(handler, sensor, (READING,), RUNS_PER_CALL))
    _finish(bench, RUNS_PER_CALL, "run")


@pytest.mark.benchmark(group="metrics handler: sensor")
def test_sensor_pooled_with_metrics(bench):
    metrics = ProductionMetrics()
    handler = fp.MetricsHandler(fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(64)), metrics)
    bench(_pooled_loop(handler, sensor, (READING,), RUNS_PER_CALL))
    _finish(bench, RUNS_PER_CALL, "run")
    assert metrics.inference_count % RUNS_PER_CALL == 0 and metrics.inference_count > 0
    assert metrics.error_count == 0
    bench.extra_info["p50_s"] = metrics.latency.quantile(0.5)
    bench.extra_info["p99_s"] = metrics.latency.quantile(0.99)


# ---------------------------------------------------------------- ratios

def test_ratio_record_vs_prometheus(compare):
    compare("test_record_fugue_latency_histogram", "test_record_prometheus_histogram",
            kind="speedup", target=5.0,
            description="LatencyHistogram.record vs prometheus Histogram.observe")


def test_ratio_metrics_handler_overhead(compare):
    compare("test_sensor_pooled_with_metrics", "test_sensor_pooled_bare", kind="slowdown",
            target=1.10, description="sensor: MetricsHandler(pooled) vs pooled")
