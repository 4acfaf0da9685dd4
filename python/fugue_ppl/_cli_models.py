"""``fugue-ppl models``: the model registry from the command line.

``list``, ``show``, ``register``, ``promote`` and ``rollback`` work on the
registry the configuration names (``[registry]``: a SQLite file by default,
``FUGUE_REGISTRY__URL`` or ``--config FILE``), or the one ``--url`` names.
The URL is a secret: it is never printed (a PostgreSQL URL's password, in
particular); prefer ``FUGUE_REGISTRY__URL`` to ``--url``, which other users
of the machine may see in the process list.

Only ``register`` creates a SQLite registry that does not exist yet; the
other subcommands refuse a missing file (a mistyped path is not an empty
registry).

Exit statuses: 0 done; 1 refused (an unknown model or version, a file that
cannot be read or is not a JSON object, parameters that fail the version's
JSON Schema, an import path that is malformed, outside the allowed prefixes
or does not import, a conflicting change, a store that is down), with one
message on stderr naming the model, version, file or field; 2 bad arguments
(argparse's usage message).

``rollback`` puts the ``standby`` version most recently moved aside back
live and *retires* the live one (see :meth:`ModelRegistry.rollback
<fugue_ppl.deploy.ModelRegistry.rollback>`): a rejected version is not a
rollback target; ``promote`` it to deploy it again.

Examples
--------
.. code-block:: console

    $ fugue-ppl models register sensor 2 fugue_ppl.models:sensor --params params.json \\
          --outputs temperature:float,valid:bool
    $ fugue-ppl models promote sensor 2
    $ fugue-ppl models list --status live --json
    $ fugue-ppl models show sensor 2
    $ fugue-ppl models rollback sensor
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Any

from fugue_ppl.checks import Secret, safe_text, thaw
from fugue_ppl.deploy import OUTPUT_TYPES, STATUSES
from fugue_ppl.errors import (
    ConfigError,
    InvalidArgument,
    InvalidModelParams,
    RegistryConflict,
    RegistryError,
)

__all__ = ["add_parser", "run"]

_PROG = "fugue-ppl models"
_STATUSES = STATUSES
_OUTPUT_TYPES = OUTPUT_TYPES


class _Refused(Exception):
    """An operation refused with a message for stderr (exit status 1)."""


# ---------------------------------------------------------------- argument types

def _field(field: str):
    def parse(text: str) -> str:
        from fugue_ppl.serving import ModelConfig

        try:
            return ModelConfig.check_field(field, text, _PROG)
        except InvalidArgument as e:
            raise argparse.ArgumentTypeError(f"{e.rule}, got {e.shown}") from None
    parse.__name__ = field
    return parse


def _url(text: str) -> Secret:
    from fugue_ppl.deploy import RegistryConfig

    try:
        RegistryConfig(url=text)
    except InvalidArgument as e:
        raise argparse.ArgumentTypeError(f"{e.rule} (the value is not shown: it may hold a "
                                         "password)") from None
    return Secret(text)


def _actor(text: str) -> str:
    if not text.strip() or not text.isprintable() or len(text) > 200:
        raise argparse.ArgumentTypeError("must be 1 to 200 printable characters, got "
                                         f"{safe_text(text, 40)!r}")
    return text


def _outputs(text: str) -> list[dict[str, str]]:
    out = []
    for part in text.split(","):
        name, sep, kind = part.strip().partition(":")
        if not sep or not name or kind not in _OUTPUT_TYPES:
            raise argparse.ArgumentTypeError(
                f"expected name:type pairs separated by commas, each type one of "
                f"{', '.join(_OUTPUT_TYPES)}; got {safe_text(part.strip(), 40)!r}")
        out.append({"name": name, "type": kind})
    return out


def _default_actor() -> str:
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - no user name in the environment nor the password db
        return "unknown"


# ---------------------------------------------------------------- the parser

def add_parser(sub: Any) -> None:
    """Add ``models`` and its subcommands to the ``fugue-ppl`` subparsers ``sub``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="a TOML configuration file (its [registry] section); the "
                             "FUGUE_REGISTRY__* environment variables override it")
    common.add_argument("--url", type=_url, metavar="URL",
                        help="the registry: a SQLite file (or sqlite:///path) or a "
                             "postgresql:// URL, overriding the configuration's; a secret, "
                             "never printed (prefer FUGUE_REGISTRY__URL: a command line is "
                             "visible to other users)")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--actor", type=_actor, default=None, metavar="WHO",
                        help="who makes the change, for the history (default: the OS user "
                             "name)")

    models = sub.add_parser(
        "models", help="list, show, register, promote and roll back model versions",
        description="The model registry: versions of models, their parameters, their status "
                    "and the history of every change. Exit status 0 when done, 1 when "
                    "refused (message on stderr), 2 for bad arguments.")
    cmds = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    name, version = _field("name"), _field("version")

    p = cmds.add_parser("list", parents=[common], help="versions with their status and revision",
                        description="List the versions (of NAME), with their status and "
                                    "revision.")
    p.add_argument("name", nargs="?", type=name, metavar="NAME")
    p.add_argument("--status", choices=_STATUSES, help="only the versions of this status")

    p = cmds.add_parser("show", parents=[common], help="one version and its history",
                        description="Show one version (model, parameters, schemas, outputs, "
                                    "status, revision) and its history.")
    p.add_argument("name", type=name, metavar="NAME")
    p.add_argument("version", type=version, metavar="VERSION")

    p = cmds.add_parser(
        "register", parents=[common, acting], help="register a new version (staged)",
        description="Register a new version, staged. MODEL_PATH is package.module:function "
                    "under the configured allowed prefixes (registry.allowed_prefixes); it is "
                    "imported first to check that it loads (--no-load-check skips that).")
    p.add_argument("name", type=name, metavar="NAME")
    p.add_argument("version", type=version, metavar="VERSION")
    p.add_argument("model", metavar="MODEL_PATH", help="package.module:function")
    p.add_argument("--params", metavar="FILE", help="the parameters, a JSON object")
    p.add_argument("--params-schema", metavar="FILE",
                   help="a JSON Schema the parameters must satisfy (now and on every update)")
    p.add_argument("--factory", action="store_true",
                   help="MODEL_PATH is a factory make(params) -> model")
    p.add_argument("--outputs", type=_outputs, default=[], metavar="NAME:TYPE,...",
                   help=f"the outputs' names and types ({', '.join(_OUTPUT_TYPES)})")
    p.add_argument("--input-schema", metavar="PATH",
                   help="import path of the input schema (package.module:NAME)")
    p.add_argument("--no-load-check", dest="load_check", action="store_false",
                   help="do not import MODEL_PATH and --input-schema before registering")

    p = cmds.add_parser("promote", parents=[common, acting],
                        help="make a version live (the live one goes to standby)",
                        description="Make VERSION live at its current revision; the version "
                                    "live before goes to standby. A change by another writer "
                                    "meanwhile is refused as a conflict.")
    p.add_argument("name", type=name, metavar="NAME")
    p.add_argument("version", type=version, metavar="VERSION")

    p = cmds.add_parser("rollback", parents=[common, acting],
                        help="the previous (standby) version live again; the live one retired",
                        description="Put the standby version most recently moved aside back "
                                    "live, and retire the live version.")
    p.add_argument("name", type=name, metavar="NAME")


