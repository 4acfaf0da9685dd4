"""The admin API: model versions and their rollouts over HTTP (Starlette routes,
mounted by the service under ``/admin``).

Routes (JSON bodies; ``{name}`` a model, ``{version}`` a version, ``{id}`` a rollout):

- ``GET /admin/models/{name}/versions``: the versions, in registration order.
- ``POST /admin/models/{name}/versions``: register one (201); fields ``version``,
  ``model`` (required), ``params``, ``params_schema``, ``factory``,
  ``input_schema``, ``outputs``, ``status``, ``load_check`` (default true: the
  model and the input schema are imported first, the factory not called).
- ``GET /admin/models/{name}/versions/{version}``: one version and its history.
- ``POST /admin/models/{name}/versions/{version}/promote``: make it live; the live
  one goes to standby (``expected_revision``: refuse if it changed).
- ``POST /admin/models/{name}/rollback``: the standby version live again, the live
  one retired (``expected_live``).
- ``POST /admin/models/{name}/rollouts``: start a rollout (201); fields
  ``candidate``, ``strategy`` (required), ``baseline``, ``steps``, ``metrics``,
  ``smoke_args``, ``smoke_kwargs``, ``replicas``, ``ab_metric``.
- ``GET /admin/models/{name}/rollout``: the active rollout (else the latest).
- ``POST /admin/models/{name}/rollout/abort``: abort the active rollout.
- ``GET /admin/rollouts/{id}``, ``POST /admin/rollouts/{id}/abort``: by id.
- ``GET /admin/rollouts/{id}/events?after=N&wait=S``: a long poll, the events after
  event ``N``, waiting up to ``S`` seconds for one.
- ``GET /admin/rollouts/{id}/watch``: server-sent events, each event as it is
  recorded (``id`` its id, ``event`` its action; ``Last-Event-ID`` resumes), then
  ``end`` with the final status.

A rollout's status is :func:`~fugue_ppl.deploy.rollout_status`'s document
(state, weights, the analysis at each look, the events). Starting a rollout
only records it (:func:`~fugue_ppl.deploy.start_rollout`): the replicas'
:class:`~fugue_ppl.deploy.ModelDeployment` drive it.

A bad body or query is a 400 naming the field (``{"error": "steps: must
increase strictly"}``); registry errors map to 404 (an unknown model, version
or rollout), 409 (a conflict: a stale revision, another rollout active, a
rollout over) and 503 with ``Retry-After`` (the store is down). Error bodies
are the Open Inference Protocol's ``{"error": "..."}``: never exception text,
a store's address or a secret (an unexpected error is a 500 with an opaque
``id``, logged with its traceback). Authentication is the service's: the
routes take the actor recorded in the history from ``actor(request)`` (the
service passes its API key's id).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.checks import safe_repr, safe_text, thaw
from fugue_ppl.deploy import (
    STATUSES,
    ModelRegistry,
    ModelVersion,
    RolloutConfig,
    abort_rollout,
    find_rollout,
    rollout_status,
    start_rollout,
)
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.deploy.deployment import STRATEGY_NAMES
from fugue_ppl.errors import (
    InvalidArgument,
    InvalidModelParams,
    ModelImportError,
    RegistryConflict,
    RegistryError,
    RegistryUnavailable,
    UnknownModel,
    UnknownRollout,
    new_error_id,
)
from fugue_ppl.serving import ModelConfig

require("serve", "starlette", feature="the admin API")

from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: E402
from starlette.routing import BaseRoute, Mount, Route  # noqa: E402

__all__ = ["MAX_BODY_BYTES", "admin_routes"]

_log = logging.getLogger("fugue_ppl.service")

#: The largest request body, in bytes (a version's parameters may take 1 MB of JSON).
MAX_BODY_BYTES = 2_000_000
_RETRY_AFTER = "5"
# Server-sent events: a comment line this often keeps idle connections open.
_KEEPALIVE_SECONDS = 15.0
_STRATEGIES = tuple(k for k in STRATEGY_NAMES if "_" not in k)


class _BadRequest(Exception):
    """A 400 (or another status) with a message naming the field."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- bodies and fields


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object (400 naming what is wrong; 413 too large)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _BadRequest(f"body: at most {MAX_BODY_BYTES} bytes", 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _BadRequest(f"body: at most {MAX_BODY_BYTES} bytes", 413)
    if not raw.strip():
        return {}

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")
    try:
        doc = json.loads(raw, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise _BadRequest("body: not a JSON document") from None
    if not isinstance(doc, dict):
        raise _BadRequest("body: must be a JSON object")
    return doc


def _fields(doc: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...] = ()
            ) -> dict[str, Any]:
    for key in doc:
        if key not in allowed:
            raise _BadRequest(f"{safe_text(key, 64)}: unknown field (fields: "
                              f"{', '.join(allowed)})")
    for key in required:
        if key not in doc:
            raise _BadRequest(f"{key}: required")
    return doc


def _text(doc: dict[str, Any], key: str, *, name_field: str | None = None) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadRequest(f"{key}: must be a string, got {_kind(value)}")
    if name_field is not None:
        try:
            ModelConfig.check_field(name_field, value, "admin")
        except InvalidArgument as e:
            raise _BadRequest(f"{key}: {e.rule}, got {e.shown}") from None
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}.get(type(value),
                                                                     type(value).__name__)


