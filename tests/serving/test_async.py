"""ModelRunner.infer_async: worker threads, a hard deadline, admission and the
saturation figures; and the synchronous infer's late runs.

Times are asserted against the deadline with a generous margin (these machines
are shared and noisy), never as absolute figures.
"""

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument, OverloadedError, public_error
from fugue_ppl.models import sensor
from fugue_ppl.monitoring.prometheus import PrometheusCollector
from fugue_ppl.serving import RunAbandoned, RunnerConfig, RuntimeConfig, WorkerPool
from fugue_ppl.validation import Finite, Schema

DEADLINE = 0.05
MARGIN = 0.25          # generous: scheduling on a loaded 2-core machine


@pytest.fixture
def runners():
    made = []

    def make(model, **kw):
        workers = kw.pop("workers", 8)
        queue_size = kw.pop("queue_size", 64)
        kw.setdefault("rng", 7)
        kw.setdefault("config", RunnerConfig(runtime=RuntimeConfig(
            workers=workers, queue_size=queue_size)))
        r = fp.ModelRunner(model, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def _outstanding(pool):
    s = pool.stats
    return s.hits + s.misses - s.returns - s.drops


def _wait(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


async def _timed(coro):
    t = time.perf_counter()
    try:
        out = await coro
    except BaseException as exc:     # noqa: BLE001  (returned for the assertions)
        out = exc
    return out, time.perf_counter() - t


# ---------------------------------------------------------------- results

def test_an_async_call_gives_the_trace_of_the_synchronous_call_with_the_same_key(runners):
    r = runners(sensor)

    async def main():
        return [await r.infer_async(22.0, seed=k) for k in range(20)]
    results = asyncio.run(main())
    for k, res in enumerate(results):
        sync = r.infer(22.0, seed=k)
        assert res.status == "ok" and res.value == sync.value
        assert [(c.address, c.value) for c in res.trace.choices] == \
            [(c.address, c.value) for c in sync.trace.choices]
    # (the key's stream is numpy's, as for infer)
    g = np.random.default_rng([7, 3])
    assert results[3].trace["temperature"] == pytest.approx(20.0 + 5.0 * g.standard_normal())
    assert r.metrics.inference_count == 40 and r.workers.abandoned == 0


def test_async_runs_overlap_inside_the_model(runners):
    # Each run waits on "I/O" until six runs are inside the model (at most 2 s):
    # runs serialised by a lock would never get there.
    inside, peak, lock = [0], [0], threading.Lock()
    crowd = threading.Event()

    def io_model(x):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
            if inside[0] >= 6:
                crowd.set()
        crowd.wait(2.0)                       # waiting on I/O
        with lock:
            inside[0] -= 1
        return fp.sample("y", fp.Normal(x, 1.0))

    r = runners(io_model, deadline=5.0)

    async def main():
        return await asyncio.gather(*(r.infer_async(float(i), seed=i) for i in range(8)))
    t = time.perf_counter()
    results = asyncio.run(main())
    assert [res.status for res in results] == ["ok"] * 8
    assert peak[0] >= 6 and time.perf_counter() - t < 2.0
    assert 6 <= r.workers.threads <= 8


# ---------------------------------------------------------------- the hard deadline

def _sleep_before(x):
    time.sleep(0.4)
    return fp.sample("a", fp.Normal(x, 1.0))


def _sleep_between(x):
    a = fp.sample("a", fp.Normal(x, 1.0))
    time.sleep(0.4)
    return a + fp.sample("b", fp.Normal(0.0, 1.0))


def _sleep_after(x):
    a = fp.sample("a", fp.Normal(x, 1.0))
    time.sleep(0.4)
    return a


def _spin(x):
    n = 0
    while True:                               # pure Python, no effect: only RunAbandoned stops it
        n += 1


@pytest.mark.parametrize("model", [_sleep_before, _sleep_between, _sleep_after, _spin])
@pytest.mark.parametrize("fallback", [True, False])
def test_every_call_returns_by_its_deadline_whatever_the_model_does(runners, model, fallback):
    kw = {"fallback": -1.0} if fallback else {}
    r = runners(model, deadline=DEADLINE, **kw)
    out, elapsed = asyncio.run(_timed(r.infer_async(1.0)))
    assert elapsed < DEADLINE + MARGIN
    if fallback:
        assert (out.status, out.value, out.trace) == ("timeout", -1.0, None)
        assert public_error(out.error, out.error_id)["kind"] == "timeout"
    else:
        assert isinstance(out, fp.InferenceTimeout)
    # The caller's answer is settled once: a timeout, a breaker failure.
    m, b = r.metrics, r.breaker.metrics
    assert (m.inference_count, m.timeouts, b["failed_calls"]) == (1, 1, 1)
    # The abandoned run stops (a sleeping one when its sleep returns, the
    # spinning one at the exception raised in its thread), gives its trace
    # back and frees its worker, which then serves the next call.
    assert r.workers.abandoned == 1
    assert _wait(lambda: r.workers.in_flight == 0)
    assert _outstanding(r.pool) == 0
    assert (m.inference_count, m.timeouts, b["failed_calls"]) == (1, 1, 1)
    assert r.workers.threads == 1


def _sleep_for(x):
    time.sleep(x)
    return fp.sample("a", fp.Normal(0.0, 1.0))


def test_each_call_ends_by_its_own_deadline_whatever_the_calls_around_it_do(runners):
    # (one timer watches a runner's deadlines, in the order the calls came: a slow
    # call at the front must neither hold back the answers after it nor move their
    # deadlines, and a call made once all are settled arms the timer again)
    deadline = 0.3
    r = runners(_sleep_for, deadline=deadline, fallback=-1.0)
    plan = [(1.0, 0.0), (0.0, 0.0), (0.0, 0.05), (1.0, 0.1), (0.0, 0.15), (0.0, 0.35),
            (1.0, 0.8)]

    async def call(delay, start):
        await asyncio.sleep(start)
        out, took = await _timed(r.infer_async(delay))
        return out.status, took

    async def main():
        return await asyncio.gather(*(call(d, s) for d, s in plan))

    results = asyncio.run(main())
    assert [status for status, _ in results] == ["timeout", "ok", "ok", "timeout", "ok", "ok",
                                                  "timeout"]
    for status, took in results:
        if status == "ok":
            assert took < deadline               # (answered at once, not at a deadline)
        else:
            assert deadline - 0.01 <= took < deadline + MARGIN
    assert r.metrics.timeouts == 3


def test_an_abandoned_run_is_stopped_at_its_next_effect(runners):
    reached = []

    def model(x):
        a = fp.sample("a", fp.Normal(x, 1.0))
        time.sleep(0.2)
        b = fp.sample("b", fp.Normal(0.0, 1.0))      # past the deadline: raises here
        reached.append(b)
        return a + b

    r = runners(model, deadline=DEADLINE, fallback=0.0)
    out = asyncio.run(r.infer_async(1.0))
    assert out.status == "timeout"
    assert _wait(lambda: r.workers.in_flight == 0)
    assert reached == [] and _outstanding(r.pool) == 0


def test_a_spinning_model_gets_run_abandoned_in_its_thread(runners):
    seen = []

    def model(x):
        try:
            while True:
                pass
        except BaseException as exc:
            seen.append(type(exc))
            raise

    r = runners(model, deadline=DEADLINE, fallback=0.0)
    assert asyncio.run(r.infer_async(1.0)).status == "timeout"
    assert _wait(lambda: seen == [RunAbandoned])
    assert _wait(lambda: r.workers.in_flight == 0)
    # the worker thread survived and serves the next call; no stop request lingers
    r2 = fp.ModelRunner(sensor, rng=1)
    assert r2.infer(22.0).ok
    assert asyncio.run(r.infer_async(1.0)).status == "timeout"   # (still spins: same model)


def test_a_run_blocked_in_c_stays_in_flight_until_it_returns(runners):
    release = threading.Event()

    def blocked(x):
        release.wait()                            # a C call: cannot be interrupted
        return fp.sample("a", fp.Normal(x, 1.0))

    r = runners(blocked, deadline=DEADLINE, fallback=0.0, workers=1, queue_size=0)

    async def main():
        first = await r.infer_async(1.0)
        in_flight = r.workers.in_flight
        second = await r.infer_async(1.0)         # its only worker is still blocked
        return first, in_flight, second
    first, in_flight, second = asyncio.run(main())
    assert first.status == "timeout" and in_flight == 1
    assert second.status == "overloaded"
    release.set()
    assert _wait(lambda: r.workers.in_flight == 0)
    assert _outstanding(r.pool) == 0
    release.clear()
    release.set()
    assert asyncio.run(r.infer_async(1.0)).status == "ok"      # the worker is back


def test_a_call_that_waits_past_its_deadline_in_the_queue_never_runs(runners):
    gate = threading.Event()
    ran = []

    def model(x):
        ran.append(x)
        gate.wait(1.0)
        return fp.sample("a", fp.Normal(x, 1.0))

    r = runners(model, deadline=DEADLINE, fallback=0.0, workers=1, queue_size=4)

    async def main():
        return await asyncio.gather(r.infer_async(1.0), r.infer_async(2.0))
    a, b = asyncio.run(main())
    assert a.status == b.status == "timeout"
    gate.set()
    assert _wait(lambda: r.workers.in_flight == 0 and r.workers.queue_depth == 0)
    assert ran == [1.0]                              # the second expired in the queue
    assert r.workers.abandoned == 1 and r.metrics.timeouts == 2


def test_a_synchronous_run_that_ends_after_its_deadline_is_a_timeout(runners):
    def late(x):
        a = fp.sample("a", fp.Normal(x, 1.0))
        time.sleep(2 * DEADLINE)                    # after the last effect
        return a

    r = runners(late, deadline=DEADLINE, fallback=0.0)
    res = r.infer(1.0)
    assert (res.status, res.value, res.trace) == ("timeout", 0.0, None)
    assert isinstance(res.error, fp.InferenceTimeout) and "past its deadline" in str(res.error)
    m, b = r.metrics, r.breaker.metrics
    assert (m.inference_count, m.timeouts, m.errors) == (1, 1, {"InferenceTimeout": 1})
    assert b["failed_calls"] == 1 and _outstanding(r.pool) == 0
    no_fallback = runners(late, deadline=DEADLINE)
    with pytest.raises(fp.InferenceTimeout, match="past its deadline"):
        no_fallback.infer(1.0)
    # in time: ok
    assert runners(late, deadline=1.0).infer(1.0).ok


# ---------------------------------------------------------------- admission

def test_a_full_queue_refuses_calls_at_once(runners):
    gate = threading.Event()

    def model(x):
        gate.wait(5.0)
        return fp.sample("a", fp.Normal(x, 1.0))

    r = runners(model, deadline=10.0, fallback=0.0, workers=2, queue_size=1)

    async def main():
        tasks = [asyncio.ensure_future(r.infer_async(float(i))) for i in range(6)]
        await asyncio.sleep(0)                # every call is admitted or refused by now
        refused = [t for t in tasks if t.done()]
        refused_at_once = [t.result().status for t in refused]
        gate.set()
        return refused_at_once, await asyncio.gather(*tasks)
    refused, results = asyncio.run(main())
    assert refused == ["overloaded"] * 3
    statuses = [res.status for res in results]
    assert sorted(statuses) == ["ok"] * 3 + ["overloaded"] * 3
    over = [res for res in results if res.status == "overloaded"][0]
    assert isinstance(over.error, OverloadedError) and over.trace is None
    assert public_error(over.error, over.error_id) == {"kind": "overloaded", "code": 802,
                                                        "id": over.error_id}
    assert r.workers.overloaded == 3 and r.metrics.inference_count == 3
    assert r.breaker.metrics["successful_calls"] == 3        # refused calls never reach it


def test_without_a_fallback_an_overloaded_call_raises(runners):
    gate = threading.Event()

    def model(x):
        gate.wait(5.0)
        return x

    r = runners(model, deadline=10.0, workers=1, queue_size=0)

    async def main():
        first = asyncio.ensure_future(r.infer_async(1.0))
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError, match="overloaded") as info:
            await r.infer_async(2.0)
        gate.set()
        return await first, info.value
    res, err = asyncio.run(main())
    assert res.ok and err.retry_after is None          # no run measured yet
    assert isinstance(err.fugue_error_id, str)


def test_invalid_and_rejected_calls_are_settled_before_the_queue(runners):
    r = runners(sensor, fallback=(20.0, True), schema=Schema({"reading": Finite()}))

    async def main():
        with pytest.raises(fp.ValidationError, match="reading"):
            await r.infer_async("garbage")
        r.breaker.force_open()
        return await r.infer_async(22.0)
    res = asyncio.run(main())
    assert res.status == "rejected"
    assert r.metrics.invalid_requests == 1 and r.metrics.inference_count == 0
    assert r.workers.threads == 0                     # nothing was queued
    with pytest.raises(TypeError, match="seed"):
        asyncio.run(r.infer_async(22.0, seed="x"))


def test_cancelling_the_caller_abandons_the_run(runners):
    started = threading.Event()

    def model(x):
        started.set()
        while True:
            pass

    r = runners(model, deadline=None, fallback=0.0)

    async def main():
        task = asyncio.ensure_future(r.infer_async(1.0))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())
    assert r.workers.abandoned == 1
    assert _wait(lambda: r.workers.in_flight == 0)
    b = r.breaker.metrics
    assert (b["failed_calls"], b["ignored_calls"]) == (0, 1)  # a cancellation is no fault
    assert r.metrics.errors == {"CancelledError": 1} and _outstanding(r.pool) == 0