# ---------------------------------------------------------------- running

def _open(args: argparse.Namespace):
    from fugue_ppl.config import load_config
    from fugue_ppl.deploy import ModelRegistry
    from fugue_ppl.deploy._registry_config import store_kind
    from fugue_ppl.deploy._sqlite import sqlite_path

    cfg = load_config(args.config).registry
    if args.url is not None:
        cfg = cfg.replace(url=args.url)
    if args.models_command != "register" and store_kind(cfg.store_url) == "sqlite":
        # only register creates a SQLite registry: a mistyped path is not an empty registry
        path = Path(sqlite_path(cfg.store_url))
        if not path.exists():
            raise _Refused(f"no registry at SQLite file {safe_text(str(path.absolute()), 300)!r}"
                           ": the file does not exist (register a version to create it, or "
                           "name another with --url or FUGUE_REGISTRY__URL)")
    return ModelRegistry(cfg)


def _redactor(args: argparse.Namespace):
    """Remove the --url (and its password) from a message, whatever produced it."""
    secrets = []
    if getattr(args, "url", None) is not None:
        text = args.url.reveal()
        secrets.append(text)
        if "://" in text and "@" in text.split("://", 1)[1]:
            creds = text.split("://", 1)[1].rsplit("@", 1)[0]
            if ":" in creds and creds.split(":", 1)[1]:
                secrets.append(creds.split(":", 1)[1])

    def redact(message: str) -> str:
        for s in secrets:
            message = message.replace(s, "***")
        return message
    return redact


