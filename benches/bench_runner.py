"""ModelRunner benchmarks.

1. Overhead: ``ModelRunner.infer`` with input validation (a schema), the
   circuit breaker, a robust handler (site fallbacks), a deadline and
   metrics, on the sensor model, against a bare ``PooledPriorHandler`` run of
   the same model, the same loop shape on both sides. Target: at most 15%
   slower per call.
2. Fault injection: a model that fails at random (30%) called 100000 times
   through a runner with a fallback: every call is accounted for
   (ok + fallback + rejected + timeout == calls), no exception escapes, and
   memory is stable (the traced Python allocations after the second half
   are within a small bound of those after the first).
3. The same on the asynchronous path (``infer_async``, 100000 calls in
   concurrent batches) with a mix of slow calls, calls blocked past their
   deadline and invalid calls: ok + fallback + timeout + overloaded +
   rejected results plus the ValidationErrors raised add up to the calls.
"""

import asyncio
import gc
import logging
import time
import tracemalloc

import pytest

import fugue_ppl as fp
from fugue_ppl.models import ref20, sensor
from fugue_ppl.validation import Finite, Range, Schema

SEED = 20240611
READING = 22.0
RUNS_PER_CALL = 200


@pytest.mark.benchmark(group="runner overhead: sensor")
def test_sensor_bare_pooled(bench):
    handler = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(8))
    run = fp.run

    def calls():
        for _ in range(RUNS_PER_CALL):
            run(handler, sensor, READING)
    bench(calls)


@pytest.mark.benchmark(group="runner overhead: sensor")
def test_sensor_model_runner(bench):
    runner = fp.ModelRunner(
        sensor, rng=SEED, deadline=1.0, fallback=(20.0, True),
        schema=Schema({"reading": Finite() & Range(-100.0, 200.0)}),
        site_fallbacks={"temperature": 20.0, bool: True})
    infer = runner.infer

    def calls():
        for _ in range(RUNS_PER_CALL):
            infer(READING)
    bench(calls)
    m = runner.metrics
    assert m.inference_count >= RUNS_PER_CALL and m.error_count == 0
    assert runner.breaker.state == fp.BreakerState.HEALTHY


def test_ratio_runner_overhead(compare):
    compare("test_sensor_model_runner", "test_sensor_bare_pooled", kind="slowdown",
            target=1.15, description="sensor: ModelRunner.infer (full pipeline) vs pooled run")


# The same pipeline on ref20 (39 sites, about 5 us a run; it takes no input,
# so no schema): how the runner's fixed per-call cost compares with a larger
# model's run. Reported, with the same bound.

