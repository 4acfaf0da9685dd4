"""Per-run streams: the stream contract of DESIGN.md §3 ("Randomness").

A handler seeded with ``s`` gives the run with key ``k`` the stream of
``numpy.random.default_rng([s, k])`` (a SeedSequence: ``k`` appended to its
spawn key), derived in C++; ``k`` is ``seed=`` or the handler's run counter.
Every value is compared with numpy: the C++ bit generator draw by draw
(tests/core/stream_draws.cpp, built here against the installed library), and
the samplers through models run with ``seed=``.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from numpy.random import PCG64, Generator, SeedSequence
from numpy.random.bit_generator import _coerce_to_uint32_array

import fugue_ppl as fp
import fugue_ppl.core._runtime as runtime
from fugue_ppl.errors import InvalidArgument

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = pathlib.Path(__file__).with_name("stream_draws.cpp")
N = 10_000

_R = random.Random(20240611)
INT_SEEDS = [0, 1, 42, 2**32 - 1, 2**32, 2**64 - 1, 2**64 + 5, 2**100 + 3,
             _R.getrandbits(31), _R.getrandbits(64), _R.getrandbits(128)]
KEYS = [0, 1, 2**32 - 1, 2**32, 2**64 - 1, 2**70, _R.getrandbits(16), _R.getrandbits(63),
        _R.getrandbits(90)]


def seed_sequences():
    return [
        SeedSequence(12345, spawn_key=(3, 2**40), pool_size=8),
        SeedSequence(2**100 + 7),
        SeedSequence([1, 2, 2**40], pool_size=5),
        SeedSequence([], spawn_key=(7,)),
        SeedSequence(np.array([5, 6, 7], dtype=np.uint32), spawn_key=(1, 2, 3, 4, 5)),
        SeedSequence(0, spawn_key=(0,), pool_size=4),
        SeedSequence(),                                   # fresh entropy
        SeedSequence(99).spawn(3)[2],                     # a spawned child
        # long entropy: beyond the tabulated hash constants, 4-word pool
        SeedSequence(list(range(1, 250))),
        # a pool and assembled entropy beyond 64 words (on the heap)
        SeedSequence([2**64 - 1] * 40, spawn_key=(1, 2), pool_size=70),
    ]


def ref_generator(base, key):
    """numpy's stream of the run with ``key`` of a handler seeded with ``base``."""
    if isinstance(base, SeedSequence):
        return Generator(PCG64(SeedSequence(base.entropy, spawn_key=base.spawn_key + (key,),
                                            pool_size=base.pool_size)))
    return np.random.default_rng([base, key])


def _words(x):
    w = [int(v) for v in _coerce_to_uint32_array(x)]
    return f"{len(w)} {' '.join(map(str, w))}".strip()


def _case(base, how, count, pattern):
    if isinstance(base, SeedSequence):
        head = f"S {base.pool_size} {_words(base.entropy)} {_words(base.spawn_key)}"
    else:
        head = f"E 4 {_words(base)} 0"
    return f"{head} {how} {count} {pattern}\n"


def _reference_draws(gen, count, pattern):
    """numpy's draws, one call of the bit generator's C interface each (ctypes), or
    of ``standard_normal`` for ``n`` (``N``: count standard normals)."""
    if pattern in ("n", "N"):
        return gen.standard_normal(count).view(np.uint64)
    if pattern == "U":
        return gen.bit_generator.random_raw(count)
    if pattern == "d":
        return gen.random(count).view(np.uint64)
    if pattern == "u":
        return gen.integers(0, 2**32, size=count, dtype=np.uint32).astype(np.uint64)
    c = gen.bit_generator.ctypes
    out = np.empty(count, dtype=np.uint64)
    for i in range(count):
        p = pattern[i % len(pattern)]
        if p == "U":
            out[i] = c.next_uint64(c.state)
        elif p == "u":
            out[i] = c.next_uint32(c.state)
        elif p == "n":
            out[i] = gen.standard_normal(1).view(np.uint64)[0]
        else:
            out[i] = np.float64(c.next_double(c.state)).view(np.uint64)
    return out


