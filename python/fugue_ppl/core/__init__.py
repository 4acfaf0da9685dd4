"""The probabilistic core: distributions, effects and ``run``, traces, the
trace pool and the handlers, all compiled. The layers above plug into it
(see ``docs/architecture.md``)."""

from fugue_ppl.core._distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    ChiSquared,
    DiscreteUniform,
    Distribution,
    Exponential,
    Gamma,
    Geometric,
    InverseGamma,
    Laplace,
    LogNormal,
    NegativeBinomial,
    Normal,
    Poisson,
    StudentT,
    Uniform,
    Weibull,
    as_generator,
)
from fugue_ppl.core._runtime import (
    Choice,
    Handler,
    HandlerWrapper,
    PooledPriorHandler,
    PoolStats,
    PriorHandler,
    ReplayHandler,
    SafeReplayHandler,
    SafeScoreGivenTrace,
    ScoreGivenTrace,
    Trace,
    TracePool,
    addr,
    factor,
    observe,
    run,
    sample,
    trace_buffer_allocations,
)

__all__ = [
    "sample", "observe", "factor", "run", "addr",
    "Trace", "Choice", "TracePool", "PoolStats", "trace_buffer_allocations",
    "Handler", "PriorHandler", "ReplayHandler", "ScoreGivenTrace", "SafeReplayHandler",
    "SafeScoreGivenTrace", "PooledPriorHandler", "HandlerWrapper",
    "Distribution", "Normal", "Uniform", "LogNormal", "Exponential", "Beta", "Gamma",
    "Bernoulli", "Binomial", "Categorical", "Poisson", "StudentT", "Cauchy", "Laplace",
    "Weibull", "ChiSquared", "InverseGamma", "DiscreteUniform", "NegativeBinomial", "Geometric",
    "as_generator",
]
