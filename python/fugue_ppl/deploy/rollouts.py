"""Rollout records: a rollout of a candidate version as the registry keeps it
(:class:`Rollout`), and the append-only events of its transitions
(:class:`RolloutEvent`).

A rollout's ``state`` and ``data`` belong to its strategy
(:mod:`fugue_ppl.deploy.strategies` documents each state machine); the
registry stores them with a revision, so a restarted process or another
replica resumes the rollout, and two writers never both apply one transition.
At most one rollout of a model is active at a time.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from fugue_ppl.checks import thaw

__all__ = ["TERMINAL_STATES", "Rollout", "RolloutEvent", "plain_record"]

#: The states in which a rollout is over (no longer active).
TERMINAL_STATES = ("promoted", "rolled_back", "refused", "no_difference", "completed",
                   "aborted")


def plain_record(record: Any) -> dict[str, Any]:
    """A registry record (a dataclass) as plain JSON values: its fields thawed,
    its times in ISO 8601."""
    out = {}
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        out[f.name] = v.isoformat() if isinstance(v, datetime.datetime) else thaw(v)
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Rollout:
    """One rollout of a candidate version (read-only; strategies change it through
    :meth:`~fugue_ppl.deploy.ModelRegistry.update_rollout`).

    Attributes
    ----------
    id : int
        The rollout's number in the registry.
    name : str
        The model.
    strategy : str
        ``immediate``, ``blue_green``, ``canary``, ``rolling``, ``ab_test`` or ``shadow``.
    baseline : str or None
        The version serving before the rollout (None: nothing was live).
    candidate : str
        The version rolled out.
    state : str
        Where the strategy's state machine is.
    active : bool
        False once the state is one of :data:`TERMINAL_STATES`.
    settings : Mapping
        The settings it runs with (``rollout`` and ``analysis``), fixed at its start.
    data : Mapping
        The strategy's state (step, weights, test statistics ...), JSON values.
    revision : int
        Increases by one with each change; writes name the revision they expect.
    actor : str
        Who started it.
    created, updated : datetime.datetime
        When it started and last changed (UTC).
    """

    id: int
    name: str
    strategy: str
    baseline: str | None
    candidate: str
    state: str
    active: bool
    settings: Mapping[str, Any]
    data: Mapping[str, Any]
    revision: int
    actor: str
    created: datetime.datetime
    updated: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        """The rollout as plain JSON values (times in ISO 8601)."""
        return plain_record(self)


@dataclasses.dataclass(frozen=True, slots=True)
class RolloutEvent:
    """One transition of a rollout, as the append-only events record it.

    Attributes
    ----------
    id : int
        Increasing in the order of the events.
    rollout : int
        The rollout's id.
    name : str
        The model.
    actor : str
        Who (or which strategy) made the transition.
    action : str
        What happened: ``start``, ``step``, ``look``, ``promote``, ``rollback``,
        ``pause``, ``resume``, ``move``, ``switch``, ``refuse``, ``abort``, ...
    at : datetime.datetime
        When (UTC).
    state_before, state_after : str or None
        The state before (None for ``start``) and after.
    details : Mapping
        The statistics that decided it (decisions, counts, breaker state,
        burn rates) and the reason.
    revision : int
        The rollout's revision after the transition.
    """

    id: int
    rollout: int
    name: str
    actor: str
    action: str
    at: datetime.datetime
    state_before: str | None
    state_after: str
    details: Mapping[str, Any]
    revision: int

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON values (times in ISO 8601)."""
        return plain_record(self)
