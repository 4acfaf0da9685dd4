"""Runtime benchmarks: prior runs of the built-in models.

1. fugue-ppl (``fp.run(fp.PriorHandler(rng), model)``) against the pure-Python
   effect-handler runtime of ``benches/purepy.py`` on the sensor model and on
   ref20 (39 sites; ``fp.addr("x", i)`` in fugue-ppl's model, f-strings in the
   baseline's). Target: at least 5x faster on both.
2. Pooled runs (``PooledPriorHandler``) against unpooled ones
   (``PriorHandler``), the loop identical on both sides: each trace is
   dropped when the next run's result is bound, and a pooled trace then goes
   back to its pool by itself. Target: at least 10% faster on sensor, no
   slower on ref20. (An explicit ``trace.release()`` adds a Python method call
   per run; ``test_pool_sensor_pooled_explicit_release`` reports that variant.)
3. Addresses made per request: a pooled run whose two addresses are new
   strings in every run (a user id in the name), so the address table interns
   and reclaims them, against the same model with two fixed addresses.
   Reported (the cost of formatting, interning and reclaiming each new
   address), with a loose bound of 5x that a sweep per new address (instead
   of amortised sweeps) would break by far.

Each benchmarked call runs the model ``RUNS_PER_CALL`` times in a plain loop,
so the harness's own per-call cost does not blur the per-run cost; the loop is
the same on both sides of each comparison, and the call is written out as a
user writes it (``run(handler, model, reading)``), not as a star-call, whose
list and tuple would cost about 100 ns per run on both sides. ``extra_info["per_run_s"]`` has the
per-run time of the fastest round.

A handler is built once and reused for every run, as a service does; the
baseline builds a fresh handler per run because that is where its trace lives.
"""

import random

import pytest

import fugue_ppl as fp
import purepy
from fugue_ppl.models import ref20, sensor

SEED = 20240611
READING = 22.0
RUNS_PER_CALL = {"sensor": 200, "ref20": 20}


def _fugue_prior(model, args, n):
    handler = fp.PriorHandler(rng=SEED)
    run = fp.run
    if args:
        (x,) = args

        def runs():
            for _ in range(n):
                run(handler, model, x)
    else:
        def runs():
            for _ in range(n):
                run(handler, model)
    return runs


def _purepy_prior(model, args, n):
    rng = random.Random(SEED)
    run, handler = purepy.run, purepy.PriorHandler
    if args:
        (x,) = args

        def runs():
            for _ in range(n):
                run(handler(rng), model, x)
    else:
        def runs():
            for _ in range(n):
                run(handler(rng), model)
    return runs


def _fugue_unpooled(model, args, n):
    return _fugue_pooled(fp.PriorHandler(rng=SEED), model, args, n)


def _fugue_pooled(handler, model, args, n):
    # The same loop for a pooled and an unpooled handler: each trace is
    # dropped at the next binding (a pooled one then goes back to its pool).
    run = fp.run
    if args:
        (x,) = args

        def runs():
            for _ in range(n):
                value, trace = run(handler, model, x)
    else:
        def runs():
            for _ in range(n):
                value, trace = run(handler, model)
    return runs


def _fugue_pooled_explicit(handler, model, args, n):
    run = fp.run
    (x,) = args

    def runs():
        for _ in range(n):
            value, trace = run(handler, model, x)
            trace.release()                              # back to the pool now
    return runs


def _finish(bench, model_name):
    n = RUNS_PER_CALL[model_name]
    bench.extra_info["runs_per_call"] = n
    if bench.stats is not None:
        bench.extra_info["per_run_s"] = bench.stats.stats.min / n


# ---------------------------------------------------------------- sanity (not timed)

