"""TracePool: stats, shrink, release semantics, thread safety and the
no-allocation property of pooled runs."""

from __future__ import annotations

import gc
import math
import sys
import threading

import numpy as np
import pytest
from scipy import stats

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument


def sensor(reading):
    temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
    valid = fp.sample("valid", fp.Bernoulli(0.95))
    fp.observe("sensor", fp.Normal(temp, 1.0), reading)
    return temp, valid


def one_normal():
    return fp.sample("x", fp.Normal(0.0, 1.0))


def big_model(n=100, prefix="big"):
    total = 0.0
    for i in range(n):
        total += fp.sample(fp.addr(prefix, i), fp.Normal(0.0, 1.0))
    fp.observe(prefix + "_obs", fp.Normal(total, 1.0), 0.5)
    fp.factor(-1.0)
    return total


def acquire(pool, model=one_normal, rng=0):
    return fp.run(fp.PooledPriorHandler(rng=rng, pool=pool), model)[1]


# ---------------------------------------------------------------- construction


def test_construction_and_prefill():
    pool = fp.TracePool(max_size=8, min_size=3)
    assert (pool.max_size, pool.min_size) == (8, 3)
    assert pool.stats == fp.PoolStats(hits=0, misses=0, returns=0, drops=0, size=3)
    assert len(pool) == 3
    t = acquire(pool)
    assert pool.stats.hits == 1 and pool.stats.misses == 0 and pool.stats.size == 2
    t.release()
    assert fp.TracePool().max_size == 64 and fp.TracePool().min_size == 0
    assert fp.TracePool(1).stats.size == 0
    assert fp.TracePool(np.int64(4), np.int32(4)).stats.size == 4


@pytest.mark.parametrize("args, exc, match", [
    ((0,), InvalidArgument, r"max_size must be in \[1, 1048576\], got 0"),
    ((-1,), InvalidArgument, r"max_size must be in \[1, 1048576\], got -1"),
    ((4, 5), InvalidArgument, r"min_size must be <= max_size \(4\), got 5"),
    ((4, -1), InvalidArgument, r"min_size must be in \[0, 1048576\], got -1"),
    ((2.5,), InvalidArgument, r"max_size must be an integer, got 2.5"),
    (("8",), TypeError, r"max_size must be an integer, got str"),
    ((True,), TypeError, r"max_size must be an integer, got bool"),
    ((None,), TypeError, r"max_size must be an integer, got NoneType"),
    ((4, 1.5), InvalidArgument, r"min_size must be an integer, got 1.5"),
    ((2 ** 40,), InvalidArgument, r"max_size must be in \[1, 1048576\], got 1099511627776"),
    ((10 ** 400,), InvalidArgument, r"max_size must be in \[1, 1048576\], got <int of 1329 bits>"),
])
def test_bad_constructor_arguments(args, exc, match):
    with pytest.raises(exc, match=f"^TracePool: {match}$"):
        fp.TracePool(*args)


def test_the_pool_size_limit_is_the_pools_own_constant():
    assert fp.core._runtime.MAX_POOL_SIZE == 2 ** 20
    assert fp.TracePool(fp.core._runtime.MAX_POOL_SIZE).max_size == 2 ** 20


def test_a_large_accepted_max_size_costs_nothing_up_front():
    pool = fp.TracePool(max_size=2 ** 20)
    assert pool.stats.size == 0
    t = acquire(pool)
    t.release()
    assert pool.stats.size == 1


# ---------------------------------------------------------------- stats


def test_stats_hits_misses_returns_and_hit_ratio():
    pool = fp.TracePool(max_size=8)
    s = pool.stats
    assert s.hit_ratio == 0.0
    h = fp.PooledPriorHandler(rng=0, pool=pool)
    for _ in range(3):
        _, t = fp.run(h, one_normal)
        t.release()
    s = pool.stats
    assert (s.hits, s.misses, s.returns, s.drops, s.size) == (2, 1, 3, 0, 1)
    assert s.hit_ratio == pytest.approx(2 / 3)
    assert s.to_dict() == {"hits": 2, "misses": 1, "returns": 3, "drops": 0, "size": 1,
                           "hit_ratio": s.hit_ratio}
    r = repr(pool)
    assert r.startswith("TracePool(max_size=8, min_size=0, size=1, hits=2, misses=1")
    assert "hit_ratio=0.667" in r


