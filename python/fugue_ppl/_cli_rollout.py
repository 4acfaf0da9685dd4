"""``fugue-ppl rollout``: rollouts of model versions from the command line.

``start`` records a rollout of a candidate version in the registry
(:func:`~fugue_ppl.deploy.start_rollout`); the replicas serving the model
(:class:`~fugue_ppl.deploy.ModelDeployment`) resume it at their next refresh
and drive it: nothing is served or loaded here. ``status`` shows where the
model's rollout is (its state, the traffic's weights, the analysis at each
look, its events), once or, with ``--watch``, until it ends. ``abort`` stops
the model's active rollout (or the one ``--id`` names): the replicas give the
traffic back to the baseline.

The registry is the one the configuration names (``[registry]``,
``FUGUE_REGISTRY__URL`` or ``--config FILE``) or ``--url``, as for
``fugue-ppl models``; the URL is a secret and never printed. The rollout's
settings are the configuration's ``[rollout]`` and ``[analysis]`` sections,
``--steps`` overriding the canary's steps; the rollout keeps them.

Exit statuses: 0 done; 1 refused (an unknown model, version or rollout,
another rollout active, a rollout already over, a missing registry file, a
store that is down), with one message on stderr naming the model, version,
rollout or option; 2 bad arguments; with ``--watch``, 3 when the rollout
ends without deploying its candidate (rolled back, aborted, refused, no
difference) and 130 when interrupted.

Examples
--------
.. code-block:: console

    $ fugue-ppl rollout start sensor 2 --strategy canary --steps 5%,25%,50%,100%
    $ fugue-ppl rollout status sensor --watch
    $ fugue-ppl rollout status sensor --json
    $ fugue-ppl rollout abort sensor
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

from fugue_ppl._cli_models import _actor, _default_actor, _field, _redactor, _Refused, _url
from fugue_ppl.checks import safe_text
from fugue_ppl.errors import ConfigError, InvalidArgument, RegistryConflict, RegistryError

__all__ = ["add_parser", "run"]

_PROG = "fugue-ppl rollout"
#: The strategies, as the command names them.
STRATEGIES = ("canary", "blue-green", "immediate", "rolling", "ab", "shadow")
# Options that apply to some strategies only.
_ONLY = {"metrics": ("--metrics", ("canary",)),
         "smoke_args": ("--smoke-args", ("immediate", "blue-green")),
         "smoke_kwargs": ("--smoke-kwargs", ("immediate", "blue-green")),
         "replicas": ("--replicas", ("rolling",)),
         "ab_metric": ("--ab-metric", ("ab",)),
         "steps": ("--steps", ("canary",))}
# The states in which a rollout deployed its candidate (or ran to its end).
_SUCCESS = ("promoted", "completed")
_WATCH_DONE, _WATCH_UNDEPLOYED, _INTERRUPTED = 0, 3, 130


# ---------------------------------------------------------------- argument types

def _steps(text: str) -> tuple[float, ...]:
    from fugue_ppl.deploy import RolloutConfig

    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            out.append(float(part[:-1]) / 100.0 if part.endswith("%") else float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected fractions or percentages separated by commas (0.05,0.5,1 or "
                f"5%,50%,100%), got {safe_text(part, 40)!r}") from None
    try:
        return RolloutConfig(steps=out).steps
    except InvalidArgument as e:
        raise argparse.ArgumentTypeError(f"{e.rule}, got {text[:80]!r}") from None


def _json(kind: type, what: str):
    def parse(text: str) -> Any:
        def refuse_constant(name: str) -> Any:
            raise ValueError(f"{name} is not a JSON number")
        try:
            value = json.loads(text, parse_constant=refuse_constant)
        except (ValueError, RecursionError):
            raise argparse.ArgumentTypeError(f"expected {what} in JSON, got "
                                             f"{safe_text(text, 40)!r}") from None
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"expected {what} in JSON, got "
                                             f"{safe_text(text, 40)!r}")
        return value
    parse.__name__ = what
    return parse


def _metrics(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",")]
    if not names or any(m not in ("errors", "latency") for m in names) or len(
            set(names)) != len(names):
        raise argparse.ArgumentTypeError("expected distinct tests among errors, latency "
                                         f"separated by commas, got {safe_text(text, 40)!r}")
    return names


def _positive(what: str, high: int | None = None):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text[:40]!r}") from None
        if n < 1 or (high is not None and n > high):
            limit = f"1 to {high}" if high is not None else "at least 1"
            raise argparse.ArgumentTypeError(f"must be {limit}, got {n}")
        return n
    parse.__name__ = what
    return parse


def _interval(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text[:40]!r}") from None
    if not math.isfinite(x) or not 0.01 <= x <= 3600.0:
        raise argparse.ArgumentTypeError(f"must be 0.01 to 3600 seconds, got {text[:40]!r}")
    return x


# ---------------------------------------------------------------- the parser

def add_parser(sub: Any) -> None:
    """Add ``rollout`` and its subcommands to the ``fugue-ppl`` subparsers ``sub``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="a TOML configuration file (its [registry], [rollout] and "
                             "[analysis] sections); the FUGUE_* environment variables "
                             "override it")
    common.add_argument("--url", type=_url, metavar="URL",
                        help="the registry: a SQLite file (or sqlite:///path) or a "
                             "postgresql:// URL, overriding the configuration's; a secret, "
                             "never printed (prefer FUGUE_REGISTRY__URL)")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--actor", type=_actor, default=None, metavar="WHO",
                        help="who makes the change, for the rollout's events (default: the "
                             "OS user name)")
    name, version = _field("name"), _field("version")

    rollout = sub.add_parser(
        "rollout", help="start, watch and abort rollouts of model versions",
        description="Rollouts of model versions: start records one in the registry, the "
                    "replicas serving the model drive it; status shows it; abort stops it. "
                    "Exit status 0 when done, 1 when refused (message on stderr), 2 for bad "
                    "arguments; with --watch, 3 when the rollout ends without deploying its "
                    "candidate.")
    cmds = rollout.add_subparsers(dest="rollout_command", metavar="SUBCOMMAND", required=True)

    p = cmds.add_parser(
        "start", parents=[common, acting], help="start a rollout of a candidate version",
        description="Record a rollout of CANDIDATE (a registered version of MODEL) with a "
                    "strategy; the replicas serving MODEL resume it and drive it. One rollout "
                    "of a model is active at a time.")
    p.add_argument("name", type=name, metavar="MODEL")
    p.add_argument("candidate", type=version, metavar="CANDIDATE")
    p.add_argument("--strategy", required=True, choices=STRATEGIES,
                   help="canary: stepped weights with a sequential analysis at each step; "
                        "blue-green: switch after a smoke run, bake, then end; immediate: "
                        "switch after a smoke run; rolling: replica by replica; ab: a fixed "
                        "split with a group-sequential test; shadow: copies of calls to the "
                        "candidate, responses unchanged")
    p.add_argument("--baseline", type=version, metavar="VERSION",
                   help="the version serving now (default: the live version)")
    p.add_argument("--steps", type=_steps, metavar="W,...",
                   help="canary: the candidate's share at each step, increasing and ending "
                        "at 1 (0.05,0.25,1 or 5%%,25%%,100%%); default: the configuration's "
                        "rollout.steps")
    p.add_argument("--metrics", type=_metrics, metavar="TEST,...",
                   help="canary: the tests, errors and/or latency (default: both)")
    p.add_argument("--smoke-args", type=_json(list, "a list"), metavar="JSON",
                   help='immediate, blue-green: the smoke run\'s arguments, a JSON list '
                        '(e.g. "[22.0]")')
    p.add_argument("--smoke-kwargs", type=_json(dict, "an object"), metavar="JSON",
                   help="immediate, blue-green: the smoke run's keyword arguments, a JSON "
                        "object")
    p.add_argument("--replicas", type=_positive("a number of replicas", 10_000), metavar="N",
                   help="rolling: the replicas that move one by one (default 1)")
    p.add_argument("--ab-metric", choices=("latency", "observed"),
                   help="ab: the compared metric, the log latency or values the service "
                        "reports (default: latency)")

    p = cmds.add_parser(
        "status", parents=[common], help="a rollout's state, weights, looks and events",
        description="Show MODEL's active rollout (else its latest), or the rollout --id "
                    "names: its state, the traffic's weights, the analysis at each look and "
                    "its events. --watch shows the new events until it ends.")
    p.add_argument("name", type=name, metavar="MODEL", nargs="?")
    p.add_argument("--id", dest="rollout_id", type=_positive("a rollout id"), metavar="N",
                   help="the rollout with this id (instead of MODEL)")
    p.add_argument("--watch", action="store_true",
                   help="keep showing new events until the rollout ends (exit status 0 "
                        "promoted or completed, 3 otherwise; --json: one JSON document a "
                        "line)")
    p.add_argument("--interval", type=_interval, default=2.0, metavar="SECONDS",
                   help="--watch: seconds between two reads of the registry (default: "
                        "%(default)s)")

    p = cmds.add_parser(
        "abort", parents=[common, acting], help="stop an active rollout",
        description="Abort MODEL's active rollout (or the rollout --id names): the replicas "
                    "give the traffic back to the baseline at their next refresh.")
    p.add_argument("name", type=name, metavar="MODEL", nargs="?")
    p.add_argument("--id", dest="rollout_id", type=_positive("a rollout id"), metavar="N",
                   help="the rollout with this id (instead of MODEL)")


