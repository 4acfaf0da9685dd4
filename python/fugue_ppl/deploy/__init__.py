"""Deployment: the model registry and parameter store
(:mod:`~fugue_ppl.deploy.registry`) and its settings (``[registry]``);
:class:`Router`, which sends each request to a model version by a stable hash
of its key against the current weights, with shadow traffic to a candidate;
the rollout analysis (:mod:`~fugue_ppl.deploy.analysis`); and the rollout
strategies (:mod:`~fugue_ppl.deploy.strategies`), their settings
(``[rollout]``) and automatic rollback triggers (:mod:`~fugue_ppl.deploy.guards`);
and :class:`ModelDeployment`, one model's served versions kept in step with the
registry (:mod:`~fugue_ppl.deploy.deployment`).

Importing this package loads no optional dependency: the registry imports
``cachetools`` and ``jsonschema`` (the ``deploy`` extra) and, for
PostgreSQL, psycopg (the ``postgres`` extra) when it needs them.
"""

from fugue_ppl.deploy._registry_config import RegistryConfig
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.deploy._router import Router, key_hash
from fugue_ppl.deploy.deployment import (
    ModelDeployment,
    abort_rollout,
    find_rollout,
    rollout_status,
    rollout_weights,
    start_rollout,
)
from fugue_ppl.deploy.registry import (
    OUTPUT_TYPES,
    STATUSES,
    HistoryEntry,
    ModelRegistry,
    ModelVersion,
)
from fugue_ppl.deploy.rollouts import Rollout, RolloutEvent
from fugue_ppl.deploy.strategies import (
    ABTest,
    BlueGreen,
    Canary,
    Immediate,
    Rolling,
    ShadowRollout,
    Strategy,
    resume,
)
from fugue_ppl.errors import (
    InvalidModelParams,
    ModelImportError,
    RegistryConflict,
    RegistryError,
    RegistryUnavailable,
    UnknownModel,
    UnknownRollout,
    UnknownVersion,
)

__all__ = [
    "ModelRegistry", "ModelVersion", "HistoryEntry", "RegistryConfig", "STATUSES",
    "OUTPUT_TYPES", "RegistryError", "UnknownModel", "UnknownVersion", "RegistryConflict",
    "RegistryUnavailable", "ModelImportError", "InvalidModelParams", "Router", "key_hash",
    "RolloutConfig", "Rollout", "RolloutEvent", "UnknownRollout", "Strategy", "Immediate",
    "BlueGreen", "Canary", "Rolling", "ABTest", "ShadowRollout", "resume",
    "ModelDeployment", "start_rollout", "abort_rollout", "find_rollout", "rollout_status",
    "rollout_weights",
]
