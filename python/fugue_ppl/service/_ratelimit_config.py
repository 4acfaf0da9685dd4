"""The rate limits' settings (``[rate_limit]``): the sustained rate and burst of
each client, per-key overrides, the proxies whose ``X-Forwarded-For`` is
believed, and the memory bound.

:mod:`fugue_ppl.config` composes them; a
:class:`~fugue_ppl.service.ratelimit.RateLimiter` takes them through
``RateLimiter.from_config``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from fugue_ppl.checks import (
    Bounded,
    Custom,
    Flag,
    FrozenMapping,
    Int,
    Settings,
    check_bounded,
    check_int,
    invalid,
    setting,
    settings,
    type_error,
)
from fugue_ppl.service._auth_config import KEY_ID

__all__ = ["MAX_BURST", "MAX_RATE", "RateLimitConfig", "networks"]

#: The highest rate (requests per second) a policy may allow.
MAX_RATE = 1e6
#: The largest burst a policy may allow.
MAX_BURST = 10**9


def networks(value: Any, name: str, owner: str
             ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``value`` (a list of CIDRs or addresses) as networks (raises TypeError / InvalidArgument)."""
    if isinstance(value, str):          # (comma-separated, as from the environment)
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise type_error(owner, name, value, "a list of CIDRs")
    out = []
    for v in value:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise invalid(owner, name, v, "must hold IP networks in CIDR notation "
                          "(e.g. '10.0.0.0/8') or IP addresses") from None
    return tuple(out)


def _proxies(value: Any, name: str, owner: str) -> tuple[str, ...]:
    return tuple(str(n) for n in networks(value, name, owner))


def _overrides(value: Any, name: str, owner: str) -> FrozenMapping:
    if not isinstance(value, Mapping):
        raise type_error(owner, name, value, "a table of key ids")
    out = {}
    for key_id, entry in value.items():
        if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
            raise invalid(owner, name, key_id, "must name key ids (letters, digits, '.', "
                          "'_', '-'; at most 64 characters)")
        where = f"{name}.{key_id}"
        if not isinstance(entry, Mapping):
            raise type_error(owner, where, entry, "a table with rate and burst")
        unknown = [k for k in entry if k not in ("rate", "burst")]
        if unknown:
            raise invalid(owner, where, unknown[0], "may hold only 'rate' and 'burst'")
        if "rate" not in entry or "burst" not in entry:
            raise invalid(owner, where, dict(entry), "must give both 'rate' and 'burst'")
        out[key_id] = FrozenMapping({
            "rate": check_bounded(entry["rate"], f"{where}.rate", owner, 0.0, MAX_RATE,
                                  low_open=True),
            "burst": check_int(entry["burst"], f"{where}.burst", owner, low=1, high=MAX_BURST)})
    return FrozenMapping(out)


@settings
class RateLimitConfig(Settings):
    """Per-client rate limits (GCRA, per replica): ``rate`` requests a second
    sustained, up to ``burst`` at once.

    A client is its API key's id, else its address (an IPv6 address counts
    by its ``ipv6_prefix`` network, since one host holds a whole /64). The
    address is the connection's peer; ``X-Forwarded-For`` is believed only
    when the peer is one of ``trusted_proxies``, and then the client is the
    rightmost address in it that is not a trusted proxy.

    Examples
    --------
    >>> cfg = RateLimitConfig(rate=5, burst=10, overrides={"batch": {"rate": 50, "burst": 100}})
    >>> cfg.rate, cfg.overrides["batch"]["burst"]
    (5.0, 100)
    """

    enabled: bool = setting(True, check=Flag(), doc="Whether requests are rate limited.")
    rate: float = setting(
        50.0, check=Bounded(0.0, MAX_RATE, low_open=True),
        doc="Requests a second each client may make, sustained.")
    burst: int = setting(
        100, check=Int(1, MAX_BURST),
        doc="Requests a client may make at once (the bucket's size).")
    overrides: Mapping[str, Any] = setting(
        check=Custom(_overrides, "a table of key id -> {rate = ..., burst = ...}"),
        factory=FrozenMapping,
        doc="Rate and burst of particular API keys, by key id.")
    trusted_proxies: tuple[str, ...] = setting(
        (), check=Custom(_proxies, "IP networks (CIDR) or addresses"),
        doc="Peers whose X-Forwarded-For header names the client (CIDRs).")
    ipv6_prefix: int = setting(
        64, check=Int(32, 128),
        doc="The prefix length by which IPv6 clients without a key are counted.")
    max_clients: int = setting(
        100_000, check=Int(1, 10**8),
        doc="The most clients tracked at once; idle ones are dropped first (a dropped "
            "client starts again with a full burst).")