@pytest.fixture(scope="module")
def stream_draws(tmp_path_factory):
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    headers = [ROOT / "csrc" / "core" / "include", pathlib.Path(np.get_include())]
    if not headers[0].is_dir():
        pytest.skip("the C++ headers (csrc/) are not next to the tests")
    if compiler is None:
        if os.environ.get("CI"):
            pytest.fail("no C++ compiler (c++) to build tests/core/stream_draws.cpp")
        pytest.skip("no C++ compiler (c++): apt-get install g++")
    lib = pathlib.Path(runtime.__file__).resolve().parents[1]      # the package's directory
    exe = tmp_path_factory.mktemp("stream_draws") / "stream_draws"
    cmd = [compiler, "-std=c++17", "-O2", *(f"-I{h}" for h in headers), str(SOURCE),
           "-o", str(exe), f"-L{lib}", "-lfugue_core", f"-Wl,-rpath,{lib}"]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr

    def run(cases, count):
        out = subprocess.run([str(exe)], input="".join(cases).encode(), capture_output=True,
                             timeout=300, check=False)
        assert out.returncode == 0, out.stderr
        got = np.frombuffer(out.stdout, dtype="<u8")
        assert got.size == len(cases) * count
        return got.reshape(len(cases), count)
    return run


# ---------------------------------------------------------------- A: the C++ generator


def _key_how(key):
    return f"key {_words(key)}"


def test_int_seeds_give_numpys_uint64_stream_for_every_key(stream_draws):
    cases, refs = [], []
    for s in INT_SEEDS:
        for k in KEYS:
            cases.append(_case(s, _key_how(k), N, "U"))
            refs.append(np.random.default_rng([s, k]).bit_generator.random_raw(N))
    got = stream_draws(cases, N)
    for i, ref in enumerate(refs):
        assert np.array_equal(got[i], ref), cases[i]


@pytest.mark.parametrize("pattern", ["d", "u", "Uud", "uUdu"])
def test_int_seeds_give_numpys_doubles_and_buffered_uint32s(stream_draws, pattern):
    count = N if len(pattern) == 1 else 2_000
    pairs = [(s, k) for s in INT_SEEDS[::2] for k in KEYS[::2]]
    got = stream_draws([_case(s, _key_how(k), count, pattern) for s, k in pairs], count)
    for row, (s, k) in zip(got, pairs):
        ref = _reference_draws(np.random.default_rng([s, k]), count, pattern)
        assert np.array_equal(row, ref), (s, k)


@pytest.mark.parametrize("pattern", ["N", "n", "nU", "dnnu"])
def test_standard_normals_are_numpys_ziggurat_draws_bit_for_bit(stream_draws, pattern):
    # N and n: 400,000 draws each, so the base layer's tail (1 draw in 3,900)
    # and the wedges (1 in 70) are taken many times; mixed with other draws,
    # the state a normal leaves is the next draw's
    count = 100_000 if len(pattern) == 1 else 2_000
    pairs = [(s, k) for s in INT_SEEDS[:2] for k in KEYS[:2]]
    got = stream_draws([_case(s, _key_how(k), count, pattern) for s, k in pairs], count)
    for row, (s, k) in zip(got, pairs):
        ref = _reference_draws(np.random.default_rng([s, k]), count, pattern)
        assert np.array_equal(row, ref), (s, k)


def test_seed_sequences_give_numpys_stream_with_the_key_ending_the_spawn_key(stream_draws):
    cases, refs = [], []
    for ss in seed_sequences():
        for k in KEYS:
            for pattern in ("U", "d"):
                cases.append(_case(ss, _key_how(k), N, pattern))
                refs.append(_reference_draws(ref_generator(ss, k), N, pattern))
    got = stream_draws(cases, N)
    for i, ref in enumerate(refs):
        assert np.array_equal(got[i], ref), cases[i]


def test_the_uint64_key_overload_and_the_counter_agree_with_the_word_keys(stream_draws):
    cases, refs = [], []
    for base in (7, 2**70 + 1, SeedSequence(5, spawn_key=(2,), pool_size=6)):
        for k in (0, 1, 5, 2**32 - 1, 2**32, 2**64 - 1):
            cases.append(_case(base, f"u64 {k}", 1000, "U"))
            refs.append(ref_generator(base, k).bit_generator.random_raw(1000))
        for n in (0, 3):
            cases.append(_case(base, f"next {n} 0 0 0 0", 1000, "U"))
            refs.append(ref_generator(base, n).bit_generator.random_raw(1000))
    got = stream_draws(cases, 1000)
    for i, ref in enumerate(refs):
        assert np.array_equal(got[i], ref), cases[i]


