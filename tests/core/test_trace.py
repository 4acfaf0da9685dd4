"""The Trace API: choices, log-weights, mapping access, typed access, copy,
equality, pickling, Trace.from_dict and large traces (the hash-index path)."""

from __future__ import annotations

import copy
import math
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import fugue_ppl as fp

READING = 22.0


def sensor(reading):
    temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
    valid = fp.sample("valid", fp.Bernoulli(0.95))
    fp.observe("sensor", fp.Normal(temp, 1.0), reading)
    return temp, valid


@pytest.fixture
def run42():
    return fp.run(fp.PriorHandler(rng=42), sensor, READING)


@pytest.fixture
def trace(run42):
    return run42[1]


def lsum(xs):
    """Left-to-right float sum (what the C++ accumulators do)."""
    total = 0.0
    for x in xs:
        total += x
    return total


# ---------------------------------------------------------------- choices and weights


def test_choices_in_execution_order_with_values_log_probs_and_kinds(run42):
    (temp, valid), trace = run42
    choices = trace.choices
    assert [c.address for c in choices] == ["temperature", "valid", "sensor"]
    assert [c.kind for c in choices] == ["sample", "sample", "observe"]
    assert [c.value for c in choices] == [temp, valid, READING]
    assert [c.fallback for c in choices] == [False, False, False]
    lp_t = stats.norm.logpdf(temp, 20.0, 5.0)
    lp_v = math.log(0.95) if valid else math.log(0.05)
    lp_s = stats.norm.logpdf(READING, temp, 1.0)
    assert choices[0].log_prob == pytest.approx(lp_t, rel=1e-12)
    assert choices[1].log_prob == pytest.approx(lp_v, rel=1e-12)
    assert choices[2].log_prob == pytest.approx(lp_s, rel=1e-12)
    assert isinstance(choices[0], fp.Choice)
    assert choices[0] == fp.Choice("temperature", temp, choices[0].log_prob, "sample", False)


def test_log_weights_are_the_sums_of_the_choices(run42):
    (temp, valid), trace = run42
    lp_t = float(stats.norm.logpdf(temp, 20.0, 5.0))
    lp_v = math.log(0.95) if valid else math.log(0.05)
    lp_s = float(stats.norm.logpdf(READING, temp, 1.0))
    assert trace.log_prior == pytest.approx(lp_t + lp_v, rel=1e-12)
    assert trace.log_likelihood == pytest.approx(lp_s, rel=1e-12)
    assert trace.log_factors == 0.0
    assert trace.total_log_weight == pytest.approx(lp_t + lp_v + lp_s, rel=1e-12)
    cs = trace.choices
    # exact: the accumulators add the stored log-probs in execution order
    assert trace.log_prior == lsum(c.log_prob for c in cs if c.kind == "sample")
    assert trace.log_likelihood == lsum(c.log_prob for c in cs if c.kind == "observe")
    assert trace.total_log_weight == (trace.log_prior + trace.log_likelihood) + trace.log_factors


def test_observations_are_recorded_and_factors_are_weights():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y1", fp.Normal(x, 2.0), 1.5)
        fp.factor(-0.75)
        fp.observe("y2", fp.Bernoulli(0.3), True)
        fp.observe("y3", fp.Categorical([0.5, 0.5]), 1)
        return x

    x, trace = fp.run(fp.PriorHandler(rng=0), model)
    assert trace.keys() == ["x", "y1", "y2", "y3"]
    assert trace.to_dict() == {"x": x, "y1": 1.5, "y2": True, "y3": 1}
    assert trace["y2"] is True and type(trace["y3"]) is int
    lik = [stats.norm.logpdf(1.5, x, 2.0), math.log(0.3), math.log(0.5)]
    assert trace.log_likelihood == pytest.approx(sum(lik), rel=1e-12)
    assert trace.log_factors == -0.75
    assert trace.total_log_weight == pytest.approx(
        stats.norm.logpdf(x, 0, 1) + sum(lik) - 0.75, rel=1e-12)