def _flag(doc: dict[str, Any], key: str, default: bool) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise _BadRequest(f"{key}: must be true or false, got {_kind(value)}")
    return value


def _count(doc: dict[str, Any], key: str, low: int = 1, high: int = 10**12) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadRequest(f"{key}: must be an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise _BadRequest(f"{key}: must be {low} to {high}, got {value}")
    return value


def _typed(doc: dict[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if value is not None and not isinstance(value, kind):
        want = {dict: "an object", list: "an array"}[kind]
        raise _BadRequest(f"{key}: must be {want}, got {_kind(value)}")
    return value


def _name(request: Request) -> str:
    return _path_field(request, "name", "name")


def _version(request: Request) -> str:
    return _path_field(request, "version", "version")


def _path_field(request: Request, key: str, field: str) -> str:
    value = request.path_params[key]
    try:
        return ModelConfig.check_field(field, value, "admin")
    except InvalidArgument as e:
        raise _BadRequest(f"{key}: {e.rule}, got {e.shown}") from None


def _rollout_id(request: Request) -> int:
    text = request.path_params["id"]
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise _BadRequest(f"id: must be a rollout's number (1 or more), got "
                          f"{safe_repr(text, 40)}")
    return int(text)


# ---------------------------------------------------------------- errors


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": _RETRY_AFTER} if status == 503 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _registry_error(e: RegistryError) -> JSONResponse:
    if isinstance(e, RegistryUnavailable):     # (its message names the store: not shown)
        return _error(503, "the model registry is unavailable; retry later")
    if isinstance(e, (UnknownModel, UnknownRollout)):
        return _error(404, str(e))
    if isinstance(e, RegistryConflict):
        return _error(409, str(e))
    if isinstance(e, InvalidModelParams):
        return _error(400, str(e), violations=[
            {"field": v.field, "rule": v.rule, "message": v.message} for v in e.violations])
    if isinstance(e, ModelImportError):
        if e.__cause__ is None:             # (a path refused before importing anything)
            return _error(400, str(e))
        error_id = new_error_id()
        _log.warning("admin: %s (error id %s)", safe_text(e, 500), error_id)
        return _error(400, f"{e.model} {e.version}: {safe_repr(e.path)} does not load "
                           "(the server's log says why)", id=error_id)
    return _error(400, str(e))


def _endpoint(fn: Callable) -> Callable:
    """Run ``fn`` and map what it raises to the protocol's error bodies."""
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except _BadRequest as e:
            return _error(e.status, str(e))
        except RegistryError as e:
            return _registry_error(e)
        except InvalidArgument as e:
            return _error(400, f"{_FIELDS.get(e.parameter, e.parameter)}: {e.rule}, got "
                               f"{e.shown}")
        except Exception:  # noqa: BLE001 - never a traceback to the client
            error_id = new_error_id()
            _log.exception("admin: %s %s failed (error id %s)", request.method,
                           safe_text(request.url.path, 200), error_id)
            return _error(500, "internal error", id=error_id)
    endpoint.__name__ = fn.__name__
    return endpoint


# The body's names of the parameters the library's checks name.
_FIELDS = {"replica_count": "replicas", "metric": "ab_metric", "params_schema": "params_schema"}


# ---------------------------------------------------------------- the routes


class _Admin:
    def __init__(self, registry: ModelRegistry, actor: Callable[[Request], Any],
                 rollout_config: RolloutConfig, analysis_config: AnalysisConfig,
                 on_change: Callable[[str], Any] | None, clock: Callable[[], float],
                 poll_interval: float, max_wait: float):
        self.registry = registry
        self._actor = actor
        self.rollout_config = rollout_config
        self.analysis_config = analysis_config
        self.on_change = on_change
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_wait = max_wait

    def actor(self, request: Request) -> str:
        who = self._actor(request)
        text = "" if who is None else str(who)
        return text[:200] if text.strip() and text.isprintable() else "unknown"

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """A registry call, off the event loop (the store's I/O blocks)."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def changed(self, name: str) -> None:
        if self.on_change is None:
            return
        try:
            await run_in_threadpool(self.on_change, name)
        except Exception:  # noqa: BLE001 - the change is recorded; the hook only hurries it
            _log.exception("admin: the on_change hook failed for model %s", name)

    # ------------------------------------------------------------ versions

    async def list_versions(self, request: Request) -> Response:
        name = _name(request)
        found = await self.call(self.registry.versions, name)
        return JSONResponse({"versions": [v.to_dict() for v in found]})

    async def show_version(self, request: Request) -> Response:
        name, version = _name(request), _version(request)
        v = await self.call(self.registry.get, name, version, cached=False)
        history = await self.call(self.registry.history, name, version)
        return JSONResponse({"version": v.to_dict(), "history": [
            {"id": e.id, "actor": e.actor, "action": e.action, "at": e.at.isoformat(),
             "before": thaw(e.before), "after": thaw(e.after), "revision": e.revision}
            for e in history]})

    async def register(self, request: Request) -> Response:
        name = _name(request)
        doc = _fields(await _body(request), ("version", "model", "params", "params_schema",
                                             "factory", "input_schema", "outputs", "status",
                                             "load_check"), ("version", "model"))
        version = _text(doc, "version", name_field="version")
        model = _text(doc, "model")
        input_schema = _text(doc, "input_schema")
        params = _typed(doc, "params", dict)
        schema = _typed(doc, "params_schema", dict)
        outputs = _typed(doc, "outputs", list) or []
        for i, item in enumerate(outputs):
            if not isinstance(item, dict):
                raise _BadRequest(f"outputs[{i}]: must be an object of name and type, got "
                                  f"{_kind(item)}")
        status = _text(doc, "status") or "staged"
        if status not in STATUSES:
            raise _BadRequest(f"status: must be one of {', '.join(STATUSES)}, got "
                              f"{safe_repr(status, 40)}")
        factory = _flag(doc, "factory", False)
        if _flag(doc, "load_check", True):
            # import the model and the input schema (the factory is not called) before
            # recording it: a path that does not load is refused now, not on a replica
            probe = ModelVersion(name=name, version=version, model=model, factory=False,
                                 params={}, params_schema=None, input_schema=input_schema,
                                 outputs=(), status="staged", revision=1,
                                 created=_EPOCH, updated=_EPOCH)
            await self.call(self.registry.load_model, probe)
            await self.call(self.registry.load_input_schema, probe)
        v = await self.call(self.registry.register, name, version, model,
                            actor=self.actor(request), params=params, params_schema=schema,
                            factory=factory, input_schema=input_schema, outputs=outputs,
                            status=status)
        await self.changed(name)
        return JSONResponse({"version": v.to_dict()}, status_code=201, headers={
            "Location": f"{_mount(request)}/models/{name}/versions/{version}"})

    async def promote(self, request: Request) -> Response:
        name, version = _name(request), _version(request)
        doc = _fields(await _body(request), ("expected_revision",))
        expected = _count(doc, "expected_revision")
        current = await self.call(self.registry.get, name, version, cached=False)
        if current.status == "live" and expected in (None, current.revision):
            return JSONResponse({"version": current.to_dict(), "standby": [],
                                 "changed": False})
        before = [v.version for v in await self.call(self.registry.list, name,
                                                      status="live")]
        new = await self.call(self.registry.promote, name, version,
                              expected_revision=current.revision if expected is None
                              else expected, actor=self.actor(request))
        await self.changed(name)
        return JSONResponse({"version": new.to_dict(), "standby": before, "changed": True})

    async def rollback(self, request: Request) -> Response:
        name = _name(request)
        doc = _fields(await _body(request), ("expected_live",))
        expected = _text(doc, "expected_live", name_field="version")
        back = await self.call(self.registry.rollback, name, actor=self.actor(request),
                               expected_live=expected)
        history = await self.call(self.registry.history, name)
        retired = next(e.version for e in reversed(history) if e.action == "retire")
        await self.changed(name)
        return JSONResponse({"version": back.to_dict(), "retired": retired})

    # ------------------------------------------------------------ rollouts

    async def start(self, request: Request) -> Response:
        name = _name(request)
        doc = _fields(await _body(request), ("candidate", "strategy", "baseline", "steps",
                                             "metrics", "smoke_args", "smoke_kwargs",
                                             "replicas", "ab_metric"),
                      ("candidate", "strategy"))
        candidate = _text(doc, "candidate", name_field="version")
        baseline = _text(doc, "baseline", name_field="version")
        strategy = _text(doc, "strategy")
        if strategy not in _STRATEGIES:
            raise _BadRequest(f"strategy: must be one of {', '.join(_STRATEGIES)}, got "
                              f"{safe_repr(strategy, 40)}")
        only = {"steps": ("canary",), "metrics": ("canary",),
                "smoke_args": ("immediate", "blue-green"),
                "smoke_kwargs": ("immediate", "blue-green"), "replicas": ("rolling",),
                "ab_metric": ("ab",)}
        for key, strategies in only.items():
            if key in doc and strategy not in strategies:
                raise _BadRequest(f"{key}: applies to the strategy {' and '.join(strategies)}"
                                  f" only, not {strategy}")
        config = self.rollout_config
        steps = _typed(doc, "steps", list)
        if steps is not None:
            config = config.replace(steps=steps)     # (checked: 400 naming steps)
        options: dict[str, Any] = {}
        metrics = _typed(doc, "metrics", list)
        if metrics is not None:
            options["metrics"] = metrics
        if "smoke_args" in doc:
            options["smoke_args"] = _typed(doc, "smoke_args", list) or []
        if "smoke_kwargs" in doc:
            options["smoke_kwargs"] = _typed(doc, "smoke_kwargs", dict) or {}
        replicas = _count(doc, "replicas", 1, 10_000)
        if replicas is not None:
            options["replica_count"] = replicas
        ab_metric = _text(doc, "ab_metric")
        if ab_metric is not None:
            if ab_metric not in ("latency", "observed"):
                raise _BadRequest(f"ab_metric: must be latency or observed, got "
                                  f"{safe_repr(ab_metric, 40)}")
            options["metric"] = ab_metric
        try:
            ro = await self.call(start_rollout, self.registry, name, candidate, strategy,
                                 actor=self.actor(request), baseline=baseline, config=config,
                                 analysis=self.analysis_config, clock=self.clock, **options)
        except TypeError as e:        # (an option of the wrong type the checks name)
            raise _BadRequest(safe_text(str(e).split(": ", 1)[-1], 200)) from None
        await self.changed(name)
        doc = await self.call(rollout_status, self.registry, ro)
        return JSONResponse(doc, status_code=201,
                            headers={"Location": f"{_mount(request)}/rollouts/{ro.id}"})

    async def model_rollout(self, request: Request) -> Response:
        name = _name(request)
        ro = await self.call(find_rollout, self.registry, name)
        return JSONResponse(await self.call(rollout_status, self.registry, ro))

    async def rollout(self, request: Request) -> Response:
        rid = _rollout_id(request)
        ro = await self.call(self.registry.rollout, rid)
        return JSONResponse(await self.call(rollout_status, self.registry, ro))

    async def abort_model(self, request: Request) -> Response:
        return await self._abort(request, _name(request))

    async def abort(self, request: Request) -> Response:
        return await self._abort(request, _rollout_id(request))

    async def _abort(self, request: Request, target: int | str) -> Response:
        _fields(await _body(request), ())
        ro = await self.call(abort_rollout, self.registry, target, actor=self.actor(request))
        await self.changed(ro.name)
        return JSONResponse(await self.call(rollout_status, self.registry, ro))

    async def events(self, request: Request) -> Response:
        rid = _rollout_id(request)
        query = request.query_params
        for key in query:
            if key not in ("after", "wait"):
                raise _BadRequest(f"{safe_text(key, 64)}: unknown query parameter "
                                  "(parameters: after, wait)")
        after = _query_count(query.get("after"), "after")
        wait = _query_seconds(query.get("wait"), "wait", self.max_wait)
        deadline = time.monotonic() + wait
        while True:
            ro = await self.call(self.registry.rollout, rid)
            new = [e for e in await self.call(self.registry.rollout_events, rid)
                   if e.id > after]
            if new or not ro.active or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(self.poll_interval,
                                    max(0.0, deadline - time.monotonic())))
        return JSONResponse({"rollout": ro.to_dict(), "events": [e.to_dict() for e in new],
                             "after": new[-1].id if new else after})

    async def watch(self, request: Request) -> Response:
        rid = _rollout_id(request)
        after = _query_count(request.headers.get("last-event-id"), "Last-Event-ID")
        await self.call(self.registry.rollout, rid)         # (404 before the stream starts)
        return StreamingResponse(self._stream(rid, after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def _stream(self, rid: int, after: int):
        idle = time.monotonic()
        down = False
        while True:
            try:
                ro = await self.call(self.registry.rollout, rid)
                events = await self.call(self.registry.rollout_events, rid)
            except RegistryUnavailable:
                if not down:
                    down = True
                    yield _sse("error", {"error": "the model registry is unavailable; "
                                                  "retrying"})
                await asyncio.sleep(self.poll_interval)
                continue
            down = False
            for e in events:
                if e.id > after:
                    after = e.id
                    idle = time.monotonic()
                    yield _sse(e.action, e.to_dict(), event_id=e.id)
            if not ro.active:
                status = await self.call(rollout_status, self.registry, ro)
                yield _sse("end", status)
                return
            if time.monotonic() - idle >= _KEEPALIVE_SECONDS:
                idle = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(self.poll_interval)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, allow_nan=False)}\n\n"


def _mount(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _query_count(text: str | None, key: str) -> int:
    if text is None or text == "":
        return 0
    if not text.isdigit() or len(text) > 18:
        raise _BadRequest(f"{key}: must be an event id (0 or more), got {safe_repr(text, 40)}")
    return int(text)


def _query_seconds(text: str | None, key: str, high: float) -> float:
    if text is None or text == "":
        return 0.0
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not math.isfinite(x) or not 0.0 <= x <= high:
        raise _BadRequest(f"{key}: must be 0 to {high:g} seconds, got {safe_repr(text, 40)}")
    return x


def admin_routes(registry: ModelRegistry, *, actor: Callable[[Request], Any] | None = None,
                 rollout_config: RolloutConfig | None = None,
                 analysis_config: AnalysisConfig | None = None,
                 on_change: Callable[[str], Any] | None = None,
                 clock: Callable[[], float] | None = None, poll_interval: float = 1.0,
                 max_wait: float = 30.0, prefix: str | None = "/admin") -> list[BaseRoute]:
    """The admin API's routes (see the module's description).

    Parameters
    ----------
    registry : ModelRegistry
        The registry the replicas share.
    actor : callable, optional
        ``actor(request) -> str``: who makes a change, recorded in the history
        and the rollouts' events (the service passes its API key's id; default
        ``"admin"``).
    rollout_config, analysis_config : RolloutConfig, AnalysisConfig, optional
        The settings of the rollouts started here (``steps`` in a body overrides
        the canary's steps).
    on_change : callable, optional
        ``on_change(name)`` after a change of model ``name`` (e.g. the service
        refreshes its deployments at once instead of at the next interval).
    clock : callable, optional
        Seconds for the rollouts started here (the wall clock, which replicas share).
    poll_interval : float
        Seconds between two reads of the registry while watching or long-polling.
    max_wait : float
        The longest long-poll ``wait``, in seconds.
    prefix : str or None
        Where the routes are mounted (one ``Mount``); None: the bare routes.

    Returns
    -------
    list of starlette routes

    Examples
    --------
    >>> import os, tempfile
    >>> from starlette.applications import Starlette
    >>> reg = ModelRegistry(url=os.path.join(tempfile.mkdtemp(), "r.sqlite3"))
    >>> app = Starlette(routes=admin_routes(reg, actor=lambda request: "key-1"))
    >>> reg.close()
    """
    if not isinstance(registry, ModelRegistry):
        raise TypeError(f"admin_routes: registry must be a ModelRegistry, got "
                        f"{type(registry).__name__}")
    for key, value in (("poll_interval", poll_interval), ("max_wait", max_wait)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0):
            raise InvalidArgument("admin_routes", key, value, "must be finite and > 0")
    admin = _Admin(registry, actor or (lambda request: "admin"),
                   RolloutConfig() if rollout_config is None else rollout_config,
                   AnalysisConfig() if analysis_config is None else analysis_config,
                   on_change, time.time if clock is None else clock, float(poll_interval),
                   float(max_wait))
    e = _endpoint
    routes: list[BaseRoute] = [
        Route("/models/{name}/versions", e(admin.list_versions), methods=["GET"]),
        Route("/models/{name}/versions", e(admin.register), methods=["POST"]),
        Route("/models/{name}/versions/{version}", e(admin.show_version), methods=["GET"]),
        Route("/models/{name}/versions/{version}/promote", e(admin.promote),
              methods=["POST"]),
        Route("/models/{name}/rollback", e(admin.rollback), methods=["POST"]),
        Route("/models/{name}/rollouts", e(admin.start), methods=["POST"]),
        Route("/models/{name}/rollout", e(admin.model_rollout), methods=["GET"]),
        Route("/models/{name}/rollout/abort", e(admin.abort_model), methods=["POST"]),
        Route("/rollouts/{id}", e(admin.rollout), methods=["GET"]),
        Route("/rollouts/{id}/abort", e(admin.abort), methods=["POST"]),
        Route("/rollouts/{id}/events", e(admin.events), methods=["GET"]),
        Route("/rollouts/{id}/watch", e(admin.watch), methods=["GET"]),
    ]
    if prefix is None:
        return routes
    return [Mount(prefix, routes=routes)]