def test_after_a_fork_key_counter_streams_are_numpys_spawn_key_plus_fork_key(stream_draws):
    # set_fork_key(f): the counter's stream k becomes SeedSequence(entropy,
    # spawn_key=spawn_key + (f, k)); f has its highest word non-zero.
    f = [0x12345678, 0x9ABCDEF0, 0x0FEDCBA9, 0x80000001]
    f_int = sum(w << (32 * i) for i, w in enumerate(f))
    cases, refs = [], []
    for base in (7, 2**70 + 1, SeedSequence(5, spawn_key=(2,), pool_size=6)):
        ss = base if isinstance(base, SeedSequence) else SeedSequence(base)
        for n in (0, 2):
            cases.append(_case(base, f"next {n} {' '.join(map(str, f))}", 1000, "U"))
            child = SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (f_int, n),
                                 pool_size=ss.pool_size)
            refs.append(Generator(PCG64(child)).bit_generator.random_raw(1000))
            # ... and differs from the stream the parent gives that key
            assert not np.array_equal(refs[-1], ref_generator(base, n).bit_generator
                                      .random_raw(1000))
    got = stream_draws(cases, 1000)
    for i, ref in enumerate(refs):
        assert np.array_equal(got[i], ref), cases[i]


# ---------------------------------------------------------------- A: through the samplers


def many(reading):
    """One site of most distributions, in a fixed order."""
    return [
        fp.sample("normal", fp.Normal(20.0, 5.0)),
        fp.sample("uniform", fp.Uniform(-1.0, 3.0)),
        fp.sample("gamma", fp.Gamma(2.5, 2.0)),
        fp.sample("gamma_small", fp.Gamma(0.3, 1.0)),
        fp.sample("beta", fp.Beta(0.5, 2.0)),
        fp.sample("poisson", fp.Poisson(3.5)),
        fp.sample("poisson_large", fp.Poisson(250.0)),
        fp.sample("binomial", fp.Binomial(40, 0.3)),
        fp.sample("die", fp.DiscreteUniform(1, 6)),
        fp.sample("die2", fp.DiscreteUniform(-3, 2**20)),
        fp.sample("exponential", fp.Exponential(4.0)),
        fp.sample("lognormal", fp.LogNormal(0.5, 0.25)),
        fp.sample("chi2", fp.ChiSquared(3.0)),
        fp.sample("laplace", fp.Laplace(1.0, 2.0)),
        fp.sample("coin", fp.Bernoulli(0.3)),
        fp.observe("reading", fp.Normal(20.0, 5.0), reading),
    ][:-1]


def many_reference(g):
    """numpy's Generator methods in the order of ``many``."""
    return [
        g.normal(20.0, 5.0),
        g.uniform(-1.0, 3.0),
        g.gamma(2.5, 1 / 2.0),
        g.gamma(0.3, 1.0),
        g.beta(0.5, 2.0),
        int(g.poisson(3.5)),
        int(g.poisson(250.0)),
        int(g.binomial(40, 0.3)),
        int(g.integers(1, 6, endpoint=True)),
        int(g.integers(-3, 2**20, endpoint=True)),
        g.exponential(1 / 4.0),
        g.lognormal(0.5, 0.25),
        g.chisquare(3.0),
        g.laplace(1.0, 2.0),
        bool(g.random() < 0.3),
    ]


@pytest.mark.parametrize("base", [0, 11, 2**64 + 9] + seed_sequences()[:5]
                         + seed_sequences()[-2:],
                         ids=lambda b: repr(b).replace("\n", "")[:40])
def test_runs_draw_numpys_values_through_the_samplers_for_every_key(base):
    h = fp.PriorHandler(rng=base)
    for k in KEYS:
        g = ref_generator(base, k)
        for rep in range(5):
            # the same key twice gives the same run; the reference continues
            value, trace = fp.run(h, many, 21.0, seed=k)
            if rep == 0:
                assert value == many_reference(g), k
                first = trace
            else:
                assert trace == first
        # a longer model: the first 2000 normals and uniforms of the key's stream
        long = fp.run(h, lambda: [fp.sample(fp.addr("z", i), fp.Normal(0.0, 1.0))
                                  for i in range(1000)]
                      + [fp.sample(fp.addr("u", i), fp.Uniform(0.0, 1.0))
                         for i in range(1000)], seed=k)[0]
        g = ref_generator(base, k)
        assert long == list(g.standard_normal(1000)) + list(g.random(1000))


