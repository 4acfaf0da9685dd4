"""The ``[inference]`` settings: whether a served model answers each request
with a posterior, by which algorithm and with how many particles or draws,
summarising which sites."""

from __future__ import annotations

from fugue_ppl.checks import (
    Choice,
    Custom,
    Int,
    Settings,
    check_site_names,
    setting,
    settings,
)
from fugue_ppl.core import max_particles
from fugue_ppl.inference.importance import ImportanceSampling
from fugue_ppl.inference.mh import KERNELS, MAX_CHAINS, MAX_STEPS, MetropolisHastings

__all__ = ["InferenceConfig"]

#: The algorithms a served model can answer with.
ALGORITHMS = ("none", "importance", "metropolis_hastings")


@settings
class InferenceConfig(Settings):
    """How a served model answers a request: one weighted prior run (``none``),
    the posterior of importance sampling (``importance``) or of random-walk
    Metropolis-Hastings chains (``metropolis_hastings``).

    Examples
    --------
    >>> InferenceConfig(algorithm="importance", particles=500).build()
    ImportanceSampling(n=500, sites=None, resample=None, on_branch='raise')
    >>> InferenceConfig().build() is None
    True
    """

    algorithm: str = setting(
        "none", check=Choice(ALGORITHMS),
        doc="none: one prior run per request; importance: the posterior of self-normalised "
            "importance sampling; metropolis_hastings: of random-walk Metropolis-Hastings "
            "chains (the value is its summary; the V2 response carries it as posterior_* "
            "output tensors).")
    particles: int = setting(1000, check=Int(1, max_particles()),
                             doc="Particles per request (importance).")
    kernel: str = setting(
        "random_walk", check=Choice(KERNELS),
        doc="The chains' kernel (metropolis_hastings): random_walk for models with continuous "
            "sites only, single_site for any (each site moved by a draw from its prior).")
    chains: int = setting(4, check=Int(1, MAX_CHAINS),
                          doc="Chains per request (metropolis_hastings).")
    draws: int = setting(1000, check=Int(1, MAX_STEPS),
                         doc="Draws kept per chain (metropolis_hastings).")
    warmup: int = setting(1000, check=Int(0, MAX_STEPS),
                          doc="Warm-up steps per chain (metropolis_hastings).")
    sites: tuple[str, ...] = setting(
        (), check=Custom(check_site_names, "distinct site names"),
        doc="Sites the posterior summarises (empty: every sampled site).")

    def build(self) -> ImportanceSampling | MetropolisHastings | None:
        """The inference object a :class:`~fugue_ppl.ModelRunner` takes, or None."""
        if self.algorithm == "none":
            return None
        if self.algorithm == "metropolis_hastings":
            return MetropolisHastings(self.kernel, chains=self.chains, draws=self.draws,
                                      warmup=self.warmup, sites=self.sites or None)
        return ImportanceSampling(n=self.particles, sites=self.sites or None)
