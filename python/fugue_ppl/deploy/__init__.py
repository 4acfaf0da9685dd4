"""Deployment: model versions side by side. :class:`Router` sends each request
to a version by a stable hash of its key against the current weights."""

from fugue_ppl.deploy._router import Router, key_hash

__all__ = ["Router", "key_hash"]
