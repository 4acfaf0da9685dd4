"""GCRA rate limits: exact allow/deny sequences against the closed form on an
injected clock, the RateLimit header fields, who a client is (proxy trust),
thread safety, the memory bound, and bad settings."""

import doctest
import itertools
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from fugue_ppl.config import Config, load_config
from fugue_ppl.errors import ConfigError, InvalidArgument
from fugue_ppl.service import _ratelimit_config, ratelimit
from fugue_ppl.service._ratelimit_config import RateLimitConfig
from fugue_ppl.service.ratelimit import Policy, RateDecision, RateLimiter

MS = 1_000_000
S = 1_000_000_000


class Clock:
    """Integer nanoseconds, moved by hand."""

    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


def limiter(rate=10.0, burst=5, clock=None, **kw):
    return RateLimiter(RateLimitConfig(rate=rate, burst=burst, **kw),
                       clock=clock if clock is not None else Clock())


def test_docstring_examples_run():
    for module in (ratelimit, _ratelimit_config):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted >= 2


# ---------------------------------------------------------------- the closed form

@pytest.mark.parametrize("rate, burst, step_ms, seconds", [
    (10.0, 5, 1, 2), (3.0, 4, 7, 3), (100.0, 1, 2, 1), (0.5, 2, 250, 9), (7.0, 3, 50, 4)])
