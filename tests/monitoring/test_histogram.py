"""LatencyHistogram: log-linear buckets, bounded relative error, merge, threads, errors.

The reference for every quantile is numpy's exact order statistic
(``np.quantile(x, q, method="inverted_cdf")``: the value of rank
``ceil(q n)``), which is the quantile the histogram documents. The documented
bound on the relative error of a quantile of values inside the range is
``1 / 2**(sub_bits + 1)`` (0.39% with the default ``sub_bits=7``); the issue
asks for at most 1%. Random data come from fixed seeds (no false failures:
the bound is deterministic, not statistical).
"""

import itertools
import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.monitoring._metrics import LatencyHistogram, clock_info

QS = (0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)
LOWEST, HIGHEST = 1e-6, 3600.0


def _bound(sub_bits):
    # Documented bound, with a few ulps for the midpoint arithmetic.
    return 2.0 ** -(sub_bits + 1) * (1 + 1e-9)


def _rel_errors(h, x, qs=QS):
    out = {}
    for q in qs:
        exact = float(np.quantile(x, q, method="inverted_cdf"))
        out[q] = abs(h.quantile(q) - exact) / exact
    return out


def _inside(x, lowest=LOWEST, highest=HIGHEST):
    return x[(x >= lowest) & (x <= highest)]