def test_releases_beyond_max_size_are_drops():
    pool = fp.TracePool(max_size=2)
    traces = [acquire(pool, rng=i) for i in range(5)]
    assert pool.stats.misses == 5 and pool.stats.hits == 0
    for t in traces:
        t.release()
    s = pool.stats
    assert (s.returns, s.drops, s.size) == (2, 3, 2)
    assert s.size <= pool.max_size
    assert 0.0 <= s.hit_ratio <= 1.0


def test_shrink_shrink_to_and_clear():
    pool = fp.TracePool(max_size=8, min_size=2)
    traces = [acquire(pool, rng=i) for i in range(6)]
    assert (pool.stats.hits, pool.stats.misses) == (2, 4)
    for t in traces:
        t.release()
    assert pool.stats.size == 6
    assert pool.shrink() == 4 and pool.stats.size == 2
    assert pool.shrink() == 0 and pool.stats.size == 2
    assert pool.shrink_to(5) == 0 and pool.stats.size == 2
    assert pool.shrink_to(1) == 1 and pool.stats.size == 1
    assert pool.clear() == 1 and pool.stats.size == 0
    assert pool.clear() == 0
    # shrinking destroys idle traces only; counters are unchanged
    s = pool.stats
    assert (s.hits, s.misses, s.returns, s.drops) == (2, 4, 6, 0)
    # the pool still works
    t = acquire(pool)
    assert pool.stats.misses == 5
    t.release()
    assert pool.stats.size == 1
    with pytest.raises(InvalidArgument, match=r"^TracePool: n must be in \[0, 1048576\], got -1$"):
        pool.shrink_to(-1)
    with pytest.raises(TypeError, match="^TracePool: n must be an integer, got str$"):
        pool.shrink_to("1")


# ---------------------------------------------------------------- release


def test_pool_release_and_use_after_release():
    pool = fp.TracePool(4)
    value, t = fp.run(fp.PooledPriorHandler(rng=0, pool=pool), sensor, 22.0)
    assert t["temperature"] == value[0] and not t.released
    pool.release(t)
    assert t.released
    assert pool.stats.returns == 1 and pool.stats.size == 1
    assert repr(t) == "Trace(<released>)"
    for use in (lambda: t["temperature"], lambda: len(t), lambda: t.log_prior,
                lambda: "temperature" in t, lambda: t.keys(), lambda: t.choices,
                lambda: t.copy(), lambda: t == t,  # noqa: PLR0124
                lambda: t.to_numpy(), lambda: t.get("x")):
        with pytest.raises(fp.FugueError, match="released to its pool and can no longer be used"):
            use()
    with pytest.raises(fp.FugueError, match="already released"):
        t.release()
    with pytest.raises(fp.FugueError, match="already released"):
        pool.release(t)
    assert pool.stats.returns == 1 and pool.stats.size == 1  # nothing double-counted


def test_trace_release_method_and_context_manager():
    pool = fp.TracePool(4)
    h = fp.PooledPriorHandler(rng=0, pool=pool)
    value, t = fp.run(h, one_normal)
    with t as inside:
        assert inside is t and inside["x"] == value
    assert t.released and pool.stats.returns == 1
    t.__exit__(None, None, None)  # leaving again is harmless
    assert pool.stats.returns == 1
    # an exception in the block still returns the trace, and propagates
    _, t2 = fp.run(h, one_normal)
    with pytest.raises(ZeroDivisionError), t2:
        raise ZeroDivisionError
    assert t2.released and pool.stats.returns == 2
    # releasing inside the block is fine
    _, t3 = fp.run(h, one_normal)
    with t3:
        t3.release()
    assert pool.stats.returns == 3
    assert pool.stats.hits + pool.stats.misses == 3


