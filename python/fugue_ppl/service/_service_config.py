"""The HTTP service's settings (``[service]``): where it listens, how much and how
slowly a client may send, how long connections stay open, how it shuts down,
how often it re-reads the registry and how many requests it serves at once.

:mod:`fugue_ppl.config` composes them; :func:`fugue_ppl.service.app.create_app`
and :func:`fugue_ppl.service.server.serve` take them directly.
"""

from __future__ import annotations

from fugue_ppl.checks import Duration, Int, Settings, Text, setting, settings

__all__ = ["ServiceConfig"]

_HOST = Text(253, r"[A-Za-z0-9.:_-]{1,253}",
             "must be an IP address or a host name (letters, digits, '.', ':', '_', '-')")


@settings
class ServiceConfig(Settings):
    """The HTTP service: its address, request limits, timeouts and shutdown.

    Examples
    --------
    >>> ServiceConfig(port=9000, max_body_bytes=65_536).port
    9000
    """

    host: str = setting(
        "127.0.0.1", check=_HOST,
        doc="Address to listen on (0.0.0.0: every interface, as in a container).")
    port: int = setting(8080, check=Int(0, 65_535),
                        doc="TCP port to listen on (0: a free port, logged at start-up).")
    max_body_bytes: int = setting(
        1_048_576, check=Int(1_024, 1 << 30),
        doc="Largest request body accepted; a larger one is answered 413.")
    header_timeout_seconds: float = setting(
        10.0, check=Duration(maximum=600.0),
        doc="Time a client has to send a request's headers, from the connection's opening "
            "or the previous response (a slower client is answered 408 and disconnected).")
    body_timeout_seconds: float = setting(
        30.0, check=Duration(maximum=3_600.0),
        doc="Time a client has to send a request's body once its headers arrived (408 "
            "beyond, and the connection closed).")
    keep_alive_seconds: float = setting(
        5.0, check=Duration(maximum=3_600.0),
        doc="How long an idle keep-alive connection stays open between requests.")
    shutdown_grace_seconds: float = setting(
        20.0, check=Duration(maximum=3_600.0, zero=True),
        doc="On SIGTERM: how long requests in flight may take to finish (readiness fails "
            "at once and no connection is accepted meanwhile); the rest are cancelled.")
    refresh_interval_seconds: float = setting(
        5.0, check=Duration(maximum=3_600.0),
        doc="How often the served models are re-read from the registry (new versions, "
            "statuses, weights, the rollout's next step).")
    max_in_flight: int = setting(
        1_024, check=Int(1, 1_000_000),
        doc="Requests served at once; beyond that a request is answered 503 with "
            "Retry-After (each model's runner also sheds load past its queue).")
