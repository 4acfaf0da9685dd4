"""The seeds of the inference algorithms, in one place: a user's ``seed`` or ``rng``
(SPEC 7: None, an int, a ``SeedSequence`` or a ``Generator``) checked, turned into the
``SeedSequence`` a run derives its streams from, and child streams by spawn key."""

from __future__ import annotations

from typing import Any

import numpy as np

from fugue_ppl.checks import check_int, type_error

__all__ = ["check_seed", "child", "root_seed"]


def check_seed(seed: Any, name: str, owner: str) -> Any:
    """``seed`` if it is None, a SeedSequence, a Generator or an int >= 0.

    Raises
    ------
    TypeError
        Another type (a bool too).
    InvalidArgument
        A negative int.
    """
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise type_error(owner, name, seed, "None, an int, a SeedSequence or a Generator")
    return check_int(seed, name, owner, low=0)


def root_seed(seed: Any) -> np.random.SeedSequence:
    """The SeedSequence of a checked ``seed`` (None: fresh entropy; a Generator: four
    words drawn from it)."""
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4).tolist())
    return np.random.SeedSequence(int(seed))


def child(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The stream of ``root`` with ``key`` appended to its spawn key."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key),
                                  pool_size=root.pool_size)