def test_release_into_another_pool_is_a_value_error():
    p1, p2 = fp.TracePool(4), fp.TracePool(4)
    t = acquire(p1)
    with pytest.raises(ValueError, match="did not come from this pool"):
        p2.release(t)
    assert not t.released and t["x"] == t.values()[0]  # untouched
    assert p2.stats.returns == 0 and p1.stats.returns == 0
    _, unpooled = fp.run(fp.PriorHandler(rng=0), one_normal)
    with pytest.raises(ValueError, match="did not come from this pool"):
        p1.release(unpooled)
    with pytest.raises(TypeError):
        p1.release(None)
    p1.release(t)
    assert p1.stats.returns == 1


def test_unpooled_trace_release_is_a_no_op():
    _, t = fp.run(fp.PriorHandler(rng=0), one_normal)
    t.release()
    with t:
        pass
    assert not t.released and len(t) == 1


def test_a_garbage_collected_pooled_trace_goes_back_to_the_pool():
    pool = fp.TracePool(4)
    h = fp.PooledPriorHandler(rng=0, pool=pool)
    _, t = fp.run(h, one_normal)
    assert pool.stats.returns == 0
    del t
    gc.collect()
    assert pool.stats.returns == 1 and pool.stats.size == 1
    fp.run(h, one_normal)  # result discarded at once
    gc.collect()
    assert pool.stats.returns == 2 and pool.stats.hits == 1
    # a trace that outlives its handler still returns to its pool
    _, t = fp.run(fp.PooledPriorHandler(rng=1, pool=pool), one_normal)
    del h
    gc.collect()
    del t
    gc.collect()
    assert pool.stats.returns == 3


def test_a_failed_pooled_run_returns_its_trace():
    pool = fp.TracePool(4)
    h = fp.PooledPriorHandler(rng=0, pool=pool)

    def bad():
        fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(0.0, 1.0), math.nan)

    with pytest.raises(fp.InvalidObservation):
        fp.run(h, bad)
    gc.collect()
    s = pool.stats
    assert s.hits + s.misses == 1
    assert s.returns + s.drops == 1
    assert s.size == 1
    # A run refused for a bad argument never takes a trace from the pool.
    with pytest.raises(ValueError, match="deadline"):
        fp.run(h, one_normal, deadline=-1.0)
    with pytest.raises(TypeError, match="callable"):
        fp.run(h, 42)
    assert pool.stats == s
    # the reused trace starts empty
    value, t = fp.run(h, sensor, 22.0)
    assert t.keys() == ["temperature", "valid", "sensor"]
    assert t.log_likelihood == pytest.approx(stats.norm.logpdf(22.0, value[0], 1.0), rel=1e-12)


def test_a_reused_trace_holds_only_the_new_run():
    # Alternate models of different shapes (and the >16-choice index path) on
    # one pool: every pooled trace equals the unpooled run with the same seed.
    pool = fp.TracePool(1)
    models = [(big_model, (30, "a")), (sensor, (22.0,)), (big_model, (100, "b")),
              (one_normal, ()), (big_model, (20, "a"))]
    for _ in range(3):
        for seed, (model, args) in enumerate(models):
            v1, t1 = fp.run(fp.PooledPriorHandler(rng=seed, pool=pool), model, *args)
            v2, t2 = fp.run(fp.PriorHandler(rng=seed), model, *args)
            assert v1 == v2 and t1 == t2
            assert t1.keys() == t2.keys()
            assert all(a in t1 for a in t2)
            for stale in ("temperature", fp.addr("a", 25), fp.addr("b", 99), "x"):
                assert (stale in t1) == (stale in t2)
            t1.release()
    s = pool.stats
    assert s.misses == 1 and s.hits == 3 * len(models) - 1


# ---------------------------------------------------------------- threads