def test_a_flood_is_allowed_burst_plus_elapsed_over_interval(rate, burst, step_ms, seconds):
    # Requests every step from a full bucket at t=0, dense enough that the bucket is
    # never idle (step <= (burst-1)*T, or step divides T): after k allowed, TAT = k*T,
    # so the (k+1)-th is allowed at the first request at or after (k+1-burst)*T; by
    # time t, min(requests, burst + floor(t/T)) are allowed, and a refused request
    # may retry (k+1-burst)*T - t later.
    clock = Clock()
    rl = limiter(rate, burst, clock)
    T = round(S / rate)
    assert rl.policy("ip:1.2.3.4") == Policy(rate, burst, T, math.ceil(burst * T / S))
    allowed = 0
    for j in range(seconds * 1000 // step_ms + 1):
        clock.t = t = j * step_ms * MS
        d = rl.check("ip:1.2.3.4")
        expect_allowed = allowed + 1 <= burst + t // T
        assert d.allowed is expect_allowed, (j, t)
        if d.allowed:
            allowed += 1
            assert d.retry_after == 0.0
        else:
            assert d.retry_after == ((allowed + 1 - burst) * T - t) / S
        assert allowed == min(j + 1, burst + t // T)
        assert d.limit == burst
        tat = allowed * T
        assert tat >= t                 # (never idle)
        assert d.remaining == (t + burst * T - tat) // T
        assert d.reset == (tat - t) / S


@given(rate=st.sampled_from([0.5, 1.0, 3.0, 7.0, 10.0, 250.0]),
       burst=st.integers(1, 12),
       gaps=st.lists(st.integers(0, 400 * MS), min_size=1, max_size=120))
@settings(max_examples=150, deadline=None)
def test_any_arrivals_match_the_continuous_state_leaky_bucket(rate, burst, gaps):
    # ITU-T I.371's other form of GCRA: a bucket level X drained by the elapsed time
    # since the last conforming arrival; an arrival conforms when the drained level
    # is at most (burst-1)*T, and then adds T.
    clock = Clock()
    rl = limiter(rate, burst, clock)
    T = rl.policy("c").interval_ns
    level, last = 0, 0
    for gap in gaps:
        clock.t += gap
        drained = max(0, level - (clock.t - last))
        conforms = drained <= (burst - 1) * T
        d = rl.check("c")
        assert d.allowed is conforms
        if conforms:
            level, last = drained + T, clock.t
            assert d.remaining == (burst * T - level) // T
        else:
            assert d.retry_after == (drained - (burst - 1) * T) / S


def test_an_idle_client_gets_its_whole_burst_back_and_no_more():
    clock = Clock()
    rl = limiter(10.0, 5, clock)
    assert [rl.check("k").allowed for _ in range(6)] == [True] * 5 + [False]
    clock.t += 5 * 100 * MS - 1
    assert [rl.check("k").allowed for _ in range(6)] == [True] * 4 + [False] * 2
    clock.t += 10 * S                   # long idle: still only the burst
    d = rl.check("k")
    assert (d.allowed, d.remaining, d.reset) == (True, 4, 0.1)
    assert [rl.check("k").allowed for _ in range(5)] == [True] * 4 + [False]


def test_costs_and_refusals():
    clock = Clock()
    rl = limiter(10.0, 5, clock)
    d = rl.check("k", cost=3)
    assert (d.allowed, d.remaining, d.reset) == (True, 2, 0.3)
    d = rl.check("k", cost=3)           # refused: costs nothing
    assert (d.allowed, d.remaining, d.retry_after) == (False, 2, 0.1)
    assert rl.check("k", cost=2).allowed
    assert not rl.check("k").allowed
    for bad in (0, 6, -1, 1.0, True, "1"):
        with pytest.raises(InvalidArgument) as info:
            rl.check("k", cost=bad)
        assert str(info.value).startswith("RateLimiter.check: cost must be an integer from 1 "
                                          "to the burst (5), got ")


def test_each_client_has_its_own_bucket_and_keys_their_overrides():
    rl = limiter(10.0, 2, overrides={"batch": {"rate": 100, "burst": 50}})
    assert [rl.check("key:ci").allowed for _ in range(3)] == [True, True, False]
    assert [rl.check("ip:10.0.0.1").allowed for _ in range(3)] == [True, True, False]
    assert sum(rl.check("key:batch").allowed for _ in range(60)) == 50
    assert rl.policy("key:batch") == Policy(100.0, 50, 10 * MS, 1)
    assert rl.policy("ip:batch") == Policy(10.0, 2, 100 * MS, 1)
    assert len(rl) == 3


# ---------------------------------------------------------------- headers

def test_the_ratelimit_header_fields():
    clock = Clock()
    rl = limiter(4.0, 10, clock)
    d = rl.check("k")
    assert rl.headers(d) == {"RateLimit-Limit": "10", "RateLimit-Remaining": "9",
                             "RateLimit-Reset": "1", "RateLimit-Policy": "10;w=3"}
    for _ in range(9):
        rl.check("k")
    d = rl.check("k")
    assert (d.allowed, d.retry_after, d.reset) == (False, 0.25, 2.5)
    assert rl.headers(d) == {"RateLimit-Limit": "10", "RateLimit-Remaining": "0",
                             "RateLimit-Reset": "3", "RateLimit-Policy": "10;w=3",
                             "Retry-After": "1"}
    # (the ASGI list the service sends: the same fields, lower-case, as bytes)
    assert rl.raw_headers(d) == [(b"ratelimit-limit", b"10"), (b"ratelimit-remaining", b"0"),
                                 (b"ratelimit-reset", b"3"), (b"ratelimit-policy", b"10;w=3"),
                                 (b"retry-after", b"1")]
    assert rl.raw_headers(rl.check("other")) == [
        (b"ratelimit-limit", b"10"), (b"ratelimit-remaining", b"9"),
        (b"ratelimit-reset", b"1"), (b"ratelimit-policy", b"10;w=3")]
    slow = limiter(0.1, 1, clock)
    slow.check("k")
    d = slow.check("k")
    assert slow.headers(d)["Retry-After"] == "10" and slow.headers(d)["RateLimit-Reset"] == "10"
    clock.t += 7 * S + 1
    assert slow.headers(slow.check("k"))["Retry-After"] == "3"


def test_rate_limits_off_allow_everything_without_headers():
    rl = RateLimiter(RateLimitConfig(enabled=False, burst=1))
    decisions = [rl.check("k") for _ in range(100)]
    assert all(d.allowed for d in decisions) and len(rl) == 0 and not rl.enabled
    assert rl.headers(decisions[-1]) == {}
    assert rl.raw_headers(decisions[-1]) == []
    assert decisions[-1] == RateDecision(True, 0, 0, 0.0, 0.0, None)


# ---------------------------------------------------------------- who a client is

def test_identities_without_proxies():
    rl = limiter()
    assert rl.identity("ci", "203.0.113.7", {}) == "key:ci"
    assert rl.identity(None, "203.0.113.7", {}) == "ip:203.0.113.7"
    assert rl.identity(None, "::ffff:203.0.113.7", {}) == "ip:203.0.113.7"
    # one IPv6 host holds a /64: it is counted as one client
    assert rl.identity(None, "2001:db8:1:2:3:4:5:6", {}) == "ip:2001:db8:1:2::/64"
    assert rl.identity(None, "2001:db8:1:2::9", {}) == "ip:2001:db8:1:2::/64"
    exact = limiter(ipv6_prefix=128)
    assert exact.identity(None, "2001:db8::1", {}) == "ip:2001:db8::1"
    assert rl.identity(None, "testclient", {}) == "host:testclient"
    assert rl.identity(None, None, {}) == "host:unknown"
    assert rl.identity(None, "x" * 500 + "\n", {}).startswith("host:xxx")
    assert len(rl.identity(None, "x" * 500, {})) < 120


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored():
    plain = limiter()
    assert plain.identity(None, "198.51.100.1", {"X-Forwarded-For": "203.0.113.7"}) == \
        "ip:198.51.100.1"
    proxied = limiter(trusted_proxies=["10.0.0.0/8", "fd00::/8"])
    assert proxied.identity(None, "198.51.100.1", {"X-Forwarded-For": "203.0.113.7"}) == \
        "ip:198.51.100.1"
    assert proxied.identity("ci", "10.0.0.1", {"X-Forwarded-For": "203.0.113.7"}) == "key:ci"


def test_x_forwarded_for_from_a_trusted_proxy_names_the_rightmost_untrusted_address():
    rl = limiter(trusted_proxies=["10.0.0.0/8", "fd00::/8", "192.0.2.1"])
    ident = rl.identity
    # the client, then two trusted proxies: a client cannot spoof the leftmost entry
    assert ident(None, "10.0.0.1", {"x-forwarded-for": "1.1.1.1, 203.0.113.7, 10.2.2.2"}) == \
        "ip:203.0.113.7"
    assert ident(None, "fd00::1", {"x-forwarded-for": "203.0.113.7,192.0.2.1"}) == \
        "ip:203.0.113.7"
    assert ident(None, "10.0.0.1", {"x-forwarded-for": "[2001:db8::5]:443"}) == \
        "ip:2001:db8::/64"
    assert ident(None, "10.0.0.1", {"x-forwarded-for": "203.0.113.7:5555"}) == \
        "ip:203.0.113.7"
    # every entry trusted: the leftmost
    assert ident(None, "10.0.0.1", {"x-forwarded-for": "10.3.3.3, 10.2.2.2"}) == \
        "ip:10.3.3.3"
    # garbage stops the walk at the last good hop
    assert ident(None, "10.0.0.1", {"x-forwarded-for": "203.0.113.7, junk, 10.2.2.2"}) == \
        "ip:10.2.2.2"
    assert ident(None, "10.0.0.1", {"x-forwarded-for": "junk"}) == "ip:10.0.0.1"
    assert ident(None, "10.0.0.1", {}) == "ip:10.0.0.1"
    # several header lines are one list, in order
    raw = Headers(raw=[(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-for", b"10.9.9.9")])
    assert ident(None, "10.0.0.1", raw) == "ip:203.0.113.7"
    raw = Headers(raw=[(b"x-forwarded-for", b"10.9.9.9"), (b"x-forwarded-for", b"203.0.113.8")])
    assert ident(None, "10.0.0.1", raw) == "ip:203.0.113.8"


# ---------------------------------------------------------------- threads and memory

def test_threads_at_one_instant_get_exactly_the_burst():
    rl = limiter(10.0, 1234, Clock(5 * S))
    counts = []
    barrier = threading.Barrier(8)

    def hammer():
        barrier.wait()
        counts.append(sum(rl.check("shared").allowed for _ in range(400)))
    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 1234 and len(counts) == 8


def test_threads_on_a_moving_clock_match_the_sequential_closed_form():
    # Each clock reading is 1 ms after the previous, and the limiter reads it under
    # its lock: whatever the interleaving, the n-th decision sees t = n ms.
    ticks = itertools.count()
    rl = RateLimiter(RateLimitConfig(rate=100.0, burst=20), clock=lambda: next(ticks) * MS)
    next(ticks)                          # (the constructor's probe of the clock)
    results = []

    def hammer():
        results.extend(rl.check("shared").allowed for _ in range(500))
    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    n = len(results)
    # by the last request (t = (n-1) ms), burst + floor(t / 10 ms) were allowed
    assert sum(results) == min(n, 20 + ((n - 1) * MS) // (10 * MS)) == 20 + 299


def test_memory_stays_bounded_and_idle_clients_go_first():
    clock = Clock()
    rl = limiter(10.0, 3, clock, max_clients=100)
    for _ in range(3):
        rl.check("busy")                # (busy has spent its burst)
    for i in range(60):
        rl.check(f"ip:idle-{i}")
    clock.t += 1 * S                    # the 60 are idle now; busy is not
    for _ in range(3):
        rl.check("busy")
    for i in range(50):
        rl.check(f"ip:new-{i}")
    assert len(rl) <= 100
    assert not rl.check("busy").allowed           # its state survived
    for i in range(10_000):
        rl.check(f"ip:flood-{i}")
    assert len(rl) <= 100


# ---------------------------------------------------------------- settings

def test_from_config_and_the_environment():
    cfg = load_config(env={"FUGUE_RATE_LIMIT__RATE": "2.5", "FUGUE_RATE_LIMIT__BURST": "7",
                           "FUGUE_RATE_LIMIT__TRUSTED_PROXIES": "10.0.0.0/8, ::1",
                           "FUGUE_RATE_LIMIT__OVERRIDES__BATCH": '{"rate": 50, "burst": 60}'})
    rl = RateLimiter.from_config(cfg)
    assert rl.policy("ip:x") == Policy(2.5, 7, 400 * MS, 3)
    assert rl.policy("key:batch").burst == 60
    assert cfg.rate_limit.trusted_proxies == ("10.0.0.0/8", "::1/128")
    assert rl.identity(None, "::1", {"x-forwarded-for": "203.0.113.7"}) == "ip:203.0.113.7"
    assert repr(rl) == "RateLimiter(rate=2.5, burst=7, overrides=1, clients=0, enabled=True)"


@pytest.mark.parametrize("data, message", [
    ({"rate": 0}, "rate_limit.rate = 0 (mapping): must be in (0, 1e+06]"),
    ({"rate": float("nan")}, "rate_limit.rate = nan (mapping): must be in (0, 1e+06]"),
    ({"rate": float("inf")}, "rate_limit.rate = inf (mapping): must be in (0, 1e+06]"),
    ({"rate": "fast"}, "rate_limit.rate: expected a real number, got 'fast' (mapping)"),
    ({"burst": 0}, "rate_limit.burst = 0 (mapping): must be in [1, 1000000000]"),
    ({"burst": 2.5}, "rate_limit.burst = 2.5 (mapping): must be an integer"),
    ({"burst": True}, "rate_limit.burst: expected an integer, got True (mapping)"),
    ({"trusted_proxies": ["10.0.0.0/33"]},
     "rate_limit.trusted_proxies = '10.0.0.0/33' (mapping): must hold IP networks in CIDR "
     "notation (e.g. '10.0.0.0/8') or IP addresses"),
    ({"trusted_proxies": ["proxy.local"]},
     "rate_limit.trusted_proxies = 'proxy.local' (mapping): must hold IP networks in CIDR "
     "notation (e.g. '10.0.0.0/8') or IP addresses"),
    ({"ipv6_prefix": 16}, "rate_limit.ipv6_prefix = 16 (mapping): must be in [32, 128]"),
    ({"max_clients": 0}, "rate_limit.max_clients = 0 (mapping): must be in [1, 100000000]"),
    ({"overrides": {"ci": {"rate": 5}}},
     "rate_limit.overrides.ci = {'rate': 5} (mapping): must give both 'rate' and 'burst'"),
    ({"overrides": {"ci": {"rate": -5, "burst": 1}}},
     "rate_limit.overrides.ci.rate = -5 (mapping): must be in (0, 1e+06]"),
    ({"overrides": {"ci": {"rate": 5, "burst": 0}}},
     "rate_limit.overrides.ci.burst = 0 (mapping): must be in [1, 1000000000]"),
    ({"overrides": {"ci": {"rate": 5, "burst": 1, "cost": 2}}},
     "rate_limit.overrides.ci = 'cost' (mapping): may hold only 'rate' and 'burst'"),
    ({"overrides": {"c i": {"rate": 5, "burst": 1}}},
     "rate_limit.overrides = 'c i' (mapping): must name key ids (letters, digits, '.', '_', "
     "'-'; at most 64 characters)"),
])
def test_bad_settings_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"rate_limit": data})
    assert str(info.value) == message


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="settings must be a RateLimitConfig, got dict"):
        RateLimiter({"rate": 1})
    with pytest.raises(TypeError, match="clock must return integer nanoseconds"):
        RateLimiter(clock=lambda: 1.5)
    with pytest.raises(TypeError, match="clock must be callable, got int"):
        RateLimiter(clock=5)
    with pytest.raises(InvalidArgument, match="rate must be in"):
        RateLimitConfig(rate=-1)
