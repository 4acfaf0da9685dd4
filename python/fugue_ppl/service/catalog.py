"""The models a service serves: their deployments, metadata, health and metrics.

A :class:`Catalog` holds one deployment per model name: with a registry
configured (``[registry] url``), a
:class:`~fugue_ppl.deploy.deployment.ModelDeployment` per model that has
served versions, kept in step with the registry by :meth:`Catalog.refresh`;
without one, a default deployment the caller gives (``fugue-ppl serve``
gives the built-in sensor model in a :class:`StaticDeployment`, so that it
alone serves something).

For each served version the catalog keeps a :class:`ServedVersion`: its
runner, its inputs and outputs as tensor specs (the inputs from the runner's
input schema, else the model's signature; the outputs from the version's
declared outputs) and its :class:`~fugue_ppl.serving.health.HealthChecker`,
warmed up when the version appears. The smoke runs of the health checks need
inputs the model accepts: a version whose parameters hold ``smoke_inputs``
(an object by input name) gets those, the built-in sensor models
(``fugue_ppl.models:sensor`` and ``:sensor_prior``) ``reading=22.0``; the
others get no smoke run nor warm-up (their checker judges the
windows, the breaker, the pool and the process; a runner whose schema
requires inputs gets placeholder arguments its schema accepts, never run).
A version for which no checker can be built (its schema accepts no
placeholder) is ready while its breaker is not FAILED and is left out of
``/health``.

The views are rebuilt off the event loop and swapped in whole, so a request
reads one consistent state without a lock.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from fugue_ppl.checks import check_type, freeze, thaw
from fugue_ppl.deploy import ModelVersion, Router
from fugue_ppl.deploy.prometheus import RouterCollector
from fugue_ppl.errors import InvalidArgument, UnknownModel, UnknownVersion
from fugue_ppl.monitoring.prometheus import ProcessExporter
from fugue_ppl.service.protocol import (
    TensorSpec,
    input_specs,
    metadata_outputs,
    output_specs,
)
from fugue_ppl.serving import ModelConfig, ModelRunner, RunnerConfig
from fugue_ppl.serving._breaker import BreakerState
from fugue_ppl.serving.drift import DriftCollector, DriftMonitor, DriftSettings
from fugue_ppl.serving.health import BUILTIN_CHECKS, HealthChecker, HealthSettings, HealthStatus

__all__ = ["Catalog", "CatalogCollector", "ServedModel", "ServedVersion", "StaticDeployment"]

_log = logging.getLogger("fugue_ppl.service")

#: What the protocol's metadata calls the models' platform.
PLATFORM = "fugue-ppl"
# Smoke inputs of the built-in models, by import path (a registry version of them may
# declare none).
_KNOWN_SMOKE = {"fugue_ppl.models:sensor": {"reading": 22.0},
                "fugue_ppl.models:sensor_prior": {"reading": 22.0}}
# The built-in checks that read the runner's metrics.
_METRIC_CHECKS = ("error_rate", "latency", "monitor_alarms")


# ---------------------------------------------------------------- deployments


class StaticDeployment:
    """A fixed set of versions of one model, with the interface of a registry's
    :class:`~fugue_ppl.deploy.deployment.ModelDeployment` (the built-in model, tests).

    Parameters
    ----------
    name : str
        The model's name.
    runners : mapping of str to ModelRunner
        Each version's runner (the first is live).
    weights : mapping of str to float, optional
        The router's weights (default: all traffic to the first version).
    outputs : sequence of mapping, optional
        The declared outputs (``{"name", "type"}``) of every version.
    smoke_inputs : mapping, optional
        Inputs by name for the health checks' smoke runs (kept in the versions'
        ``params``, as a registry version declares them).
    """

    def __init__(self, name: str, runners: Mapping[str, ModelRunner], *,
                 weights: Mapping[str, float] | None = None,
                 outputs: Sequence[Mapping[str, str]] = (),
                 smoke_inputs: Mapping[str, Any] | None = None):
        self.name = ModelConfig.check_field("name", name, "StaticDeployment")
        self._router = Router(dict(runners), weights)
        now = datetime.datetime.now(datetime.timezone.utc)
        self._versions = [
            ModelVersion(name=self.name, version=v, model=_path(r.model), factory=False,
                         params=freeze({} if smoke_inputs is None
                                       else {"smoke_inputs": dict(smoke_inputs)}),
                         params_schema=None, input_schema=None,
                         outputs=tuple(MappingProxyType(dict(o)) for o in outputs),
                         status="live" if i == 0 else "standby", revision=1, created=now,
                         updated=now)
            for i, (v, r) in enumerate(runners.items())]

    @property
    def router(self) -> Router:
        """The router over the versions."""
        return self._router

    def runner(self, version: str) -> ModelRunner:
        """A version's runner; UnknownVersion for another version."""
        try:
            return self._router.runners[version]
        except KeyError:
            raise UnknownVersion(f"model {self.name!r} has no served version "
                                 f"{str(version)[:64]!r}") from None

    def versions(self) -> list[ModelVersion]:
        """The versions, live first."""
        return list(self._versions)

    @property
    def live_version(self) -> str | None:
        return self._versions[0].version

    def refresh(self) -> None:
        """Nothing to re-read."""

    def rollout(self) -> None:
        return None

    def close(self) -> None:
        self._router.close()


