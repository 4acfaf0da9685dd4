"""CounterWindow: what growing counters gained over a window, resets included."""

import threading

from hypothesis import given
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.monitoring.window import CounterWindow, gained

counts = st.lists(st.integers(0, 10**6), min_size=1, max_size=5)


@given(counts, counts)
def test_gained_is_the_difference_unless_a_counter_went_down(base, extra):
    extra = (extra * len(base))[:len(base)]
    cur = [b + e for b, e in zip(base, extra)]
    assert gained(cur, base) == tuple(extra)


@given(counts, st.data())
def test_after_a_reset_the_group_counts_from_zero(cur, data):
    i = data.draw(st.integers(0, len(cur) - 1))
    base = list(cur)
    base[i] = cur[i] + data.draw(st.integers(1, 10))     # one counter went down: a reset
    assert gained(cur, base) == tuple(cur)
    assert gained(cur, ()) == tuple(cur)                 # a new group counts from zero


def test_the_window_starts_at_the_newest_reading_at_least_window_old():
    value = [0]
    w = CounterWindow(lambda: {"n": (value[0],)}, 10.0, now=0.0, keep=100)
    spans = []
    for t in range(1, 31):
        value[0] += t
        spans.append(w.advance(float(t)))
    # at t the base is the reading at t - 10 (the first reading, at 0, until t = 10)
    for t, span in enumerate(spans, start=1):
        start = max(0, t - 10)
        assert span.start == start and span.end == t
        assert span.gained("n") == (sum(range(start + 1, t + 1)),)
    assert w.seq == 31
    assert len(w.readings) <= 12


def test_window_zero_compares_with_the_previous_reading_and_keep_bounds_memory():
    value = [5]
    w = CounterWindow(lambda: {"n": (value[0],)})
    for step in (3, 0, 7):
        value[0] += step
        assert w.advance().gained("n") == (step,)
    assert len(w.readings) == 2
    value[0] = 2                                         # reset
    assert w.advance().gained("n") == (2,)


def test_a_group_that_appears_later_counts_from_zero():
    reading = {"a": (1,)}
    w = CounterWindow(lambda: dict(reading))
    reading["b"] = (4,)
    span = w.advance()
    assert span.gained("a") == (0,) and span.gained("b") == (4,)


def test_windows_of_a_runner_under_concurrent_traffic_never_count_more_errors_than_calls():
    def flaky(x):
        fp.sample("x", fp.Normal(0.0, 1.0))
        if x < 0:
            raise RuntimeError("bad input")
        return x

    runner = fp.ModelRunner(flaky, rng=3, breaker=fp.CircuitBreaker(failure_threshold=1.0))

    def read():
        c = runner.metrics.counts()
        return {"requests": (c["inferences"], c["errors"])}

    w = CounterWindow(read)
    stop = threading.Event()

    def traffic(sign):
        while not stop.is_set():
            try:
                runner.infer(sign * 1.0)
            except RuntimeError:
                pass

    threads = [threading.Thread(target=traffic, args=(s,)) for s in (1, -1)]
    for t in threads:
        t.start()
    try:
        total_n = total_e = 0
        for _ in range(2000):
            n, e = w.advance().gained("requests")
            assert 0 <= e <= n
            total_n += n
            total_e += e
    finally:
        stop.set()
        for t in threads:
            t.join()
    n, e = w.advance().gained("requests")
    c = runner.metrics.counts()
    assert (total_n + n, total_e + e) == (c["inferences"], c["errors"])
    assert 0 < c["errors"] < c["inferences"]
