"""Inference on the trace runtime: the diagnostics of MCMC draws and of
importance weights (R̂, bulk and tail ESS, MCSE, PSIS and its k̂).

The layer imports the checking kit and the core only.
"""

from fugue_ppl.inference.diagnostics import (
    PSISResult,
    ess_bulk,
    ess_mean,
    ess_tail,
    importance_ess,
    khat_threshold,
    mcse_mean,
    psis,
    rhat,
    split_rhat,
)

__all__ = [
    "rhat", "split_rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean",
    "importance_ess", "psis", "PSISResult", "khat_threshold",
]