def test_observed_values_are_stored_in_the_distributions_kind_when_exact():
    def model():
        fp.observe("f", fp.Normal(0.0, 1.0), 3)            # int -> float
        fp.observe("b", fp.Bernoulli(0.25), 1)             # int 1 -> bool
        fp.observe("b0", fp.Bernoulli(0.25), 0.0)          # float 0.0 -> bool
        fp.observe("c", fp.Categorical([0.2, 0.8]), 1.0)   # float 1.0 -> int
        fp.observe("nb", fp.Bernoulli(0.25), np.bool_(True))
        fp.observe("ni", fp.Categorical([0.2, 0.8]), np.int64(0))

    _, trace = fp.run(fp.PriorHandler(rng=0), model)
    assert trace.get_float("f") == 3.0
    assert trace.get_bool("b") is True and trace.get_bool("b0") is False
    assert trace.get_int("c") == 1
    assert trace.get_bool("nb") is True and trace.get_int("ni") == 0
    assert trace.choice("b").log_prob == pytest.approx(math.log(0.25), rel=1e-12)
    assert trace.choice("b0").log_prob == pytest.approx(math.log(0.75), rel=1e-12)
    assert trace.choice("c").log_prob == pytest.approx(math.log(0.8), rel=1e-12)
    assert trace.choice("f").log_prob == pytest.approx(stats.norm.logpdf(3.0), rel=1e-12)


# ---------------------------------------------------------------- mapping access


def test_mapping_access(run42):
    (temp, valid), trace = run42
    assert trace["temperature"] == temp
    assert trace["valid"] is valid
    assert trace["sensor"] == READING
    assert "temperature" in trace and "sensor" in trace
    assert "missing" not in trace and "" not in trace
    assert 3 not in trace and None not in trace and b"temperature" not in trace
    assert len(trace) == 3
    assert list(trace) == ["temperature", "valid", "sensor"]
    assert trace.keys() == ["temperature", "valid", "sensor"]
    assert trace.values() == [temp, valid, READING]
    assert trace.items() == [("temperature", temp), ("valid", valid), ("sensor", READING)]
    d = trace.to_dict()
    assert d == {"temperature": temp, "valid": valid, "sensor": READING}
    assert list(d) == ["temperature", "valid", "sensor"]
    assert trace.get("temperature") == temp
    assert trace.get("missing") is None
    assert trace.get("missing", -1) == -1
    assert trace.get(7, "dflt") == "dflt"
    assert trace.choice("valid").value is valid
    assert trace.choices == [trace.choice(a) for a in trace]


def test_an_address_known_elsewhere_but_not_in_this_trace_is_absent(trace):
    fp.run(fp.PriorHandler(rng=0), lambda: fp.sample("only_in_another_trace", fp.Normal(0.0, 1.0)))
    assert "only_in_another_trace" not in trace
    assert trace.get("only_in_another_trace", "no") == "no"
    with pytest.raises(fp.TraceAddressNotFound):
        trace["only_in_another_trace"]


@pytest.mark.parametrize("access", ["getitem", "choice", "get_float", "get_int", "get_bool"])
def test_missing_address_raises_trace_address_not_found(trace, access):
    with pytest.raises(fp.TraceAddressNotFound) as ei:
        if access == "getitem":
            trace["humidity"]
        else:
            getattr(trace, access)("humidity")
    err = ei.value
    assert isinstance(err, KeyError) and isinstance(err, fp.FugueError)
    assert err.code == 500 and err.address == "humidity"
    assert str(err) == "[500] trace has no choice at address 'humidity'"


def test_non_str_lookup_is_a_type_error(trace):
    with pytest.raises(TypeError, match="trace addresses are str"):
        trace[3]


def test_typed_access(run42):
    (temp, valid), trace = run42
    assert trace.get_float("temperature") == temp
    assert trace.get_bool("valid") is valid
    assert trace.get_float("sensor") == READING
    assert trace.get_f64("temperature") == temp
    _, t2 = fp.run(fp.PriorHandler(rng=1), lambda: fp.sample("k", fp.Categorical([0.5, 0.5])))
    assert trace.get_int is not None and type(t2.get_int("k")) is int
    assert t2.get_i64("k") == t2.get_int("k")


