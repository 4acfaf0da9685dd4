"""Average run lengths of the control charts, by simulation.

Each chart runs with ``reset_on_alarm=True`` through ``update_many`` (the C++
loop) over one long stream: the alarms cut the stream into independent run
lengths (each counts the observations up to and including its alarm; the
unfinished tail is dropped). In control the stream is N(0, 1) with the
baseline known (mu0 = 0, sigma = 1); for the detection delay it is N(1, 1),
a 1-sigma shift present from the first observation (zero-state ARL).

Statistics: run lengths are roughly geometric, so the standard error of a
mean over k runs is about ARL / sqrt(k). Every in-control estimate here
averages more than 8000 runs (relative standard error ~1.1%), so the 15%
tolerance is about 13 standard errors: the chance that sampling noise alone
fails a test is below 1e-30. The streams come from fixed seeds, so a run is
reproducible; what is left is the bias of the published figures themselves
(the EWMA's 500 is for the asymptotic limits; the time-varying limits used
here give a slightly shorter in-control ARL, about 2% in this simulation).
Each test asserts that 15% is at least 4 standard errors, so a smaller
stream cannot silently make the check meaningless.

Published values: Shewhart 3-sigma individuals 370.4 (1 / P(|Z| > 3)); all
four Western Electric rules 91.75 (Champ & Woodall, 1987); EWMA lam = 0.2,
L = 2.962: 500 in control, 10.2 at a 1-sigma shift (Lucas & Saccucci,
1990); CUSUM k = 0.5, h = 5: 465 and 10.4 (Montgomery, Introduction to
Statistical Quality Control, table 9.3); Shewhart at a 1-sigma shift
1 / (P(Z > 2) + P(Z < -4)) = 43.9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fugue_ppl.monitoring._monitors import CUSUM, EWMA, ShewhartChart

TOLERANCE = 0.15


def run_lengths(chart, x):
    """Run lengths cut by the alarms of a reset-on-alarm chart over x."""
    alarms = chart.update_many(x).alarms
    ends = alarms + 1
    return np.diff(np.concatenate(([0], ends)))


def summarize(label, rl, published):
    arl = float(rl.mean())
    se = float(rl.std(ddof=1) / math.sqrt(len(rl)))
    print(f"\n{label}: ARL {arl:.2f} +- {se:.2f} (s.e.) over {len(rl)} runs; "
          f"published {published} ({(arl / published - 1) * 100:+.1f}%)")
    return arl, se


IN_CONTROL = [
    # label, factory, published ARL0, stream length, seed
    ("Shewhart 3-sigma individuals (WE1)",
     lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=["WE1"], reset_on_alarm=True),
     370.4, 3_200_000, 101),
    ("Shewhart, Western Electric rules 1-4",
     lambda: ShewhartChart(mu0=0.0, sigma=1.0, reset_on_alarm=True),
     91.75, 1_000_000, 102),
    ("EWMA lam=0.2, L=2.962",
     lambda: EWMA(0.2, 2.962, mu0=0.0, sigma=1.0, reset_on_alarm=True),
     500.0, 4_200_000, 103),
    ("EWMA lam=1, L=3 (a Shewhart chart)",
     lambda: EWMA(1.0, 3.0, mu0=0.0, sigma=1.0, reset_on_alarm=True),
     370.4, 3_200_000, 104),
    ("CUSUM k=0.5, h=5",
     lambda: CUSUM(0.5, 5.0, mu0=0.0, sigma=1.0, reset_on_alarm=True),
     465.0, 4_000_000, 105),
]


@pytest.mark.parametrize("label, make, published, n, seed", IN_CONTROL,
                         ids=[c[0] for c in IN_CONTROL])
def test_in_control_average_run_length(label, make, published, n, seed):
    x = np.random.default_rng(seed).standard_normal(n)
    rl = run_lengths(make(), x)
    arl, se = summarize(f"in control, {label}", rl, published)
    assert len(rl) > 8000
    assert TOLERANCE * published >= 4 * se  # the tolerance is several standard errors
    assert abs(arl - published) <= TOLERANCE * published


SHIFTED = [
    # label, factory, published zero-state ARL at a 1-sigma shift, in-control ARL
    ("EWMA lam=0.2, L=2.962",
     lambda: EWMA(0.2, 2.962, mu0=0.0, sigma=1.0, reset_on_alarm=True), 10.2, 500.0),
    ("CUSUM k=0.5, h=5",
     lambda: CUSUM(0.5, 5.0, mu0=0.0, sigma=1.0, reset_on_alarm=True), 10.4, 465.0),
    ("Shewhart 3-sigma individuals (WE1)",
     lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=["WE1"], reset_on_alarm=True), 43.9, 370.4),
]


@pytest.mark.parametrize("label, make, published, arl0", SHIFTED, ids=[c[0] for c in SHIFTED])
def test_one_sigma_shift_detection_delay(label, make, published, arl0):
    x = 1.0 + np.random.default_rng(201).standard_normal(400_000)
    r = make().update_many(x, full=True)
    rl = np.diff(np.concatenate(([0], r.alarms + 1)))
    delay, se = summarize(f"1-sigma shift, {label}: mean detection delay", rl, published)
    assert len(rl) > 5000
    assert TOLERANCE * published >= 4 * se
    assert abs(delay - published) <= TOLERANCE * published
    assert delay < arl0 / 5  # detected far sooner than a false alarm comes
    # the alarms point up (for the WE1 chart, P(Z < -4) / P(Z > 2 or Z < -4),
    # 0.14% of its alarms, come from a point below -3 sigma)
    upward = r.values[r.alarms] > r.ucl[r.alarms]
    assert upward.mean() > 0.99


def test_ewma_detects_faster_than_shewhart_at_small_shifts():
    # The reason to run an EWMA or a CUSUM: at a 1-sigma shift they alarm
    # about 4x sooner than the 3-sigma individuals chart, at a similar
    # in-control ARL.
    x = 1.0 + np.random.default_rng(202).standard_normal(200_000)
    ewma = run_lengths(EWMA(mu0=0.0, sigma=1.0, reset_on_alarm=True), x).mean()
    cusum = run_lengths(CUSUM(mu0=0.0, sigma=1.0, reset_on_alarm=True), x).mean()
    shewhart = run_lengths(ShewhartChart(mu0=0.0, sigma=1.0, rules=["WE1"],
                                         reset_on_alarm=True), x).mean()
    print(f"\n1-sigma shift, mean detection delay: EWMA {ewma:.2f}, CUSUM {cusum:.2f}, "
          f"Shewhart {shewhart:.2f}")
    assert ewma < shewhart / 3 and cusum < shewhart / 3
