"""The probabilistic core: distributions, effects and ``run``, traces, the
trace pool, the handlers and particle runs, all compiled (but the particle
sets' statistics). The layers above plug into it
(see ``docs/architecture.md``)."""

# The distributions are the table's (core/_distribution_table.py): every one it
# declares is exported, with no list to keep in step here.
from fugue_ppl.core import _distributions
from fugue_ppl.core._distributions import *  # noqa: F403
from fugue_ppl.core._runtime import (
    Choice,
    Handler,
    HandlerWrapper,
    ParticleArray,
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
from fugue_ppl.core.particles import Particles

__all__ = [
    "sample", "observe", "factor", "run", "addr", "max_address_length", "set_max_address_length",
    "Trace", "Choice", "TracePool", "PoolStats", "trace_buffer_allocations",
    "Handler", "PriorHandler", "ReplayHandler", "ScoreGivenTrace", "SafeReplayHandler",
    "SafeScoreGivenTrace", "PooledPriorHandler", "HandlerWrapper",
    "run_particles", "Particles", "ParticleArray", "max_particles", "set_max_particles",
]
__all__ += _distributions.__all__