@pytest.mark.parametrize("method, address, holds, wanted", [
    ("get_int", "temperature", "float", "int"),
    ("get_bool", "temperature", "float", "bool"),
    ("get_float", "valid", "bool", "float"),
    ("get_int", "valid", "bool", "int"),
    ("get_bool", "sensor", "float", "bool"),
])
def test_typed_access_type_mismatch(trace, method, address, holds, wanted):
    with pytest.raises(fp.TypeMismatch) as ei:
        getattr(trace, method)(address)
    err = ei.value
    assert isinstance(err, TypeError) and err.code == 600 and err.address == address
    assert str(err) == f"[600] address {address!r} holds a {holds}, not a {wanted}"


def test_typed_access_on_an_int(trace):
    _, t = fp.run(fp.PriorHandler(rng=1), lambda: fp.sample("k", fp.Categorical([0.5, 0.5])))
    with pytest.raises(fp.TypeMismatch, match="'k' holds a int, not a float"):
        t.get_float("k")
    with pytest.raises(fp.TypeMismatch, match="'k' holds a int, not a bool"):
        t.get_bool("k")


def test_to_numpy(run42):
    (temp, valid), trace = run42
    arr = trace.to_numpy()
    assert arr.dtype.names == ("address", "kind", "value", "log_prob", "fallback")
    assert arr.shape == (3,)
    assert list(arr["address"]) == ["temperature", "valid", "sensor"]
    assert list(arr["kind"]) == ["sample", "sample", "observe"]
    assert arr["value"].dtype == np.float64
    assert list(arr["value"]) == [temp, 1.0 if valid else 0.0, READING]
    assert list(arr["log_prob"]) == [c.log_prob for c in trace.choices]
    assert not arr["fallback"].any()
    assert fp.Trace().to_numpy().shape == (0,)


def test_repr(trace):
    r = repr(trace)
    assert r.startswith("Trace({'temperature': ")
    assert "log_prior=" in r and "log_likelihood=" in r and "log_factors=0" in r


# ---------------------------------------------------------------- copy, equality, pickle


def test_copy_is_equal_and_independent(trace):
    for c in (trace.copy(), copy.copy(trace), copy.deepcopy(trace)):
        assert c == trace and c is not trace
        assert c.choices == trace.choices
        assert (c.log_prior, c.log_likelihood, c.log_factors) == \
            (trace.log_prior, trace.log_likelihood, trace.log_factors)


def test_copy_of_a_pooled_trace_survives_its_release():
    pool = fp.TracePool(4)
    _, t = fp.run(fp.PooledPriorHandler(rng=42, pool=pool), sensor, READING)
    c = t.copy()
    ref = fp.run(fp.PriorHandler(rng=42), sensor, READING)[1]
    t.release()
    assert c == ref and c.choices == ref.choices
    c.release()  # an unpooled trace: release is a no-op
    assert not c.released and len(c) == 3
    # the pool's reuse of the released trace does not touch the copy
    fp.run(fp.PooledPriorHandler(rng=0, pool=pool), lambda: fp.sample("zz", fp.Normal(0.0, 1.0)))
    assert c == ref


def test_equality():
    t1 = fp.run(fp.PriorHandler(rng=7), sensor, READING)[1]
    t2 = fp.run(fp.PriorHandler(rng=7), sensor, READING)[1]
    t3 = fp.run(fp.PriorHandler(rng=8), sensor, READING)[1]
    t4 = fp.run(fp.PriorHandler(rng=7), sensor, 21.0)[1]  # same samples, other observation
    assert t1 == t2 and not (t1 != t2)  # noqa: SIM202 (tests __ne__)
    assert t1 != t3
    assert t1 != t4
    assert t1 != "trace" and t1 != t1.to_dict()
    with pytest.raises(TypeError):
        hash(t1)


def test_equality_compares_the_accumulators():
    def with_factor():
        sensor(READING)
        fp.factor(-1.0)

    t1 = fp.run(fp.PriorHandler(rng=7), sensor, READING)[1]
    t2 = fp.run(fp.PriorHandler(rng=7), with_factor)[1]
    assert t1.choices == t2.choices
    assert t1 != t2