def test_models_agree_in_shape():
    _, t = fp.run(fp.PriorHandler(rng=SEED), sensor, READING)
    _, p = purepy.run(purepy.PriorHandler(random.Random(SEED)), purepy.sensor, READING)
    assert len(t) == len(p.choices) == 3
    _, t = fp.run(fp.PriorHandler(rng=SEED), ref20)
    _, p = purepy.run(purepy.PriorHandler(random.Random(SEED)), purepy.ref20)
    assert len(t) == len(p.choices) == 39
    # The observed values are the same in both ref20s.
    assert [t[fp.addr("y", i)] for i in range(19)] == [p.choices[f"y_{i}"][0] for i in range(19)]


# ---------------------------------------------------------------- 1. fugue-ppl vs pure Python

@pytest.mark.benchmark(group="prior run: sensor (fugue-ppl vs pure Python)")
def test_prior_sensor_fugue(bench):
    bench(_fugue_prior(sensor, (READING,), RUNS_PER_CALL["sensor"]))
    _finish(bench, "sensor")


@pytest.mark.benchmark(group="prior run: sensor (fugue-ppl vs pure Python)")
def test_prior_sensor_purepy(bench):
    bench(_purepy_prior(purepy.sensor, (READING,), RUNS_PER_CALL["sensor"]))
    _finish(bench, "sensor")


@pytest.mark.benchmark(group="prior run: ref20 (fugue-ppl vs pure Python)")
def test_prior_ref20_fugue(bench):
    bench(_fugue_prior(ref20, (), RUNS_PER_CALL["ref20"]))
    _finish(bench, "ref20")


# ref20 with its 38 indexed addresses written as string constants: what
# fp.addr("x", i) costs over a constant. addr returns the same interned string
# object every run (no formatting), so what remains is the call itself.
_X = tuple(f"x[{i}]" for i in range(19))
_Y = tuple(f"y[{i}]" for i in range(19))


def ref20_constant_addresses():
    mu = fp.sample("mu", fp.Normal(0.0, 1.0))
    for i in range(19):
        x = fp.sample(_X[i], fp.Normal(mu, 1.0))
        fp.observe(_Y[i], fp.Normal(x, 0.5), 0.1 * i - 0.9)
    return mu


@pytest.mark.benchmark(group="prior run: ref20 (fugue-ppl vs pure Python)")
def test_prior_ref20_constant_addresses(bench):
    assert [fp.addr("x", i) for i in range(19)] == list(_X)
    bench(_fugue_prior(ref20_constant_addresses, (), RUNS_PER_CALL["ref20"]))
    _finish(bench, "ref20")


@pytest.mark.benchmark(group="prior run: ref20 (fugue-ppl vs pure Python)")
def test_prior_ref20_purepy(bench):
    bench(_purepy_prior(purepy.ref20, (), RUNS_PER_CALL["ref20"]))
    _finish(bench, "ref20")


# ---------------------------------------------------------------- 2. pooled vs unpooled

@pytest.mark.benchmark(group="pooled vs unpooled: sensor")
def test_pool_sensor_unpooled(bench):
    bench(_fugue_unpooled(sensor, (READING,), RUNS_PER_CALL["sensor"]))
    _finish(bench, "sensor")


@pytest.mark.benchmark(group="pooled vs unpooled: sensor")
def test_pool_sensor_pooled(bench):
    pool = fp.TracePool(max_size=8)
    handler = fp.PooledPriorHandler(rng=SEED, pool=pool)
    bench(_fugue_pooled(handler, sensor, (READING,), RUNS_PER_CALL["sensor"]))
    _finish(bench, "sensor")
    s = pool.stats
    bench.extra_info["pool"] = s.to_dict()
    assert s.misses <= 2 and s.drops == 0   # two traces in flight at the rebinding


@pytest.mark.benchmark(group="pooled, explicit release: sensor")
def test_pool_sensor_pooled_explicit_release(bench):
    pool = fp.TracePool(max_size=8)
    handler = fp.PooledPriorHandler(rng=SEED, pool=pool)
    bench(_fugue_pooled_explicit(handler, sensor, (READING,), RUNS_PER_CALL["sensor"]))
    _finish(bench, "sensor")
    s = pool.stats
    bench.extra_info["pool"] = s.to_dict()
    assert s.misses == 1 and s.drops == 0


