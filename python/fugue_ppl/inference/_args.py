"""The arguments the particle algorithms share, checked alike: the number of
particles, the sites to summarise, and a figure as JSON."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from fugue_ppl.checks import invalid, type_error
from fugue_ppl.core import max_particles


def json_float(x: float) -> float | None:
    """``x`` as a float for JSON: None when it is NaN or infinite (JSON has neither)."""
    x = float(x)
    return x if math.isfinite(x) else None


def check_n(n: Any, owner: str) -> int:
    """``n`` particles: an integer (not a float, not a bool) within the particle
    limit, checked before anything is allocated."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise type_error(owner, "n", n, "an integer (the number of particles)")
    n = int(n)
    if n < 1:
        raise invalid(owner, "n", n, "must be >= 1 (the number of particles)")
    limit = max_particles()
    if n > limit:
        raise invalid(owner, "n", n, f"must be <= {limit} (the particle limit, "
                      "fp.set_max_particles)")
    return n


def check_sites(sites: Any, owner: str) -> tuple[str, ...] | None:
    """``sites`` to summarise: None (every sampled site) or distinct site names."""
    if sites is None:
        return None
    if isinstance(sites, (str, bytes)) or not isinstance(sites, Iterable):
        raise type_error(owner, "sites", sites,
                         "None or a sequence of site names (a list, not one str)")
    names = tuple(sites)
    for name in names:
        if not isinstance(name, str):
            raise type_error(owner, "sites", name, "a sequence of site names (str)")
    if not names:
        raise invalid(owner, "sites", sites, "must name at least one site (None for all)")
    seen = set()
    for name in names:
        if name in seen:
            raise invalid(owner, "sites", sites, f"must not name site {name!r} twice")
        seen.add(name)
    return names