def test_equality_is_order_sensitive():
    a = fp.Trace.from_dict({"x": 1.0, "y": 2.0})
    b = fp.Trace.from_dict({"y": 2.0, "x": 1.0})
    assert a.to_dict() == b.to_dict()
    assert a != b
    assert a == fp.Trace.from_dict({"x": 1.0, "y": 2.0})
    assert fp.Trace.from_dict({"x": 1}) != fp.Trace.from_dict({"x": 1.0})  # int vs float
    assert fp.Trace.from_dict({"x": True}) != fp.Trace.from_dict({"x": 1})


def _rich_trace():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.sample("flag", fp.Bernoulli(0.4))
        fp.sample(fp.addr("cat", 2), fp.Categorical([0.1, 0.9]))
        fp.observe("obs", fp.Normal(x, 1.0), 0.25)
        fp.factor(-math.inf)
    return fp.run(fp.PriorHandler(rng=3), model)[1]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(protocol):
    t = _rich_trace()
    u = pickle.loads(pickle.dumps(t, protocol=protocol))
    assert u == t
    assert u.choices == t.choices
    assert [type(v) for v in u.values()] == [float, bool, int, float]
    assert u.log_factors == -math.inf
    assert (u.log_prior, u.log_likelihood) == (t.log_prior, t.log_likelihood)


