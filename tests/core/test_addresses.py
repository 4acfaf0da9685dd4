"""Addresses are checked at the core: printable, non-empty, within a settable length."""

import pickle
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.checks import safe_repr

PRINTABLE_ONLY = ("must hold printable characters only (no control, format, separator or "
                  "surrogate characters)")

BAD = [
    ("a\nb", PRINTABLE_ONLY),                  # an injected newline
    ("a\r\nSet-Cookie: x", PRINTABLE_ONLY),
    ("x\x1b[31m", PRINTABLE_ONLY),             # a terminal escape
    ("tab\there", PRINTABLE_ONLY),
    ("nul\x00", PRINTABLE_ONLY),
    ("del\x7f", PRINTABLE_ONLY),
    ("c1\x85", PRINTABLE_ONLY),                # NEL, a C1 control
    ("rtl\u202egnp.exe", PRINTABLE_ONLY),      # a bidirectional override
    ("zw\u200bsp", PRINTABLE_ONLY),            # a zero-width space
    ("ls\u2028x", PRINTABLE_ONLY),             # a line separator
    ("sur\ud800", PRINTABLE_ONLY),             # a lone surrogate
    ("", "must not be empty"),
    ("x" * 1025, "is longer than 1024 characters (fp.set_max_address_length)"),
]

GOOD = ["x", "x" * 1024, "café", "temp reading", "a.b/c:d", fp.addr("x", 3, "k"), "温度"]


def _sample_at(a):
    return fp.sample(a, fp.Normal(0.0, 1.0))


def _observe_at(a):
    fp.observe(a, fp.Normal(0.0, 1.0), 0.5)


@pytest.fixture(autouse=True)
def _default_limit():
    assert fp.max_address_length() == 1024
    yield
    fp.set_max_address_length(1024)


@pytest.mark.parametrize("model", [_sample_at, _observe_at])
@pytest.mark.parametrize("address, rule", BAD)
def test_a_bad_address_raises_invalid_address_naming_it_and_the_pool_stays_whole(
        model, address, rule):
    pool = fp.TracePool(4)
    handler = fp.PooledPriorHandler(rng=1, pool=pool)
    with pytest.raises(fp.InvalidAddress) as info:
        fp.run(handler, model, address)
    err = info.value
    assert str(err) == f"address {safe_repr(address)} {rule}"
    assert "\n" not in str(err) and "\x1b" not in str(err)
    assert isinstance(err, fp.errors.InvalidArgument) and isinstance(err, ValueError)
    assert err.address == address and err.rule == rule
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is fp.InvalidAddress and str(again) == str(err)
    # the run's trace went back to the pool, and the handler still works
    stats = pool.stats
    assert stats.hits + stats.misses == stats.returns + stats.drops
    _, trace = fp.run(handler, _sample_at, "ok")
    assert list(trace.keys()) == ["ok"]


@pytest.mark.parametrize("address", GOOD)
def test_printable_addresses_within_the_limit_are_accepted(address):
    _, trace = fp.run(fp.PriorHandler(rng=2), _sample_at, address)
    assert list(trace.keys()) == [address]


@pytest.mark.parametrize("name, indices, built, rule", [
    ("a\nb", (0,), "a\nb[0]", PRINTABLE_ONLY),
    ("a\nb", ("k",), "a\nb['k']", PRINTABLE_ONLY),
    ("ok", ("\x1b[2J",), "ok['\x1b\\[2J']", PRINTABLE_ONLY),
    ("a\tb", (), "a\tb", PRINTABLE_ONLY),
    ("x" * 1020, (12345,), "x" * 1020 + "[12345]",
     "is longer than 1024 characters (fp.set_max_address_length)"),
])
def test_addr_refuses_to_build_a_bad_address(name, indices, built, rule):
    with pytest.raises(fp.InvalidAddress) as info:
        fp.addr(name, *indices)
    assert info.value.address == built
    assert str(info.value) == f"address {safe_repr(built)} {rule}"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_an_address_is_accepted_exactly_when_it_is_printable(address):
    try:
        _, trace = fp.run(fp.PriorHandler(rng=3), _sample_at, address)
    except fp.InvalidAddress as err:
        assert not address.isprintable()
        assert err.address == address
    else:
        assert address.isprintable()
        assert list(trace.keys()) == [address]


def test_the_limit_is_settable_and_applies_to_addresses_seen_before():
    long_name = "y" * 40
    fp.run(fp.PriorHandler(rng=4), _sample_at, long_name)       # cached now
    assert fp.set_max_address_length(39) == 1024
    assert fp.max_address_length() == 39
    with pytest.raises(fp.InvalidAddress, match="is longer than 39 characters"):
        fp.run(fp.PriorHandler(rng=4), _sample_at, long_name)
    fp.run(fp.PriorHandler(rng=4), _sample_at, "y" * 39)
    assert fp.set_max_address_length(40) == 39
    _, trace = fp.run(fp.PriorHandler(rng=4), _sample_at, long_name)
    assert list(trace.keys()) == [long_name]


@pytest.mark.parametrize("value, exc, message", [
    (0, fp.errors.InvalidArgument, "must be in [1, 1048576], got 0"),
    (-5, fp.errors.InvalidArgument, "must be in [1, 1048576], got -5"),
    (2**20 + 1, fp.errors.InvalidArgument, "must be in [1, 1048576], got 1048577"),
    (2.5, fp.errors.InvalidArgument, "must be an integer, got 2.5"),
    (float("nan"), fp.errors.InvalidArgument, "must be an integer, got nan"),
    (10**400, fp.errors.InvalidArgument, "must be in [1, 1048576], got <int of 1329 bits>"),
    (True, TypeError, "must be an integer, got bool"),
    ("10", TypeError, "must be an integer, got str"),
    (None, TypeError, "must be an integer, got NoneType"),
])
def test_a_bad_limit_is_refused_and_the_limit_is_unchanged(value, exc, message):
    with pytest.raises(exc) as info:
        fp.set_max_address_length(value)
    assert str(info.value) == f"set_max_address_length: max_length {message}"
    assert fp.max_address_length() == 1024


def test_bad_addresses_from_many_threads_never_reach_a_trace():
    pool = fp.TracePool(8)
    handler = fp.PooledPriorHandler(rng=5, pool=pool)
    errors, traces = [], []
    lock = threading.Lock()

    def work(t):
        for i in range(300):
            a = f"t{t}\n{i}" if i % 2 else f"t{t}-{i}"
            try:
                _, tr = fp.run(handler, _sample_at, a)
            except fp.InvalidAddress as e:
                with lock:
                    errors.append(e.address)
            else:
                with lock:
                    traces.append(list(tr.keys()))
                tr.release()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == len(traces) == 600
    assert all("\n" in a for a in errors)
    assert all(len(a) == 1 and "\n" not in a[0] for a in traces)
    stats = pool.stats
    assert stats.hits + stats.misses == stats.returns + stats.drops