def test_a_closed_runner_refuses_async_calls_and_its_threads_end(runners):
    r = runners(sensor)
    before = set(threading.enumerate())
    assert asyncio.run(r.infer_async(22.0)).ok
    started = set(threading.enumerate()) - before
    assert len(started) == 1 == r.workers.threads
    r.close()
    assert _wait(lambda: not any(t.is_alive() for t in started))
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(r.infer_async(22.0))
    assert r.infer(22.0).ok


def test_a_dropped_runner_stops_its_threads():
    r = fp.ModelRunner(sensor, rng=1)
    before = set(threading.enumerate())
    assert asyncio.run(r.infer_async(22.0)).ok
    started = set(threading.enumerate()) - before
    assert len(started) == 1
    del r
    # (collected once its worker has let go of the last job, which may be a
    # moment after the call returned)
    assert _wait(lambda: gc.collect() is not None and not any(t.is_alive() for t in started))


# ---------------------------------------------------------------- saturation figures

def test_the_saturation_figures_follow_their_closed_forms(runners):
    def model(x):
        time.sleep(0.02)
        return fp.sample("a", fp.Normal(x, 1.0))

    r = runners(model, deadline=5.0, workers=2)

    async def main():
        for _ in range(5):
            await asyncio.gather(*(r.infer_async(1.0) for _ in range(4)))
    t = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - t
    assert _wait(lambda: r.workers.in_flight == 0)   # (a worker ends just after it delivers)
    d = r.workers.to_dict()
    assert (d["size"], d["queue_size"], d["in_flight"], d["queue_depth"]) == (2, 64, 0, 0)
    assert d["service_time"] == pytest.approx(0.02, rel=0.5)
    assert d["service_time"] >= 0.02
    # 20 arrivals over the time the pool has existed (a bit more than the loop)
    assert 20 / (elapsed + 1.0) < d["arrival_rate"] <= 20 / elapsed * 1.01
    assert d["utilisation"] == pytest.approx(d["arrival_rate"] * d["service_time"] / 2)
    # exported as they are
    registry = CollectorRegistry()
    registry.register(PrometheusCollector.from_runner(r))
    from prometheus_client import generate_latest
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert fams["fugue_workers"].samples[0].value == 2
    assert fams["fugue_inflight_runs"].samples[0].value == 0
    assert fams["fugue_queue_depth"].samples[0].value == 0
    assert fams["fugue_abandoned_runs"].samples[0].value == 0
    assert fams["fugue_overloaded_requests"].samples[0].value == 0
    assert fams["fugue_service_time_seconds"].samples[0].value >= 0.02
    assert 0 < fams["fugue_utilisation"].samples[0].value <= d["utilisation"] * 1.01
    assert fams["fugue_process_resident_memory_bytes"].samples[0].value > 1e6
    assert fams["fugue_process_open_fds"].samples[0].value > 0


