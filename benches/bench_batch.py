"""Batch inference: how ``infer_many`` scales with Dask workers.

20,000 requests of the sensor model through ``infer_many``: in this process,
and on a Dask ``LocalCluster`` of 1 and of 2 worker processes (one thread
each), in chunks of 1,000. The throughput ratios against the in-process run
are reported, not judged: on this 2-core machine the scheduler, the client and
the workers share the cores, so two workers cannot double the throughput. The
records are checked equal to the in-process run's.
"""

import time

import pytest

from fugue_ppl.serving import RunnerSpec, infer_many

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

N = 20_000
CHUNK = 1_000
SEED = 20261203
SPEC = RunnerSpec("fugue_ppl.models:sensor", schema="fugue_ppl.models:SENSOR_SCHEMA",
                  seed=SEED)
INPUTS = [{"reading": 15.0 + (i % 200) * 0.05} for i in range(N)]
ROUNDS = 3


def _best(run):
    """The fastest of ROUNDS runs (seconds) and its records."""
    best, records = None, None
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        records = run()
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    return best, records


def test_dask_scaling(record_ratio):
    local_s, expected = _best(lambda: infer_many(SPEC, INPUTS, seed=SEED, chunk_size=CHUNK))
    times = {}
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            executor = client.get_executor()
            infer_many(SPEC, INPUTS[:CHUNK * workers], seed=SEED, chunk_size=CHUNK,
                       executor=executor)                 # each worker builds its runner
            took, records = _best(lambda ex=executor: infer_many(
                SPEC, INPUTS, seed=SEED, chunk_size=CHUNK, executor=ex))
        assert records == expected
        times[workers] = took
    print(f"\ninfer_many, {N} sensor requests: in process {N / local_s:.0f}/s; Dask 1 worker "
          f"{N / times[1]:.0f}/s; 2 workers {N / times[2]:.0f}/s")
    for workers in (1, 2):
        ratio = local_s / times[workers]
        record_ratio({
            "description": f"infer_many on Dask, {workers} worker(s) vs in process "
                           f"({N} sensor requests)",
            "candidate": f"dask-{workers}", "baseline": "in process", "kind": "speedup",
            "target": "reported", "ratio_min": ratio, "ratio_median": ratio, "met": True})
    ratio = times[1] / times[2]
    record_ratio({
        "description": f"infer_many on Dask, 2 workers vs 1 ({N} sensor requests)",
        "candidate": "dask-2", "baseline": "dask-1", "kind": "speedup", "target": "reported",
        "ratio_min": ratio, "ratio_median": ratio, "met": True})
