"""Edges of counters, stores, clocks and the command line.

Counters saturate at 2**64 - 1 instead of wrapping; an event store refuses
more buckets than it can hold; the trend fit takes any finite times; a wall
clock far outside the calendar leaves report times out instead of failing the
probes; the demo command turns every bad number into a usage error. What may
exhaust memory or print from native code runs in a subprocess with a timeout
(and a memory limit).
"""

import json
import math
import os
import subprocess
import sys
import textwrap
import time

import fugue_ppl as fp
import pytest

MAX = 2**64 - 1
TIMEOUT = 300
MEMORY_LIMIT = 4 << 30          # bytes of address space for a child that must not allocate much


def _child_env():
    env = dict(os.environ)
    env["SKBUILD_EDITABLE_VERBOSE"] = "0"    # an editable install would print its rebuild
    return env


def _limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_python(code, *args):
    """Run ``code`` in a fresh interpreter, with a timeout and a memory limit."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, env=_child_env(), timeout=TIMEOUT,
                          preexec_fn=_limit_memory if os.name == "posix" else None, check=False)


# ---------------------------------------------------------------- counters


def test_record_fallback_saturates_instead_of_wrapping():
    m = fp.ProductionMetrics()
    m.record_fallback(2**63)
    m.record_fallback(2**63)
    assert m.fallbacks == MAX
    m.record_fallback(1)
    assert m.fallbacks == MAX
    assert m.snapshot()["fallbacks"] == MAX


@pytest.mark.parametrize("n", [2**64, 2**64 + 5, 2**200])
def test_record_fallback_beyond_the_counter_range_saturates(n):
    m = fp.ProductionMetrics()
    m.record_fallback(3)
    m.record_fallback(n)
    assert m.fallbacks == MAX


def test_histogram_self_merge_saturates_instead_of_wrapping():
    h = fp.LatencyHistogram()
    h.record(0.01)
    for _ in range(63):
        h.merge(h)
    assert h.count == 2**63
    h.merge(h)                                  # 2**64 would wrap to 0
    assert h.count == MAX
    assert h.count_le(1.0) == MAX
    assert h.quantile(0.5) == 0.01
    h.record(0.01)
    assert h.count == MAX
    assert h.to_dict()["count"] == MAX


def test_histogram_count_saturates_across_buckets():
    # Two buckets of 2**63 each: their sum, the count, must not wrap to 0.
    h = fp.LatencyHistogram()
    h.record(0.01)
    h.record(1.0)
    for _ in range(63):
        h.merge(h)
    assert h.count == MAX
    assert h.count_le(0.5) == 2**63
    assert h.count_le(2.0) == MAX
    assert h.quantile(0.25) == pytest.approx(0.01, rel=1 / 2**8)
    assert h.quantile(0.75) == pytest.approx(1.0, rel=1 / 2**8)
    assert h.cumulative_counts([0.5]) == [(0.5, 2**63), (math.inf, MAX)]


def test_merging_saturated_histograms_stays_saturated():
    full = fp.LatencyHistogram()
    full.record(0.01)
    for _ in range(64):
        full.merge(full)
    other = fp.LatencyHistogram()
    other.record(0.01)
    other.merge(full)
    other.merge(full)
    assert other.count == MAX
    assert other.count_le(1.0) == MAX


def test_inference_count_saturates_and_the_rates_stay_finite():
    m = fp.ProductionMetrics()
    m.record(0.01, error="RuntimeError")
    for _ in range(64):
        m.latency.merge(m.latency)
    m.record(0.01)
    assert m.inference_count == MAX
    assert m.error_count == 1
    assert m.error_rate == 1 / MAX
    snap = m.snapshot()
    assert snap["inferences"] == MAX
    assert math.isfinite(snap["throughput_per_second"])
    json.dumps(snap, allow_nan=False)


def test_window_throughput_after_the_histogram_alone_is_reset_is_zero():
    # The window remembers the count at each second's first inference; a
    # histogram reset on its own leaves the count below it (the difference
    # wrapped to about 1.8e19 inferences per second).
    m = fp.ProductionMetrics(window=1)
    m.record(0.001)
    time.sleep(1.05)                            # the next inference starts a new second
    m.record(0.001)
    m.record(0.001)
    m.latency.reset()
    assert m.window_throughput == 0.0