@pytest.mark.benchmark(group="runner overhead: ref20")
def test_ref20_bare_pooled(bench):
    handler = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(8))
    run = fp.run

    def calls():
        for _ in range(RUNS_PER_CALL // 10):
            run(handler, ref20)
    bench(calls)


@pytest.mark.benchmark(group="runner overhead: ref20")
def test_ref20_model_runner(bench):
    runner = fp.ModelRunner(ref20, rng=SEED, deadline=1.0, fallback=0.0,
                            site_fallbacks={float: 0.0})     # no inputs: no schema
    infer = runner.infer

    def calls():
        for _ in range(RUNS_PER_CALL // 10):
            infer()
    bench(calls)
    assert runner.metrics.error_count == 0 and runner.metrics.fallbacks == 0


def test_ratio_runner_overhead_ref20(compare):
    compare("test_ref20_model_runner", "test_ref20_bare_pooled", kind="slowdown",
            target=1.15, description="ref20: ModelRunner.infer (full pipeline) vs pooled run")


# ---------------------------------------------------------------- fault injection

CALLS = 100_000


def test_fault_injection_every_call_accounted_for():
    def flaky(reading):
        temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
        if fp.sample("fault", fp.Bernoulli(0.3)):
            raise RuntimeError("injected fault")
        fp.observe("sensor", fp.Normal(temp, 1.0), reading)
        return temp

    runner = fp.ModelRunner(
        flaky, rng=SEED, deadline=1.0, fallback=20.0,
        schema=Schema({"reading": Finite()}),
        breaker=fp.CircuitBreaker(window_size=200, minimum_calls=50, failure_threshold=0.33,
                                  degraded_threshold=0.25, recovery_threshold=0.2,
                                  open_duration=0.001, half_open_permits=5))
    counts = {"ok": 0, "fallback": 0, "rejected": 0, "timeout": 0}
    infer = runner.infer
    restore = _quiet_logs()
    gc.collect()
    tracemalloc.start()
    half = None
    for i in range(CALLS):
        counts[infer(READING).status] += 1
        if i == CALLS // 2:
            gc.collect()
            half = tracemalloc.get_traced_memory()[0]
    gc.collect()
    end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    restore()
    total = sum(counts.values())
    print(f"\nfault injection: {counts}, traced memory {half} -> {end} bytes")
    assert total == CALLS
    m = runner.metrics
    # every call that ran the model is an inference; rejected calls did not run it
    assert counts["timeout"] == 0          # a 1 s deadline: this model never reaches it
    assert m.inference_count == counts["ok"] + counts["fallback"] + counts["timeout"]
    assert m.errors.get("RuntimeError", 0) == counts["fallback"]
    assert counts["ok"] > 0.1 * CALLS and counts["rejected"] > 0   # the breaker trips and recovers
    assert end - half < 64 * 1024, f"memory grew by {end - half} bytes over {CALLS // 2} calls"


def _quiet_logs():
    # The breaker logs each trip and the runner each failed call; the test
    # harness keeps log records in memory, which would blur the measurement of
    # the runner's own memory.
    logs = [logging.getLogger(n) for n in ("fugue_ppl.breaker", "fugue_ppl.serving.runner")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.CRITICAL)
    return lambda: [log.setLevel(level) for log, level in zip(logs, levels)]


BATCH = 24            # concurrent calls: 4 workers + 16 queued, so some are refused
ASYNC_DEADLINE = 0.02


def test_fault_injection_async_every_call_accounted_for():
    def flaky(reading):
        # reading < -50: a slow call (2 ms, within the deadline); > 150: a call
        # blocked in C past its deadline; else 30% of the calls fail.
        temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
        if reading < -50.0:
            time.sleep(0.002)
        elif reading > 150.0:
            time.sleep(2 * ASYNC_DEADLINE)
        if fp.sample("fault", fp.Bernoulli(0.3)):
            raise RuntimeError("injected fault")
        fp.observe("sensor", fp.Normal(temp, 1.0), reading)
        return temp

    config = fp.serving.RunnerConfig(runtime=fp.serving.RuntimeConfig(workers=4, queue_size=16))
    runner = fp.ModelRunner(
        flaky, config, rng=SEED, deadline=ASYNC_DEADLINE, fallback=20.0,
        schema=Schema({"reading": Finite() & Range(-100.0, 200.0)}),
        breaker=fp.CircuitBreaker(window_size=200, minimum_calls=50, failure_threshold=0.33,
                                  degraded_threshold=0.25, recovery_threshold=0.2,
                                  open_duration=0.001, half_open_permits=5))
    counts = {"ok": 0, "fallback": 0, "timeout": 0, "overloaded": 0, "rejected": 0,
              "invalid": 0}

    def reading(i):
        if i % 500 == 7:
            return -60.0                  # slow
        if i % 1000 == 13:
            return 160.0                  # blocked past the deadline
        if i % 100 == 3:
            return float("nan")           # invalid
        return READING

    blocked = []                            # the statuses of the calls blocked in C

    async def call(i):
        try:
            status = (await runner.infer_async(reading(i))).status
        except fp.ValidationError:
            counts["invalid"] += 1
            return
        counts[status] += 1
        if i % 1000 == 13:
            blocked.append(status)

    async def main():
        nonlocal half
        for start in range(0, CALLS, BATCH):
            await asyncio.gather(*(call(i) for i in range(start, min(start + BATCH, CALLS))))
            if start // BATCH == CALLS // BATCH // 2:
                gc.collect()
                half = tracemalloc.get_traced_memory()[0]

    restore = _quiet_logs()
    half = None
    gc.collect()
    tracemalloc.start()
    asyncio.run(main())
    time.sleep(3 * ASYNC_DEADLINE)          # the last abandoned runs end
    gc.collect()
    end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    restore()
    runner.close()
    w = runner.workers.to_dict()
    print(f"\nasync fault injection: {counts}, abandoned {w['abandoned']}, "
          f"traced memory {half} -> {end} bytes")
    assert sum(counts.values()) == CALLS
    m = runner.metrics
    assert counts["invalid"] == m.invalid_requests == CALLS // 100
    assert counts["overloaded"] == w["overloaded"] > 0
    # A blocked call times out when it runs; the breaker (open) or a full queue may refuse
    # it first.
    assert len(blocked) == CALLS // 1000 and "timeout" in blocked
    assert set(blocked) <= {"timeout", "rejected", "overloaded"}, blocked
    assert m.timeouts == counts["timeout"]
    assert m.inference_count == counts["ok"] + counts["fallback"] + counts["timeout"]
    assert counts["ok"] > 0.1 * CALLS and counts["rejected"] > 0
    assert w["in_flight"] == 0 and w["queue_depth"] == 0
    stats = runner.pool.stats
    assert stats.hits + stats.misses == stats.returns + stats.drops     # every trace back
    assert end - half < 256 * 1024, f"memory grew by {end - half} bytes over {CALLS // 2} calls"
