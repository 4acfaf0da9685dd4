"""Circuit breaker benchmarks: the per-call cost of guarding an inference.

``allow(); record_success()`` from Python on a ``HEALTHY`` breaker, against
one no-op method call (``def noop(self): pass`` of a plain Python class) and
against two no-op calls (the same number of calls as the breaker's pair).
Report-only: the ratios are recorded, with no target.

Each benchmarked call makes ``CALLS_PER_ROUND`` pairs, the bound methods
hoisted out of the loop, so the harness's own per-call cost does not blur the
per-pair cost.
"""

import math

import pytest

from fugue_ppl.serving._breaker import CircuitBreaker

CALLS_PER_ROUND = 1000


class _Plain:
    def noop(self):
        pass


def _finish(bench, per_call):
    if bench.stats is not None:
        bench.extra_info["per_pair_s"] = bench.stats.stats.min / per_call


@pytest.mark.benchmark(group="breaker: 1000 guarded calls")
def test_breaker_allow_record_success(bench):
    b = CircuitBreaker()
    allow, ok = b.allow, b.record_success

    def calls():
        for _ in range(CALLS_PER_ROUND):
            allow()
            ok()
    bench(calls)
    _finish(bench, CALLS_PER_ROUND)
    m = b.metrics
    assert m["state"] == "HEALTHY" and m["successful_calls"] == m["permitted_calls"] > 0


@pytest.mark.benchmark(group="breaker: 1000 guarded calls")
def test_noop_method_call(bench):
    noop = _Plain().noop

    def calls():
        for _ in range(CALLS_PER_ROUND):
            noop()
    bench(calls)
    _finish(bench, CALLS_PER_ROUND)


@pytest.mark.benchmark(group="breaker: 1000 guarded calls")
def test_two_noop_method_calls(bench):
    noop = _Plain().noop

    def calls():
        for _ in range(CALLS_PER_ROUND):
            noop()
            noop()
    bench(calls)
    _finish(bench, CALLS_PER_ROUND)


# ---------------------------------------------------------------- ratios (report-only)

def test_ratio_pair_vs_one_noop(compare):
    compare("test_breaker_allow_record_success", "test_noop_method_call", kind="slowdown",
            target=math.inf, description="breaker allow()+record_success() vs 1 no-op call")


def test_ratio_pair_vs_two_noops(compare):
    compare("test_breaker_allow_record_success", "test_two_noop_method_calls", kind="slowdown",
            target=math.inf, description="breaker allow()+record_success() vs 2 no-op calls")