def _path(model: Any) -> str:
    module = getattr(model, "__module__", None) or "unknown"
    return f"{module}:{getattr(model, '__qualname__', type(model).__name__)}"


# ---------------------------------------------------------------- served views


@dataclass(frozen=True, eq=False)
class ServedVersion:
    """One served version: its runner, tensor specs, status and health checker."""

    name: str
    version: str
    status: str
    runner: ModelRunner
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    checker: HealthChecker | None
    revision: int
    #: Charts the log predictive density of the version's ok responses (its health check
    #: is registered with ``checker``).
    drift: DriftMonitor | None = None
    #: Every output a response may carry (declared, status, log-weights, choices; or a
    #: posterior's outputs).
    output_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_names", tuple(
            d["name"] for d in metadata_outputs(self.outputs, posterior=self.posterior)))

    @property
    def posterior(self) -> bool:
        """Its runner answers with a posterior (``inference=``): the response's outputs
        are the posterior's, not the model's value and trace."""
        return self.runner.inference is not None

    def ready(self) -> bool:
        """Its readiness probe passes (warmed up, breaker not FAILED)."""
        if self.checker is None:
            return self.runner.breaker.state is not BreakerState.FAILED
        return self.checker.readiness().http_status == 200


class ServedModel:
    """One model name's deployment and its served versions (live first)."""

    __slots__ = ("deployment", "name", "router", "versions")

    def __init__(self, deployment: Any, router: Router, versions: Mapping[str, ServedVersion]):
        self.name: str = deployment.name
        self.deployment = deployment
        self.router = router
        self.versions: Mapping[str, ServedVersion] = MappingProxyType(dict(versions))

    def version(self, version: str | None = None) -> ServedVersion:
        """A served version (None: the live one, else the first).

        Raises
        ------
        UnknownVersion
            The model serves no such version.
        """
        if version is None:
            return next(iter(self.versions.values()))
        found = self.versions.get(version)
        if found is None:
            raise UnknownVersion(f"model {self.name!r} has no served version "
                                 f"{version[:64]!r} (served: {', '.join(self.versions)})")
        return found

    def ready(self, version: str | None = None) -> bool:
        """The version (None: any version) is ready."""
        if version is not None:
            return self.version(version).ready()
        return any(v.ready() for v in self.versions.values())

    def metadata(self, version: str | None = None) -> dict[str, Any]:
        """The protocol's model metadata: name, versions, platform, inputs, outputs."""
        v = self.version(version)
        return {"name": self.name, "versions": list(self.versions), "platform": PLATFORM,
                "inputs": [s.to_dict() for s in v.inputs],
                "outputs": metadata_outputs(v.outputs, posterior=v.posterior)}


