"""``fugue-ppl serve``: the inference service on the Open Inference Protocol.

Reads the configuration (``--config FILE`` and the ``FUGUE_*`` environment
variables; ``--host`` and ``--port`` override ``[service]``), serves the
registry's models when ``[registry] url`` is set and the built-in sensor
model otherwise, and runs until SIGTERM (see :mod:`fugue_ppl.service.server`).
Logs are JSON lines on stderr.

Exit statuses: 0 after a graceful shutdown; 1 when the configuration is
invalid (one message on stderr naming every problem), the ``serve`` extra is
missing or the server cannot start (the port is taken); 2 for bad arguments.

Examples
--------
.. code-block:: console

    $ fugue-ppl serve --port 8080
    $ curl -s localhost:8080/v2/models/sensor/infer \\
          -d '{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [22.0]}]}'
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from fugue_ppl.checks import safe_text
from fugue_ppl.errors import ConfigError, InvalidArgument

__all__ = ["BUILTIN_MODEL", "add_parser", "build_app", "builtin_deployment", "run"]

_log = logging.getLogger(__name__)

_PROG = "fugue-ppl serve"
#: The name the built-in sensor model is served under when no registry is configured.
BUILTIN_MODEL = "sensor"
_SENSOR_OUTPUTS = ({"name": "temperature", "type": "float"}, {"name": "valid", "type": "bool"})


def builtin_deployment(config: Any) -> Any:
    """The built-in sensor model (:func:`fugue_ppl.models.sensor`, its input schema and
    outputs) as a :class:`~fugue_ppl.service.catalog.StaticDeployment` named ``sensor``,
    with ``config``'s ``[model]`` version and its ``[runtime]``, ``[breaker]``,
    ``[metrics]`` and ``[inference]`` sections."""
    from fugue_ppl.models import SENSOR_SCHEMA, sensor
    from fugue_ppl.service.catalog import StaticDeployment
    from fugue_ppl.serving import ModelConfig, ModelRunner, RunnerConfig

    rc = RunnerConfig(model=ModelConfig(name=BUILTIN_MODEL, version=config.model.version,
                                        params=config.model.params),
                      runtime=config.runtime, breaker=config.breaker, metrics=config.metrics,
                      inference=config.inference)
    runner = ModelRunner(sensor, rc, schema=SENSOR_SCHEMA)
    return StaticDeployment(BUILTIN_MODEL, {rc.model.version: runner},
                            outputs=_SENSOR_OUTPUTS, smoke_inputs={"reading": 22.0})


def _setting(name: str):
    def parse(text: str) -> Any:
        from fugue_ppl.service._service_config import ServiceConfig

        value: Any = text
        if name == "port":
            if not text.strip().isdigit():
                raise argparse.ArgumentTypeError(f"must be an integer in [0, 65535], got "
                                                 f"{safe_text(text, 40)!r}")
            value = int(text)
        try:
            return ServiceConfig.check_field(name, value, _PROG)
        except (InvalidArgument, TypeError) as e:
            raise argparse.ArgumentTypeError(getattr(e, "rule", str(e))) from None
    parse.__name__ = name
    return parse


def add_parser(sub: Any) -> None:
    """Add ``serve`` to the ``fugue-ppl`` subparsers ``sub``."""
    p = sub.add_parser(
        "serve", help="serve the models over HTTP (the Open Inference Protocol, KServe V2)",
        description="Serve the registry's models (the built-in sensor model when no registry "
                    "is configured) on the Open Inference Protocol's REST API, with health "
                    "probes (/livez, /readyz, /health) and Prometheus metrics (/metrics). "
                    "SIGTERM drains the requests in flight and exits 0.")
    p.add_argument("--host", type=_setting("host"), default=None,
                   help="address to listen on (default: [service] host, 127.0.0.1; 0.0.0.0 "
                        "in a container)")
    p.add_argument("--port", type=_setting("port"), default=None,
                   help="TCP port (default: [service] port, 8080)")
    p.add_argument("--config", metavar="FILE",
                   help="a TOML configuration file; the FUGUE_* environment variables "
                        "override it")


def build_app(config: Any, settings: Any = None) -> tuple[Any, Callable[[], None]]:
    """The service ``config`` describes, and the function that closes it after the server.

    The catalog (:func:`builtin_deployment` without a registry), the
    authenticator, rate limiter and audit log of ``[auth]``, ``[rate_limit]``,
    ``[audit]`` and the secrets, the status page (its sampler started here) and,
    with a registry, the admin API under ``/admin`` (its changes recorded as
    made by the request's API key, the catalog refreshed after each).
    ``settings`` replaces ``config.service``.

    Raises
    ------
    ConfigError
        The keys, the audit file or its HMAC key are invalid.
    Exception
        The registry cannot be opened.
    """
    from fugue_ppl.service.app import EXCHANGE, create_app
    from fugue_ppl.service.audit import AuditLog
    from fugue_ppl.service.auth import Authenticator
    from fugue_ppl.service.catalog import Catalog
    from fugue_ppl.service.ratelimit import RateLimiter
    from fugue_ppl.service.status_page import status_routes
    from fugue_ppl.service.status_sampler import StatusSampler

    authenticator = Authenticator.from_config(config)
    limiter = RateLimiter.from_config(config)
    catalog = Catalog.from_config(config, default=builtin_deployment)
    closers: list[Callable[[], None]] = [catalog.close]
    try:
        audit = AuditLog.from_config(config)
        closers.insert(0, audit.close)

        def runners() -> dict[str, Any]:
            return {name: served.router for name, served in catalog.models.items()}

        def drift() -> dict[tuple[str, str], Any]:
            return {(v.name, v.version): v.drift for v in catalog.served_versions()
                    if v.drift is not None}

        sampler = StatusSampler(runners, registry=catalog.registry, config=config.status,
                                ewma=config.monitor.ewma, cusum=config.monitor.cusum,
                                drift=drift)
        closers.insert(0, sampler.close)
        routes = list(status_routes(sampler))
        if catalog.registry is not None:
            from fugue_ppl.service.admin import admin_routes

            def actor(request: Any) -> str:
                exchange = request.scope.get(EXCHANGE)
                return getattr(exchange, "key_id", None) or "admin"

            routes.extend(admin_routes(catalog.registry, actor=actor,
                                       rollout_config=config.rollout,
                                       analysis_config=config.analysis,
                                       on_change=lambda name: catalog.refresh()))
        app = create_app(catalog, settings=config.service if settings is None else settings,
                         authenticator=authenticator, limiter=limiter, audit=audit,
                         extra_routes=routes)
        sampler.start()
    except BaseException:
        for close in closers:
            close()
        raise

    def close() -> None:
        for c in closers:
            try:
                c()
            except Exception:  # noqa: BLE001 - close the rest
                _log.exception("serve: closing the service failed")
    return app, close


def run(args: argparse.Namespace) -> int:
    """Run ``fugue-ppl serve`` with parsed arguments; the exit status."""
    from fugue_ppl.config import load_config

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"{_PROG}: {e}", file=sys.stderr)
        return 1
    changes = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = config.service.replace(**changes) if changes else config.service
    try:
        from fugue_ppl.service.server import configure_logging, serve
    except ImportError as e:
        print(f"{_PROG}: {e}", file=sys.stderr)
        return 1
    configure_logging(config.log_level)
    try:
        app, close = build_app(config, settings)
    except ImportError as e:
        print(f"{_PROG}: {e}", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"{_PROG}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the registry cannot be opened: say why, exit 1
        print(f"{_PROG}: the models cannot be loaded ({type(e).__name__}: "
              f"{safe_text(e, 200)})", file=sys.stderr)
        return 1
    try:
        return serve(app, settings, log_level=config.log_level)
    finally:
        close()
