"""The inference service's ASGI application (Starlette): the Open Inference
Protocol (KServe V2) over REST, health probes and Prometheus metrics.

Routes
------
====================================================  ======================================
``GET  /v2/health/live``, ``/livez``                   the process answers (always 200)
``GET  /v2/health/ready``, ``/readyz``                 every model has a ready version and
                                                       the service is not shutting down
                                                       (200, else 503)
``GET  /health``                                       every version's health checks, levels
                                                       and score (``application/health+json``;
                                                       503 when failing)
``GET  /v2``                                           server metadata (name, version,
                                                       extensions)
``GET  /v2/models/{name}[/versions/{v}]``              model metadata (versions, platform,
                                                       inputs, outputs)
``GET  /v2/models/{name}[/versions/{v}]/ready``        the model's (version's) readiness
``POST /v2/models/{name}[/versions/{v}]/infer``        an inference
``GET  /metrics``                                      the served models' Prometheus families
                                                       (OpenMetrics when ``Accept`` asks)
====================================================  ======================================

An inference request goes, without a version, through the model's router
(``router.infer_async``: routed by ``X-Request-Key`` or the ``key``
parameter, else at random, with the deployment's weights), with a version to
that version's runner; either way the runner's deadline bounds the wait. The
outcome maps to HTTP: invalid input 400, unknown model or version 404, a body
over ``max_body_bytes`` 413, a client too slow to send it 408, overloaded
503 with ``Retry-After``, breaker open without a fallback 503 with
``Retry-After``, timeout without a fallback 504, a model fault without a
fallback 500 with the opaque error id; a fallback served is 200 with its
status (``fallback``, ``timeout``, ``rejected``, ``shed``) in the response's
parameters. Error bodies are the protocol's ``{"error": "..."}`` (with the
error's ``kind``, ``code`` and ``id`` when it has them), never exception text
or a traceback.

Every response carries ``X-Request-ID``: the client's when it sends a valid
one (1 to 128 letters, digits or ``._~:+/=-``), else a new one. The request
id and the W3C ``traceparent`` (when valid) are set for the request
(:data:`fugue_ppl.serving.logs.request_id` and ``traceparent``), so the
runner's structured events carry them.

Hooks: ``create_app(..., authenticator=, limiter=, audit=)``. Each request,
before its route, is authenticated (``authenticator.authenticate(headers,
action, model, client_host=...)`` with the action ``infer``, ``read``, ``admin``, ``health`` or
``metrics``; it raises ``HTTPException`` 401 or 403), then rate-limited
(``limiter.check(limiter.identity(key_id, client_host, headers))``: 429 with
``Retry-After`` and the limiter's headers when refused); after the response
``audit.record(...)`` gets its request id, traceparent, key id, model,
version, action, outcome, HTTP status, duration, and the request's and the
response's JSON text (bytes). An ``HTTPException`` from any of them is rendered
as the protocol's error body with its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import itertools
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.checks import safe_text
from fugue_ppl.errors import (
    PUBLIC_CODES,
    CircuitOpenError,
    InferenceTimeout,
    OverloadedError,
    UnknownModel,
    UnknownVersion,
    ValidationError,
    new_error_id,
    public_error,
)
from fugue_ppl.inference import Posterior
from fugue_ppl.service._service_config import ServiceConfig
from fugue_ppl.service.catalog import PLATFORM, Catalog, CatalogCollector
from fugue_ppl.service.protocol import (
    CHOICE_OUTPUTS,
    InferRequest,
    OutputMismatch,
    bind_inputs,
    encode_outputs,
    error_body,
    parse_infer_request,
    parse_json,
    posterior_outputs,
    select_outputs,
    trace_outputs,
)
from fugue_ppl.serving.health import HEALTH_JSON_MEDIA_TYPE
from fugue_ppl.serving.logs import request_id as request_id_var
from fugue_ppl.serving.logs import traceparent as traceparent_var

require("serve", "starlette", feature="the inference service")
orjson = require("serve", "orjson", feature="the inference service")

from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.exposition import choose_encoder  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.datastructures import Headers  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.requests import ClientDisconnect, Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import BaseRoute, Route  # noqa: E402

__all__ = ["ACTIONS", "EXCHANGE", "Exchange", "Service", "create_app"]

_log = logging.getLogger("fugue_ppl.service")

#: The actions an authenticator is asked about.
ACTIONS = ("infer", "read", "admin", "health", "metrics")
#: The scope key of a request's :class:`Exchange`.
EXCHANGE = "fugue.exchange"
#: The server's name in its metadata.
SERVER_NAME = "fugue-ppl"
#: Protocol extensions this server does not implement (named in ``GET /v2``).
UNSUPPORTED_EXTENSIONS = ("binary_tensor_data",)

try:
    _VERSION = importlib.metadata.version("fugue-ppl")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
    _VERSION = "unknown"

#: The inference routes (as Starlette matches ``/v2/models/{name}[/versions/{version}]/infer``).
_INFER_ROUTE = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._~:+/=-]{1,128}", re.ASCII)
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})", re.ASCII)
_JSON = "application/json"
_JSON_HEADER = (b"content-type", b"application/json")
_OUTCOMES = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
             405: "not_allowed", 408: "client_timeout", 413: "too_large", 429: "rate_limited",
             500: "error", 503: "unavailable", 504: "timeout"}
_RETRY_MAX = 3600
_RETRY_UNKNOWN = 60
_BODY_DRAIN_FACTOR = 8


# New request ids: a random prefix per process and a counter (unique across replicas
# and restarts, and cheaper than a random id per request).
_ID_PREFIX = os.urandom(8).hex()
_ids = itertools.count(1)


def _request_id(given: str | None) -> str:
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return f"{_ID_PREFIX}{next(_ids):016x}"


def parse_traceparent(value: str | None) -> str | None:
    """A W3C ``traceparent`` header when it is valid (version 00 exactly, or a later
    version's first four fields), else None.

    Examples
    --------
    >>> parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    >>> parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") is None
    True
    """
    if value is None or len(value) > 512:
        return None
    value = value.strip()
    m = _TRACEPARENT.match(value)
    if m is None:
        return None
    version, trace_id, parent_id, _ = m.groups()
    if version == "ff" or trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    if version == "00" and len(value) != 55:
        return None
    if len(value) > 55 and value[55] != "-":
        return None
    return value[:55]


# ---------------------------------------------------------------- request state


@dataclass(eq=False)
class Exchange:
    """What the service knows of one request, for its hooks and its logs.

    ``input`` and ``output`` are the request's and the response's JSON documents
    as their text (bytes): the audit log canonicalises them later, and bytes,
    unlike parsed documents, give the garbage collector nothing to trace while
    they wait.
    """

    request_id: str
    traceparent: str | None
    action: str
    model: str | None
    version: str | None = None
    key_id: str | None = None
    outcome: str | None = None
    status: int = 0
    input: bytes | None = None
    output: bytes | None = None


def _classify(path: str) -> tuple[str, str | None]:
    """A path's action and model name."""
    if path.startswith("/v2/"):
        if path.startswith("/v2/health/"):
            return "health", None
        if path.startswith("/v2/models/"):
            rest = path[len("/v2/models/"):]
            name = rest.split("/", 1)[0] or None
            return ("infer" if path.endswith("/infer") else "read"), name
        return "read", None
    if path in ("/livez", "/readyz", "/health"):
        return "health", None
    if path == "/metrics":
        return "metrics", None
    if path == "/admin" or path.startswith("/admin/"):
        return "admin", None
    return "read", None


class Service:
    """The state behind the routes: the catalog, the settings, readiness and the
    requests in flight (``app.state.service``).

    Parameters
    ----------
    catalog : Catalog
    settings : ServiceConfig
    """

    def __init__(self, catalog: Catalog, settings: ServiceConfig):
        self.catalog = catalog
        self.settings = settings
        self.draining = False
        self.in_flight = 0
        self.metrics = CollectorRegistry(auto_describe=False)
        self.metrics.register(CatalogCollector(catalog))

    def begin_shutdown(self) -> None:
        """Readiness fails from now on (the server stops accepting; requests in flight end)."""
        if not self.draining:
            self.draining = True
            _log.warning("shutting down: readiness fails, %d request(s) in flight",
                         self.in_flight)

    def ready(self) -> bool:
        """Not shutting down, and every model has a ready version."""
        return not self.draining and self.catalog.ready()


# ---------------------------------------------------------------- responses


_HEADER_TABLE = "fugue.header_table"
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def _header(scope: dict, name: bytes) -> str | None:
    """A request header by its lower-case name, the first of a repeated one (as
    Starlette's ``Headers.get``), from a table built once per request (each
    ``Headers.get`` scans every header)."""
    table = scope.get(_HEADER_TABLE)
    if table is None:
        table = scope[_HEADER_TABLE] = dict(reversed(scope["headers"]))
    value = table.get(name)
    return None if value is None else value.decode("latin-1")


def _dumps(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:       # (an integer beyond 64 bits: the standard encoder takes it)
        return _ENCODER.encode(doc).encode("utf-8")


def _json(ex: Exchange | None, doc: Any, status: int = 200,
          headers: dict[str, str] | None = None, media_type: str = _JSON) -> Response:
    body = _dumps(doc)
    if ex is not None:
        ex.output = body
    return Response(body, status, headers, media_type)


class _Body:
    """A JSON response of the inference route, lighter to make than Starlette's
    :class:`~starlette.responses.Response` (the gate sends it itself; as an ASGI
    app it serves the Starlette route too)."""

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(self, ex: Exchange | None, doc: Any):
        self.status_code = 200
        self.body = _dumps(doc)
        if ex is not None:
            ex.output = self.body
        self.raw_headers = [(b"content-length", b"%d" % len(self.body)), _JSON_HEADER]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def _error(ex: Exchange | None, status: int, message: str, *, outcome: str | None = None,
           headers: dict[str, str] | None = None, **extra: Any) -> Response:
    if ex is not None:
        ex.outcome = outcome or _OUTCOMES.get(status, "error")
    return _json(ex, error_body(message, **extra), status, headers)


def _retry_after(seconds: float | None, unknown: int = _RETRY_UNKNOWN) -> str:
    if seconds is None or not math.isfinite(seconds):
        return str(unknown)
    return str(min(_RETRY_MAX, max(1, math.ceil(seconds))))


class _BodyError(Exception):
    def __init__(self, status: int, message: str, close: bool):
        self.status, self.message, self.close = status, message, close


async def _read_body(scope: dict, receive: Callable, limit: int, timeout: float) -> bytes:
    """The request's body, at most ``limit`` bytes, within ``timeout`` seconds."""
    declared = _header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit() or len(declared) > 18:
            raise _BodyError(400, "Content-Length must be a number of bytes", True)
        if int(declared) > limit * _BODY_DRAIN_FACTOR:
            raise _BodyError(413, f"the request body exceeds {limit} bytes", True)

    if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10 (no Task.uncancel)
        try:
            return await asyncio.wait_for(_read_chunks(receive, limit), timeout)
        except asyncio.TimeoutError:
            raise _BodyError(408, f"the request body was not received within {timeout:g} s",
                             True) from None
    # (asyncio.timeout's work, without its object: a timer that cancels this task, told
    # apart from any other cancellation by the flag it sets)
    task = asyncio.current_task()
    late: list[bool] = []

    def expire() -> None:
        late.append(True)
        task.cancel()

    timer = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        return await _read_chunks(receive, limit)
    except asyncio.CancelledError:
        if late and task.uncancel() == 0:
            raise _BodyError(408, f"the request body was not received within {timeout:g} s",
                             True) from None
        raise
    finally:
        timer.cancel()


async def _read_chunks(receive: Callable, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            # Read what the client still sends (up to a bound) so that the 413
            # reaches it on a connection it can keep using.
            if size > limit * _BODY_DRAIN_FACTOR:
                raise _BodyError(413, f"the request body exceeds {limit} bytes", True)
            continue
        chunks.append(chunk)
    if size > limit:
        raise _BodyError(413, f"the request body exceeds {limit} bytes", False)
    return b"".join(chunks)


# ---------------------------------------------------------------- routes


class _Routes:
    """The route handlers, over one :class:`Service`."""

    def __init__(self, service: Service):
        self.service = service

    @staticmethod
    def _exchange(request: Request) -> Exchange | None:
        return request.scope.get(EXCHANGE)

    # -------------------------------------------------------- health

    async def live(self, request: Request) -> Response:
        return _json(self._exchange(request), {"live": True})

    async def ready(self, request: Request) -> Response:
        ready = self.service.ready()
        return _json(self._exchange(request), {"ready": ready}, 200 if ready else 503)

    async def livez(self, request: Request) -> Response:
        return _json(self._exchange(request), {"status": "pass", "serviceId": PLATFORM,
                                               "output": "alive"}, 200, None,
                     HEALTH_JSON_MEDIA_TYPE)

    async def readyz(self, request: Request) -> Response:
        doc, status = self.service.catalog.readiness()
        if self.service.draining:
            doc["status"], doc["output"], status = "fail", "shutting down", 503
        return _json(self._exchange(request), doc, status, None, HEALTH_JSON_MEDIA_TYPE)

    async def health(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        doc, status = await loop.run_in_executor(None, self.service.catalog.health)
        if self.service.draining:
            doc["status"], status = "fail", 503
            doc["output"] = "shutting down; " + doc.get("output", "")
        return _json(self._exchange(request), doc, status, None, HEALTH_JSON_MEDIA_TYPE)

    # -------------------------------------------------------- metadata

    async def server_metadata(self, request: Request) -> Response:
        return _json(self._exchange(request), {
            "name": SERVER_NAME, "version": _VERSION, "extensions": [],
            "unsupported_extensions": list(UNSUPPORTED_EXTENSIONS)})

    def _model(self, request: Request, ex: Exchange | None) -> tuple[Any, str | None]:
        return self._lookup(request.path_params["name"], request.path_params.get("version"), ex)

    def _lookup(self, name: str, version: str | None, ex: Exchange | None
                ) -> tuple[Any, str | None]:
        model = self.service.catalog.get(name)
        model.version(version)                       # (raises UnknownVersion)
        if ex is not None:
            ex.model, ex.version = name, version
        return model, version

    async def model_metadata(self, request: Request) -> Response:
        ex = self._exchange(request)
        try:
            model, version = self._model(request, ex)
        except UnknownModel as e:
            return _not_found(ex, e)
        return _json(ex, model.metadata(version))

    async def model_ready(self, request: Request) -> Response:
        ex = self._exchange(request)
        try:
            model, version = self._model(request, ex)
        except UnknownModel as e:
            return _not_found(ex, e)
        ready = model.ready(version) and not self.service.draining
        doc = {"name": model.name, "ready": ready}
        if version is not None:
            doc["version"] = version
        return _json(ex, doc, 200 if ready else 503)

    # -------------------------------------------------------- metrics

    async def metrics(self, request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, encoder, self.service.metrics)
        return Response(body, 200, media_type=None, headers={"Content-Type": content_type})

    # -------------------------------------------------------- inference

    async def infer(self, request: Request) -> Response | _Body:
        return await self.infer_scope(request.scope, request.receive,
                                      request.path_params["name"],
                                      request.path_params.get("version"))

    async def infer_scope(self, scope: dict, receive: Callable, name: str,
                          version: str | None) -> Response | _Body:
        """``POST /v2/models/{name}[/versions/{version}]/infer`` on the ASGI scope itself
        (the gate calls it for the inference routes without Starlette's routing)."""
        ex = scope.get(EXCHANGE)
        settings = self.service.settings
        try:
            model, version = self._lookup(name, version, ex)
        except UnknownModel as e:
            return _not_found(ex, e)
        if (_header(scope, b"inference-header-content-length") is not None
                or (_header(scope, b"content-type") or "").startswith(
                    "application/octet-stream")):
            return _error(ex, 400, "binary tensor data is not supported: send tensors as JSON "
                          "(binary_data=False)", **_kind("invalid_request"))
        try:
            body = await _read_body(scope, receive, settings.max_body_bytes,
                                    settings.body_timeout_seconds)
        except _BodyError as e:
            return _error(ex, e.status, e.message,
                          headers={"Connection": "close"} if e.close else None)
        except ClientDisconnect:
            if ex is not None:
                ex.outcome = "client_disconnected"
            return Response(status_code=400, headers={"Connection": "close"})
        served = model.version(version)
        try:
            doc = parse_json(body)
            if ex is not None:
                ex.input = body
            req = parse_infer_request(doc)
            if req.outputs is not None and served.outputs:
                select_outputs([], req.outputs, served.output_names)   # (checked before the run)
            args = bind_inputs(req, served.inputs)
        except ValidationError as e:
            return _error(ex, 400, str(e), **_kind("invalid_request"))
        kwargs: dict[str, Any] = {} if req.seed is None else {"seed": req.seed}
        try:
            if version is not None:
                result = await served.runner.infer_async(*args, **kwargs)
            else:
                key = _header(scope, b"x-request-key") or req.key
                result = await model.router.infer_async(*args, key=key, **kwargs)
        except ValidationError as e:
            return _error(ex, 400, str(e), **_kind("invalid_request"))
        except OverloadedError as e:
            return _error(ex, 503, "the model is overloaded: retry later",
                          headers={"Retry-After": _retry_after(e.retry_after, 1)},
                          outcome="overloaded", **_kind("overloaded"))
        except CircuitOpenError as e:
            return _error(ex, 503, "the model's circuit breaker is open: retry later",
                          headers={"Retry-After": _retry_after(e.retry_after)},
                          outcome="rejected", **_kind("circuit_open"))
        except InferenceTimeout as e:
            eid = getattr(e, "fugue_error_id", None) or new_error_id()
            return _error(ex, 504, f"the inference passed its deadline (error id {eid})",
                          outcome="timeout", **public_error(e, eid))
        except Exception as e:  # noqa: BLE001 - the model's fault, or a runner closed
            eid = getattr(e, "fugue_error_id", None)
            if eid is None:
                if isinstance(e, RuntimeError) and "closed" in str(e):
                    return _error(ex, 503, "the model version is being replaced: retry",
                                  headers={"Retry-After": "1"}, outcome="unavailable")
                raise
            return _error(ex, 500, f"the model failed (error id {eid})", outcome="error",
                          **public_error(e, eid))
        return self._respond(ex, model, req, result)

    def _respond(self, ex: Exchange | None, model: Any, req: InferRequest,
                 result: Any) -> Response | _Body:
        status = result.status
        rid = ex.request_id if ex is not None else None
        if ex is not None:
            ex.version = result.model_version
            ex.outcome = status
        if status == "overloaded":
            return _error(ex, 503, "the model is overloaded: retry later",
                          headers={"Retry-After": _retry_after(
                              getattr(result.error, "retry_after", None), 1)},
                          outcome="overloaded", **_kind("overloaded"))
        served = model.versions.get(result.model_version) or model.version()
        if served.drift is not None:
            try:
                served.drift.observe(result)    # (its log predictive density, charted)
            except Exception:  # noqa: BLE001 - monitoring must not fail the request
                _log.exception("drift: the result of %s %s could not be charted", model.name,
                               result.model_version)
        try:
            if isinstance(result.value, Posterior):     # (a runner with inference=)
                outputs = posterior_outputs(result.value)
            else:
                outputs = encode_outputs(result.value, served.outputs)
        except OutputMismatch as e:
            eid = new_error_id()
            _log.error("error %s: model %s version %s: %s", eid, model.name,
                       result.model_version, e)
            return _error(ex, 500, f"the model's value does not fit its outputs (error id "
                          f"{eid})", outcome="error", **public_error(e, eid))
        want_choices = req.choices or (req.outputs is not None and any(
            n in CHOICE_OUTPUTS for n in req.outputs))
        outputs += trace_outputs(status, result.trace, want_choices)
        try:
            outputs = select_outputs(outputs, req.outputs,
                                     served.output_names if served.outputs or served.posterior
                                     else [o["name"] for o in outputs])
        except ValidationError as e:
            return _error(ex, 400, str(e), **_kind("invalid_request"))
        params: dict[str, Any] = {"status": status, "request_id": rid}
        if result.error_id is not None:
            params["error_id"] = result.error_id
        doc = {"model_name": model.name, "model_version": result.model_version,
               "id": req.id if req.id is not None else rid, "parameters": params,
               "outputs": outputs}
        return _Body(ex, doc)


def _kind(kind: str) -> dict[str, Any]:
    return {"kind": kind, "code": PUBLIC_CODES[kind]}


def _not_found(ex: Exchange | None, e: UnknownModel) -> Response:
    kind = "unknown_version" if isinstance(e, UnknownVersion) else "unknown_model"
    return _error(ex, 404, safe_text(e, 300), **_kind(kind))


# ---------------------------------------------------------------- the gate


class _Gate:
    """ASGI middleware around every HTTP request: the request id and traceparent,
    the in-flight limit, the authenticator and the rate limiter, error rendering, the
    audit record.

    An inference request (``POST`` to an inference route) goes from here to ``infer``
    (:meth:`_Routes.infer_scope`) directly: Starlette's routing, request and
    exception layers would cost it as much as the model does. Every other request
    goes through the application's routes."""

    def __init__(self, app: Any, service: Service, authenticator: Any, limiter: Any,
                 audit: Any, infer: Callable | None = None):
        self.app = app
        self.service = service
        self.authenticator = authenticator
        self.limiter = limiter
        self.audit = audit
        self.infer = infer

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        headers = Headers(scope=scope)
        rid = _request_id(_header(scope, b"x-request-id"))
        parent = parse_traceparent(_header(scope, b"traceparent"))
        action, model = _classify(scope["path"])
        ex = Exchange(rid, parent, action, model)
        scope[EXCHANGE] = ex
        extra = [(b"x-request-id", rid.encode("ascii"))]
        started = False

        async def send_with_headers(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                ex.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        id_token = request_id_var.set(rid)
        trace_token = traceparent_var.set(parent)
        service = self.service
        counted = False
        try:
            if service.in_flight >= service.settings.max_in_flight:
                await _send(send_with_headers, _error(
                    ex, 503, "the service is at its limit of requests in flight: retry later",
                    headers={"Retry-After": "1"}, outcome="overloaded"), scope, receive)
                return
            service.in_flight += 1
            counted = True
            client = scope.get("client")
            host = client[0] if client else None
            if self.authenticator is not None:
                principal = self.authenticator.authenticate(headers, action, model,
                                                            client_host=host)
                ex.key_id = getattr(principal, "key_id", None)
            if self.limiter is not None:
                identity = self.limiter.identity(ex.key_id, host, headers)
                decision = self.limiter.check(identity)
                extra += self.limiter.raw_headers(decision)
                if not decision.allowed:        # (Retry-After: among the limiter's headers)
                    await _send(send_with_headers, _error(
                        ex, 429, "too many requests: retry later", outcome="rate_limited"),
                        scope, receive)
                    return
            m = _INFER_ROUTE.fullmatch(scope["path"]) if (
                self.infer is not None and scope["method"] == "POST"
                and not scope.get("root_path")) else None
            if m is None:
                await self.app(scope, receive, send_with_headers)
            else:
                response = await self.infer(scope, receive, *m.groups())
                started = True
                ex.status = response.status_code
                await send({"type": "http.response.start", "status": response.status_code,
                            "headers": [*response.raw_headers, *extra]})
                await send({"type": "http.response.body", "body": response.body})
        except HTTPException as e:
            if started:
                raise
            await _send(send_with_headers, _http_error(ex, e), scope, receive)
        except asyncio.CancelledError:
            # The server's shutdown cancelled the request (its grace period is over):
            # answered, not re-raised, so the server logs no failure of the app.
            if not started:
                await _send(send_with_headers, _error(
                    ex, 503, "the service shut down before the request completed: retry",
                    headers={"Retry-After": "1", "Connection": "close"},
                    outcome="cancelled"), scope, receive)
        except Exception:
            eid = new_error_id()
            _log.exception("error %s: %s %s", eid, scope.get("method"),
                           safe_text(scope["path"], 200))
            if started:
                return
            await _send(send_with_headers, _error(
                ex, 500, f"internal error (error id {eid})", kind="internal_error",
                id=eid), scope, receive)
        finally:
            if counted:
                service.in_flight -= 1
            request_id_var.reset(id_token)
            traceparent_var.reset(trace_token)
            if self.audit is not None:
                self._record(ex, t0)

    def _record(self, ex: Exchange, t0: float) -> None:
        outcome = ex.outcome or _OUTCOMES.get(ex.status, "ok" if ex.status < 400 else "error")
        try:
            self.audit.record(
                request_id=ex.request_id, traceparent=ex.traceparent, key_id=ex.key_id,
                model=ex.model, version=ex.version, action=ex.action, outcome=outcome,
                http_status=ex.status, duration=time.perf_counter() - t0, input=ex.input,
                output=ex.output)
        except Exception:  # noqa: BLE001 - an audit failure must not fail the request
            _log.exception("audit: the record of request %s failed", ex.request_id)


async def _send(send: Callable, response: Response, scope: dict, receive: Callable) -> None:
    await response(scope, receive, send)


def _http_error(ex: Exchange | None, e: HTTPException) -> Response:
    message = e.detail if isinstance(e.detail, str) and e.detail else "error"
    return _error(ex, e.status_code, safe_text(message, 300), headers=dict(e.headers or {}))


async def _http_exception(request: Request, e: Exception) -> Response:
    assert isinstance(e, HTTPException)
    ex = request.scope.get(EXCHANGE)
    if e.status_code == 404 and e.detail == "Not Found":
        return _error(ex, 404, f"no route {request.method} "
                      f"{safe_text(request.url.path, 100)}")
    if e.status_code == 405:
        return _error(ex, 405, f"method {safe_text(request.method, 20)} is not allowed here",
                      headers=dict(e.headers or {}))
    return _http_error(ex, e)


# ---------------------------------------------------------------- the app


def create_app(catalog: Catalog, *, settings: ServiceConfig | None = None,
               authenticator: Any = None, limiter: Any = None, audit: Any = None,
               extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The service's Starlette application.

    Parameters
    ----------
    catalog : Catalog
        The models served (the caller closes it after the app's shutdown).
    settings : ServiceConfig, optional
        Request limits and timeouts, the refresh interval (default: the defaults).
    authenticator, limiter, audit : optional
        The hooks described in the module docstring (none: every request is
        allowed, unlimited, unrecorded).
    extra_routes : sequence of starlette routes, optional
        Mounted after the protocol's routes: the admin API (``/admin``) and
        the status page (``/`` and ``/status``).

    Returns
    -------
    starlette.applications.Starlette
        ``app.state.service`` is its :class:`Service`. Its lifespan refreshes
        the catalog every ``settings.refresh_interval_seconds`` (off the event
        loop) and, on shutdown, fails readiness and stops the refreshes.
    """
    if not isinstance(catalog, Catalog):
        raise TypeError(f"create_app: catalog must be a Catalog, got {type(catalog).__name__}")
    settings = ServiceConfig() if settings is None else settings
    service = Service(catalog, settings)
    r = _Routes(service)
    routes: list[BaseRoute] = [     # (inference first: Starlette tries the routes in turn)
        Route("/v2/models/{name}/infer", r.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", r.infer, methods=["POST"]),
        Route("/v2/health/live", r.live, methods=["GET"]),
        Route("/v2/health/ready", r.ready, methods=["GET"]),
        Route("/v2", r.server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", r.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", r.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", r.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", r.model_ready, methods=["GET"]),
        Route("/livez", r.livez, methods=["GET"]),
        Route("/readyz", r.readyz, methods=["GET"]),
        Route("/health", r.health, methods=["GET"]),
        Route("/metrics", r.metrics, methods=["GET"]),
    ]
    # Mount points of the admin API (service/admin.py: its routes under /admin, action
    # "admin") and of the status page (service/status_page.py: / and /status, action
    # "read"); both reach the catalog through app.state.service.
    routes.extend(extra_routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.draining = False
        task = asyncio.get_running_loop().create_task(_refresh_loop(service))
        try:
            yield
        finally:
            service.begin_shutdown()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    from starlette.middleware import Middleware

    gate = _Gate(None, service, authenticator, limiter, audit, r.infer_scope)
    app = _App(gate, routes=routes, lifespan=lifespan,
               middleware=[Middleware(_mount, gate=gate)],
               exception_handlers={HTTPException: _http_exception})
    app.state.service = service
    return app


def _mount(app: Any, gate: _Gate) -> _Gate:
    """The gate as Starlette's middleware: in front of the routes (``app``)."""
    gate.app = app
    return gate


class _App(Starlette):
    """Starlette with an inference request handed to the gate at once: the server-error
    layer in front of it would only re-render the errors the gate renders itself."""

    def __init__(self, gate: _Gate, **kwargs: Any):
        super().__init__(**kwargs)
        self._gate = gate

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" \
                and scope["path"].endswith("/infer"):
            scope["app"] = self
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            await self._gate(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _refresh_loop(service: Service) -> None:
    """Refresh the catalog every interval, off the event loop; a failure is logged."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(service.settings.refresh_interval_seconds)
        try:
            await loop.run_in_executor(None, service.catalog.refresh)
        except Exception:  # noqa: BLE001 - the next interval tries again
            _log.exception("the catalog's refresh failed")