def test_counter_keys_run_0_1_2_and_explicit_keys_leave_the_counter_alone():
    h = fp.PooledPriorHandler(rng=2024)
    got = []
    for i in range(6):
        if i % 2:
            got.append(fp.run(h, many, 21.0, seed=1000 + i)[0])
        else:
            got.append(fp.run(h, many, 21.0)[0])
    expected = [many_reference(np.random.default_rng([2024, 1000 + i if i % 2 else i // 2]))
                for i in range(6)]
    assert got == expected


def test_rng_none_is_a_seed_sequence_made_once_and_exposed():
    h = fp.PriorHandler()
    ss = h.rng_seed
    assert isinstance(ss, SeedSequence) and ss.spawn_key == () and ss.pool_size == 4
    values = [fp.run(h, many, 21.0)[0] for _ in range(3)]
    assert values == [many_reference(ref_generator(ss, k)) for k in range(3)]
    assert fp.run(h, many, 21.0, seed=1)[0] == values[1]
    assert fp.PriorHandler().rng_seed.entropy != ss.entropy


def test_rng_seed_of_every_handler_kind():
    base = fp.run(fp.PriorHandler(rng=5), many, 0.0)[1]
    ss = SeedSequence(3)
    gen = np.random.default_rng(1)
    assert fp.PriorHandler(rng=np.int64(7)).rng_seed == 7
    assert type(fp.PriorHandler(rng=np.int64(7)).rng_seed) is int
    assert fp.PooledPriorHandler(rng=ss).rng_seed is ss
    assert fp.ReplayHandler(base, rng=9).rng_seed == 9
    assert fp.PriorHandler(rng=gen).rng_seed is None
    assert fp.PriorHandler(rng=np.random.PCG64(1)).rng_seed is None
    assert fp.ScoreGivenTrace(base).rng_seed is None
    assert fp.RobustHandler(fp.PriorHandler(rng=4)).rng_seed == 4
    assert fp.MetricsHandler(fp.PriorHandler(rng=ss), fp.ProductionMetrics()).rng_seed is ss


def test_replay_and_wrapped_handlers_follow_the_contract():
    base = fp.run(fp.PriorHandler(rng=1), many, 21.0)[1]
    partial = {"normal": base["normal"], "beta": base["beta"]}

    def model(reading):
        a = fp.sample("normal", fp.Normal(20.0, 5.0))        # replayed
        b = fp.sample("fresh", fp.Normal(0.0, 1.0))          # drawn
        c = fp.sample("fresh2", fp.Gamma(2.0, 1.0))          # drawn
        return a, b, c

    replay = fp.ReplayHandler(base, rng=77)
    wrapped = fp.MetricsHandler(fp.RobustHandler(fp.PooledPriorHandler(rng=77)),
                                fp.ProductionMetrics())
    for k in (0, 5, 2**70):
        g = np.random.default_rng([77, k])
        b, c = g.normal(0.0, 1.0), g.gamma(2.0, 1.0)
        assert fp.run(replay, model, 0.0, seed=k)[0] == (partial["normal"], b, c)
        g = np.random.default_rng([77, k])
        assert fp.run(wrapped, model, 0.0, seed=k)[0] == (g.normal(20.0, 5.0),
                                                          g.normal(0.0, 1.0), g.gamma(2.0, 1.0))
    # the wrappers share the inner handler's counter
    inner = fp.PriorHandler(rng=8)
    robust = fp.RobustHandler(inner)
    got = [fp.run(h, many, 0.0)[0] for h in (inner, robust, inner)]
    assert got == [many_reference(np.random.default_rng([8, k])) for k in range(3)]


def test_a_score_handler_takes_a_seed_and_draws_nothing():
    base = fp.run(fp.PriorHandler(rng=1), many, 21.0)[1]
    h = fp.ScoreGivenTrace(base)
    assert fp.run(h, many, 21.0, seed=3)[1] == fp.run(h, many, 21.0)[1] == base


def test_seed_is_run_s_own_keyword_and_the_rest_reach_the_model():
    def model(a, *, b, deadline_=None):
        return a, b, deadline_, fp.sample("x", fp.Normal(0.0, 1.0))

    value, _ = fp.run(fp.PriorHandler(rng=3), model, 1, b=2, deadline_=4, seed=9,
                      deadline=5.0)
    assert value == (1, 2, 4, np.random.default_rng([3, 9]).normal())


# ---------------------------------------------------------------- B: bad seeds


BAD_SEEDS = [
    (-1, InvalidArgument, "run: seed must be >= 0, got -1"),
    (-(2**70), InvalidArgument, "run: seed must be >= 0"),
    (1.0, TypeError, "run: seed must be an int >= 0 (a run key), got float"),
    (2.5, TypeError, "got float"),
    (np.float64(3.0), TypeError, "got float64"),
    (True, TypeError, "got bool"),
    (np.bool_(False), TypeError, "got bool"),
    ("3", TypeError, "got str"),
    ([1], TypeError, "got list"),
    (SeedSequence(1), TypeError, "got SeedSequence"),
]


@pytest.mark.parametrize("seed, exc, message", BAD_SEEDS,
                         ids=[repr(b[0])[:20] for b in BAD_SEEDS])
def test_a_bad_seed_raises_naming_it_and_changes_nothing(seed, exc, message):
    pool = fp.TracePool(4)
    metrics = fp.ProductionMetrics()
    h = fp.MetricsHandler(fp.PooledPriorHandler(rng=21, pool=pool), metrics)
    before = pool.stats
    calls = []
    with pytest.raises(exc) as ei:
        fp.run(h, lambda: calls.append(1), seed=seed)
    assert message in str(ei.value)
    if exc is InvalidArgument:
        assert (ei.value.owner, ei.value.parameter) == ("run", "seed")
    assert calls == [] and pool.stats == before and metrics.inference_count == 0
    # the counter did not move: the next run is key 0
    assert fp.run(h, many, 0.0)[0] == many_reference(np.random.default_rng([21, 0]))


def test_numpy_integers_are_keys():
    h = fp.PriorHandler(rng=4)
    for k in (np.int64(5), np.uint64(2**64 - 1), np.uint8(3)):
        assert fp.run(h, many, 0.0, seed=k)[0] == \
            many_reference(np.random.default_rng([4, int(k)]))


@pytest.mark.parametrize("rng", [np.random.default_rng(3), np.random.PCG64(3)],
                         ids=["Generator", "BitGenerator"])
def test_a_generator_handler_refuses_a_seed_and_keeps_its_stream(rng):
    h = fp.PriorHandler(rng=rng)
    with pytest.raises(InvalidArgument, match="run: seed cannot be honoured by a handler "
                                              "drawing from a numpy Generator") as ei:
        fp.run(h, many, 0.0, seed=1)
    assert ei.value.parameter == "seed"
    # nothing was drawn: the stream continues from its start
    g = np.random.default_rng(3)
    assert fp.run(h, many, 0.0)[0] == many_reference(g)
    assert fp.run(h, many, 0.0, seed=None)[0] == many_reference(g)


@pytest.mark.parametrize("rng, exc, message", [
    (True, TypeError, "PriorHandler: rng must be None, an int seed"),
    (1.5, TypeError, "got float"),
    ("7", TypeError, "got str"),
    (-3, InvalidArgument, "PriorHandler: rng must be >= 0 (a seed), got -3"),
    (np.random.SeedSequence, TypeError, "got type"),
])
def test_a_bad_rng_names_the_handler(rng, exc, message):
    with pytest.raises(exc) as ei:
        fp.PriorHandler(rng=rng)
    assert message in str(ei.value)


# ---------------------------------------------------------------- B: threads


class Inside:
    """Counts the runs inside the model at once (the overlap), its peak."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def sleepy_model(inside):
    def model(reading):
        with inside:
            t = fp.sample("t", fp.Normal(20.0, 5.0))
            time.sleep(0.01)                         # waits, as on I/O (the GIL is free)
            v = fp.sample("v", fp.Bernoulli(0.9))
            time.sleep(0.01)
            k = fp.sample("k", fp.Poisson(3.0))
            fp.observe("r", fp.Normal(t, 1.0), reading)
            return t, v, k
    return model


def _threads(n, target):
    errors = []
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait(10)
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def _sleepy_reference(seed, key):
    g = np.random.default_rng([seed, key])
    return g.normal(20.0, 5.0), bool(g.random() < 0.9), int(g.poisson(3.0))


@pytest.mark.parametrize("keyed", [True, False], ids=["seed=k", "counter"])
def test_eight_threads_run_one_seeded_handler_in_parallel(keyed):
    inside = Inside()
    model = sleepy_model(inside)
    h = fp.PooledPriorHandler(rng=31, pool=fp.TracePool(16))
    runs = 4
    got = {}

    def work(i):
        for j in range(runs):
            if keyed:
                key = 1000 + i * runs + j
                value, trace = fp.run(h, model, 22.0, seed=key)
                got[key] = (value, trace.copy())
            else:
                value, trace = fp.run(h, model, 22.0)
                got[len(got) + 10**6 * (i + 1)] = (value, trace.copy())
            trace.release()
    _threads(8, work)
    assert inside.peak >= 6, inside.peak
    assert len(got) == 8 * runs
    keys = sorted(got) if keyed else list(range(8 * runs))
    single = fp.PriorHandler(rng=31)
    expected = {k: fp.run(single, model, 22.0, seed=k) for k in keys}
    if keyed:
        for k in keys:
            assert got[k][0] == expected[k][0] == _sleepy_reference(31, k)
            assert got[k][1] == expected[k][1]
    else:
        # the counter gave out keys 0 .. 31, each exactly once
        assert sorted(v for v, _ in got.values()) == \
            sorted(_sleepy_reference(31, k) for k in keys)
        assert sorted(t.total_log_weight for _, t in got.values()) == \
            sorted(expected[k][1].total_log_weight for k in keys)


def test_eight_threads_on_one_runner_run_in_parallel_and_match_single_runs():
    inside = Inside()
    model = sleepy_model(inside)
    runner = fp.ModelRunner(model, rng=SeedSequence(5, spawn_key=(1,)), deadline=5.0)
    got = {}

    def work(i):
        for j in range(3):
            key = i * 3 + j
            res = runner.infer(22.0, seed=key)
            got[key] = (res.status, res.value, res.trace.copy())
    _threads(8, work)
    assert inside.peak >= 6, inside.peak
    ss = runner.handler.rng_seed
    single = fp.PriorHandler(rng=ss)
    for key, (status, value, trace) in got.items():
        g = ref_generator(ss, key)
        assert status == "ok"
        assert value == (g.normal(20.0, 5.0), bool(g.random() < 0.9), int(g.poisson(3.0)))
        assert trace == fp.run(single, model, 22.0, seed=key)[1]
    assert runner.metrics.inference_count == 24


def test_a_generator_handler_still_serialises_its_runs():
    inside = Inside()
    model = sleepy_model(inside)
    h = fp.PooledPriorHandler(rng=np.random.default_rng(12))
    got = []

    def work(i):
        for _ in range(2):
            got.append(fp.run(h, model, 22.0)[0])
    _threads(8, work)
    assert inside.peak == 1
    # one stream, a contiguous block per run
    g = np.random.default_rng(12)
    expected = [(g.normal(20.0, 5.0), bool(g.random() < 0.9), int(g.poisson(3.0)))
                for _ in range(16)]
    assert sorted(got) == sorted(expected)


# ---------------------------------------------------------------- C: fork


FORK_SCRIPT = textwrap.dedent('''
    import json, os, sys, threading, time
    import numpy as np
    import fugue_ppl as fp

    def model():
        return [fp.sample(fp.addr("x", i), fp.Normal(0.0, 1.0)) for i in range(4)]

    h = fp.PooledPriorHandler(rng=2024)
    first = [fp.run(h, model)[0] for _ in range(3)]            # keys 0, 1, 2

    def child(w):
        out = {"counter": [fp.run(h, model)[0] for _ in range(3)],
               "keyed": [fp.run(h, model, seed=k)[0] for k in (3, 4, 5)]}
        os.write(w, json.dumps(out).encode())
        os._exit(0)

    children = []
    for _ in range(2):                                           # two siblings
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child(w)
        os.close(w)
        children.append((pid, r))
    results = []
    for pid, r in children:
        chunks = []
        while (b := os.read(r, 65536)):
            chunks.append(b)
        os.waitpid(pid, 0)
        results.append(json.loads(b"".join(chunks)))
    parent = [fp.run(h, model)[0] for _ in range(3)]           # keys 3, 4, 5
    print(json.dumps({"first": first, "parent": parent, "children": results}))
''')


def _python(script, timeout=60):
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=timeout, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_forked_child_draws_fresh_counter_streams_and_the_same_keyed_ones():
    r = _python(FORK_SCRIPT)

    def ref(k):
        return list(np.random.default_rng([2024, k]).standard_normal(4))
    assert r["first"] == [ref(k) for k in range(3)]
    assert r["parent"] == [ref(k) for k in (3, 4, 5)]      # the parent's counter goes on
    seen = {tuple(v) for v in r["first"] + r["parent"]}
    siblings = []
    for c in r["children"]:
        assert c["keyed"] == [ref(k) for k in (3, 4, 5)]    # explicit keys are unaffected
        assert len({tuple(v) for v in c["counter"]}) == 3
        assert not seen & {tuple(v) for v in c["counter"]}  # never the parent's values
        siblings.append({tuple(v) for v in c["counter"]})
    assert not siblings[0] & siblings[1]                     # nor a sibling's


FORK_INSIDE_SCRIPT = textwrap.dedent('''
    import json, os, sys, threading, time
    import numpy as np
    import fugue_ppl as fp

    gen = np.random.default_rng(5)
    hg = fp.PriorHandler(rng=gen)                   # numpy's lock, held for a run
    hs = fp.PooledPriorHandler(rng=6)               # no lock at all
    runner = fp.ModelRunner(lambda: fp.sample("x", fp.Normal(0.0, 1.0)), rng=7)
    entered, release = threading.Barrier(4), threading.Event()

    def lock_is_free(lock):
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

    def blocking():
        fp.sample("a", fp.Normal(0.0, 1.0))
        entered.wait()
        release.wait()
        return fp.sample("b", fp.Normal(0.0, 1.0))

    threads = [threading.Thread(target=fp.run, args=(hg, blocking)),
               threading.Thread(target=fp.run, args=(hs, blocking)),
               threading.Thread(target=fp.run, args=(runner.handler, blocking))]
    for t in threads:
        t.start()
    entered.wait()                                  # all three are inside a run
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        one = lambda: fp.sample("x", fp.Normal(0.0, 1.0))
        out = {"gen": fp.run(hg, one)[0],
               "seeded": fp.run(hs, one, seed=3)[0],
               "runner": runner.infer(seed=4).value,
               "lock_free": lock_is_free(gen.bit_generator.lock)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            print(json.dumps({"deadlocked": True}))
            release.set()
            sys.exit(0)
        time.sleep(0.01)
    child = json.loads(os.read(r, 65536))
    release.set()
    for t in threads:
        t.join()
    child["parent_next"] = fp.run(hg, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))[0]
    print(json.dumps(child))
''')


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_fork_while_other_threads_are_inside_runs_does_not_deadlock_the_child():
    r = _python(FORK_INSIDE_SCRIPT)
    assert "deadlocked" not in r
    g = np.random.default_rng(5)
    g.normal()                       # "a", drawn by the thread inside the run at the fork
    assert r["gen"] == g.normal()    # the child continues the Generator after it
    assert r["lock_free"]
    assert r["seeded"] == np.random.default_rng([6, 3]).normal()
    assert r["runner"] == np.random.default_rng([7, 4]).normal()
    # in the parent, the blocked run drew "b" after "a", and the next run continues
    assert r["parent_next"] == np.random.default_rng(5).standard_normal(3)[2]


def test_a_seed_sequence_subclass_is_a_seed_sequence():
    class Logged(SeedSequence):
        pass

    ss = Logged(17, spawn_key=(4,))
    h = fp.PriorHandler(rng=ss)
    assert h.rng_seed is ss
    assert fp.run(h, many, 0.0, seed=3)[0] == many_reference(ref_generator(ss, 3))