# ---------------------------------------------------------------- running

class _Usage(Exception):
    """Arguments that do not fit together (exit status 2)."""


def _open(args: argparse.Namespace):
    from fugue_ppl.config import load_config
    from fugue_ppl.deploy import ModelRegistry
    from fugue_ppl.deploy._registry_config import store_kind
    from fugue_ppl.deploy._sqlite import sqlite_path

    config = load_config(args.config)
    cfg = config.registry
    if args.url is not None:
        cfg = cfg.replace(url=args.url)
    if store_kind(cfg.store_url) == "sqlite":
        path = Path(sqlite_path(cfg.store_url))
        if not path.exists():
            raise _Refused(f"no registry at SQLite file {safe_text(str(path.absolute()), 300)!r}"
                           ": the file does not exist (name another with --url or "
                           "FUGUE_REGISTRY__URL)")
    return ModelRegistry(cfg), config


def _check_usage(args: argparse.Namespace) -> None:
    cmd = args.rollout_command
    if cmd == "start":
        for key, (flag, strategies) in _ONLY.items():
            if getattr(args, key) is not None and args.strategy not in strategies:
                raise _Usage(f"{flag} applies to --strategy {' and '.join(strategies)} only, "
                             f"not {args.strategy}")
    elif (args.name is None) == (args.rollout_id is None):
        raise _Usage("name the rollout by MODEL or by --id N (one of them)")


