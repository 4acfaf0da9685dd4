"""Inference on the trace runtime: likelihood weighting (self-normalised
importance sampling on the particle runtime), sequential Monte Carlo (a particle
filter on the particle runtime for models that observe data in steps: adaptive
systematic or stratified resampling, an unbiased evidence), Metropolis-Hastings
(random-walk and single-site, several chains) and the diagnostics of MCMC draws
and of importance weights (R̂, bulk and tail ESS, MCSE, PSIS and its k̂).

The layer imports the checking kit and the core only.
"""

from fugue_ppl.inference._config import InferenceConfig
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
from fugue_ppl.inference.importance import (
    ImportanceResult,
    ImportanceSampling,
    ImportanceSiteSummary,
)
from fugue_ppl.inference.mcmc_result import MCMCResult, SiteSummary
from fugue_ppl.inference.mh import KERNELS, MetropolisHastings
from fugue_ppl.inference.posterior import Posterior, PosteriorSummary
from fugue_ppl.inference.proposals import (
    Flip,
    GaussianWalk,
    IntegerWalk,
    LogNormalWalk,
    Prior,
    Proposal,
)
from fugue_ppl.inference.smc import SequentialMonteCarlo, SMCResult

__all__ = [
    "InferenceConfig", "Posterior", "PosteriorSummary",
    "ImportanceSampling", "ImportanceResult", "ImportanceSiteSummary",
    "SequentialMonteCarlo", "SMCResult",
    "MetropolisHastings", "KERNELS", "MCMCResult", "SiteSummary",
    "Proposal", "Prior", "GaussianWalk", "LogNormalWalk", "Flip", "IntegerWalk",
    "rhat", "split_rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean",
    "importance_ess", "psis", "PSISResult", "khat_threshold",
]