def _distributions():
    rng = np.random.default_rng(20240611)
    n = 20_000
    return {
        # ~1e-6 s .. ~1e2 s: eight decades
        "lognormal_decades": _inside(np.exp(rng.normal(math.log(1e-3), 3.0, n))),
        "uniform": rng.uniform(0.001, 0.5, n),
        "point_mass": np.full(1000, 0.0123456),
        # Pareto tail (alpha 1.1): most values near 1 ms, a few near the hour
        "heavy_tail": _inside(1e-3 * (1.0 + rng.pareto(1.1, n))),
        "log_uniform_full_range": np.exp(rng.uniform(math.log(LOWEST), math.log(HIGHEST), n)),
        "two_modes": np.concatenate([rng.normal(0.002, 0.0002, n // 2),
                                     rng.normal(1.5, 0.1, n // 2)]),
    }


DISTRIBUTIONS = _distributions()


# ---------------------------------------------------------------- accuracy

@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_every_quantile_within_one_percent_and_the_documented_bound(name):
    x = DISTRIBUTIONS[name]
    assert x.size > 500 and x.min() >= LOWEST and x.max() <= HIGHEST
    h = LatencyHistogram()
    h.record_many(x)
    errs = _rel_errors(h, x)
    worst = max(errs.values())
    assert worst <= 0.01, errs
    assert worst <= _bound(7), errs          # 0.39 %
    assert worst <= 0.0039063


@pytest.mark.parametrize("sub_bits", [2, 4, 7, 10, 12])
def test_relative_error_bound_depends_on_sub_bits(sub_bits):
    x = DISTRIBUTIONS["log_uniform_full_range"]
    h = LatencyHistogram(sub_bits=sub_bits)
    h.record_many(x)
    qs = np.linspace(0.0, 1.0, 401)
    errs = _rel_errors(h, x, qs)
    worst = max(errs.values())
    assert worst <= _bound(sub_bits)
    # ... and the bound is tight enough to mean something: a coarser
    # resolution gives a visibly larger worst error.
    if sub_bits <= 7:
        assert worst > _bound(sub_bits + 2)


def test_point_mass_is_exact_and_extremes_are_exact():
    h = LatencyHistogram()
    h.record_many(np.full(100, 0.0123456))
    for q in QS:
        assert h.quantile(q) == 0.0123456      # clamped to [min, max]
    x = DISTRIBUTIONS["lognormal_decades"]
    h = LatencyHistogram()
    h.record_many(x)
    assert h.quantile(0.0) == pytest.approx(x.min(), rel=_bound(7))
    assert h.quantile(1.0) == pytest.approx(x.max(), rel=_bound(7))
    assert h.min == x.min() and h.max == x.max()


def test_custom_range_keeps_the_bound():
    rng = np.random.default_rng(7)
    x = np.exp(rng.uniform(math.log(1e-3), math.log(10.0), 5000))
    h = LatencyHistogram(1e-3, 10.0, 5)
    assert (h.lowest, h.highest, h.sub_bits) == (1e-3, 10.0, 5)
    h.record_many(x)
    assert max(_rel_errors(h, x).values()) <= _bound(5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    xs=st.lists(st.floats(min_value=LOWEST, max_value=HIGHEST, allow_nan=False), min_size=1,
                max_size=300),
    qs=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=8),
    sub_bits=st.sampled_from([3, 7, 9]),
)
def test_property_any_quantile_inside_the_range_within_the_bound(xs, qs, sub_bits):
    x = np.asarray(xs)
    h = LatencyHistogram(sub_bits=sub_bits)
    h.record_many(x)
    assert h.count == len(xs)
    for q in qs:
        exact = float(np.quantile(x, q, method="inverted_cdf"))
        got = h.quantile(q)
        assert abs(got - exact) <= _bound(sub_bits) * exact, (q, got, exact)
        assert h.min <= got <= h.max


@settings(max_examples=100, deadline=None)
@given(xs=st.lists(st.floats(min_value=0.0, max_value=1e5, allow_nan=False), max_size=200))
def test_property_count_equals_the_number_of_records(xs):
    h = LatencyHistogram()
    for v in xs[: len(xs) // 2]:
        h.record(v)
    h.record_many(np.asarray(xs[len(xs) // 2:], dtype=float))
    assert h.count == len(xs)
    assert h.count_le(math.inf) == len(xs)
    assert h.cumulative_counts([])[-1] == (math.inf, len(xs))
    if xs:
        assert h.sum == pytest.approx(math.fsum(xs), rel=1e-12, abs=1e-300)
        assert h.min == min(xs) and h.max == max(xs)


# ---------------------------------------------------------------- record, summary statistics

def test_record_scalar_and_summary_statistics():
    h = LatencyHistogram()
    values = [0.001, 0.002, 0.003, 0.004, 0.25]
    for v in values:
        h.record(v)
    assert h.count == 5
    assert h.sum == pytest.approx(math.fsum(values), rel=1e-15)
    assert h.min == 0.001 and h.max == 0.25
    assert h.mean == pytest.approx(math.fsum(values) / 5, rel=1e-15)
    assert h.quantile(0.5) == pytest.approx(0.003, rel=_bound(7))
    assert h.quantile(0.8) == pytest.approx(0.004, rel=_bound(7))
    assert h.quantile(0.81) == pytest.approx(0.25, rel=_bound(7))
    assert h.percentiles((0.5, 0.9)) == {0.5: h.quantile(0.5), 0.9: h.quantile(0.9)}
    d = h.to_dict()
    assert d["count"] == 5 and d["p50"] == h.quantile(0.5) and d["p99"] == h.quantile(0.99)
    assert d["min"] == 0.001 and d["max"] == 0.25 and d["mean"] == h.mean
    assert "count=5" in repr(h)


def test_record_many_one_million_values_and_sum_vs_fsum():
    rng = np.random.default_rng(11)
    x = rng.lognormal(math.log(0.01), 1.0, 1_000_000)
    h = LatencyHistogram()
    h.record_many(x)
    assert h.count == 1_000_000
    assert h.sum == pytest.approx(math.fsum(x), rel=1e-10)
    assert h.min == x.min() and h.max == x.max()
    assert h.mean == pytest.approx(math.fsum(x) / x.size, rel=1e-10)
    assert max(_rel_errors(h, x).values()) <= _bound(7)


def test_record_many_accepts_lists_non_contiguous_and_2d_arrays():
    h = LatencyHistogram()
    h.record_many([0.1, 0.2])
    h.record_many(np.arange(1, 21, dtype=np.float64)[::2] / 100)    # strided: 10 values
    h.record_many(np.full((3, 4), 0.5, dtype=np.float32))           # 12 values, float32
    h.record_many(np.array([], dtype=float))
    h.record_many([])
    assert h.count == 24
    assert h.sum == pytest.approx(0.3 + sum(np.arange(1, 21)[::2] / 100) + 6.0, rel=1e-12)


def test_record_many_releases_the_gil():
    # While one thread is inside record_many, another thread runs Python code
    # and sees a partial count: impossible if the call held the GIL.
    h = LatencyHistogram()
    n = 4_000_000
    x = np.full(n, 0.001)
    started, done = threading.Event(), threading.Event()

    def worker():
        started.set()
        h.record_many(x)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    partial = []
    while not done.is_set():
        c = h.count
        if 0 < c < n:
            partial.append(c)
    t.join()
    assert h.count == n
    assert partial, "no partial count seen: record_many did not release the GIL"


def test_values_outside_the_range_are_counted():
    h = LatencyHistogram()
    for v in (0.0, 1e-9, 5e-7, 0.01, 1e4, 1e6):
        h.record(v)
    assert h.count == 6
    assert h.min == 0.0 and h.max == 1e6
    assert h.sum == pytest.approx(math.fsum([0.01, 1e4, 1e6, 1e-9, 5e-7]), rel=1e-14)
    assert h.quantile(0.0) == 0.0          # underflow: the minimum
    assert h.quantile(1.0) == 1e6          # overflow: the maximum
    assert h.quantile(0.5) == 0.0          # rank 3 is in the underflow bucket: min
    assert h.quantile(0.6) == pytest.approx(0.01, rel=_bound(7))   # rank 4
    assert h.count_le(1e9) == 6
    assert h.count_le(1.0) == 4


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0.0, 1e5, allow_nan=False), max_size=200),
       bounds=st.lists(st.one_of(st.floats(-1.0, 1e6), st.just(math.inf)), max_size=40),
       ordered=st.booleans())
def test_cumulative_counts_in_one_pass_equal_count_le_at_each_bound(values, bounds, ordered):
    # (one pass over the buckets for non-decreasing bounds; NaN and bounds out of
    # order are counted on their own)
    h = LatencyHistogram()
    h.record_many(np.asarray(values, dtype=np.float64))
    if ordered:
        bounds = sorted(b for b in bounds if not math.isnan(b))
    cum = h.cumulative_counts(bounds)
    assert [c for _, c in cum[:-1]] == [h.count_le(b) for b in bounds]
    assert cum[-1] == (math.inf, len(values))


def test_count_le_and_cumulative_counts_are_monotone_and_consistent():
    x = DISTRIBUTIONS["lognormal_decades"]
    h = LatencyHistogram()
    h.record_many(x)
    bounds = np.geomspace(1e-7, 1e4, 300)
    cum = h.cumulative_counts(bounds)
    assert len(cum) == 301
    assert [b for b, _ in cum[:-1]] == [float(b) for b in bounds]
    assert cum[-1] == (math.inf, x.size)
    counts = [c for _, c in cum]
    assert all(a <= b for a, b in itertools.pairwise(counts))
    assert counts[0] == 0 and counts[-2] == x.size
    assert h.count_le(-1.0) == 0 and h.count_le(math.nan) == 0
    # Within the bucket resolution of the exact count.
    r = 2.0 ** -7
    xs = np.sort(x)
    for b, c in cum[:-1]:
        assert h.count_le(b) == c
        lo = np.searchsorted(xs, b * (1 - r), side="right")
        hi = np.searchsorted(xs, b * (1 + r), side="right")
        assert lo <= c <= hi, (b, lo, c, hi)


# ---------------------------------------------------------------- merge, reset

def test_merge_of_two_halves_equals_the_histogram_of_the_whole():
    x = DISTRIBUTIONS["heavy_tail"]
    whole, a, b = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    whole.record_many(x)
    a.record_many(x[: x.size // 2])
    b.record_many(x[x.size // 2:])
    a.merge(b)
    assert a.count == whole.count == x.size
    for q in np.linspace(0, 1, 101):
        assert a.quantile(q) == whole.quantile(q)
    assert a.sum == pytest.approx(whole.sum, rel=1e-12)
    assert a.min == whole.min and a.max == whole.max
    assert b.count == x.size - x.size // 2          # the other side is unchanged
    bounds = np.geomspace(1e-4, 1e3, 50)
    assert a.cumulative_counts(bounds) == whole.cumulative_counts(bounds)


def test_merge_into_empty_and_of_empty_and_with_itself():
    a, b = LatencyHistogram(), LatencyHistogram()
    b.record_many([0.1, 0.2, 0.3])
    a.merge(b)
    assert (a.count, a.min, a.max) == (3, 0.1, 0.3)
    a.merge(LatencyHistogram())                 # empty: min/max untouched
    assert (a.count, a.min, a.max) == (3, 0.1, 0.3)
    a.merge(a)
    assert a.count == 6 and a.sum == pytest.approx(1.2, rel=1e-15)
    assert (a.min, a.max) == (0.1, 0.3)
    assert a.quantile(0.5) == pytest.approx(0.2, rel=_bound(7))


@pytest.mark.parametrize("other", [
    {"lowest": 1e-6, "highest": 10.0}, {"lowest": 1e-5, "highest": 3600.0},
    {"lowest": 1e-6, "highest": 3600.0, "sub_bits": 6}])
def test_merge_of_different_ranges_raises(other):
    a, b = LatencyHistogram(), LatencyHistogram(**other)
    b.record(0.1)
    with pytest.raises(ValueError, match="different ranges or resolutions"):
        a.merge(b)
    assert a.count == 0
    with pytest.raises(TypeError):
        a.merge(None)
    with pytest.raises(TypeError):
        a.merge([0.1])


def test_reset_forgets_everything():
    h = LatencyHistogram()
    h.record_many([0.1, 0.2, 5.0])
    h.reset()
    assert h.count == 0 and h.sum == 0.0
    assert math.isnan(h.min) and math.isnan(h.max) and math.isnan(h.mean)
    assert math.isnan(h.quantile(0.5))
    assert h.cumulative_counts([0.1, 1.0]) == [(0.1, 0), (1.0, 0), (math.inf, 0)]
    h.record(0.05)
    assert (h.count, h.min, h.max, h.sum) == (1, 0.05, 0.05, 0.05)


def test_empty_histogram():
    h = LatencyHistogram()
    assert h.count == 0 and h.sum == 0.0
    for q in (0.0, 0.5, 1.0):
        assert math.isnan(h.quantile(q))
    assert math.isnan(h.min) and math.isnan(h.max) and math.isnan(h.mean)
    assert h.count_le(1.0) == 0
    d = h.to_dict()
    assert d["count"] == 0 and math.isnan(d["p50"])


# ---------------------------------------------------------------- threads

def test_concurrent_writers_lose_no_sample():
    # Values are multiples of 2**-10: every partial sum is exact, so the sum
    # must match exactly whatever the order of the additions.
    h = LatencyHistogram()
    n_threads, n_scalar, n_array = 8, 3000, 20_000
    barrier = threading.Barrier(n_threads)
    expected = []

    def values(i):
        return np.arange(1, n_array + 1, dtype=np.float64) % 97 / 1024 + i / 1024

    def writer(i):
        rec = h.record
        barrier.wait()
        for k in range(n_scalar):
            rec((k % 13 + i) / 1024)
        h.record_many(values(i))

    for i in range(n_threads):
        expected.extend((k % 13 + i) / 1024 for k in range(n_scalar))
        expected.extend(values(i).tolist())
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert h.count == n_threads * (n_scalar + n_array) == len(expected)
    assert h.sum == math.fsum(expected)
    assert h.min == min(expected) and h.max == max(expected)
    ref = LatencyHistogram()
    ref.record_many(expected)
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        assert h.quantile(q) == ref.quantile(q)


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("bad", [-1e-9, -1.0, math.nan, -math.inf])
def test_record_rejects_negative_and_nan(bad):
    h = LatencyHistogram()
    with pytest.raises(InvalidArgument,
                       match="^LatencyHistogram.record: seconds must be finite and >= 0, got "):
        h.record(bad)
    assert h.count == 0 and h.sum == 0.0


@pytest.mark.parametrize("bad", ["0.1", None, [0.1]])
def test_record_rejects_non_numbers(bad):
    with pytest.raises(TypeError):
        LatencyHistogram().record(bad)


@pytest.mark.parametrize("bad", [math.nan, -0.5])
def test_record_many_with_a_bad_value_records_nothing(bad):
    h = LatencyHistogram()
    h.record(0.1)
    x = np.full(1000, 0.01)
    x[537] = bad
    with pytest.raises(InvalidArgument, match="^LatencyHistogram.record_many: values must be "
                                              "finite and >= 0, got "):
        h.record_many(x)
    assert (h.count, h.sum, h.min, h.max) == (1, 0.1, 0.1, 0.1)


def test_record_many_rejects_non_numeric():
    with pytest.raises((TypeError, ValueError)):
        LatencyHistogram().record_many(["a", "b"])


_INF_SCRIPT = """
import math, numpy as np
from fugue_ppl.monitoring._metrics import LatencyHistogram
h = LatencyHistogram()
try:
    h.{call}
    outcome = "recorded"
except ValueError:
    outcome = "rejected"
print("RESULT", outcome, h.count, h.count_le(math.inf), h.sum, h.max)
"""


@pytest.mark.parametrize("call", ["record(math.inf)", "record_many(np.array([0.5, math.inf]))"])
def test_infinity_is_rejected_or_counted_in_the_overflow_bucket(call):
    # In a subprocess: the bug writes outside the histogram's memory.
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _INF_SCRIPT.format(call=call)], check=False,
                         capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][-1].split()
    outcome, count, count_le_inf = line[1], int(line[2]), int(line[3])
    if outcome == "rejected":
        assert count == 0 and float(line[4]) == 0.0
    else:
        n = 1 if call.startswith("record(") else 2
        assert count == n and count_le_inf == n and float(line[5]) == math.inf


@pytest.mark.parametrize("kwargs, exc, msg", [
    ({"lowest": 0.0}, InvalidArgument, "lowest must be finite and > 0, got 0.0"),
    ({"lowest": -1e-6}, InvalidArgument, "lowest must be finite and > 0, got -1e-06"),
    ({"lowest": math.nan}, InvalidArgument, "lowest must be finite and > 0, got nan"),
    ({"lowest": math.inf}, InvalidArgument, "lowest must be finite and > 0, got inf"),
    ({"highest": 0.0}, InvalidArgument, "highest must be finite and > 0, got 0.0"),
    ({"highest": math.inf}, InvalidArgument, "highest must be finite and > 0, got inf"),
    ({"lowest": 1.0, "highest": 1.0}, InvalidArgument,
     r"highest must be > lowest \(1.0\), got 1.0"),
    ({"lowest": 1.0, "highest": 0.5}, InvalidArgument,
     r"highest must be > lowest \(1.0\), got 0.5"),
    ({"lowest": 1e-300, "highest": 1e300}, InvalidArgument,
     r"highest must be at most 2\*\*900 times lowest, got 1e\+300"),
    ({"sub_bits": 0}, InvalidArgument, r"sub_bits must be in \[1, 12\], got 0"),
    ({"sub_bits": 13}, InvalidArgument, r"sub_bits must be in \[1, 12\], got 13"),
    ({"sub_bits": -1}, InvalidArgument, r"sub_bits must be in \[1, 12\], got -1"),
    ({"sub_bits": 7.5}, InvalidArgument, "sub_bits must be an integer, got 7.5"),
    ({"sub_bits": "7"}, TypeError, "sub_bits must be an integer, got str"),
    ({"sub_bits": True}, TypeError, "sub_bits must be an integer, got bool"),
    ({"lowest": "1e-6"}, TypeError, "lowest must be a real number, got str"),
    ({"lowest": None}, TypeError, "lowest must be a real number, got NoneType"),
    ({"highest": True}, TypeError, "highest must be a real number, got bool"),
])
def test_constructor_rejects_bad_arguments(kwargs, exc, msg):
    with pytest.raises(exc, match=f"^LatencyHistogram: {msg}$"):
        LatencyHistogram(**kwargs)


def test_constructor_accepts_numpy_scalars_and_extreme_sub_bits():
    h = LatencyHistogram(np.float64(1e-3), np.float32(2.0), np.int64(1))
    h.record_many([1e-3, 1.5e-3, 1.9])
    assert h.sub_bits == 1 and h.count == 3
    assert max(_rel_errors(h, np.array([1e-3, 1.5e-3, 1.9])).values()) <= _bound(1)
    assert LatencyHistogram(sub_bits=12).sub_bits == 12


@pytest.mark.parametrize("q", [-0.01, 1.01, math.nan, math.inf, -math.inf])
def test_quantile_outside_zero_one_raises(q):
    h = LatencyHistogram()
    h.record(0.1)
    with pytest.raises(InvalidArgument,
                       match=r"^LatencyHistogram.quantile: q must be in \[0, 1\], got "):
        h.quantile(q)


@pytest.mark.parametrize("q", ["0.5", None, True])
def test_quantile_rejects_non_numbers(q):
    with pytest.raises(TypeError,
                       match=r"^LatencyHistogram.quantile: q must be a real number, got "):
        LatencyHistogram().quantile(q)


# ---------------------------------------------------------------- misc

def test_clock_info():
    info = clock_info()
    assert set(info) == {"source", "seconds_per_tick"}
    assert info["source"] in ("tsc", "steady_clock")
    if info["source"] == "steady_clock":
        assert info["seconds_per_tick"] == 1e-9
    else:   # a TSC between 100 MHz and 10 GHz
        assert 1e-10 <= info["seconds_per_tick"] <= 1e-8


def test_exported_from_the_package():
    assert fp.LatencyHistogram is LatencyHistogram
    from fugue_ppl.monitoring.prometheus import LatencyHistogram as LH
    assert LH is LatencyHistogram