def run(args: argparse.Namespace, out=None, err=None) -> int:
    """Run ``fugue-ppl rollout <subcommand>`` from parsed arguments; the exit status."""
    # the connection pool's retries are one failure to the user, and the strategies log
    # each transition: the command prints its own message instead
    quiet = {"psycopg": logging.CRITICAL, "fugue_ppl.deploy": logging.ERROR}
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        return _run(args, sys.stdout if out is None else out,
                    sys.stderr if err is None else err)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _run(args: argparse.Namespace, out, err) -> int:
    cmd = args.rollout_command
    redact = _redactor(args)
    try:
        _check_usage(args)
    except _Usage as e:
        print(f"{_PROG} {cmd}: {e}", file=err)
        return 2
    try:
        reg, config = _open(args)
    except (RegistryError, ConfigError, ModuleNotFoundError, _Refused) as e:
        print(f"{_PROG} {cmd}: {redact(str(e))}", file=err)
        return 1
    try:
        with reg:
            if cmd == "status" and args.watch:
                return _watch(reg, args, out)
            text, doc = _COMMANDS[cmd](reg, args, config)
    except KeyboardInterrupt:
        return _INTERRUPTED
    except RegistryConflict as e:
        print(f"{_PROG} {cmd}: conflict: {redact(str(e))}", file=err)
        return 1
    except InvalidArgument as e:
        what = f"{args.name} {args.candidate}: " if cmd == "start" else ""
        print(f"{_PROG} {cmd}: {what}{_option(e)} {redact(e.rule)}, got {redact(e.shown)}",
              file=err)
        return 1
    except (RegistryError, _Refused, ModuleNotFoundError) as e:
        print(f"{_PROG} {cmd}: {redact(str(e))}", file=err)
        return 1
    except Exception as e:  # noqa: BLE001 - a command line prints no traceback
        print(f"{_PROG} {cmd}: unexpected error ({type(e).__name__}: "
              f"{redact(safe_text(e, 300))})", file=err)
        return 1
    if args.json:
        print(json.dumps(doc, indent=2, allow_nan=False), file=out)
    else:
        print(text, file=out)
    return 0


