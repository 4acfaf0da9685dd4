"""Per-run streams: what deriving a run's own stream costs.

A handler seeded with an int gives each run the stream of
``numpy.random.default_rng([seed, key])``, derived in C++ at the run's start
(numpy's SeedSequence mixing and PCG64 seeding). Three pooled runs of the
sensor model, the loop identical on all three sides:

- seeded: ``run(handler, sensor, x, seed=k)``, a key per run (a request key);
- counter-keyed: ``run(handler, sensor, x)``, the handler's run counter;
- one stream: a handler drawing from a caller's ``Generator`` (no stream is
  derived; numpy's lock is taken per run instead), the cost of a run without
  any derivation.

Targets: a seeded run at most 1.5x a counter-keyed run and at most 1.5x a
run on one stream (the derivation costs less than half a run). The
counter-keyed run against the one-stream run is reported with the same bound.
"""

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.models import sensor

SEED = 20240611
READING = 22.0
RUNS_PER_CALL = 200


def _loop(handler, keyed):
    run = fp.run
    n = RUNS_PER_CALL
    if keyed:
        def runs():
            for k in range(n):
                value, trace = run(handler, sensor, READING, seed=k)
    else:
        def runs():
            for _k in range(n):          # (the same loop as the keyed one)
                value, trace = run(handler, sensor, READING)
    return runs


def _finish(bench, pool):
    bench.extra_info["runs_per_call"] = RUNS_PER_CALL
    if bench.stats is not None:
        bench.extra_info["per_run_s"] = bench.stats.stats.min / RUNS_PER_CALL
    s = pool.stats
    assert s.misses <= 2 and s.drops == 0      # pooled: no trace built per run


# ---------------------------------------------------------------- sanity (not timed)

def test_the_benchmarked_runs_draw_numpys_streams():
    h = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(8))
    (t, _), _ = fp.run(h, sensor, READING, seed=7)
    assert t == np.random.default_rng([SEED, 7]).normal(20.0, 5.0)
    (t, _), _ = fp.run(h, sensor, READING)
    assert t == np.random.default_rng([SEED, 0]).normal(20.0, 5.0)
    g = np.random.default_rng(SEED)
    (t, _), _ = fp.run(fp.PooledPriorHandler(rng=np.random.default_rng(SEED)), sensor, READING)
    assert t == g.normal(20.0, 5.0)


# ---------------------------------------------------------------- timed

@pytest.mark.benchmark(group="per-run streams: sensor (pooled)")
def test_streams_sensor_seeded(bench):
    pool = fp.TracePool(8)
    bench(_loop(fp.PooledPriorHandler(rng=SEED, pool=pool), keyed=True))
    _finish(bench, pool)


@pytest.mark.benchmark(group="per-run streams: sensor (pooled)")
def test_streams_sensor_counter(bench):
    pool = fp.TracePool(8)
    bench(_loop(fp.PooledPriorHandler(rng=SEED, pool=pool), keyed=False))
    _finish(bench, pool)


@pytest.mark.benchmark(group="per-run streams: sensor (pooled)")
def test_streams_sensor_one_stream(bench):
    pool = fp.TracePool(8)
    gen = np.random.default_rng(SEED)
    bench(_loop(fp.PooledPriorHandler(rng=gen, pool=pool), keyed=False))
    _finish(bench, pool)


def test_ratio_seeded_vs_counter(compare):
    compare("test_streams_sensor_seeded", "test_streams_sensor_counter", kind="slowdown",
            target=1.5, description="sensor: pooled run with seed=k vs counter-keyed run")


def test_ratio_seeded_vs_one_stream(compare):
    compare("test_streams_sensor_seeded", "test_streams_sensor_one_stream", kind="slowdown",
            target=1.5, description="sensor: pooled run with seed=k vs run on one Generator")


def test_ratio_counter_vs_one_stream(compare):
    compare("test_streams_sensor_counter", "test_streams_sensor_one_stream", kind="slowdown",
            target=1.5, description="sensor: counter-keyed pooled run vs run on one Generator")