@pytest.mark.benchmark(group="pooled vs unpooled: ref20")
def test_pool_ref20_unpooled(bench):
    bench(_fugue_unpooled(ref20, (), RUNS_PER_CALL["ref20"]))
    _finish(bench, "ref20")


@pytest.mark.benchmark(group="pooled vs unpooled: ref20")
def test_pool_ref20_pooled(bench):
    pool = fp.TracePool(max_size=8)
    handler = fp.PooledPriorHandler(rng=SEED, pool=pool)
    bench(_fugue_pooled(handler, ref20, (), RUNS_PER_CALL["ref20"]))
    _finish(bench, "ref20")
    s = pool.stats
    bench.extra_info["pool"] = s.to_dict()
    assert s.misses <= 2 and s.drops == 0   # two traces in flight at the rebinding


# ---------------------------------------------------------------- 3. addresses per request

_CHURN_RUNS = 200


def _user_model(uid):
    x = fp.sample(f"user_{uid}", fp.Normal(0.0, 1.0))
    fp.observe(f"obs_{uid}", fp.Normal(x, 1.0), 0.5)
    return x


def _fixed_model(uid):
    x = fp.sample("user", fp.Normal(0.0, 1.0))
    fp.observe("obs", fp.Normal(x, 1.0), 0.5)
    return x


def _by_request(model):
    handler = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(8))
    run = fp.run
    counter = iter(range(10 ** 12))

    def runs():
        for _ in range(_CHURN_RUNS):
            value, trace = run(handler, model, next(counter))
    return runs


@pytest.mark.benchmark(group="addresses per request")
def test_addresses_fixed(bench):
    bench(_by_request(_fixed_model))
    bench.extra_info["per_run_s"] = bench.stats.stats.min / _CHURN_RUNS if bench.stats else None


@pytest.mark.benchmark(group="addresses per request")
def test_addresses_new_every_run(bench):
    from fugue_ppl.core._runtime import _address_table_info
    bench(_by_request(_user_model))
    bench.extra_info["per_run_s"] = bench.stats.stats.min / _CHURN_RUNS if bench.stats else None
    info = _address_table_info()
    bench.extra_info["address_table"] = info
    assert info["live"] <= 2 * info["sweep_at"]          # reclaimed, not grown


# ---------------------------------------------------------------- ratios (targets)

def test_ratio_prior_sensor(compare):
    compare("test_prior_sensor_fugue", "test_prior_sensor_purepy", kind="speedup", target=5.0,
            description="prior run, sensor: fugue-ppl vs pure Python")


def test_ratio_prior_ref20(compare):
    compare("test_prior_ref20_fugue", "test_prior_ref20_purepy", kind="speedup", target=5.0,
            description="prior run, ref20: fugue-ppl vs pure Python")


def test_ratio_addr_vs_constant_addresses(compare):
    compare("test_prior_ref20_fugue", "test_prior_ref20_constant_addresses", kind="slowdown",
            target=1.10, description="prior run, ref20: fp.addr(name, i) vs string constants")


def test_ratio_pool_sensor(compare):
    compare("test_pool_sensor_pooled", "test_pool_sensor_unpooled", kind="speedup", target=1.10,
            description="sensor: pooled vs unpooled")


def test_ratio_pool_ref20(compare):
    compare("test_pool_ref20_pooled", "test_pool_ref20_unpooled", kind="speedup", target=1.0,
            description="ref20: pooled vs unpooled")


def test_ratio_addresses_per_request(compare):
    compare("test_addresses_new_every_run", "test_addresses_fixed", kind="slowdown", target=5.0,
            description="pooled run: 2 new addresses every run vs 2 fixed addresses")