def _option(e: InvalidArgument) -> str:
    """The command line's name of the parameter an InvalidArgument names."""
    name = e.parameter
    return {"candidate": "CANDIDATE", "baseline": "--baseline", "metrics": "--metrics",
            "smoke_args": "--smoke-args", "smoke_kwargs": "--smoke-kwargs",
            "replica_count": "--replicas", "metric": "--ab-metric"}.get(name, name)


# ---------------------------------------------------------------- the subcommands

def _time(t: datetime.datetime | str) -> str:
    if isinstance(t, str):
        t = datetime.datetime.fromisoformat(t)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(w: float) -> str:
    return f"{w * 100:.4g}%"


def _start(reg, args, config) -> tuple[str, Any]:
    from fugue_ppl.deploy import rollout_status, start_rollout

    rollout_cfg = config.rollout
    if args.steps is not None:
        rollout_cfg = rollout_cfg.replace(steps=args.steps)
    options: dict[str, Any] = {}
    if args.metrics is not None:
        options["metrics"] = args.metrics
    if args.smoke_args is not None:
        options["smoke_args"] = args.smoke_args
    if args.smoke_kwargs is not None:
        options["smoke_kwargs"] = args.smoke_kwargs
    if args.replicas is not None:
        options["replica_count"] = args.replicas
    if args.ab_metric is not None:
        options["metric"] = args.ab_metric
    ro = start_rollout(reg, args.name, args.candidate, args.strategy,
                       actor=args.actor or _default_actor(), baseline=args.baseline,
                       config=rollout_cfg, analysis=config.analysis, **options)
    plan = ""
    if ro.strategy == "canary":
        plan = "; steps " + ", ".join(_pct(w) for w in ro.settings["rollout"]["steps"])
    text = (f"started rollout {ro.id} of {ro.name}: {ro.strategy} of {ro.candidate} "
            f"(baseline {ro.baseline or 'none'}), state {ro.state}{plan}\n"
            f"the replicas serving {ro.name} drive it from their next refresh; "
            f"watch it with: {_PROG} status {ro.name} --watch")
    return text, rollout_status(reg, ro)


def _find(reg, args):
    from fugue_ppl.deploy import find_rollout

    return find_rollout(reg, args.name, args.rollout_id)


def _status(reg, args, config) -> tuple[str, Any]:
    from fugue_ppl.deploy import rollout_status

    doc = rollout_status(reg, _find(reg, args))
    return _status_text(doc), doc


def _decisions(decisions: dict[str, Any]) -> str:
    parts = []
    for test, d in decisions.items():
        est = d.get("estimate")
        shown = "n/a" if est is None else f"{est:+.4g}"
        p = d.get("p_value")
        parts.append(f"{test}: {d['action']} ({d['reason']}; p {'n/a' if p is None else f'{p:.3g}'}"
                     f", difference {shown}, n {d['n_baseline']}/{d['n_candidate']})")
    return "; ".join(parts)


def _look_text(look: dict[str, Any]) -> str:
    if "decisions" in look:
        where = (f"step {look['step'] + 1} at {_pct(look['weight'])}, look {look['look']}"
                 if look.get("weight") is not None else f"look {look.get('look')}")
        return f"{where}: {_decisions(look['decisions'])}"
    w, gs = look["welch"], look.get("group_sequential") or {}
    return (f"look {look['look']}: Welch t {w['t']:.3f} (df {w['df']:.1f}, p "
            f"{w['p_value']:.3g}), boundary {gs.get('boundary', float('nan')):.3f}, n "
            f"{look['n_baseline']}/{look['n_candidate']}")