def test_pickle_round_trip_in_a_fresh_process(tmp_path):
    t = _rich_trace()
    src, dst = tmp_path / "in.pkl", tmp_path / "out.pkl"
    src.write_bytes(pickle.dumps(t))
    # (files, not stdout: an editable install may print its rebuild log)
    code = textwrap.dedent("""
        import pickle, sys
        import fugue_ppl as fp
        with open(sys.argv[1], "rb") as f:
            t = pickle.load(f)
        assert isinstance(t, fp.Trace)
        # new addresses in this process shift the ids; lookups must still work
        fp.run(fp.PriorHandler(rng=0), lambda: fp.sample("zzz_other", fp.Normal(0.0, 1.0)))
        out = (t.keys(), [type(v).__name__ for v in t.values()], t["x"], tuple(t.choice("obs")),
               t.log_prior, t.log_likelihood, t.log_factors, t)
        with open(sys.argv[2], "wb") as f:
            pickle.dump(out, f)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(src), str(dst)],
                          check=False, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    keys, types, x, obs, lp, ll, lf, back = pickle.loads(dst.read_bytes())
    assert keys == ["x", "flag", "cat[2]", "obs"]
    assert types == ["float", "bool", "int", "float"]
    assert x == t["x"] and obs == tuple(t.choice("obs"))
    assert (lp, ll, lf) == (t.log_prior, t.log_likelihood, t.log_factors)
    assert back == t


def test_choices_pickle():
    t = _rich_trace()
    assert fp.Choice.__module__.startswith("fugue_ppl")
    assert pickle.loads(pickle.dumps(t.choices)) == t.choices


def test_a_trace_holding_a_nan_observation_equals_its_copy():
    def model():
        fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(0.0, 1.0), math.nan)

    base = fp.Trace.from_dict({"x": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.FugueWarning)
        _, t = fp.run(fp.SafeScoreGivenTrace(base), model)
    assert math.isnan(t["y"])  # the safe handler recorded the bad observation
    assert t == t.copy()
    assert t == pickle.loads(pickle.dumps(t))


# ---------------------------------------------------------------- from_dict and Trace()


def test_from_dict_keeps_values_and_types():
    t = fp.Trace.from_dict({"a": 1.5, "b": True, "c": 3, "d": np.float64(2.0), "e": np.int64(4),
                            "f": np.bool_(False)})
    assert t.keys() == ["a", "b", "c", "d", "e", "f"]
    assert t.values() == [1.5, True, 3, 2.0, 4, False]
    assert [type(v) for v in t.values()] == [float, bool, int, float, int, bool]
    assert all(c.log_prob == 0.0 and c.kind == "sample" for c in t.choices)
    assert (t.log_prior, t.log_likelihood, t.log_factors, t.total_log_weight) == (0, 0, 0, 0)
    assert fp.Trace.from_dict([("x", 1.0)])["x"] == 1.0  # any dict() input
    assert fp.Trace.from_dict({}).keys() == []


def test_from_dict_rejects_bad_entries():
    with pytest.raises(fp.TypeMismatch) as ei:
        fp.Trace.from_dict({"ok": 1.0, "bad": "1.0"})
    assert ei.value.code == 600 and ei.value.address == "bad" and "'bad'" in str(ei.value)
    with pytest.raises(fp.TypeMismatch, match="'n'"):
        fp.Trace.from_dict({"n": None})
    with pytest.raises(TypeError, match="address must be a str"):
        fp.Trace.from_dict({1: 1.0})
    with pytest.raises(ValueError, match="must not be empty"):
        fp.Trace.from_dict({"": 1.0})


def test_a_nan_base_value_never_gives_a_nan_log_weight():
    try:
        base = fp.Trace.from_dict({"x": math.nan})
    except ValueError:
        return  # rejecting NaN at construction is a fine fix too
    _, t = fp.run(fp.ScoreGivenTrace(base), lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    assert not math.isnan(t.log_prior)


def test_an_empty_trace():
    t = fp.Trace()
    assert len(t) == 0 and list(t) == [] and t.choices == []
    assert t.log_prior == 0.0 and t.total_log_weight == 0.0
    assert "x" not in t
    assert t == fp.Trace() and t == t.copy()
    assert not t.released
    t.release()  # not pooled: no-op
    assert not t.released


# ---------------------------------------------------------------- large traces


def _big_model(n, dup_at=None):
    def model():
        out = []
        for i in range(n):
            kind = i % 3
            a = fp.addr("x", i)
            if kind == 0:
                out.append(fp.sample(a, fp.Normal(float(i), 1.0)))
            elif kind == 1:
                out.append(fp.sample(a, fp.Bernoulli(0.5)))
            else:
                fp.observe(a, fp.Normal(0.0, 1.0), float(i % 7))
                out.append(float(i % 7))
        if dup_at is not None:
            fp.sample(fp.addr("x", dup_at), fp.Normal(0.0, 1.0))
        return out
    return model


def test_a_large_trace_finds_every_address():
    n = 1000
    values, t = fp.run(fp.PriorHandler(rng=0), _big_model(n))
    assert len(t) == n
    assert t.keys() == [fp.addr("x", i) for i in range(n)]
    for i in range(n):
        a = fp.addr("x", i)
        assert a in t
        assert t[a] == values[i]
        assert t.choice(a).address == a
    for i in range(n, n + 50):
        assert fp.addr("x", i) not in t
        assert t.get(fp.addr("x", i)) is None
    assert fp.addr("y", 3) not in t
    cs = t.choices
    assert t.log_prior == pytest.approx(math.fsum(c.log_prob for c in cs if c.kind == "sample"),
                                        rel=1e-12)
    assert t.log_likelihood == pytest.approx(
        math.fsum(stats.norm.logpdf(float(i % 7)) for i in range(2, n, 3)), rel=1e-12)
    c = t.copy()
    assert c == t and all(c[a] == t[a] for a in t)
    u = pickle.loads(pickle.dumps(t))
    assert all(u[a] == t[a] for a in t)


@pytest.mark.parametrize("n, dup_at", [(1000, 0), (1000, 15), (1000, 16), (1000, 17),
                                       (1000, 500), (1000, 999), (17, 16), (16, 0), (18, 17),
                                       (64, 63), (65, 1)])
def test_a_large_trace_detects_duplicates(n, dup_at):
    with pytest.raises(fp.AddressConflict) as ei:
        fp.run(fp.PriorHandler(rng=0), _big_model(n, dup_at))
    assert ei.value.address == fp.addr("x", dup_at)
    assert ei.value.code == 301


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), data=st.data())
def test_duplicates_and_membership_at_any_size(n, data):
    dup_at = data.draw(st.integers(0, n - 1))
    with pytest.raises(fp.AddressConflict) as ei:
        fp.run(fp.PriorHandler(rng=1), _big_model(n, dup_at))
    assert ei.value.address == fp.addr("x", dup_at)
    _, t = fp.run(fp.PriorHandler(rng=1), _big_model(n))
    assert len(t) == n
    probe = data.draw(st.integers(0, 2 * n))
    assert (fp.addr("x", probe) in t) == (probe < n)
