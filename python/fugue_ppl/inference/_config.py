"""The ``[inference]`` settings: whether a served model answers each request
with a posterior, and with how many particles, summarising which sites."""

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

__all__ = ["InferenceConfig"]

#: The algorithms a served model can answer with.
ALGORITHMS = ("none", "importance")


@settings
class InferenceConfig(Settings):
    """How a served model answers a request: one weighted prior run (``none``)
    or the posterior of importance sampling (``importance``).

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
            "importance sampling (the value is its summary; the V2 response carries it as "
            "posterior_* output tensors).")
    particles: int = setting(1000, check=Int(1, max_particles()),
                             doc="Particles per request (importance).")
    sites: tuple[str, ...] = setting(
        (), check=Custom(check_site_names, "distinct site names"),
        doc="Sites the posterior summarises (empty: every sampled site).")

    def build(self) -> ImportanceSampling | None:
        """The inference object a :class:`~fugue_ppl.ModelRunner` takes, or None."""
        if self.algorithm == "none":
            return None
        return ImportanceSampling(n=self.particles, sites=self.sites or None)