def test_pool_is_thread_safe_and_stats_stay_consistent():
    n_threads, n_runs = 8, 150
    pool = fp.TracePool(max_size=6)
    errors = []
    barrier = threading.Barrier(n_threads)
    expected = {}
    for k in range(n_threads):
        h = fp.PriorHandler(rng=k)
        expected[k] = [fp.run(h, sensor, float(k))[1] for _ in range(n_runs)]

    def worker(k):
        try:
            h = fp.PooledPriorHandler(rng=k, pool=pool)
            held = []
            barrier.wait()
            for j in range(n_runs):
                _, t = fp.run(h, sensor, float(k))
                if t != expected[k][j]:
                    errors.append(f"thread {k} run {j}: wrong trace")
                mode = j % 4
                if mode == 0:
                    pool.release(t)
                elif mode == 1:
                    with t:
                        pass
                elif mode == 2:
                    held.append(t)  # held for a while, then released together
                    if len(held) >= 3:
                        for x in held:
                            x.release()
                        held.clear()
                else:
                    del t  # garbage collection returns it
            for x in held:
                x.release()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, mid-run
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    finally:
        sys.setswitchinterval(old)
    gc.collect()
    assert errors == []
    s = pool.stats
    total = n_threads * n_runs
    assert s.hits + s.misses == total
    assert s.returns + s.drops == total
    assert s.size <= pool.max_size
    assert s.size == s.returns - s.hits  # every idle trace is accounted for
    assert s.hits > 0
    assert 0.0 <= s.hit_ratio <= 1.0


def test_pool_operations_from_many_threads_at_once():
    pool = fp.TracePool(max_size=4, min_size=2)
    errors = []

    def worker(k):
        try:
            h = fp.PooledPriorHandler(rng=k, pool=pool)
            for j in range(100):
                _, t = fp.run(h, one_normal)
                if j % 10 == 0:
                    pool.shrink()
                if j % 25 == 0:
                    pool.clear()
                _ = pool.stats
                t.release()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    s = pool.stats
    assert s.hits + s.misses == 800
    assert s.returns + s.drops == 800
    assert s.size <= 4


# ---------------------------------------------------------------- no allocation


@pytest.mark.parametrize("model, args", [(sensor, (22.0,)), (big_model, (100,))],
                         ids=["sensor-3-choices", "100-samples-hash-index"])
def test_pooled_runs_allocate_no_trace_buffers_after_warm_up(model, args):
    pool = fp.TracePool(max_size=2)
    h = fp.PooledPriorHandler(rng=0, pool=pool)
    for _ in range(3):  # warm-up
        fp.run(h, model, *args)[1].release()
    before = fp.trace_buffer_allocations()
    for _ in range(1000):
        _, t = fp.run(h, model, *args)
        t.release()
    assert fp.trace_buffer_allocations() == before
    assert pool.stats.misses == 1 and pool.stats.hits == 1002

    # the same loop unpooled allocates (so the check above can fail)
    plain = fp.PriorHandler(rng=0)
    before = fp.trace_buffer_allocations()
    for _ in range(20):
        fp.run(plain, model, *args)
    assert fp.trace_buffer_allocations() - before >= 20


def test_context_manager_release_also_allocates_nothing():
    h = fp.PooledPriorHandler(rng=0, pool=fp.TracePool(1))
    for _ in range(2):
        with fp.run(h, big_model, 40)[1]:
            pass
    before = fp.trace_buffer_allocations()
    for _ in range(300):
        with fp.run(h, big_model, 40)[1] as t:
            assert len(t) == 41
    assert fp.trace_buffer_allocations() == before


def test_holding_traces_forces_allocations():
    # When every trace is kept, the pool cannot serve them: new buffers.
    h = fp.PooledPriorHandler(rng=0, pool=fp.TracePool(2))
    before = fp.trace_buffer_allocations()
    kept = [fp.run(h, sensor, 22.0)[1] for _ in range(10)]
    assert fp.trace_buffer_allocations() - before >= 10
    assert h.pool.stats.misses == 10
    for t in kept:
        t.release()
    assert h.pool.stats.returns == 2 and h.pool.stats.drops == 8
