"""Effects, run, nesting, threads, addresses, deadlines and seeding.

Every test asserts values (compared with scipy / numpy / a single-threaded
reference run), not only that something did not raise.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument

LOG_095 = math.log(0.95)
LOG_005 = math.log(0.05)


# ---------------------------------------------------------------- helpers


def sensor(reading):
    temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
    valid = fp.sample("valid", fp.Bernoulli(0.95))
    fp.observe("sensor", fp.Normal(temp, 1.0), reading)
    return temp, valid


def norm_lp(x, mu, sigma):
    return float(stats.norm.logpdf(x, mu, sigma))


def check_sensor(value, trace, reading=22.0):
    """The trace of one ``sensor`` run is exactly what the model did."""
    temp, valid = value
    assert type(temp) is float and type(valid) is bool
    assert trace.keys() == ["temperature", "valid", "sensor"]
    assert trace["temperature"] == temp
    assert trace["valid"] is valid
    assert trace["sensor"] == reading
    c_t, c_v, c_s = trace.choices
    assert c_t.log_prob == pytest.approx(norm_lp(temp, 20.0, 5.0), rel=1e-12)
    assert c_v.log_prob == pytest.approx(LOG_095 if valid else LOG_005, rel=1e-12)
    assert c_s.log_prob == pytest.approx(norm_lp(reading, temp, 1.0), rel=1e-12)
    assert [c.kind for c in trace.choices] == ["sample", "sample", "observe"]
    assert trace.log_prior == c_t.log_prob + c_v.log_prob
    assert trace.log_likelihood == c_s.log_prob
    assert trace.log_factors == 0.0


def lock_is_free(lock):
    """True when another thread can take ``lock`` (numpy's lock is an RLock)."""
    got = []

    def probe():
        ok = lock.acquire(blocking=False)
        got.append(ok)
        if ok:
            lock.release()

    th = threading.Thread(target=probe)
    th.start()
    th.join()
    return got == [True]


def run_with_timeout(fn, timeout=20.0):
    """Call ``fn`` in a thread; fail (instead of hanging) if it does not finish."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            out["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    assert not th.is_alive(), "the call did not finish: a lock was left held (deadlock)"
    if "error" in out:
        raise out["error"]
    return out["value"]


# ---------------------------------------------------------------- effects and run


def test_run_returns_model_value_and_its_trace():
    value, trace = fp.run(fp.PriorHandler(rng=42), sensor, 22.0)
    assert isinstance(trace, fp.Trace)
    check_sensor(value, trace)


def test_run_passes_positional_and_keyword_arguments():
    def model(a, b, *, scale, offset=0.0):
        x = fp.sample("x", fp.Normal(a, scale))
        return (a, b, scale, offset, x)

    value, trace = fp.run(fp.PriorHandler(rng=1), model, 3.0, "b", scale=2.0, offset=5.0)
    assert value[:4] == (3.0, "b", 2.0, 5.0)
    assert trace["x"] == value[4]
    assert trace.choice("x").log_prob == pytest.approx(norm_lp(value[4], 3.0, 2.0), rel=1e-12)


def test_model_keyword_arguments_named_like_runs_parameters_reach_the_model():
    # A model with parameters called ``model`` / ``handler`` still receives them.
    def model(x, model="linear", handler=None):
        fp.sample("a", fp.Normal(x, 1.0))
        return model, handler

    value, trace = fp.run(fp.PriorHandler(rng=0), model, 1.0, model="quadratic", handler="h")
    assert value == ("quadratic", "h")
    assert list(trace) == ["a"]


def test_sample_returns_python_scalars_of_the_distributions_kind():
    def model():
        return (fp.sample("f", fp.Normal(0.0, 1.0)), fp.sample("b", fp.Bernoulli(0.5)),
                fp.sample("c", fp.Categorical([0.2, 0.3, 0.5])))

    (f, b, c), trace = fp.run(fp.PriorHandler(rng=3), model)
    assert type(f) is float and type(b) is bool and type(c) is int
    assert 0 <= c <= 2
    assert trace.values() == [f, b, c]
    assert trace.choice("c").log_prob == pytest.approx(math.log([0.2, 0.3, 0.5][c]), rel=1e-12)


def test_factor_adds_to_log_factors_and_total():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.factor(-1.5)
        fp.factor(2)          # an int is a real number
        fp.factor(np.float64(-0.25))
        return x

    x, trace = fp.run(fp.PriorHandler(rng=0), model)
    assert trace.log_factors == -1.5 + 2.0 + -0.25
    assert trace.total_log_weight == trace.log_prior + trace.log_likelihood + trace.log_factors
    assert trace.log_prior == pytest.approx(norm_lp(x, 0.0, 1.0), rel=1e-12)
    assert len(trace) == 1  # factors are weights, not choices


def test_factor_minus_infinity_is_allowed_and_recorded():
    def model():
        fp.sample("x", fp.Normal(0.0, 1.0))
        fp.factor(-math.inf)
        fp.factor(3.0)
        return "done"

    value, trace = fp.run(fp.PriorHandler(rng=0), model)
    assert value == "done"
    assert trace.log_factors == -math.inf
    assert trace.total_log_weight == -math.inf
    assert math.isfinite(trace.log_prior)


@pytest.mark.parametrize("effect", [
    lambda: fp.sample("x", fp.Normal(0.0, 1.0)),
    lambda: fp.observe("y", fp.Normal(0.0, 1.0), 0.5),
    lambda: fp.factor(-1.0),
], ids=["sample", "observe", "factor"])
def test_effect_outside_run_raises_a_clear_error(effect, request):
    name = request.node.callspec.id
    with pytest.raises(fp.EffectOutsideRun) as ei:
        effect()
    assert isinstance(ei.value, fp.FugueError) and isinstance(ei.value, RuntimeError)
    msg = str(ei.value)
    assert f"{name}()" in msg and "outside" in msg and "fp.run" in msg


def test_effect_outside_run_after_runs_finished_or_failed():
    fp.run(fp.PriorHandler(rng=0), sensor, 22.0)
    with pytest.raises(fp.EffectOutsideRun):
        fp.sample("x", fp.Normal(0.0, 1.0))

    def bad():
        fp.sample("x", fp.Normal(0.0, 1.0))
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        fp.run(fp.PriorHandler(rng=0), bad)
    with pytest.raises(fp.EffectOutsideRun):
        fp.factor(0.0)


# ---------------------------------------------------------------- bad inputs

BAD_MODELS = [
    # id, model, exception, code, message fragments
    ("address-int", lambda: fp.sample(3, fp.Normal(0.0, 1.0)), TypeError, None,
     ["address must be a str", "int"]),
    ("address-bytes", lambda: fp.sample(b"x", fp.Normal(0.0, 1.0)), TypeError, None,
     ["address must be a str", "bytes"]),
    ("address-none-observe", lambda: fp.observe(None, fp.Normal(0.0, 1.0), 1.0), TypeError,
     None, ["address must be a str"]),
    ("address-empty", lambda: fp.sample("", fp.Normal(0.0, 1.0)), ValueError, None,
     ["must not be empty"]),
    ("address-empty-observe", lambda: fp.observe("", fp.Normal(0.0, 1.0), 1.0), ValueError,
     None, ["must not be empty"]),
    ("dist-float", lambda: fp.sample("mu", 3.0), TypeError, None,
     ["'mu'", "Distribution", "float"]),
    ("dist-class", lambda: fp.sample("mu", fp.Normal), TypeError, None, ["'mu'", "Distribution"]),
    ("dist-observe", lambda: fp.observe("obs", "Normal", 1.0), TypeError, None,
     ["'obs'", "Distribution", "str"]),
    ("observed-str", lambda: fp.observe("y", fp.Normal(0.0, 1.0), "22.0"), fp.TypeMismatch, 600,
     ["'y'", "str"]),
    ("observed-none", lambda: fp.observe("y", fp.Normal(0.0, 1.0), None), fp.TypeMismatch, 600,
     ["'y'", "NoneType"]),
    ("observed-nan", lambda: fp.observe("y", fp.Normal(0.0, 1.0), math.nan),
     fp.InvalidObservation, 601, ["'y'", "NaN"]),
    ("observed-np-nan", lambda: fp.observe("y", fp.Normal(0.0, 1.0), np.float64("nan")),
     fp.InvalidObservation, 601, ["'y'"]),
    ("observed-inf", lambda: fp.observe("y", fp.Normal(0.0, 1.0), math.inf),
     fp.InvalidObservation, 601, ["'y'", "infinite"]),
    ("observed-minus-inf", lambda: fp.observe("y", fp.Normal(0.0, 1.0), -math.inf),
     fp.InvalidObservation, 601, ["'y'"]),
    ("observed-nan-bernoulli", lambda: fp.observe("flag", fp.Bernoulli(0.5), math.nan),
     fp.InvalidObservation, 601, ["'flag'"]),
    ("factor-nan", lambda: fp.factor(math.nan), fp.InvalidObservation, 601, ["NaN", "+inf"]),
    ("factor-plus-inf", lambda: fp.factor(math.inf), fp.InvalidObservation, 601, ["+inf"]),
    ("factor-str", lambda: fp.factor("-1.0"), TypeError, None, ["real number", "str"]),
    ("factor-none", lambda: fp.factor(None), TypeError, None, ["real number", "NoneType"]),
    ("duplicate-sample", lambda: (fp.sample("x", fp.Normal(0.0, 1.0)),
                                  fp.sample("x", fp.Normal(0.0, 1.0))),
     fp.AddressConflict, 301, ["'x'", "already used"]),
    ("duplicate-observe", lambda: (fp.sample("x", fp.Normal(0.0, 1.0)),
                                   fp.observe("x", fp.Normal(0.0, 1.0), 1.0)),
     fp.AddressConflict, 301, ["'x'"]),
]


def _model_failing_midway(effect):
    def model():
        fp.sample("before", fp.Normal(0.0, 1.0))
        fp.factor(-2.0)
        effect()
        fp.sample("after", fp.Normal(0.0, 1.0))  # never reached
    return model


@pytest.mark.parametrize("case", BAD_MODELS, ids=[c[0] for c in BAD_MODELS])
def test_bad_input_raises_typed_error_and_leaves_the_handler_usable(case):
    _, effect, exc_type, code, fragments = case
    gen = np.random.default_rng(2024)
    handler = fp.PriorHandler(rng=gen)
    with pytest.raises(exc_type) as ei:
        fp.run(handler, _model_failing_midway(effect))
    err = ei.value
    if code is not None:
        assert err.code == code
        assert str(err).startswith(f"[{code}]")
        assert isinstance(err, fp.FugueError)
    for frag in fragments:
        assert frag in str(err), (frag, str(err))
    if isinstance(err, (fp.AddressConflict, fp.TypeMismatch)) and "'" in fragments[0]:
        assert err.address == fragments[0].strip("'")
    # No corrupted state: no active run, the generator's lock is free, and
    # the next run on the same handler gives exactly what a fresh handler
    # with the same generator state gives.
    with pytest.raises(fp.EffectOutsideRun):
        fp.sample("x", fp.Normal(0.0, 1.0))
    assert lock_is_free(gen.bit_generator.lock)
    state = gen.bit_generator.state
    ref_gen = np.random.default_rng()
    ref_gen.bit_generator.state = state
    value, trace = run_with_timeout(lambda: fp.run(handler, sensor, 22.0))
    ref_value, ref_trace = fp.run(fp.PriorHandler(rng=ref_gen), sensor, 22.0)
    assert value == ref_value
    assert trace == ref_trace
    check_sensor(value, trace)


@pytest.mark.parametrize("case", BAD_MODELS[::3], ids=[c[0] for c in BAD_MODELS[::3]])
def test_bad_input_with_a_seeded_handler_does_not_deadlock_the_next_run(case):
    # A seeded handler holds no lock: the failed run took key 0, the next one
    # is key 1.
    handler = fp.PriorHandler(rng=5)
    with pytest.raises(case[2]):
        fp.run(handler, _model_failing_midway(case[1]))
    value, trace = run_with_timeout(lambda: fp.run(handler, sensor, 21.0))
    check_sensor(value, trace, 21.0)
    ref = np.random.default_rng([5, 1])
    assert value == (ref.normal(20.0, 5.0), bool(ref.random() < 0.95))


@pytest.mark.parametrize("handler", [None, "prior", object(), 42, fp.PriorHandler],
                         ids=["None", "str", "object", "int", "class"])
def test_run_rejects_a_non_handler(handler):
    with pytest.raises(TypeError, match="handler must be a fugue_ppl Handler"):
        fp.run(handler, sensor, 22.0)


def test_handler_base_class_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        fp.Handler()


def test_handler_subclass_without_super_init_does_not_crash_the_process():
    code = textwrap.dedent("""
        import fugue_ppl as fp
        class MyHandler(fp.PriorHandler):
            def __init__(self):
                pass
        try:
            fp.run(MyHandler(), lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
        except (TypeError, ValueError, fp.FugueError) as e:
            print("raised", type(e).__name__)
        else:
            print("ran")
    """)
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"interpreter died with return code {proc.returncode}"
    assert proc.stdout.strip().splitlines()[-1] in ("raised TypeError", "raised ValueError",
                                                    "raised FugueError", "ran")


# ---------------------------------------------------------------- nesting


def test_nested_run_has_its_own_trace_and_the_outer_run_resumes():
    inner_h = fp.PriorHandler(rng=11)

    def inner(mu):
        return fp.sample("b", fp.Normal(mu, 1.0))

    def outer():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        b, inner_trace = fp.run(inner_h, inner, 100.0)
        fp.observe("y", fp.Normal(a, 1.0), 0.5)
        c = fp.sample("c", fp.Normal(0.0, 1.0))
        return a, b, c, inner_trace

    (a, b, c, inner_trace), trace = fp.run(fp.PriorHandler(rng=10), outer)
    assert trace.keys() == ["a", "y", "c"]
    assert inner_trace.keys() == ["b"]
    assert inner_trace["b"] == b and "b" not in trace
    assert abs(b - 100.0) < 10.0  # drawn from the inner model's distribution
    assert trace.log_prior == trace.choice("a").log_prob + trace.choice("c").log_prob
    assert trace.log_prior == pytest.approx(norm_lp(a, 0, 1) + norm_lp(c, 0, 1), rel=1e-12)
    assert inner_trace.log_prior == pytest.approx(norm_lp(b, 100.0, 1.0), rel=1e-12)
    assert inner_trace.log_likelihood == 0.0
    # the outer values are the outer handler's stream, untouched by the inner run
    _, ref = fp.run(fp.PriorHandler(rng=10), lambda: (
        fp.sample("a", fp.Normal(0.0, 1.0)), fp.observe("y", fp.Normal(a, 1.0), 0.5),
        fp.sample("c", fp.Normal(0.0, 1.0))))
    assert ref == trace


@pytest.mark.parametrize("failure", ["model-error", "address-conflict", "bad-observation"])
def test_outer_run_resumes_recording_after_the_inner_run_raised(failure):
    def inner():
        fp.sample("i", fp.Normal(0.0, 1.0))
        if failure == "model-error":
            raise KeyError("inner failed")
        if failure == "address-conflict":
            fp.sample("i", fp.Normal(0.0, 1.0))
        fp.observe("o", fp.Normal(0.0, 1.0), math.nan)

    def outer():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        try:
            fp.run(fp.PriorHandler(rng=1), inner)
        except (KeyError, fp.AddressConflict, fp.InvalidObservation) as e:
            caught = type(e)
        fp.factor(-0.5)
        c = fp.sample("c", fp.Bernoulli(0.25))
        return a, c, caught

    (a, c, caught), trace = fp.run(fp.PriorHandler(rng=2), outer)
    expected = {"model-error": KeyError, "address-conflict": fp.AddressConflict,
                "bad-observation": fp.InvalidObservation}[failure]
    assert caught is expected
    assert trace.keys() == ["a", "c"]
    assert "i" not in trace and "o" not in trace
    assert trace.log_prior == pytest.approx(
        norm_lp(a, 0, 1) + (math.log(0.25) if c else math.log(0.75)), rel=1e-12)
    assert trace.log_factors == -0.5
    with pytest.raises(fp.EffectOutsideRun):
        fp.sample("z", fp.Normal(0.0, 1.0))


def test_nested_run_with_the_same_handler_gets_the_next_key_without_deadlock():
    # The outer run takes key 0, the nested run key 1: each draws its own stream.
    h = fp.PriorHandler(rng=5)

    def outer():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        b, t_in = fp.run(h, lambda: fp.sample("b", fp.Normal(0.0, 1.0)))
        c = fp.sample("c", fp.Normal(0.0, 1.0))
        return [a, b, c], t_in

    (vals, t_in), t_out = run_with_timeout(lambda: fp.run(h, outer))
    ref_outer, ref_inner = np.random.default_rng([5, 0]), np.random.default_rng([5, 1])
    assert vals == [ref_outer.normal(0.0, 1.0), ref_inner.normal(0.0, 1.0),
                    ref_outer.normal(0.0, 1.0)]
    assert t_out.keys() == ["a", "c"] and t_in.keys() == ["b"]


def test_nested_run_with_the_same_generator_handler_shares_its_stream_without_deadlock():
    gen = np.random.default_rng(5)
    h = fp.PriorHandler(rng=gen)

    def outer():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        b, t_in = fp.run(h, lambda: fp.sample("b", fp.Normal(0.0, 1.0)))
        c = fp.sample("c", fp.Normal(0.0, 1.0))
        return [a, b, c], t_in

    (vals, t_in), t_out = run_with_timeout(lambda: fp.run(h, outer))
    ref = np.random.default_rng(5)
    assert vals == [ref.normal(0.0, 1.0) for _ in range(3)]
    assert t_out.keys() == ["a", "c"] and t_in.keys() == ["b"]
    assert lock_is_free(gen.bit_generator.lock)


def test_nested_run_with_a_handler_on_the_same_user_generator_does_not_deadlock():
    gen = np.random.default_rng(8)
    h1, h2 = fp.PriorHandler(rng=gen), fp.PriorHandler(rng=gen)

    def outer():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        b, _ = fp.run(h2, lambda: fp.sample("b", fp.Normal(0.0, 1.0)))
        return a, b

    (a, b), _ = run_with_timeout(lambda: fp.run(h1, outer))
    ref = np.random.default_rng(8)
    assert [a, b] == [ref.normal(0.0, 1.0), ref.normal(0.0, 1.0)]
    assert lock_is_free(gen.bit_generator.lock)


def test_deeply_nested_runs_restore_each_level():
    def level(n):
        x = fp.sample(fp.addr("x", n), fp.Normal(float(n), 1.0))
        deeper = fp.run(fp.PriorHandler(rng=n), level, n - 1) if n > 0 else None
        fp.observe(fp.addr("y", n), fp.Normal(x, 1.0), float(n))
        return deeper

    deeper, trace = fp.run(fp.PriorHandler(rng=99), level, 5)
    depth = 5
    while True:
        assert trace.keys() == [fp.addr("x", depth), fp.addr("y", depth)]
        x = trace[fp.addr("x", depth)]
        assert trace.log_likelihood == pytest.approx(norm_lp(float(depth), x, 1.0), rel=1e-12)
        if deeper is None:
            break
        deeper, trace = deeper
        depth -= 1
    assert depth == 0


# ---------------------------------------------------------------- threads


_active = {"now": 0, "max": 0}
_active_lock = threading.Lock()


def _thread_model(k):
    """A model whose shape depends on ``k`` (distinct models per thread)."""
    def model(reading):
        with _active_lock:
            _active["now"] += 1
            _active["max"] = max(_active["max"], _active["now"])
        n = 2 + k % 4
        xs = [fp.sample(fp.addr("x", i), fp.Normal(float(k), 1.0 + i)) for i in range(n)]
        time.sleep(0)  # hand the GIL to another thread mid-run
        with _active_lock:
            _active["now"] -= 1
        flag = fp.sample("flag", fp.Bernoulli(0.1 + 0.1 * k))
        cat = fp.sample("cat", fp.Categorical([0.5, 0.25, 0.25]))
        fp.observe("obs", fp.Normal(sum(xs) / n, 2.0), reading)
        fp.factor(-0.01 * k)
        return xs, flag, cat
    return model


def test_threads_never_see_each_others_runs():
    n_threads, n_runs = 8, 40
    models = [_thread_model(k) for k in range(n_threads)]
    expected = {(k, j): fp.run(fp.PriorHandler(rng=1000 * k + j), models[k], float(j))
                for k in range(n_threads) for j in range(n_runs)}
    results, errors = {}, []
    _active["max"] = 0
    barrier = threading.Barrier(n_threads)

    def worker(k):
        try:
            barrier.wait()
            for j in range(n_runs):
                results[(k, j)] = fp.run(fp.PriorHandler(rng=1000 * k + j), models[k], float(j))
                if j % 7 == 0:  # a failing run in between must not disturb anything
                    try:
                        fp.run(fp.PriorHandler(rng=j), lambda: (
                            fp.sample("d", fp.Normal(0.0, 1.0)),
                            fp.sample("d", fp.Normal(0.0, 1.0))))
                    except fp.AddressConflict:
                        pass
                    else:
                        errors.append("no AddressConflict")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert _active["max"] > 1, "no two runs overlapped: the test did not exercise threads"
    assert len(results) == n_threads * n_runs
    for key, (value, trace) in expected.items():
        got_value, got_trace = results[key]
        assert got_value == value, key
        assert got_trace == trace, key
        assert got_trace.keys() == trace.keys()


@pytest.mark.parametrize("rng_kind", ["seed", "generator"])
def test_a_handler_shared_by_threads_gives_each_run_its_own_stream_or_block(rng_kind):
    # One handler, 8 threads. Seeded: each run takes the next counter key and
    # draws its own stream (default_rng([77, k]), k = 0 .. 199, each once);
    # a Generator: runs are serialised on it, each drawing a contiguous block.
    # Either way the multiset of traces equals that of as many sequential runs.
    n_threads, n_runs = 8, 25

    def model():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        time.sleep(0)
        b = fp.sample("b", fp.Normal(0.0, 1.0))
        time.sleep(0)
        c = fp.sample("c", fp.Bernoulli(0.5))
        return (a, b, c)

    def make():
        return fp.PriorHandler(rng=77 if rng_kind == "seed" else np.random.default_rng(77))

    n = n_threads * n_runs
    if rng_kind == "seed":
        gens = [np.random.default_rng([77, k]) for k in range(n)]
    else:
        gens = [np.random.default_rng(77)] * n
    reference = sorted((g.normal(0.0, 1.0), g.normal(0.0, 1.0), bool(g.random() < 0.5))
                       for g in gens)
    shared = make()
    got, errors = [], []

    def worker():
        try:
            for _ in range(n_runs):
                value, trace = fp.run(shared, model)
                assert trace.values() == list(value)
                got.append(value)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert sorted(got) == reference


def test_a_thread_started_inside_a_model_has_no_active_run():
    seen = []

    def child():
        try:
            fp.sample("x", fp.Normal(0.0, 1.0))
        except fp.EffectOutsideRun as e:
            seen.append(type(e))
        else:
            seen.append("no error")

    def model():
        fp.sample("a", fp.Normal(0.0, 1.0))
        th = threading.Thread(target=child)
        th.start()
        th.join()
        fp.sample("b", fp.Normal(0.0, 1.0))

    _, trace = fp.run(fp.PriorHandler(rng=0), model)
    assert seen == [fp.EffectOutsideRun]
    assert trace.keys() == ["a", "b"]


# ---------------------------------------------------------------- addresses


def test_addr_formats_indexed_names():
    assert fp.addr("x", 3) == "x[3]"
    assert fp.addr("w", 1, 2) == "w[1,2]"
    assert fp.addr("y", "a") == "y['a']"
    assert fp.addr("x") == "x"
    assert fp.addr("x", -1) == "x[-1]"
    assert fp.addr("x", np.int64(7)) == "x[7]"
    assert fp.addr("x", 10 ** 30) == "x[" + str(10 ** 30) + "]"
    assert fp.addr("m", 0, "k", 2) == "m[0,'k',2]"


def test_addr_returns_the_identical_object_for_small_int_indices():
    first = [fp.addr("cached_name", i) for i in range(200)]
    again = [fp.addr("cached_name", i) for i in range(200)]
    assert all(a is b for a, b in zip(first, again))
    assert first[3] == "cached_name[3]"


@pytest.mark.parametrize("index", [True, False, np.bool_(True), 1.0, 2.5, np.float64(1.0),
                                   None, [1], (1,), b"a"],
                         ids=["True", "False", "np.bool_", "1.0", "2.5", "np.float64", "None",
                              "list", "tuple", "bytes"])
def test_addr_rejects_non_int_non_str_indices(index):
    with pytest.raises(TypeError, match="an index must be an int or a str"):
        fp.addr("x", index)
    with pytest.raises(TypeError, match="an index must be an int or a str"):
        fp.addr("x", 0, index)


def test_addr_rejects_a_bad_name():
    with pytest.raises(TypeError, match="name must be a str"):
        fp.addr(3, 1)
    with pytest.raises(TypeError, match="name must be a str"):
        fp.addr(None)
    with pytest.raises(ValueError, match="must not be empty"):
        fp.addr("", 1)
    with pytest.raises(ValueError, match="must not be empty"):
        fp.addr("")


def test_addr_escapes_separators_so_lookalikes_differ():
    pairs = [
        (("x", 1, 2), ("x", "1,2")),
        (("x", 1, 2), ("x", "1", "2")),
        (("x", 3), ("x[3]",)),
        (("x", 3), ("x", "3")),
        (("x", "a", "b"), ("x", "a','b")),
        (("x", "a]"), ("x", "a")),
        (("a,b",), ("a", "b")),
        (("x\\",), ("x",)),
        (("x", "'"), ("x", "\\'")),
        (("x[1]", 2), ("x", 1, 2)),
    ]
    for left, right in pairs:
        assert fp.addr(*left) != fp.addr(*right), (left, right)


# (addresses hold printable characters only: tests/core/test_addresses.py)
_printable = st.characters().filter(str.isprintable)
_names = st.text(_printable, min_size=1, max_size=6)
_index = st.one_of(st.integers(-10 ** 6, 10 ** 6), st.text(_printable, max_size=5))
_inputs = st.tuples(_names, st.lists(_index, max_size=3).map(tuple))


def _key(inp):
    name, idx = inp
    return (name, tuple((type(i).__name__, i) for i in idx))


@settings(max_examples=200, deadline=None)
@given(st.lists(_inputs, min_size=2, max_size=12, unique_by=_key))
def test_addr_is_injective(inputs):
    out = [fp.addr(name, *idx) for name, idx in inputs]
    assert len(set(out)) == len(inputs), list(zip(inputs, out))
    # deterministic
    assert out == [fp.addr(name, *idx) for name, idx in inputs]


@settings(max_examples=50, deadline=None)
@given(_inputs)
def test_addr_results_work_as_trace_addresses(inp):
    name, idx = inp
    a = fp.addr(name, *idx)
    _, trace = fp.run(fp.PriorHandler(rng=0), lambda: fp.sample(a, fp.Normal(0.0, 1.0)))
    assert list(trace) == [a] and a in trace
    assert trace[a] == trace.values()[0]


def test_indexed_addresses_in_a_model_are_distinct_sites():
    def model(n):
        return [fp.sample(fp.addr("x", i), fp.Normal(float(i), 0.1)) for i in range(n)]

    xs, trace = fp.run(fp.PriorHandler(rng=0), model, 40)
    assert trace.keys() == [f"x[{i}]" for i in range(40)]
    assert [trace[f"x[{i}]"] for i in range(40)] == xs


# ---------------------------------------------------------------- deadlines


def test_deadline_stops_a_runaway_model_mid_model_naming_the_address():
    reached = []

    def runaway():
        i = 0
        while True:
            a = fp.addr("step", i)
            reached.append(a)
            fp.sample(a, fp.Normal(0.0, 1.0))
            i += 1

    t0 = time.monotonic()
    with pytest.raises(fp.InferenceTimeout) as ei:
        fp.run(fp.PriorHandler(rng=0), runaway, deadline=0.05)
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0
    assert len(reached) > 1  # mid-model: it ran for a while, then was stopped
    err = ei.value
    assert isinstance(err, TimeoutError) and isinstance(err, fp.FugueError)
    msg = str(err)
    assert f"sample({reached[-1]!r})" in msg
    assert "deadline of 0.05 s" in msg
    # ... and the time elapsed when it was stopped: past the deadline, within the test's time
    m = re.search(r"([0-9.]+(?:e-?\d+)?) s elapsed", msg)
    assert m, msg
    assert 0.05 <= float(m.group(1)) <= elapsed
    with pytest.raises(fp.EffectOutsideRun):
        fp.sample("x", fp.Normal(0.0, 1.0))


def test_deadline_is_checked_at_observe_too():
    def runaway():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        i = 0
        while True:
            fp.observe(fp.addr("obs", i), fp.Normal(x, 1.0), 0.0)
            i += 1

    with pytest.raises(fp.InferenceTimeout, match=r"observe\('obs\[\d+\]'\)"):
        fp.run(fp.PriorHandler(rng=0), runaway, deadline=0.02)


def test_deadline_is_checked_at_factor_too():
    def runaway():
        while True:
            fp.factor(0.0)

    with pytest.raises(fp.InferenceTimeout, match=r"factor\(\)"):
        fp.run(fp.PriorHandler(rng=0), runaway, deadline=0.02)


def test_a_run_that_ends_past_its_deadline_is_a_timeout_whatever_it_computed():
    def sleeps_after_its_effects():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        time.sleep(0.03)
        return x

    with pytest.raises(fp.InferenceTimeout, match=r"^the run took ([0-9.]+) s, past its "
                                                  r"deadline of 0\.01 s$") as ei:
        fp.run(fp.PriorHandler(rng=0), sleeps_after_its_effects, deadline=0.01)
    assert float(ei.value.args[0].split()[3]) >= 0.01


def test_effects_read_the_clock_every_eighth_effect():
    # Late from the start: the run is stopped at its eighth effect, not before
    # (the clock is not read) and not after.
    reached = []

    def late_then_many_effects():
        time.sleep(0.02)
        for i in range(100):
            reached.append(i)
            fp.sample(fp.addr("x", i), fp.Normal(0.0, 1.0))

    with pytest.raises(fp.InferenceTimeout, match=r"reached sample\('x\[7\]'\)"):
        fp.run(fp.PriorHandler(rng=0), late_then_many_effects, deadline=0.005)
    assert reached == list(range(8))


def test_a_generous_deadline_does_not_change_the_run():
    h1, h2 = fp.PriorHandler(rng=9), fp.PriorHandler(rng=9)
    assert fp.run(h1, sensor, 22.0, deadline=30.0) == fp.run(h2, sensor, 22.0)


def test_the_handler_works_after_a_timeout_and_no_deadline_leaks():
    h = fp.PriorHandler(rng=3)

    def slow_then_sample():
        time.sleep(0.03)
        return fp.sample("x", fp.Normal(0.0, 1.0))

    with pytest.raises(fp.InferenceTimeout):
        fp.run(h, slow_then_sample, deadline=0.001)
    value, trace = run_with_timeout(lambda: fp.run(h, slow_then_sample))  # no deadline now
    assert trace["x"] == value
    value, trace = fp.run(h, sensor, 22.0, deadline=10.0)
    check_sensor(value, trace)


@pytest.mark.parametrize("deadline", [0, 0.0, -1, -0.5, math.nan, -math.inf, math.inf, 10 ** 400],
                         ids=["0", "0.0", "-1", "-0.5", "nan", "-inf", "inf", "10**400"])
def test_bad_deadlines_are_value_errors(deadline):
    h = fp.PriorHandler(rng=0)
    with pytest.raises(InvalidArgument, match=r"^run: deadline must be a finite number of "
                                              r"seconds > 0, got "):
        fp.run(h, sensor, 22.0, deadline=deadline)
    value, trace = run_with_timeout(lambda: fp.run(h, sensor, 22.0))
    check_sensor(value, trace)


def test_a_non_numeric_deadline_is_a_type_error():
    with pytest.raises(TypeError, match="^run: deadline must be a real number, got str$"):
        fp.run(fp.PriorHandler(rng=0), sensor, 22.0, deadline="1s")


def test_a_huge_deadline_never_times_out():
    value, trace = fp.run(fp.PriorHandler(rng=0), sensor, 22.0, deadline=1e10)
    check_sensor(value, trace)


def test_an_outer_deadline_also_bounds_nested_runs():
    state = {"inner_finished": False}

    def inner():
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 1.0:  # a runaway loop, bounded so the test ends
            fp.sample(fp.addr("i", i), fp.Normal(0.0, 1.0))
            i += 1
        state["inner_finished"] = True

    def outer():
        fp.sample("a", fp.Normal(0.0, 1.0))
        fp.run(fp.PriorHandler(rng=1), inner)
        fp.sample("b", fp.Normal(0.0, 1.0))

    with pytest.raises(fp.InferenceTimeout):
        fp.run(fp.PriorHandler(rng=0), outer, deadline=0.05)
    assert not state["inner_finished"], "the inner run ran past the outer deadline"


# ---------------------------------------------------------------- seeds


def _mixed(reading):
    temp, valid = sensor(reading)
    k = fp.sample("k", fp.Categorical([0.1, 0.2, 0.3, 0.4]))
    fp.factor(-0.1 * k)
    return temp, valid, k


@pytest.mark.parametrize("make_rng", [
    lambda: 123,
    lambda: np.int64(123),
    lambda: np.random.SeedSequence(123),
    lambda: np.random.default_rng(123),
    lambda: np.random.PCG64(123),
], ids=["int", "np.int64", "SeedSequence", "Generator", "BitGenerator"])
def test_same_seed_gives_the_same_traces_on_every_run(make_rng):
    h1, h2 = fp.PriorHandler(rng=make_rng()), fp.PriorHandler(rng=make_rng())
    runs1 = [fp.run(h1, _mixed, 22.0) for _ in range(5)]
    runs2 = [fp.run(h2, _mixed, 22.0) for _ in range(5)]
    assert runs1 == runs2
    # each run draws something new
    assert len({r[0][0] for r in runs1}) == 5
    # the streams are numpy's: run k of a seed s is default_rng([s, k]), of a
    # SeedSequence its spawn key + (k,); a Generator is one stream across runs
    rng = make_rng()
    if isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
        one = np.random.default_rng(123)
        refs = [one] * 5
    elif isinstance(rng, np.random.SeedSequence):
        refs = [np.random.default_rng(np.random.SeedSequence(123, spawn_key=(k,)))
                for k in range(5)]
    else:
        refs = [np.random.default_rng([123, k]) for k in range(5)]
    for ((temp, valid, k), _), ref in zip(runs1, refs):
        assert temp == ref.normal(20.0, 5.0)
        assert valid == bool(ref.random() < 0.95)
        # Categorical inverts the cumulative sum at one uniform
        assert k == int(np.searchsorted(np.cumsum([0.1, 0.2, 0.3, 0.4]), ref.random(),
                                        side="right"))


def test_a_generator_with_the_same_state_gives_the_same_trace():
    gen = np.random.default_rng(5)
    gen.normal(size=17)  # move it somewhere
    clone = np.random.default_rng()
    clone.bit_generator.state = gen.bit_generator.state
    assert fp.run(fp.PriorHandler(rng=gen), _mixed, 1.0) == \
        fp.run(fp.PriorHandler(rng=clone), _mixed, 1.0)


def test_draws_are_numpys_stream_and_advance_the_users_generator():
    gen = np.random.default_rng(42)
    value, _ = fp.run(fp.PriorHandler(rng=gen), sensor, 22.0)
    ref = np.random.default_rng(42)
    assert value[0] == ref.normal(20.0, 5.0)
    assert value[1] == bool(ref.random() < 0.95)
    # the user's generator continues exactly where the model left it
    assert gen.normal() == ref.normal()


def test_different_seeds_give_different_traces_and_none_is_fresh_entropy():
    first = fp.run(fp.PriorHandler(rng=1), _mixed, 0.0)
    assert first != fp.run(fp.PriorHandler(rng=2), _mixed, 0.0)
    v1 = fp.run(fp.PriorHandler(rng=None), sensor, 0.0)[0][0]
    v2 = fp.run(fp.PriorHandler(), sensor, 0.0)[0][0]
    assert v1 != v2


@pytest.mark.parametrize("rng, exc", [("seed", TypeError), (1.5, TypeError), (True, TypeError),
                                      (-1, ValueError)], ids=["str", "float", "bool", "negative"])
def test_bad_rng_is_rejected_at_handler_construction(rng, exc):
    with pytest.raises(exc, match="rng"):
        fp.PriorHandler(rng=rng)


def test_addr_fast_path_and_its_fallbacks_agree():
    # The positional (name, int) call is answered from the cache; every other
    # form goes to the full function, with the same results and errors.
    first = fp.addr("fastpath", 7)
    assert fp.addr("fastpath", 7) is first == "fastpath[7]"
    assert fp.addr("fastpath", 2 ** 70) == f"fastpath[{2 ** 70}]"    # beyond the cache
    assert fp.addr("fastpath", -1) == "fastpath[-1]"
    assert fp.addr(name="fastpath", i=7) == first
    assert fp.addr("fastpath", 7, 8) == "fastpath[7,8]"
    with pytest.raises(TypeError, match="bool"):
        fp.addr("fastpath", True)
    with pytest.raises(TypeError, match="name must be a str"):
        fp.addr(7, 1)