def _event_text(e: dict[str, Any]) -> str:
    d = dict(e["details"])
    moved = d.pop("versions", None)
    for key in ("decisions", "welch", "group_sequential"):
        d.pop(key, None)
    extra = ", ".join(f"{k} {json.dumps(v, sort_keys=True) if not isinstance(v, str) else v}"
                      for k, v in d.items())
    if moved:
        extra += ("; " if extra else "") + ", ".join(
            f"{m['version']} -> {m['status']}" for m in moved)
    states = (e["state_after"] if e["state_before"] in (None, e["state_after"])
              else f"{e['state_before']} -> {e['state_after']}")
    return (f"  {_time(e['at'])}  revision {e['revision']:<3} {e['action']:<13} by "
            f"{e['actor']}: {states}{f' ({extra})' if extra else ''}")


def _status_text(doc: dict[str, Any]) -> str:
    ro = doc["rollout"]
    s = ro["settings"]["rollout"]
    lines = [f"rollout {ro['id']} of {ro['name']}: {ro['strategy']} of {ro['candidate']} "
             f"(baseline {ro['baseline'] or 'none'}), started by {ro['actor']} at "
             f"{_time(ro['created'])}",
             f"  state     {ro['state']} ({'active' if ro['active'] else 'over'}), revision "
             f"{ro['revision']}, updated {_time(ro['updated'])}"]
    weights = ", ".join(f"{v} {_pct(w)}" for v, w in doc["weights"].items()) or "none"
    if doc["shadow"] is not None:
        weights += f"; {_pct(doc['shadow'])} of calls copied to {ro['candidate']}"
    lines.append(f"  weights   {weights}")
    if ro["strategy"] == "canary":
        data = ro["data"]
        step = (f"step {data['step'] + 1} of {len(s['steps'])}, " if ro["active"] else "")
        lines.append(f"  plan      {step}steps {', '.join(_pct(w) for w in s['steps'])}; a "
                     f"look every {s['analysis_interval_seconds']:g} s given "
                     f"{s['min_samples_per_look']} new candidate requests; alpha "
                     f"{ro['settings']['analysis']['alpha']:g}")
    if doc["looks"] or doc["current"]:
        lines.append("looks")
        lines += [f"  {_time(look['at'])}  {look['action']:<9} {_look_text(look)}"
                  for look in doc["looks"]]
        if doc["current"]:
            lines.append(f"  (latest)              {_look_text(doc['current'])}")
    lines.append("events")
    lines += [_event_text(e) for e in doc["events"]]
    return "\n".join(lines)


def _abort(reg, args, config) -> tuple[str, Any]:
    from fugue_ppl.deploy import abort_rollout, rollout_status

    target = args.name if args.rollout_id is None else args.rollout_id
    ro = abort_rollout(reg, target, actor=args.actor or _default_actor())
    back = ro.baseline or "no version"
    return (f"aborted rollout {ro.id} of {ro.name} ({ro.strategy} of {ro.candidate}): the "
            f"replicas give the traffic back to {back} at their next refresh",
            rollout_status(reg, ro))


def _watch(reg, args, out) -> int:
    """Show the rollout, then each new event, until it is over; the exit status."""
    from fugue_ppl.deploy import rollout_status

    ro = _find(reg, args)
    doc = rollout_status(reg, ro)
    seen = {e["id"] for e in doc["events"]}
    if args.json:
        print(json.dumps({"status": doc}, allow_nan=False), file=out, flush=True)
    else:
        print(_status_text(doc), file=out, flush=True)
    while doc["rollout"]["active"]:
        time.sleep(args.interval)
        doc = rollout_status(reg, reg.rollout(ro.id))
        for e in doc["events"]:
            if e["id"] in seen:
                continue
            seen.add(e["id"])
            if args.json:
                print(json.dumps({"event": e}, allow_nan=False), file=out, flush=True)
            else:
                print(_event_text(e), file=out, flush=True)
    final = doc["rollout"]
    if args.json:
        print(json.dumps({"status": doc}, allow_nan=False), file=out, flush=True)
    else:
        weights = ", ".join(f"{v} {_pct(w)}" for v, w in doc["weights"].items()) or "none"
        print(f"rollout {final['id']} of {final['name']} ended: {final['state']} "
              f"(weights {weights})", file=out, flush=True)
    return _WATCH_DONE if final["state"] in _SUCCESS else _WATCH_UNDEPLOYED


_COMMANDS = {"start": _start, "status": _status, "abort": _abort}
