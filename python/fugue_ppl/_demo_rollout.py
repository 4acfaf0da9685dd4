"""The rollout part of ``fugue-ppl demo``: two canaries driven the way a service
replica drives them.

A model registry in a temporary SQLite file holds three versions of the sensor
model that differ in how often they fail: ``1`` (live, 2%), ``2`` (worse, 6%)
and ``3`` (better, 0.5%). A :class:`~fugue_ppl.deploy.ModelDeployment` serves
them; :func:`~fugue_ppl.deploy.start_rollout` records a canary of ``2``, then
one of ``3``, and the deployment drives each as a replica would: requests
through its router every simulated minute, then ``refresh()``, which resumes
the rollout and steps it. The error rates are compared by the sequential test
of :mod:`fugue_ppl.deploy.analysis` at every look; the worse canary is rolled
back, the better one steps through to all the traffic and is promoted. Time
is a :class:`~fugue_ppl.ManualClock` and every request has a key, so the whole
scenario is the same for the same seed.
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Any

import fugue_ppl as fp
from fugue_ppl.checks import thaw
from fugue_ppl.models import sensor

__all__ = ["make_sensor", "print_rollouts", "run_rollout_demo"]

#: The versions: (version, failure rate); the first is live.
VERSIONS = (("1", 0.02), ("2", 0.06), ("3", 0.005))
#: The canaries, in order: (candidate, what it is).
CANARIES = (("2", "worse"), ("3", "better"))
_REQUESTS_PER_MINUTE = 1000
_MAX_MINUTES = 120
_STEPS = (0.1, 0.25, 0.5, 1.0)


def make_sensor(params: dict) -> Any:
    """The sensor model failing with probability ``params["failure_rate"]`` (a draw of
    the run's own stream): a registered version's factory."""
    rate = float(params["failure_rate"])

    def model(reading: float) -> tuple[float, bool]:
        if fp.sample("bus_fault", fp.Bernoulli(rate)):
            raise RuntimeError("sensor bus fault")
        return sensor(reading)
    return model


def _summary(decision: dict[str, Any]) -> dict[str, Any]:
    keys = ("action", "reason", "p_value", "p_value_better", "alpha", "estimate",
            "n_baseline", "n_candidate")
    return {k: decision.get(k) for k in keys}


def _canary(registry, deployment, clock, candidate: str, rates: dict[str, float],
            reading: float, start_key: int) -> tuple[dict[str, Any], int]:
    from fugue_ppl.deploy import start_rollout

    rollout = start_rollout(registry, "sensor", candidate, "canary", actor="demo",
                            config=deployment.rollout_config,
                            analysis=deployment.analysis_config, clock=clock,
                            metrics=["errors"])
    deployment.refresh()
    baseline = rollout.baseline
    timeline = []
    seen_events = 1                       # (the start)
    looks = 0
    key = start_key
    for minute in range(1, _MAX_MINUTES + 1):
        router = deployment.router
        weight = dict(router.weights).get(candidate, 0.0)
        served = {baseline: 0, candidate: 0}
        errors = {baseline: 0, candidate: 0}
        for _ in range(_REQUESTS_PER_MINUTE):
            k = f"user-{key}"
            key += 1
            version = router.route(k)
            served[version] = served.get(version, 0) + 1
            try:
                router.infer(reading, key=k)
            except RuntimeError:
                errors[version] = errors.get(version, 0) + 1
        clock.advance(60.0)
        deployment.refresh()
        ro = registry.rollout(rollout.id)
        events = registry.rollout_events(rollout.id)[seen_events:]
        seen_events += len(events)
        row: dict[str, Any] = {
            "minute": minute, "step": int(rollout.data["step"]) + 1, "weight": weight,
            "requests": {"baseline": served[baseline], "candidate": served[candidate]},
            "errors": {"baseline": errors[baseline], "candidate": errors[candidate]},
            "look": None, "transition": None, "state": ro.state}
        decisive = [e for e in events if "decisions" in e.details]
        if decisive:
            e = decisive[-1]
            row["look"] = _summary(thaw(e.details["decisions"]["errors"]))
            row["transition"] = e.action
            looks = 0
        elif ro.state == "canary" and ro.data["looks"] > looks:
            row["look"] = _summary(thaw(ro.data["last_decisions"]["errors"]))
        if ro.state == "canary":
            looks = int(ro.data["looks"])
        timeline.append(row)
        rollout = ro
        if not ro.active:
            break
    events = registry.rollout_events(rollout.id)
    last = events[-1]
    steps_seen = sorted({row["weight"] for row in timeline})
    if rollout.state == "promoted":
        steps_seen.append(1.0)
    statuses = {v.version: v.status for v in registry.list("sensor")}
    return {
        "candidate": candidate, "baseline": baseline,
        "failure_rates": {"baseline": rates[baseline], "candidate": rates[candidate]},
        "outcome": rollout.state, "trigger": thaw(last.details).get("trigger"),
        "minutes": len(timeline), "steps_seen": steps_seen,
        "events": [{"action": e.action, "state_after": e.state_after,
                    "actor": e.actor} for e in events],
        "timeline": timeline, "live_after": deployment.live_version, "statuses": statuses,
    }, key


def run_rollout_demo(reading: float = 22.0, seed: int = 42) -> dict[str, Any]:
    """Run the two canaries; their outcomes and every simulated minute's figures.

    Returns
    -------
    dict
        ``settings`` (steps, the analysis' level and planned samples, requests
        a minute), ``versions`` (their failure rates) and ``canaries``: for
        each, ``outcome`` (``rolled_back`` or ``promoted``), ``trigger``,
        ``steps_seen``, ``timeline`` (a row a minute: the step and weight,
        requests and errors of each arm, the look's decision), ``events`` and
        the statuses after. ``{"skipped": reason}`` when the ``deploy`` extra
        (the registry's) is not installed.
    """
    try:
        from fugue_ppl.deploy import ModelDeployment, ModelRegistry, RolloutConfig
        from fugue_ppl.deploy.analysis import AnalysisConfig
        registry_path = os.path.join(tempfile.mkdtemp(prefix="fugue-demo-"), "models.sqlite3")
        registry = ModelRegistry(url=registry_path, allowed_prefixes=(
            "fugue_ppl.models", "fugue_ppl._demo_rollout"))
    except ModuleNotFoundError as e:
        return {"skipped": str(e)}
    rollout_config = RolloutConfig(steps=_STEPS, analysis_interval_seconds=60.0,
                                   min_samples_per_look=50, rollback_on_burn_rate=False)
    analysis = AnalysisConfig(min_samples=200, max_samples=1000)
    rates = dict(VERSIONS)
    clock = fp.ManualClock()
    try:
        for version, rate in VERSIONS:
            registry.register("sensor", version, "fugue_ppl._demo_rollout:make_sensor",
                              factory=True, params={"failure_rate": rate}, actor="demo",
                              status="live" if version == VERSIONS[0][0] else "staged")
        canaries = []
        key = 0
        with ModelDeployment(registry, "sensor", rollout_config=rollout_config,
                             analysis_config=analysis, clock=clock, rng=seed) as deployment:
            for candidate, kind in CANARIES:
                result, key = _canary(registry, deployment, clock, candidate, rates, reading,
                                      key)
                canaries.append({"kind": kind, **result})
    finally:
        registry.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(registry_path + suffix)
            except OSError:
                pass
        try:
            os.rmdir(os.path.dirname(registry_path))
        except OSError:
            pass
    return {
        "settings": {"steps": list(_STEPS), "alpha": analysis.alpha,
                     "min_samples": analysis.min_samples, "max_samples": analysis.max_samples,
                     "requests_per_minute": _REQUESTS_PER_MINUTE,
                     "look_every_seconds": rollout_config.analysis_interval_seconds},
        "versions": {v: {"failure_rate": r} for v, r in VERSIONS},
        "canaries": canaries,
    }


def _pct(x: float) -> str:
    return f"{x * 100:.3g}%"


def _look(look: dict[str, Any] | None) -> str:
    if look is None:
        return "-"
    text = f"{look['action']} ({look['reason']})"
    if look["estimate"] is not None:
        text += (f": p(worse) {look['p_value']:.3g}, p(better) {look['p_value_better']:.3g} "
                 f"at alpha {look['alpha']:.3g}, difference {look['estimate']:+.4f}")
    return text


def print_rollouts(r: dict[str, Any], out) -> None:
    """Print :func:`run_rollout_demo`'s result as text."""
    p = functools.partial(print, file=out)
    if "skipped" in r:
        p(f"rollouts: skipped ({r['skipped']})")
        return
    s = r["settings"]
    p(f"rollouts: canaries driven by a ModelDeployment over a SQLite registry, "
      f"{s['requests_per_minute']} requests a simulated minute; steps "
      f"{', '.join(_pct(w) for w in s['steps'])}; the error rates compared by a sequential "
      f"test at every look (alpha {s['alpha']:g} over the rollout, however often it looks)")
    for c in r["canaries"]:
        rates = c["failure_rates"]
        p(f"  canary of {c['candidate']} ({c['kind']}: fails {_pct(rates['candidate'])}) "
          f"against {c['baseline']} (fails {_pct(rates['baseline'])})")
        p(f"    {'min':>3}  {'step':>4}  {'weight':>6}  {'baseline':>8}  {'errors':>6}  "
          f"{'candidate':>9}  {'errors':>6}  look")
        for row in c["timeline"]:
            n, e = row["requests"], row["errors"]
            moved = f" -> {row['transition']}" if row["transition"] else ""
            p(f"    {row['minute']:>3}  {row['step']:>4}  {_pct(row['weight']):>6}  "
              f"{n['baseline']:>8}  {e['baseline']:>6}  {n['candidate']:>9}  "
              f"{e['candidate']:>6}  {_look(row['look'])}{moved}")
        after = ", ".join(f"{v} {st}" for v, st in c["statuses"].items())
        how = "rolled back by the analysis" if c["outcome"] == "rolled_back" else c["outcome"]
        p(f"    {how} after {c['minutes']} minutes (steps seen: "
          f"{', '.join(_pct(w) for w in c['steps_seen'])}); now {after}")