# ---------------------------------------------------------------- the catalog


class Catalog:
    """The served models, by name.

    Parameters
    ----------
    deployments : iterable
        One deployment per model (a :class:`StaticDeployment`, a registry's
        ``ModelDeployment`` or anything with their interface).
    health : HealthSettings, optional
        The health checks' settings (default: their defaults).
    drift : DriftSettings, optional
        The drift monitors' settings (default: their defaults): each served
        version gets a :class:`~fugue_ppl.serving.drift.DriftMonitor`, its
        check in the version's health and its families in the metrics.
    registry : ModelRegistry, optional
        Re-read by :meth:`refresh` for models that appear (each gets a
        deployment from ``deployment_factory(registry, name)``).
    deployment_factory : callable, optional
        Makes the deployment of a new model name of ``registry``.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import SENSOR_SCHEMA, sensor
    >>> runner = fp.ModelRunner(sensor, schema=SENSOR_SCHEMA)
    >>> catalog = Catalog([StaticDeployment("sensor", {"1": runner})])
    >>> sorted(catalog.models), catalog.get("sensor").version().inputs[0].name
    (['sensor'], 'reading')
    >>> catalog.close()
    """

    def __init__(self, deployments: Iterable[Any] = (), *, health: HealthSettings | None = None,
                 drift: DriftSettings | None = None, registry: Any = None,
                 deployment_factory: Any = None):
        self._health = HealthSettings() if health is None else health
        self._drift = DriftSettings() if drift is None else check_type(
            drift, "drift", "Catalog", DriftSettings, "a DriftSettings")
        self._registry = registry
        self._factory = deployment_factory
        self._deployments: dict[str, Any] = {d.name: d for d in deployments}
        self._checkers: dict[tuple[str, str, int],
                             tuple[HealthChecker | None, DriftMonitor]] = {}
        self._lock = threading.Lock()          # one refresh at a time
        self._closed = False
        self.models: Mapping[str, ServedModel] = MappingProxyType({})
        self._rebuild()

    @property
    def registry(self) -> Any:
        """The registry the catalog re-reads (None when it serves fixed deployments)."""
        return self._registry

    @classmethod
    def from_config(cls, config: Any, default: Any = None) -> Catalog:
        """The catalog a configuration (a :class:`fugue_ppl.config.Config`) describes:
        the registry's models when ``registry.url`` is set, else the deployment
        ``default(config)`` makes.

        Raises
        ------
        ValueError
            No registry is configured and no ``default`` is given.
        """
        if config.registry.url is None:
            if default is None:
                raise ValueError("Catalog.from_config: no registry is configured "
                                 "([registry] url) and no default deployment is given")
            return cls([default(config)], health=config.health, drift=config.drift)
        from fugue_ppl.deploy import ModelRegistry
        from fugue_ppl.deploy.deployment import ModelDeployment

        registry = ModelRegistry(config.registry)
        base = RunnerConfig(model=config.model, runtime=config.runtime, breaker=config.breaker,
                            metrics=config.metrics, inference=config.inference)

        def factory(reg: Any, name: str) -> Any:
            return ModelDeployment(reg, name, runner_config=base, rollout_config=config.rollout,
                                   analysis_config=config.analysis)

        catalog = cls(health=config.health, drift=config.drift, registry=registry,
                      deployment_factory=factory)
        catalog.refresh()
        return catalog

    # ------------------------------------------------------------ reads

    def get(self, name: str) -> ServedModel:
        """The served model ``name``.

        Raises
        ------
        UnknownModel
            No such model is served.
        """
        found = self.models.get(name)
        if found is None:
            raise UnknownModel(f"no model {str(name)[:64]!r} is served (served: "
                               f"{', '.join(self.models) or 'none'})")
        return found

    def ready(self) -> bool:
        """Every model has a ready version (and there is at least one model)."""
        models = self.models
        return bool(models) and all(m.ready() for m in models.values())

    def served_versions(self) -> Iterator[ServedVersion]:
        """Every served version of every model."""
        for m in self.models.values():
            yield from m.versions.values()

    # ------------------------------------------------------------ changes

    def refresh(self) -> None:
        """Re-read the registry (new models, each deployment's versions) and rebuild the views.

        Never raises for a deployment or a registry that fails: the last
        state keeps being served and the failure is logged.
        """
        with self._lock:
            if self._closed:
                return
            if self._registry is not None and self._factory is not None:
                try:
                    names = self._registry.models()
                except Exception:  # noqa: BLE001 - a store that is down: keep serving
                    _log.warning("catalog: the registry's models could not be listed",
                                 exc_info=True)
                    names = []
                for name in names:
                    if name not in self._deployments:
                        try:
                            self._deployments[name] = self._factory(self._registry, name)
                        except Exception:  # noqa: BLE001 - one model's failure
                            _log.exception("catalog: model %r could not be deployed", name)
            for d in list(self._deployments.values()):
                try:
                    d.refresh()
                except Exception:  # noqa: BLE001 - a deployment keeps its last state
                    _log.exception("catalog: model %r could not be refreshed", d.name)
            self._rebuild()

    def _rebuild(self) -> None:
        models: dict[str, ServedModel] = {}
        checkers: dict[tuple[str, str, int], tuple[HealthChecker | None, DriftMonitor]] = {}
        for name, d in self._deployments.items():
            try:
                records = d.versions()
                router = d.router
            except Exception:  # noqa: BLE001 - a deployment without served versions
                _log.warning("catalog: model %r has no served version", name, exc_info=True)
                continue
            served: dict[str, ServedVersion] = {}
            for r in records:
                try:
                    runner = d.runner(r.version)
                except Exception:  # noqa: BLE001 - listed but not loaded
                    _log.warning("catalog: %s %s has no runner", name, r.version, exc_info=True)
                    continue
                key = (name, r.version, id(runner))
                if key in self._checkers:
                    checker, drift = self._checkers[key]
                else:
                    checker = self._checker(name, r, runner)
                    drift = DriftMonitor(self._drift, model=name, version=r.version)
                    if checker is not None:
                        drift.register_health(checker)
                checkers[key] = (checker, drift)
                served[r.version] = ServedVersion(
                    name, r.version, r.status, runner, _inputs(runner), output_specs(r.outputs),
                    checker, r.revision, drift)
            if served:
                models[name] = ServedModel(d, router, served)
        self._checkers = checkers
        self.models = MappingProxyType(models)

    def _checker(self, name: str, record: ModelVersion,
                 runner: ModelRunner) -> HealthChecker | None:
        smoke = _smoke_args(record, runner)
        kwargs: dict[str, Any]
        if smoke is None:
            placeholder = _placeholder_args(runner)
            if placeholder is None:
                _log.warning("catalog: %s %s: no health checker (no smoke inputs, and its "
                             "schema accepts no placeholder)", name, record.version)
                return None
            kwargs = dict(smoke_args=placeholder, warmup=0, builtin_checks=[
                c for c in BUILTIN_CHECKS if c != "model_execution"
                and (runner.metrics is not None or c not in _METRIC_CHECKS)])
        else:
            kwargs = dict(smoke_args=smoke)
            if runner.metrics is None:
                kwargs["builtin_checks"] = [c for c in BUILTIN_CHECKS
                                            if c not in _METRIC_CHECKS]
        checker = HealthChecker(runner, settings=self._health, service_id=name,
                                description=f"fugue-ppl model {name!r} version "
                                            f"{record.version!r}", **kwargs)
        result = checker.warm_up()
        if result.status is not HealthStatus.HEALTHY:
            _log.warning("catalog: %s %s: %s", name, record.version, result.output)
        return checker

    def close(self) -> None:
        """Close every deployment (their runners' worker threads)."""
        with self._lock:
            self._closed = True
            for d in self._deployments.values():
                try:
                    d.close()
                except Exception:  # noqa: BLE001 - closing the others matters more
                    _log.exception("catalog: model %r could not be closed", d.name)
            if self._registry is not None:
                self._registry.close()

    # ------------------------------------------------------------ health

    def health(self) -> tuple[dict[str, Any], int]:
        """The health of every served version as one ``application/health+json`` document.

        Runs each version's checks (:meth:`HealthChecker.check`: a smoke run,
        the windows, the levels); blocking, call it off the event loop. The
        document is the worst version's report (its status, score, levels
        and alerts) with the checks of every version, and ``models``: each
        version's status, score and levels. The HTTP status is 200 for pass
        and warn, 503 for fail (and when nothing is served).
        """
        reports = [(v, v.checker.check()) for v in self.served_versions()
                   if v.checker is not None]
        if not reports:
            return {"status": "fail", "output": "no model is served", "checks": {}}, 503
        worst = min(reports, key=lambda vr: vr[1].score)[1]
        for _, r in reports:
            if r.status is HealthStatus.UNHEALTHY:
                worst = r
                break
        doc = worst.to_health_json()
        doc["serviceId"] = PLATFORM
        doc["description"] = "fugue-ppl inference service"
        checks: dict[str, list[dict[str, Any]]] = {}
        models: dict[str, dict[str, Any]] = {}
        for v, r in reports:
            body = r.to_health_json()
            for k, items in body["checks"].items():
                checks.setdefault(k, []).extend(
                    {**item, "componentId": f"{v.name}/{v.version}:"
                     f"{item.get('componentId', k)}"} for item in items)
            models.setdefault(v.name, {})[v.version] = {
                "status": body["status"], "score": body["score"], "levels": body["levels"]}
        doc["checks"] = checks
        doc["models"] = models
        return doc, worst.http_status

    def readiness(self) -> tuple[dict[str, Any], int]:
        """Each version's readiness as one ``application/health+json`` document (200 or 503)."""
        checks: dict[str, list[dict[str, Any]]] = {}
        models: dict[str, dict[str, str]] = {}
        statuses = []
        for v in self.served_versions():
            if v.checker is None:
                ok = v.ready()
                statuses.append(HealthStatus.HEALTHY if ok else HealthStatus.UNHEALTHY)
                checks.setdefault("circuitBreaker:state", []).append(
                    {"componentId": f"{v.name}/{v.version}:{v.runner.breaker.name}",
                     "status": "pass" if ok else "fail",
                     **({} if ok else {"output": "the circuit breaker is FAILED"})})
                models.setdefault(v.name, {})[v.version] = "pass" if ok else "fail"
                continue
            r = v.checker.readiness()
            statuses.append(r.status)
            body = r.to_health_json()
            for k, items in body["checks"].items():
                checks.setdefault(k, []).extend(
                    {**item, "componentId": f"{v.name}/{v.version}:"
                     f"{item.get('componentId', k)}"} for item in items)
            models.setdefault(v.name, {})[v.version] = body["status"]
        ready = self.ready()
        status = "fail" if not ready else (
            "warn" if any(s is not HealthStatus.HEALTHY for s in statuses) else "pass")
        doc: dict[str, Any] = {"status": status, "serviceId": PLATFORM, "checks": checks,
                               "models": models}
        if not ready:
            doc["output"] = ("no model is served" if not models else
                             "not ready: " + ", ".join(
                                 f"{n} {v}" for n, vs in models.items() for v, s in vs.items()
                                 if s == "fail"))
        return doc, 200 if ready else 503


