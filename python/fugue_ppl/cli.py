"""The ``fugue-ppl`` command.

``fugue-ppl demo`` runs the built-in sensor model (:func:`fugue_ppl.models.sensor`)
through the runtime: prior runs with a :class:`~fugue_ppl.PooledPriorHandler`
over a :class:`~fugue_ppl.TracePool`, each trace released back to the pool. It
prints the first run's value and trace, the posterior of the temperature
estimated by self-normalised importance sampling over all runs (next to the
exact posterior, which this conjugate model has), and the pool's statistics.
``--json`` prints the same as one JSON document.

Examples
--------
.. code-block:: console

    $ fugue-ppl demo
    $ fugue-ppl demo --reading 25 --runs 20000 --seed 7 --json
    $ fugue-ppl --version
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

import fugue_ppl as fp
from fugue_ppl.models import sensor, sensor_posterior

__all__ = ["main", "build_parser", "run_demo"]


# ---------------------------------------------------------------- argument types

def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seed(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer seed, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {n}")
    return n


def _finite_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return x


def build_parser() -> argparse.ArgumentParser:
    """The ``fugue-ppl`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="fugue-ppl",
        description="fugue-ppl: probabilistic models in production Python services.",
    )
    parser.add_argument("--version", action="version", version=f"fugue-ppl {fp.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = sub.add_parser(
        "demo",
        help="run the built-in sensor model and print a trace, a posterior and pool statistics",
        description=(
            "Run the built-in sensor model (temperature ~ Normal(20, 5); valid ~ "
            "Bernoulli(0.95); reading observed from Normal(temperature, 1)) for RUNS prior "
            "runs through a pooled handler; print the first run's trace, the posterior of "
            "the temperature by self-normalised importance sampling, and the trace pool's "
            "statistics."
        ),
    )
    demo.add_argument("--reading", type=_finite_float, default=22.0,
                      help="the observed sensor reading (default: %(default)s)")
    demo.add_argument("--runs", type=_positive_int, default=1000,
                      help="number of model runs (default: %(default)s)")
    demo.add_argument("--seed", type=_seed, default=42,
                      help="random seed: the same seed gives the same output "
                           "(default: %(default)s)")
    demo.add_argument("--json", action="store_true",
                      help="print one JSON document instead of text")
    return parser


# ---------------------------------------------------------------- the demo

def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _trace_dict(trace: fp.Trace) -> dict[str, Any]:
    return {
        "choices": [
            {"address": c.address, "kind": c.kind, "value": c.value,
             "log_prob": _finite_or_none(c.log_prob)}
            for c in trace.choices
        ],
        "log_prior": _finite_or_none(trace.log_prior),
        "log_likelihood": _finite_or_none(trace.log_likelihood),
        "log_factors": _finite_or_none(trace.log_factors),
        "total_log_weight": _finite_or_none(trace.total_log_weight),
    }


def _snis(temperature: np.ndarray, valid: np.ndarray, log_w: np.ndarray) -> dict[str, Any]:
    # Self-normalised importance sampling with the prior as proposal: the
    # weight of a run is its likelihood (times its factors).
    top = np.max(log_w)
    if not np.isfinite(top):
        return {"temperature_mean": None, "temperature_sd": None, "valid_probability": None,
                "effective_sample_size": 0.0}
    w = np.exp(log_w - top)
    w /= w.sum()
    mean = float(np.dot(w, temperature))
    var = float(np.dot(w, (temperature - mean) ** 2))
    return {
        "temperature_mean": mean,
        "temperature_sd": math.sqrt(max(var, 0.0)),
        "valid_probability": float(np.dot(w, valid)),
        "effective_sample_size": float(1.0 / np.dot(w, w)),
    }


def run_demo(reading: float = 22.0, runs: int = 1000, seed: int = 42) -> dict[str, Any]:
    """Run the demo and return its results as a JSON-ready dict.

    Parameters
    ----------
    reading : float
        The observed sensor reading.
    runs : int
        Number of prior runs (>= 1).
    seed : int
        Seed of the handler's generator.

    Returns
    -------
    dict
        Keys ``model``, ``reading``, ``runs``, ``seed``, ``first_run``
        (``value`` and ``trace``), ``posterior``, ``pool`` and ``timing``.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    pool = fp.TracePool(max_size=64)
    handler = fp.PooledPriorHandler(rng=seed, pool=pool)
    temperature = np.empty(runs)
    valid = np.empty(runs)
    log_w = np.empty(runs)
    first: dict[str, Any] = {}
    run = fp.run
    start = time.perf_counter()
    for i in range(runs):
        (t, v), trace = run(handler, sensor, reading)
        temperature[i] = t
        valid[i] = v
        log_w[i] = trace.log_likelihood + trace.log_factors
        if i == 0:
            first = {"value": {"temperature": t, "valid": v}, "trace": _trace_dict(trace)}
        trace.release()
    elapsed = time.perf_counter() - start
    exact_mean, exact_sd = sensor_posterior(reading)
    posterior = {
        "method": "self-normalised importance sampling (prior proposal)",
        **_snis(temperature, valid, log_w),
        "exact_temperature_mean": exact_mean,
        "exact_temperature_sd": exact_sd,
    }
    return {
        "fugue_ppl_version": fp.__version__,
        "model": "sensor",
        "reading": reading,
        "runs": runs,
        "seed": seed,
        "first_run": first,
        "posterior": posterior,
        "pool": pool.stats.to_dict(),
        "timing": {"seconds": elapsed, "runs_per_second": runs / elapsed if elapsed > 0 else None},
    }


def _fmt_value(x: Any) -> str:
    if isinstance(x, bool) or isinstance(x, int):
        return str(x)
    return f"{x:.6f}"


def _fmt_num(x: float | None, spec: str = ".6f") -> str:
    return "n/a" if x is None else format(x, spec)


def _print_text(r: dict[str, Any], out) -> None:
    first = r["first_run"]
    tr = first["trace"]
    post = r["posterior"]
    pool = r["pool"]
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"fugue-ppl {r['fugue_ppl_version']} demo: sensor model, reading={r['reading']}, "
      f"runs={r['runs']}, seed={r['seed']}")
    p()
    p("first run")
    p(f"  value: temperature={first['value']['temperature']:.6f}, "
      f"valid={first['value']['valid']}")
    p("  trace:")
    width = max([len("address")] + [len(c["address"]) for c in tr["choices"]])
    p(f"    {'address':<{width}}  {'kind':<7}  {'value':>12}  {'log_prob':>12}")
    for c in tr["choices"]:
        p(f"    {c['address']:<{width}}  {c['kind']:<7}  {_fmt_value(c['value']):>12}  "
          f"{_fmt_num(c['log_prob']):>12}")
    for key, label in (("log_prior", "log_prior"), ("log_likelihood", "log_likelihood"),
                       ("log_factors", "log_factors"), ("total_log_weight", "total")):
        p(f"    {label:<{width + 25}}{_fmt_num(tr[key]):>12}")
    p()
    p(f"posterior of the temperature, by self-normalised importance sampling over the "
      f"{r['runs']} prior runs")
    p(f"  temperature mean  {_fmt_num(post['temperature_mean'], '.4f')}"
      f"   (exact {post['exact_temperature_mean']:.4f})")
    p(f"  temperature sd    {_fmt_num(post['temperature_sd'], '.4f')}"
      f"   (exact {post['exact_temperature_sd']:.4f})")
    p(f"  P(valid)          {_fmt_num(post['valid_probability'], '.4f')}")
    p(f"  effective sample size  {post['effective_sample_size']:.1f} of {r['runs']}")
    p()
    p("trace pool")
    p(f"  hits={pool['hits']} misses={pool['misses']} returns={pool['returns']} "
      f"drops={pool['drops']} hit_ratio={pool['hit_ratio']:.4f}")
    t = r["timing"]
    if t["runs_per_second"] is not None:
        p()
        p(f"{r['runs']} runs in {t['seconds'] * 1e3:.2f} ms "
          f"({t['runs_per_second']:,.0f} runs/s, bookkeeping included)")


# ---------------------------------------------------------------- entry point

def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fugue-ppl`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 for bad arguments (after argparse's
        message on stderr), 0 for ``--help`` and ``--version``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help, --version, or a usage error
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        if args.command == "demo":
            result = run_demo(reading=args.reading, runs=args.runs, seed=args.seed)
            if args.json:
                print(json.dumps(result, indent=2, allow_nan=False))
            else:
                _print_text(result, sys.stdout)
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``fugue-ppl demo | head``): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