def run(args: argparse.Namespace, out=None, err=None) -> int:
    """Run ``fugue-ppl models <subcommand>`` from parsed arguments; the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    cmd = args.models_command
    redact = _redactor(args)
    # the connection pool's retries are one failure to the user: the message below says it
    logging.getLogger("psycopg").setLevel(logging.CRITICAL)
    try:
        reg = _open(args)
    except (RegistryError, ConfigError, ModuleNotFoundError, _Refused) as e:
        print(f"{_PROG} {cmd}: {redact(str(e))}", file=err)
        return 1
    try:
        with reg:
            result = _COMMANDS[cmd](reg, args)
    except InvalidModelParams as e:
        lines = [f"{_PROG} {cmd}: {e.model} {e.version}: the parameters"
                 f"{' in ' + args.params if getattr(args, 'params', None) else ''} fail the "
                 f"version's JSON Schema ({len(e.violations)} "
                 f"violation{'s' if len(e.violations) != 1 else ''}):"]
        lines += [f"  {v.field}: {v.message} ({v.rule})" for v in e.violations]
        print(redact("\n".join(lines)), file=err)
        return 1
    except RegistryConflict as e:
        print(f"{_PROG} {cmd}: conflict: {redact(str(e))}", file=err)
        return 1
    except (RegistryError, _Refused, ModuleNotFoundError) as e:
        print(f"{_PROG} {cmd}: {redact(str(e))}", file=err)
        return 1
    except Exception as e:  # noqa: BLE001 - a command line prints no traceback
        print(f"{_PROG} {cmd}: unexpected error ({type(e).__name__}: "
              f"{redact(safe_text(e, 300))})", file=err)
        return 1
    text, doc = result
    if args.json:
        print(json.dumps(doc, indent=2, allow_nan=False), file=out)
    else:
        print(text, file=out)
    return 0


# ---------------------------------------------------------------- the subcommands

def _time(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry_dict(e: Any) -> dict[str, Any]:
    return {"id": e.id, "model": e.model, "version": e.version, "actor": e.actor,
            "action": e.action, "at": e.at.isoformat(), "before": thaw(e.before),
            "after": thaw(e.after), "revision": e.revision}


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _list(reg, args) -> tuple[str, Any]:
    found = (reg.versions(args.name) if args.name is not None else reg.list())
    if args.status is not None:
        found = [v for v in found if v.status == args.status]
    doc = [v.to_dict() for v in found]
    if not found:
        what = f"of {args.name} " if args.name else ""
        status = f" with status {args.status}" if args.status else ""
        return f"no versions {what}registered{status}", doc
    rows = [("NAME", "VERSION", "STATUS", "REVISION", "UPDATED", "MODEL")]
    rows += [(v.name, v.version, v.status, str(v.revision), _time(v.updated),
              v.model + (" (factory)" if v.factory else "")) for v in found]
    return _table(rows), doc


def _json_text(value: Any) -> str:
    return json.dumps(thaw(value), sort_keys=True)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else _json_text(value)


def _show(reg, args) -> tuple[str, Any]:
    v = reg.get(args.name, args.version, cached=False)
    history = reg.history(args.name, args.version)
    lines = [f"{v.name} {v.version}",
             f"  status        {v.status} (revision {v.revision})",
             f"  model         {v.model}{' (factory)' if v.factory else ''}",
             f"  params        {_json_text(v.params)}",
             f"  params schema {'-' if v.params_schema is None else _json_text(v.params_schema)}",
             f"  input schema  {v.input_schema or '-'}",
             "  outputs       " + (", ".join(f"{o['name']}:{o['type']}" for o in v.outputs)
                                   or "-"),
             f"  created       {_time(v.created)}",
             f"  updated       {_time(v.updated)}",
             "history"]
    for e in history:
        change = "" if e.before is None else " " + ", ".join(
            f"{k}: {_value(e.before.get(k))} -> {_value(e.after.get(k))}"
            for k in e.before)
        extra = {k: val for k, val in (e.after or {}).items()
                 if e.before is not None and k not in e.before}
        note = "" if not extra else " (" + ", ".join(f"{k} {_value(val)}"
                                                     for k, val in extra.items()) + ")"
        lines.append(f"  {_time(e.at)}  revision {e.revision}  {e.action:<13} by "
                     f"{e.actor}{change}{note}")
    return "\n".join(lines), {"version": v.to_dict(),
                              "history": [_entry_dict(e) for e in history]}


def _read_object(path: str, option: str) -> dict[str, Any]:
    """The JSON object in ``path`` (``option`` names it in messages)."""
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise _Refused(f"{option} {path}: cannot be read ({e.strerror or type(e).__name__})") \
            from None
    except UnicodeDecodeError:
        raise _Refused(f"{option} {path}: not UTF-8 text") from None
    try:
        doc = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as e:
        raise _Refused(f"{option} {path}: not JSON ({e.msg} at line {e.lineno}, column "
                       f"{e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise _Refused(f"{option} {path}: not JSON ({safe_text(e, 80)})") from None
    if not isinstance(doc, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
                int: "a number", float: "a number"}[type(doc)]
        raise _Refused(f"{option} {path}: must hold a JSON object, holds {kind}")
    return doc


def _register(reg, args) -> tuple[str, Any]:
    from fugue_ppl.deploy import ModelVersion

    params = None if args.params is None else _read_object(args.params, "--params")
    schema = (None if args.params_schema is None
              else _read_object(args.params_schema, "--params-schema"))
    if args.load_check:
        # import the model (its factory, not called) and the input schema before writing:
        # a path that does not load is refused now, not when a replica serves it
        now = datetime.datetime.now(datetime.timezone.utc)
        probe = ModelVersion(name=args.name, version=args.version, model=args.model,
                             factory=False, params={}, params_schema=None,
                             input_schema=args.input_schema, outputs=(), status="staged",
                             revision=1, created=now, updated=now)
        reg.load_model(probe)
        reg.load_input_schema(probe)
    try:
        v = reg.register(args.name, args.version, args.model, actor=args.actor or
                         _default_actor(), params=params, params_schema=schema,
                         factory=args.factory, input_schema=args.input_schema,
                         outputs=args.outputs)
    except InvalidArgument as e:
        option = {"params": f"--params {args.params}",
                  "params_schema": f"--params-schema {args.params_schema}"}.get(
                      e.parameter, e.parameter)
        raise _Refused(f"{args.name} {args.version}: {option}: {e.rule}") from None
    return (f"registered {v.name} {v.version} ({v.status}, revision {v.revision}): {v.model}",
            v.to_dict())


def _promote(reg, args) -> tuple[str, Any]:
    v = reg.get(args.name, args.version, cached=False)
    if v.status == "live":
        return (f"{v.name} {v.version} is already live (revision {v.revision}); nothing "
                "changed", {"version": v.to_dict(), "standby": [], "changed": False})
    before = [x.version for x in reg.list(args.name, status="live")]
    new = reg.promote(args.name, args.version, expected_revision=v.revision,
                      actor=args.actor or _default_actor())
    moved = f"; {', '.join(before)} now standby" if before else ""
    return (f"promoted {new.name} {new.version} to live (revision {new.revision}){moved}",
            {"version": new.to_dict(), "standby": before, "changed": True})


def _rollback(reg, args) -> tuple[str, Any]:
    back = reg.rollback(args.name, actor=args.actor or _default_actor())
    retired = next(e.version for e in reversed(reg.history(args.name))
                   if e.action == "retire")
    return (f"rolled back {back.name}: {back.version} is live again (revision "
            f"{back.revision}); {retired} retired",
            {"version": back.to_dict(), "retired": retired})


_COMMANDS = {"list": _list, "show": _show, "register": _register, "promote": _promote,
             "rollback": _rollback}
