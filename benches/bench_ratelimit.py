"""Rate limiter benchmarks: the per-request cost of ``RateLimiter.check`` (GCRA,
pure Python, one lock) against the ``limits`` library's in-memory strategies
(moving window, sliding window counter, fixed window), which is what the
service would use instead.

Two situations, each a round of ``CALLS_PER_ROUND`` checks on the real clock:
clients that stay under their limit (the round cycles over ``CLIENTS``
identities, each allowed 1000 a second), and one client far over its limit
(100 a second, so nearly every check is refused). Report-only: the ratios
(limits' time / ours) are recorded, with no target.
"""

import itertools

import pytest

from fugue_ppl.service._ratelimit_config import RateLimitConfig
from fugue_ppl.service.ratelimit import RateLimiter

limits = pytest.importorskip("limits")
from limits import storage, strategies  # noqa: E402

CALLS_PER_ROUND = 1000
CLIENTS = 10_000
STRATEGIES = {"moving_window": strategies.MovingWindowRateLimiter,
              "sliding_window_counter": strategies.SlidingWindowCounterRateLimiter,
              "fixed_window": strategies.FixedWindowRateLimiter}
IDS = [f"ip:10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(CLIENTS)]


def _finish(bench):
    if bench.stats is not None:
        bench.extra_info["per_check_s"] = bench.stats.stats.min / CALLS_PER_ROUND


def _ours(rate, burst):
    return RateLimiter(RateLimitConfig(rate=rate, burst=burst, max_clients=10 * CLIENTS)).check


def _theirs(name, rate):
    limiter = STRATEGIES[name](storage.MemoryStorage())
    item = limits.RateLimitItemPerSecond(rate)
    return lambda identity: limiter.hit(item, identity)


# ---------------------------------------------------------------- under the limit

def _under(bench, check):
    ids = itertools.cycle(IDS)

    def calls():
        for _ in range(CALLS_PER_ROUND):
            check(next(ids))
    bench(calls)
    _finish(bench)


@pytest.mark.benchmark(group="ratelimit: 1000 checks over 10000 clients under their limit")
def test_under_gcra(bench):
    _under(bench, _ours(1000.0, 1000))


@pytest.mark.benchmark(group="ratelimit: 1000 checks over 10000 clients under their limit")
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_under_limits(bench, strategy):
    _under(bench, _theirs(strategy, 1000))


# ---------------------------------------------------------------- over the limit

def _over(bench, check):
    def calls():
        for _ in range(CALLS_PER_ROUND):
            check("key:hot")
    bench(calls)
    _finish(bench)


@pytest.mark.benchmark(group="ratelimit: 1000 checks of one client over its limit")
def test_over_gcra(bench):
    _over(bench, _ours(100.0, 100))


@pytest.mark.benchmark(group="ratelimit: 1000 checks of one client over its limit")
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_over_limits(bench, strategy):
    _over(bench, _theirs(strategy, 100))


# ---------------------------------------------------------------- ratios (report-only)

@pytest.mark.parametrize("situation", ["under", "over"])
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_ratio_limits_vs_gcra(compare, situation, strategy):
    compare(f"test_{situation}_gcra", f"test_{situation}_limits[{strategy}]", kind="speedup",
            target=None, description=f"GCRA check vs limits {strategy}, {situation} the limit")
