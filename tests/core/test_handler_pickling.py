"""Handlers pickle as their configuration and their random state: a seeded one as its
seed and run counter (a copy continues the key sequence and draws the original's streams,
in this process and in another), one over a Generator as that Generator's state, a pooled
one with a new empty pool of the same sizes. A TracePool does not pickle."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.monitoring import MetricsHandler, ProductionMetrics

PROTOCOLS = range(2, pickle.HIGHEST_PROTOCOL + 1)


def sensor(reading):
    temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
    valid = fp.sample("valid", fp.Bernoulli(0.95))
    k = fp.sample("k", fp.Poisson(3.0))
    fp.observe("sensor", fp.Normal(temp, 1.0), reading)
    return temp, valid, k


def _runs(handler, n, **kw):
    return [fp.run(handler, sensor, 22.0, **kw) for _ in range(n)]


def _same_runs(a, b):
    # value and trace, compared exactly
    assert [v for v, _ in a] == [v for v, _ in b]
    assert [t for _, t in a] == [t for _, t in b]
    assert [t.choices for _, t in a] == [t.choices for _, t in b]


def _copy(obj, protocol=pickle.HIGHEST_PROTOCOL):
    return pickle.loads(pickle.dumps(obj, protocol=protocol))


# ---------------------------------------------------------------- seeded handlers

@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("rng", [42, 2**70 + 3, np.random.SeedSequence(9, spawn_key=(1, 2)),
                                 None], ids=["int", "big-int", "seed-sequence", "none"])
def test_a_seeded_prior_handler_copy_continues_the_key_sequence(rng, protocol):
    h = fp.PriorHandler(rng=rng)
    _runs(h, 3)
    c = _copy(h, protocol)
    assert type(c) is fp.PriorHandler and c is not h
    if isinstance(rng, np.random.SeedSequence) or rng is None:
        assert c.rng_seed.entropy == h.rng_seed.entropy
        assert c.rng_seed.spawn_key == h.rng_seed.spawn_key
    else:
        assert c.rng_seed == h.rng_seed == rng
    # the copy's runs 3, 4, 5 are the original's runs 3, 4, 5, bit for bit
    _same_runs(_runs(c, 3), _runs(h, 3))
    # and a keyed run gives the same trace in both
    _same_runs(_runs(c, 2, seed=123), _runs(h, 2, seed=123))


def test_a_copy_draws_the_streams_the_stream_contract_names():
    h = fp.PriorHandler(rng=7)
    _runs(h, 5)
    c = _copy(h)
    _, t = fp.run(c, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    # run key 5 of seed 7: numpy.random.default_rng([7, 5])
    assert t["x"] == np.random.default_rng([7, 5]).standard_normal()


def test_a_copy_before_any_run_starts_at_key_zero():
    h = fp.PriorHandler(rng=3)
    _same_runs(_runs(_copy(h), 2), _runs(fp.PriorHandler(rng=3), 2))


def test_a_copy_and_its_original_go_on_independently():
    h = fp.PriorHandler(rng=5)
    c = _copy(h)
    _runs(h, 4)                                   # the original moves on
    _same_runs(_runs(c, 1), _runs(fp.PriorHandler(rng=5), 1))


# ---------------------------------------------------------------- Generator handlers

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_generator_handler_pickles_the_generators_state(protocol):
    gen = np.random.default_rng(11)
    h = fp.PriorHandler(rng=gen)
    _runs(h, 2)
    c = _copy(h, protocol)
    assert c.rng_seed is None
    # the copy continues the draws the original makes next, from its own generator
    _same_runs(_runs(c, 3), _runs(h, 3))
    reference = np.random.default_rng(11)
    ref = fp.PriorHandler(rng=reference)
    _same_runs(_runs(ref, 5), _runs(fp.PriorHandler(rng=np.random.default_rng(11)), 5))
    assert gen.bit_generator.state == reference.bit_generator.state


def test_a_generator_shared_by_two_handlers_stays_shared_in_one_pickle():
    gen = np.random.default_rng(4)
    a, b = _copy((fp.PriorHandler(rng=gen), fp.PriorHandler(rng=gen)))
    ref = np.random.default_rng(4)
    ra, rb = fp.PriorHandler(rng=ref), fp.PriorHandler(rng=ref)
    _same_runs([fp.run(a, sensor, 1.0), fp.run(b, sensor, 1.0), fp.run(a, sensor, 1.0)],
               [fp.run(ra, sensor, 1.0), fp.run(rb, sensor, 1.0), fp.run(ra, sensor, 1.0)])


# ---------------------------------------------------------------- pooled, replay, score

def test_a_pooled_handler_gets_a_new_empty_pool_of_the_same_sizes():
    pool = fp.TracePool(max_size=8, min_size=2)
    h = fp.PooledPriorHandler(rng=21, pool=pool)
    for _, t in _runs(h, 5):
        t.release()
    assert pool.stats.hits > 0
    c = _copy(h)
    assert type(c) is fp.PooledPriorHandler
    assert c.pool is not pool
    assert (c.pool.max_size, c.pool.min_size) == (8, 2)
    assert c.pool.stats == (0, 0, 0, 0, 2)        # only the 2 traces built up front
    _same_runs(_runs(c, 3), _runs(h, 3))


def test_a_pooled_handler_with_the_default_pool():
    h = fp.PooledPriorHandler(rng=1)
    c = _copy(h)
    assert (c.pool.max_size, c.pool.min_size) == (64, 0) and len(c.pool) == 0
    _same_runs(_runs(c, 2), _runs(h, 2))


@pytest.mark.parametrize("cls", [fp.ReplayHandler, fp.SafeReplayHandler])
def test_a_replay_handler_keeps_its_base_and_its_random_state(cls):
    base = fp.Trace.from_dict({"temperature": 21.5})
    h = cls(base, rng=8)
    _runs(h, 2)
    c = _copy(h)
    assert type(c) is cls and c.base == h.base and c.base is not h.base
    runs = _runs(c, 3)
    _same_runs(runs, _runs(h, 3))
    assert {t["temperature"] for _, t in runs} == {21.5}


def test_a_replay_handler_over_a_pooled_base():
    pool = fp.TracePool(4)
    _, t = fp.run(fp.PooledPriorHandler(rng=2, pool=pool), sensor, 22.0)
    h = fp.ReplayHandler(t, rng=3)
    t.release()
    c = _copy(h)
    _same_runs(_runs(c, 2), _runs(h, 2))


@pytest.mark.parametrize("cls", [fp.ScoreGivenTrace, fp.SafeScoreGivenTrace])
def test_a_score_handler_keeps_its_base(cls):
    _, base = fp.run(fp.PriorHandler(rng=42), sensor, 22.0)
    h = cls(base)
    c = _copy(h)
    assert type(c) is cls and c.base == base and c.rng_seed is None
    _same_runs(_runs(c, 2), _runs(h, 2))
    assert _runs(c, 1)[0][1] == base


# ---------------------------------------------------------------- wrappers, subclasses

def test_a_robust_handler_keeps_its_fallbacks_and_forgets_its_counts():
    fallbacks = {"temperature": 20.0, "k*": 1, bool: False}
    h = fp.RobustHandler(fp.ScoreGivenTrace(fp.Trace.from_dict({})), fallbacks=fallbacks,
                         on_nonfinite="keep")
    fp.run(h, sensor, 22.0)
    assert h.error_counts == {"UnexpectedModelStructure": 3}
    c = _copy(h)
    assert type(c) is fp.RobustHandler and type(c.inner) is fp.ScoreGivenTrace
    assert c.fallbacks == fallbacks and list(c.fallbacks) == list(fallbacks)
    assert c.on_nonfinite == "keep"
    assert c.error_counts == {}
    value, trace = fp.run(c, sensor, 22.0)
    assert value == (20.0, False, 1)
    assert [ch.fallback for ch in trace.choices] == [True, True, True, False]
    assert c.error_counts == {"UnexpectedModelStructure": 3}


def test_a_robust_handler_over_a_seeded_handler_continues_its_streams():
    h = fp.RobustHandler(fp.PriorHandler(rng=13), fallbacks={float: 0.0})
    _runs(h, 2)
    c = _copy(h)
    _same_runs(_runs(c, 3), _runs(h, 3))


def test_a_metrics_handler_records_into_new_metrics_of_the_same_settings():
    metrics = ProductionMetrics(window=30, lowest=1e-6, highest=10.0)
    h = MetricsHandler(fp.RobustHandler(fp.PooledPriorHandler(rng=6), fallbacks={int: 0}),
                       metrics)
    _runs(h, 4)
    assert metrics.inference_count == 4
    c = _copy(h)
    assert type(c) is MetricsHandler and c.metrics is not metrics
    m = c.metrics
    assert (m.window, m.latency.lowest, m.latency.highest) == (30, 1e-6, 10.0)
    assert m.inference_count == 0
    assert type(c.inner) is fp.RobustHandler and c.inner.fallbacks == {int: 0}
    _same_runs(_runs(c, 2), _runs(h, 2))
    assert m.inference_count == 2 and metrics.inference_count == 6


class TaggedPrior(fp.PriorHandler):
    """A subclass with attributes of its own."""


def test_a_python_subclass_keeps_its_class_and_attributes():
    h = TaggedPrior(rng=17)
    h.tag = "replica-a"
    _runs(h, 1)
    c = _copy(h)
    assert type(c) is TaggedPrior and c.tag == "replica-a"
    _same_runs(_runs(c, 2), _runs(h, 2))


# ---------------------------------------------------------------- another process

def test_a_copy_in_another_process_draws_the_originals_streams(tmp_path):
    h = fp.PooledPriorHandler(rng=np.random.SeedSequence(31))
    _runs(h, 2)
    src, dst = tmp_path / "in.pkl", tmp_path / "out.pkl"
    src.write_bytes(pickle.dumps(h))
    code = textwrap.dedent("""
        import pickle, sys
        import fugue_ppl as fp
        from fugue_ppl.models import sensor
        with open(sys.argv[1], "rb") as f:
            h = pickle.load(f)
        out = [fp.run(h, sensor, 22.0) for _ in range(3)]
        out += [fp.run(h, sensor, 22.0, seed=99)]
        with open(sys.argv[2], "wb") as f:
            pickle.dump(out, f)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(src), str(dst)],
                          check=False, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    there = pickle.loads(dst.read_bytes())
    from fugue_ppl.models import sensor as builtin

    here = [fp.run(h, builtin, 22.0) for _ in range(3)] + [fp.run(h, builtin, 22.0, seed=99)]
    _same_runs(there, here)


# ---------------------------------------------------------------- what does not pickle

def test_a_trace_pool_does_not_pickle():
    with pytest.raises(TypeError, match=r"^TracePool does not pickle: it holds traces that "
                                        r"runs and results of this process may be using"):
        pickle.dumps(fp.TracePool(4))

