"""fugue-ppl: probabilistic models in production Python services.

A model is a plain Python function that calls effects::

    import fugue_ppl as fp

    def sensor(reading):
        temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
        valid = fp.sample("valid", fp.Bernoulli(0.95))
        fp.observe("sensor", fp.Normal(temp, 1.0), reading)
        return temp, valid

    value, trace = fp.run(fp.PriorHandler(rng=42), sensor, 22.0)

Handlers decide what an effect means; distributions, handlers, traces and the
trace pool are C++.
"""

import logging

from fugue_ppl import errors, inference
from fugue_ppl.core import (
    Choice,
    Handler,
    ParticleArray,
    Particles,
    PooledPriorHandler,
    PoolStats,
    PriorHandler,
    ReplayHandler,
    SafeReplayHandler,
    SafeScoreGivenTrace,
    ScoreGivenTrace,
    Trace,
    TracePool,
    _distributions,
    addr,
    factor,
    max_address_length,
    max_particles,
    observe,
    run,
    run_particles,
    sample,
    set_max_address_length,
    set_max_particles,
    trace_buffer_allocations,
)

# The distributions, as the core exports them (one per entry of its table).
from fugue_ppl.core._distributions import *  # noqa: F403
from fugue_ppl.errors import (
    AddressConflict,
    BranchOnSample,
    CircuitOpenError,
    ConfigError,
    DegenerateWeights,
    EffectOutsideRun,
    FugueError,
    FugueWarning,
    InferenceTimeout,
    InvalidAddress,
    InvalidObservation,
    InvalidParameters,
    OverloadedError,
    TraceAddressNotFound,
    TypeMismatch,
    UnexpectedModelStructure,
    ValidationError,
)
from fugue_ppl.inference import MCMCResult, MetropolisHastings
from fugue_ppl.monitoring import LatencyHistogram, MetricsHandler, ProductionMetrics
from fugue_ppl.serving import (
    BreakerState,
    CircuitBreaker,
    InferenceResult,
    ManualClock,
    ModelRunner,
    RobustHandler,
    TraceIssue,
    validate_trace,
)

__version__ = "0.1.0"

# A library logs, the application decides where to: nothing is printed unless
# it configures logging (the errors the runner logs carry the ids clients see).
logging.getLogger("fugue_ppl").addHandler(logging.NullHandler())

__all__ = [
    # effects and running
    "sample", "observe", "factor", "run", "addr", "max_address_length", "set_max_address_length",
    # particle runs
    "run_particles", "Particles", "ParticleArray", "max_particles", "set_max_particles",
    # traces and pool
    "Trace", "Choice", "TracePool", "PoolStats", "trace_buffer_allocations",
    # handlers
    "Handler", "PriorHandler", "ReplayHandler", "ScoreGivenTrace", "SafeReplayHandler",
    "SafeScoreGivenTrace", "PooledPriorHandler", "MetricsHandler", "RobustHandler",
    # inference (the diagnostics and proposals: fugue_ppl.inference)
    "inference", "MetropolisHastings", "MCMCResult",
    # production metrics
    "ProductionMetrics", "LatencyHistogram",
    # fault tolerance
    "CircuitBreaker", "BreakerState", "ManualClock", "ModelRunner", "InferenceResult",
    "TraceIssue", "validate_trace",
    # errors
    "errors", "FugueError", "InvalidParameters", "InvalidAddress", "AddressConflict",
    "UnexpectedModelStructure", "TraceAddressNotFound", "TypeMismatch", "InvalidObservation",
    "EffectOutsideRun", "BranchOnSample", "DegenerateWeights", "ValidationError", "ConfigError",
    "InferenceTimeout", "CircuitOpenError", "OverloadedError", "FugueWarning",
]
__all__ += _distributions.__all__