def _inputs(runner: ModelRunner) -> tuple[TensorSpec, ...]:
    schema = runner.schema
    if schema is not None:
        return input_specs(schema)
    try:
        params = inspect.signature(runner.model).parameters.values()
    except (TypeError, ValueError):
        return ()
    return input_specs(None, [(p.name, p.default is not p.empty) for p in params
                              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _placeholder_args(runner: ModelRunner) -> tuple[Any, ...] | None:
    """Arguments the runner's schema accepts (its checker validates smoke arguments even
    when it runs none): each required field a plain value of its type within its
    float bounds; None when the schema refuses them."""
    schema = runner.schema
    if schema is None:
        return ()
    specs = {t.name: t for t in input_specs(schema)}
    values: list[Any] = []
    for (fname, f), bounds in zip(schema.fields.items(), schema.float_bounds, strict=True):
        if not f.required:
            break
        dt = specs[fname].datatype
        if dt == "BOOL":
            values.append(False)
        elif dt == "INT64":
            values.append(0)
        elif dt == "BYTES":
            values.append("x")
        else:
            lo, hi = (bounds[0], bounds[1]) if bounds is not None else (-math.inf, math.inf)
            values.append(min(max(0.0, lo), hi))
    try:
        schema.validate_args(*values)
    except (ValueError, TypeError):
        return None
    return tuple(values)


def _smoke_args(record: ModelVersion, runner: ModelRunner) -> tuple[Any, ...] | None:
    given = thaw(record.params).get("smoke_inputs") if record.params else None
    if given is None:
        given = _KNOWN_SMOKE.get(record.model)
    if isinstance(given, dict):
        names = [s.name for s in _inputs(runner)]
        if all(n in given for n in names):
            return tuple(given[n] for n in names)
    return None


# ---------------------------------------------------------------- metrics


class CatalogCollector(Collector):
    """The Prometheus families of every served model: each model's
    :class:`~fugue_ppl.deploy.prometheus.RouterCollector` (its versions' runner
    families and route weights) with a ``model`` label, and the process's
    families once.

    A model's router is replaced when its set of versions changes; the
    collector follows (one RouterCollector per router, rebuilt on change).
    """

    def __init__(self, catalog: Catalog, prefix: str = "fugue"):
        self.catalog = catalog
        self.prefix = prefix
        self._process = ProcessExporter()
        self._process_names = {f.name for f in self._process.prometheus_families(prefix)}
        self._collectors: dict[str, tuple[Router, RouterCollector | None]] = {}

    def describe(self) -> Iterable[Metric]:
        return []         # (families vary with the models served: checked at each scrape)

    def _collector(self, model: ServedModel) -> RouterCollector | None:
        held = self._collectors.get(model.name)
        if held is None or held[0] is not model.router:
            try:
                collector = RouterCollector(model.router, prefix=self.prefix)
            except (InvalidArgument, TypeError):
                # (a version whose runner records no metrics: [metrics] enabled = false)
                _log.warning("metrics: model %r is not exported (a version's runner records "
                             "no metrics)", model.name)
                collector = None
            held = (model.router, collector)
            self._collectors[model.name] = held
        return held[1]

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        models = self.catalog.models
        for name in [n for n in self._collectors if n not in models]:
            del self._collectors[name]
        for model in models.values():
            collector = self._collector(model)
            if collector is None:
                continue
            for fam in collector.collect():
                if fam.name in self._process_names:
                    continue
                out = merged.get(fam.name)
                if out is None:
                    out = merged[fam.name] = Metric(fam.name, fam.documentation, fam.type,
                                                    fam.unit)
                for s in fam.samples:
                    out.add_sample(s.name, {"model": model.name, **s.labels}, s.value,
                                   s.timestamp, s.exemplar)
        yield from merged.values()
        monitors = [v.drift for v in self.catalog.served_versions() if v.drift is not None]
        if monitors:
            yield from DriftCollector(monitors, prefix=self.prefix).collect()
        yield from self._process.prometheus_families(self.prefix)
