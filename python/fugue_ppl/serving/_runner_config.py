"""The settings a :class:`~fugue_ppl.ModelRunner` reads: the model it serves
(``[model]``), its runtime limits (``[runtime]``), and :class:`RunnerConfig`,
which holds them with the breaker's and the metrics' settings.

A :class:`fugue_ppl.config.Config` has the same four sections, so either can
be given to the runner; :mod:`fugue_ppl.config` layers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fugue_ppl.checks import (
    LOG_LEVELS,
    Choice,
    Duration,
    FrozenMapping,
    Int,
    Params,
    Real,
    Relation,
    Settings,
    Text,
    log_level_name,
    section,
    setting,
    settings,
)
from fugue_ppl.core._runtime import MAX_POOL_SIZE
from fugue_ppl.inference._config import InferenceConfig
from fugue_ppl.monitoring._metrics_config import MetricsConfig
from fugue_ppl.serving._breaker import BreakerConfig

__all__ = ["ModelConfig", "RunnerConfig", "RuntimeConfig"]

_NAME = Text(64, r"[A-Za-z0-9_.-]{1,64}",
             "must be 1 to 64 ASCII letters, digits, '_', '-' or '.'")


@settings
class ModelConfig(Settings):
    """The model served: its name, its version and its free parameters.

    Examples
    --------
    >>> m = ModelConfig(name="sensor", params={"prior_mean": 20.0})
    >>> m.params["prior_mean"]
    20.0
    """

    name: str = setting("default", check=_NAME,
                        doc="Names the model (its breaker, health reports and metrics).")
    version: str = setting("1", check=_NAME, doc="The version reported with every result.")
    params: Mapping[str, Any] = setting(
        check=Params(), factory=FrozenMapping,
        doc="Free parameters of the model (read-only; layers merge them key by key).")


@settings
class RuntimeConfig(Settings):
    """The runtime limits of a runner: its deadline, its trace pool, and the
    worker threads and queue of its asynchronous calls.

    Examples
    --------
    >>> RuntimeConfig(pool_max_size=128).pool_max_size
    128
    """

    max_inference_time: float = setting(
        1.0, check=Duration(),
        doc="Deadline of one inference in seconds: enforced at every effect; a run "
            "finishing later is a timeout; an asynchronous call returns by it.")
    pool_max_size: int = setting(64, check=Int(1, MAX_POOL_SIZE),
                                 doc="Idle traces the trace pool keeps.")
    pool_min_size: int = setting(0, check=Int(0, MAX_POOL_SIZE),
                                 doc="Traces built up front and kept when the pool shrinks.")
    workers: int = setting(8, check=Int(1, 1024),
                           doc="Worker threads running the asynchronous calls (infer_async).")
    queue_size: int = setting(
        64, check=Int(0, 1_000_000),
        doc="Asynchronous calls that may wait for a worker; beyond that a call is refused "
            "at once (status overloaded).")
    inference_log_rate: float = setting(
        0.0, check=Real("probability"),
        doc="Fraction of inferences logged as one structured event each (logger "
            "fugue_ppl.inference; fugue_ppl.serving.logs); 0: none.")
    inference_log_level: str = setting(
        "INFO", check=Choice(LOG_LEVELS, log_level_name),
        doc="Level of the inference events.")

    _relations = (Relation("pool_min_size", "<=", "pool_max_size"),)


@settings
class RunnerConfig(Settings):
    """Everything a :class:`~fugue_ppl.ModelRunner` reads, each section owned by
    its component (a :class:`fugue_ppl.config.Config` has the same sections).

    Examples
    --------
    >>> RunnerConfig(runtime=RuntimeConfig(max_inference_time=0.5)).runtime.max_inference_time
    0.5
    """

    model: ModelConfig = section(ModelConfig, doc="The model served.")
    runtime: RuntimeConfig = section(RuntimeConfig, doc="Runtime limits.")
    breaker: BreakerConfig = section(BreakerConfig, doc="The circuit breaker.")
    metrics: MetricsConfig = section(MetricsConfig, doc="The production metrics.")
    inference: InferenceConfig = section(
        InferenceConfig, doc="Whether each request is answered with a posterior.")
