"""``fugue-ppl rules``: the Prometheus rules of the configured service-level objectives.

Reads the ``[slo]`` section of the configuration (``--config FILE`` and the
``FUGUE_SLO__*`` environment variables over the defaults) and prints the rule
file :func:`fugue_ppl.serving.slo.rules.render_rules` generates, or writes it
to ``-o FILE``. ``deploy/prometheus/rules.yml`` is this command's output for
the defaults.

Exit statuses: 0 written; 1 refused (a configuration that does not load, an
objective Prometheus cannot read, a file that cannot be written, PyYAML
missing), with one message on stderr; 2 bad arguments.

Examples
--------
.. code-block:: console

    $ fugue-ppl rules -o deploy/prometheus/rules.yml
    $ FUGUE_SLO__AVAILABILITY_TARGET=0.995 fugue-ppl rules --config service.toml
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fugue_ppl.errors import ConfigError, InvalidArgument

__all__ = ["add_parser", "run"]

_PROG = "fugue-ppl rules"


def add_parser(sub: Any) -> None:
    """Add ``rules`` to the ``fugue-ppl`` subparsers ``sub``."""
    p = sub.add_parser(
        "rules",
        help="print the Prometheus recording and alerting rules of the SLO configuration",
        description=(
            "Generate Prometheus rules from the [slo] section of the configuration: the "
            "error ratio over each window of the multi-window burn-rate alerts, the "
            "objective's budget and burn rates, and the page and ticket alerts."),
    )
    p.add_argument("--config", metavar="FILE",
                   help="a TOML configuration file (its [slo] section); the FUGUE_SLO__* "
                        "environment variables override it")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the rules to FILE instead of standard output")


def run(args: argparse.Namespace, out=None, err=None) -> int:
    """Run ``fugue-ppl rules`` from parsed arguments; the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    from fugue_ppl.config import load_config
    from fugue_ppl.serving.slo.rules import render_rules

    try:
        text = render_rules(load_config(args.config).slo)
    except (ConfigError, InvalidArgument, ImportError) as e:
        print(f"{_PROG}: {e}", file=err)
        return 1
    if args.output is None:
        out.write(text)
        return 0
    try:
        tmp = f"{args.output}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.output)
    except OSError as e:
        print(f"{_PROG}: cannot write {args.output}: {e.strerror or type(e).__name__}",
              file=err)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return 1
    return 0