# ---------------------------------------------------------------- bad settings

@pytest.mark.parametrize("kw, match", [
    ({"size": 0}, "size must be in"), ({"size": 1025}, "size must be in"),
    ({"queue_size": -1}, "queue_size must be"), ({"window": 0}, "window must be"),
])
def test_bad_pool_sizes_are_refused(kw, match):
    args = {"size": 2, "queue_size": 4, **kw}
    with pytest.raises(InvalidArgument, match=match):
        WorkerPool(**args)


@pytest.mark.parametrize("field, value, error", [
    ("workers", 0, InvalidArgument), ("workers", 2.5, InvalidArgument),
    ("workers", True, TypeError),
    ("queue_size", -1, InvalidArgument), ("queue_size", "8", TypeError),
])
def test_bad_worker_settings_are_refused(field, value, error):
    with pytest.raises(error, match=field):
        RuntimeConfig(**{field: value})


def test_a_second_init_of_a_pool_is_refused():
    w = WorkerPool(2, 4)
    with pytest.raises(RuntimeError, match="initialised"):
        w.__init__(2, 4)


# ---------------------------------------------------------------- fork

def test_a_forked_child_runs_async_calls_with_its_own_threads():
    code = textwrap.dedent("""
        import asyncio, os, sys
        import fugue_ppl as fp
        from fugue_ppl.models import sensor
        r = fp.ModelRunner(sensor, rng=1)
        print(asyncio.run(r.infer_async(22.0)).status, flush=True)
        pid = os.fork()
        if pid == 0:
            res = asyncio.run(r.infer_async(22.0))
            print("child", res.status, r.workers.threads, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent", asyncio.run(r.infer_async(22.0)).status, flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.split(" ")[0] in ("ok", "child", "parent")]
    assert lines == ["ok", "child ok 1", "parent ok"]
