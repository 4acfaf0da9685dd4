"""Rate limits per client: GCRA (the generic cell rate algorithm) per replica,
and the ``RateLimit-*`` header fields of a decision.

GCRA keeps one number per client, its theoretical arrival time (TAT): with
emission interval ``T = 1 / rate`` and ``burst`` requests allowed at once, a
request of cost ``n`` at time ``t`` is allowed when
``max(TAT, t) + n*T - burst*T <= t``, and then ``TAT = max(TAT, t) + n*T``.
From a full bucket at ``t0``, a client sending as fast as it can is allowed
``burst + floor((t - t0) / T)`` requests by ``t``. It is a token bucket
without a refill timer; times are integer nanoseconds, so allow/deny
sequences are exact.

A client whose TAT has passed has its whole burst back, which is also what a
client never seen has: forgetting it changes nothing. So the table holds at
most ``max_clients`` clients, dropping those idle ones first (and, only when
every client is active, those nearest to a full burst).

The ``limits`` library was measured against this (``benches/bench_ratelimit.py``);
it offers fixed and sliding windows but no GCRA or token bucket, reads the
wall clock (``time.time``) with no way to inject one, and its in-memory
storage runs a timer thread.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from fugue_ppl.checks import safe_text
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.service._ratelimit_config import RateLimitConfig, networks

__all__ = ["Policy", "RateDecision", "RateLimiter"]

_NS = 1_000_000_000
#: The most X-Forwarded-For entries examined (from the right).
MAX_FORWARDED = 64


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """One client's limit: ``burst`` requests at once, one more every ``interval_ns``.

    Attributes
    ----------
    rate : float
        Requests a second, sustained.
    burst : int
        Requests allowed at once.
    interval_ns : int
        The emission interval ``1 / rate`` in nanoseconds (rounded).
    window : int
        Seconds a full burst takes to come back (``burst / rate``, rounded up):
        the ``w`` of ``RateLimit-Policy``.
    """

    rate: float
    burst: int
    interval_ns: int
    window: int

    @classmethod
    def of(cls, rate: float, burst: int) -> Policy:
        interval = max(1, round(_NS / rate))
        return cls(rate, burst, interval, max(1, -(-burst * interval // _NS)))

    @property
    def header(self) -> str:
        """The ``RateLimit-Policy`` field value, e.g. ``100;w=2``."""
        return f"{self.burst};w={self.window}"


class RateDecision(NamedTuple):
    """What :meth:`RateLimiter.check` decided (a named tuple: cheap to make per request).

    Attributes
    ----------
    allowed : bool
    limit : int
        The client's quota (its burst); 0 when rate limits are off.
    remaining : int
        Requests the client may still make at once.
    reset : float
        Seconds until the client's full quota is back.
    retry_after : float
        Seconds until this request would be allowed (0 when it is).
    policy : Policy or None
        The client's policy (None when rate limits are off).
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float
    policy: Policy | None = None


