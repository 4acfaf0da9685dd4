"""Shared set-up of the benchmark suites (pytest-benchmark).

Run from the repository root::

    python -m pytest benches --benchmark-json=benches/results/latest.json

Each suite benchmarks fugue-ppl and its baseline in the same run and in the
same group; a comparison test at the end of each file turns the two timings
into a ratio, asserts the target (the acceptance criterion) and records the
ratio. The ratios are printed in the terminal summary, stored in the
candidate benchmark's ``extra_info`` and listed under ``"ratios"`` in the
JSON output (without the per-round timings unless FUGUE_BENCH_KEEP_DATA=1).
"""

import os

# Pin the BLAS and OpenMP pools to one thread before numpy is imported: their
# spinning worker threads steal the second core of a small machine and make
# the timings noisy. (setdefault: a caller's explicit choice wins.)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

if "numpy" in sys.modules:  # a plugin imported numpy before this file ran
    warnings.warn("numpy was imported before benches/conftest.py could limit its BLAS "
                  "threads; set OPENBLAS_NUM_THREADS=1 in the environment", stacklevel=1)

# The pure-Python baseline (benches/purepy.py) is imported as a top-level module.
_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` in this directory as test modules."""
    if parent.session.isinitpath(file_path):
        return None   # named on the command line: pytest collects it already
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


# ---------------------------------------------------------------- ratio bookkeeping

_BENCHMARKS = {}   # test name -> finished BenchmarkFixture
_RATIOS = []       # dicts, one per comparison


@pytest.fixture
def bench(benchmark, request):
    """``benchmark``, remembered under the test's name for the comparison tests."""
    yield benchmark
    _BENCHMARKS[request.node.name] = benchmark


@pytest.fixture
def compare():
    """The :func:`compare_benchmarks` function, for the comparison tests."""
    return compare_benchmarks


def compare_benchmarks(candidate, baseline, *, target, kind, description, baseline_scale=1.0):
    """Compare two benchmarks of this run; record, then assert ``target``.

    Parameters
    ----------
    candidate, baseline : str
        Names of the benchmark tests (already run in this session).
    target : float or None
        None: the ratio is reported, not judged. For ``kind="speedup"``:
        baseline time / candidate time must be at least ``target``
        (``5.0`` means "5x faster", ``1.10`` "10% faster", ``1.0`` "at least
        as fast"). For ``kind="slowdown"``: candidate time /
        baseline time must be at most ``target`` (``1.2`` means "within 1.2x").
    description : str
        One line for the summary.
    baseline_scale : float
        A factor on the baseline's times, when it timed a sample of the work
        (10,000 of 1,000,000 runs: 100), said so in the description.

    The ratio is taken over the fastest round (``min``) of each benchmark: on
    a noisy machine, interference only ever adds time, so the minimum is the
    most repeatable estimate of the cost itself. The ratio of medians is
    recorded and printed too.
    """
    missing = [n for n in (candidate, baseline)
               if n not in _BENCHMARKS or _BENCHMARKS[n].stats is None]
    if missing:
        pytest.skip(f"benchmarks not run in this session: {', '.join(missing)}")
    cand, base = _BENCHMARKS[candidate], _BENCHMARKS[baseline]
    cs, bs = cand.stats.stats, base.stats.stats
    b_min, b_median = bs.min * baseline_scale, bs.median * baseline_scale
    if kind == "speedup":
        by_min, by_median = b_min / cs.min, b_median / cs.median
        ok = target is None or by_min >= target
        op = ">="
    elif kind == "slowdown":
        by_min, by_median = cs.min / b_min, cs.median / b_median
        ok = target is None or by_min <= target
        op = "<="
    else:
        raise ValueError(kind)
    rule = "reported" if target is None else f"{op} {target:g}"
    entry = {
        "description": description,
        "candidate": candidate,
        "baseline": baseline,
        "kind": kind,
        "target": rule,
        "ratio_min": by_min,
        "ratio_median": by_median,
        "candidate_min_s": cs.min,
        "candidate_median_s": cs.median,
        "baseline_min_s": b_min,
        "baseline_median_s": b_median,
        "baseline_scale": baseline_scale,
        "met": ok,
    }
    _RATIOS.append(entry)
    cand.extra_info["comparison"] = {
        "baseline": baseline, "kind": kind, "ratio_min": by_min, "ratio_median": by_median,
        "target": rule, "met": ok}
    print(f"\n{description}: {kind} {by_min:.4f} by min, {by_median:.4f} by median "
          f"(target {rule}) -> {'met' if ok else 'NOT MET'}")
    assert ok, (f"{description}: {kind} {by_min:.4f} (by min; {by_median:.4f} by median) "
                f"misses the target {rule}")


@pytest.fixture
def record_ratio():
    """``record_ratio(entry)``: add a comparison measured outside pytest-benchmark (a load
    test's throughputs) to the ratios printed and written to the JSON output."""
    def record(entry):
        _RATIOS.append(entry)
        print(f"\n{entry['description']}: {entry['kind']} {entry['ratio_min']:.4f} by min, "
              f"{entry['ratio_median']:.4f} by median (target {entry['target']}) -> "
              f"{'met' if entry['met'] else 'NOT MET'}")
    return record


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["ratios"] = list(_RATIOS)
    # The per-round timings (tens of thousands of numbers) make the file
    # megabytes; the summary statistics stay. FUGUE_BENCH_KEEP_DATA=1 keeps them.
    if os.environ.get("FUGUE_BENCH_KEEP_DATA") != "1":
        for b in output_json.get("benchmarks", []):
            b.get("stats", {}).pop("data", None)


def pytest_terminal_summary(terminalreporter):
    if not _RATIOS:
        return
    tr = terminalreporter
    tr.section("fugue-ppl benchmark ratios (same run)")
    width = max(len(r["description"]) for r in _RATIOS)
    tr.write_line(f"{'comparison':<{width}}  {'kind':<8}  {'by min':>8}  {'by median':>9}  "
                  f"{'target':>8}  result")
    for r in _RATIOS:
        tr.write_line(f"{r['description']:<{width}}  {r['kind']:<8}  {r['ratio_min']:>8.4f}  "
                      f"{r['ratio_median']:>9.4f}  {r['target']:>8}  "
                      f"{'met' if r['met'] else 'NOT MET'}")