_UNLIMITED = RateDecision(True, 0, 0, 0.0, 0.0, None)


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address of a peer or an X-Forwarded-For entry (``[v6]:port`` and ``v4:port``
    accepted); IPv4-mapped IPv6 as IPv4; None when it is not an address."""
    t = text.strip()
    if t.startswith("["):
        end = t.find("]")
        t = t[1:end] if end > 0 else t
    elif t.count(":") == 1:
        t = t.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


class RateLimiter:
    """GCRA rate limits per client, for one replica; thread-safe.

    Parameters
    ----------
    settings : RateLimitConfig, optional
        Rate and burst, per-key overrides, trusted proxies, the memory bound.
    clock : callable, optional
        Monotonic integer nanoseconds (``time.monotonic_ns``); tests inject one.

    Raises
    ------
    TypeError
        ``settings`` is not a RateLimitConfig, or ``clock`` is not callable
        or does not return an int.

    Examples
    --------
    >>> now = [0]
    >>> rl = RateLimiter(RateLimitConfig(rate=2, burst=3), clock=lambda: now[0])
    >>> [rl.check("ip:10.0.0.1").allowed for _ in range(4)]
    [True, True, True, False]
    >>> d = rl.check("ip:10.0.0.1"); d.retry_after
    0.5
    >>> now[0] += 500_000_000
    >>> rl.check("ip:10.0.0.1").allowed
    True
    """

    def __init__(self, settings: RateLimitConfig | None = None, *,
                 clock: Callable[[], int] = time.monotonic_ns):
        if settings is None:
            settings = RateLimitConfig()
        if not isinstance(settings, RateLimitConfig):
            raise TypeError(f"RateLimiter: settings must be a RateLimitConfig, got "
                            f"{type(settings).__name__}")
        if not callable(clock):
            raise TypeError(f"RateLimiter: clock must be callable, got {type(clock).__name__}")
        if type(clock()) is not int:
            raise TypeError("RateLimiter: clock must return integer nanoseconds (like "
                            "time.monotonic_ns)")
        self._settings = settings
        self._clock = clock
        self._enabled = settings.enabled
        self._default = Policy.of(settings.rate, settings.burst)
        self._policies = {f"key:{k}": Policy.of(v["rate"], v["burst"])
                          for k, v in settings.overrides.items()}
        self._trusted = networks(settings.trusted_proxies, "trusted_proxies", "RateLimitConfig")
        self._v6_prefix = settings.ipv6_prefix
        self._max = settings.max_clients
        self._tat: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any) -> RateLimiter:
        """The limiter of a :class:`fugue_ppl.config.Config`'s ``[rate_limit]``."""
        return cls(config.rate_limit)

    @property
    def enabled(self) -> bool:
        """Whether requests are limited (off: :meth:`check` allows everything)."""
        return self._enabled

    def policy(self, identity: str) -> Policy:
        """The policy of a client (its key's override, else the default)."""
        return self._policies.get(identity, self._default)

    def __len__(self) -> int:
        """The clients tracked now."""
        return len(self._tat)

    # ------------------------------------------------------------ who

    def identity(self, key_id: str | None, client_host: str | None,
                 headers: Mapping[str, str]) -> str:
        """The client a request is counted against.

        ``"key:<id>"`` for a request with an API key; else ``"ip:<address>"``
        (an IPv6 address as its ``ipv6_prefix`` network), the address being
        ``client_host`` unless ``client_host`` is a trusted proxy: then the
        rightmost ``X-Forwarded-For`` address that is not a trusted proxy
        (every ``X-Forwarded-For`` line, in order). A peer that is not an
        address (a Unix socket, a test client) is ``"host:<name>"``.

        Examples
        --------
        >>> rl = RateLimiter(RateLimitConfig(trusted_proxies=["10.0.0.0/8"]))
        >>> rl.identity(None, "10.1.2.3", {"x-forwarded-for": "203.0.113.7, 10.9.9.9"})
        'ip:203.0.113.7'
        >>> rl.identity(None, "198.51.100.1", {"x-forwarded-for": "203.0.113.7"})
        'ip:198.51.100.1'
        >>> rl.identity("ci", "10.1.2.3", {})
        'key:ci'
        """
        if key_id is not None:
            return f"key:{key_id}"
        if client_host is None:
            return "host:unknown"
        ip = _address(client_host)
        if ip is None:
            return f"host:{safe_text(client_host, 100)}"
        if self._trusted and self._is_trusted(ip):
            ip = self._forwarded_client(ip, headers)
        if ip.version == 6 and self._v6_prefix < 128:
            return f"ip:{ipaddress.ip_network((ip, self._v6_prefix), strict=False)}"
        return f"ip:{ip}"

    def _is_trusted(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip in net for net in self._trusted if net.version == ip.version)

    def _forwarded_client(self, peer, headers: Mapping[str, str]):
        getlist = getattr(headers, "getlist", None)
        if getlist is not None:
            lines = getlist("x-forwarded-for")
        else:
            lines = [v for k, v in headers.items()
                     if isinstance(k, str) and k.lower() == "x-forwarded-for"]
        entries = [e for line in lines for e in line.split(",")][-MAX_FORWARDED:]
        client = peer
        for entry in reversed(entries):
            ip = _address(entry)
            if ip is None:
                break               # (garbage: believe nothing further left)
            client = ip
            if not self._is_trusted(ip):
                break
        return client

    # ------------------------------------------------------------ the limit

    def check(self, identity: str, cost: int = 1) -> RateDecision:
        """Count a request of ``cost`` against ``identity``; whether it is allowed.

        A refused request costs nothing.

        Raises
        ------
        InvalidArgument
            ``cost`` is not an int from 1 to the client's burst (such a
            request could never pass).
        """
        if not self._enabled:
            return _UNLIMITED
        p = self._policies.get(identity, self._default)
        if type(cost) is not int or not 1 <= cost <= p.burst:
            raise InvalidArgument("RateLimiter.check", "cost", cost,
                                  f"must be an integer from 1 to the burst ({p.burst})")
        capacity = p.burst * p.interval_ns
        with self._lock:
            now = self._clock()
            tat = self._tat.get(identity, now)
            if tat < now:
                tat = now
            new = tat + cost * p.interval_ns
            allowed = new - capacity <= now
            if allowed:
                self._tat[identity] = tat = new
                if len(self._tat) > self._max:
                    self._evict(now)
        return RateDecision(allowed, p.burst, (now + capacity - tat) // p.interval_ns,
                            (tat - now) / _NS,
                            0.0 if allowed else (new - capacity - now) / _NS, p)

    def _evict(self, now: int) -> None:
        """Under the lock: drop idle clients; if too many remain, those nearest a full burst."""
        tat = self._tat
        for k in [k for k, t in tat.items() if t <= now]:
            del tat[k]
        excess = len(tat) - self._max * 9 // 10
        if excess > 0:
            for k, _ in heapq.nsmallest(excess, tat.items(), key=lambda kv: kv[1]):
                del tat[k]

    # ------------------------------------------------------------ HTTP

    @staticmethod
    def headers(decision: RateDecision) -> dict[str, str]:
        """The response header fields of a decision.

        ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
        (seconds, rounded up) and ``RateLimit-Policy`` (``<quota>;w=<seconds>``),
        as the IETF RateLimit header fields draft (draft-ietf-httpapi-ratelimit-headers,
        in its separate-field form) defines them, and ``Retry-After``
        (seconds, rounded up, at least 1) on a refusal. Nothing when rate
        limits are off.

        Examples
        --------
        >>> RateLimiter.headers(RateDecision(False, 10, 0, 0.25, 0.1, Policy.of(40.0, 10)))
        ... # doctest: +NORMALIZE_WHITESPACE
        {'RateLimit-Limit': '10', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '1',
         'RateLimit-Policy': '10;w=1', 'Retry-After': '1'}
        """
        return {name: value.decode("latin-1")
                for name, value in zip(_FIELDS, _field_values(decision), strict=False)}

    @staticmethod
    def raw_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
        """:meth:`headers` as an ASGI header list (lower-case names, latin-1 bytes)."""
        return list(zip(_RAW_FIELDS, _field_values(decision), strict=False))

    def __repr__(self) -> str:
        p = self._default
        return (f"RateLimiter(rate={p.rate:g}, burst={p.burst}, overrides={len(self._policies)}"
                f", clients={len(self._tat)}, enabled={self._enabled})")


#: The header fields of a decision, in order (Retry-After only on a refusal).
_FIELDS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
           "Retry-After")
_RAW_FIELDS = tuple(name.lower().encode("latin-1") for name in _FIELDS)


def _field_values(decision: RateDecision) -> list[bytes]:
    p = decision.policy
    if p is None:
        return []
    out = [b"%d" % decision.limit, b"%d" % decision.remaining, b"%d" % _ceil(decision.reset),
           p.header.encode("latin-1")]
    if not decision.allowed:
        out.append(b"%d" % max(1, _ceil(decision.retry_after)))
    return out


def _ceil(seconds: float) -> int:
    whole = int(seconds)
    return whole if whole >= seconds else whole + 1
