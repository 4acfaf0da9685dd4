# cython: boundscheck=False, wraparound=False
"""A circuit breaker with four states, implemented in C++.

:class:`CircuitBreaker` protects a model (or any call) that may start to fail:

* ``HEALTHY`` (closed): calls run; outcomes fill a sliding window.
* ``DEGRADED`` (still closed): the window's failure rate exceeded
  ``degraded_threshold``; calls still run. Back to ``HEALTHY`` when the rate
  falls to ``recovery_threshold`` or below.
* ``FAILED`` (open): the rate exceeded ``failure_threshold`` (from either
  closed state). Calls are refused -- serve a fallback -- for
  ``open_duration`` seconds, which grows by ``backoff_factor`` each time a
  recovery fails (up to ``max_open_duration``).
* ``RECOVERY`` (half-open): the first :meth:`~CircuitBreaker.allow` after the
  open duration moves here. Exactly ``half_open_permits`` trial calls are
  admitted and the rest refused; once the trials' success rate is sure to
  reach ``recovery_success_rate`` the breaker is ``HEALTHY`` again (with an
  empty window), once it is sure to miss it the breaker is ``FAILED`` again.

The protocol is ``allow()`` (a bool), then run the call, then exactly one of
``record_success(duration)``, ``record_failure(duration)`` or
``record_ignored()``; or let :meth:`~CircuitBreaker.call` do all three. Each
step takes a short C++ lock and returns: no lock is held while the call runs,
so a breaker is safe to share between threads.
"""

cimport cython
from libc.math cimport INFINITY, isfinite, llround
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp.atomic cimport atomic, memory_order_acq_rel, memory_order_relaxed
from libcpp.memory cimport make_shared, shared_ptr
from libcpp.vector cimport vector

import enum
import logging
import numbers
import threading

from fugue_ppl.serving._cbreaker cimport (
    BreakerStateC, CBreakerConfig, CBreakerSnapshot, CCircuitBreaker, CManualClock,
    CTransition, WindowType,
)

from fugue_ppl.errors import CircuitOpenError, ConfigError, _already_initialised

__all__ = ["BreakerState", "BreakerConfig", "CircuitBreaker", "ManualClock"]

_log = logging.getLogger("fugue_ppl.breaker")


class BreakerState(enum.IntEnum):
    """The four states of a :class:`CircuitBreaker`.

    ``HEALTHY`` and ``DEGRADED`` are closed (calls run), ``FAILED`` is open
    (calls refused), ``RECOVERY`` is half-open (a fixed number of trials).
    The values are the C++ ``fugue::BreakerState`` values (a gauge can
    export them as they are); ``str()`` gives the name.
    """

    HEALTHY = 0
    DEGRADED = 1
    FAILED = 2
    RECOVERY = 3

    def __str__(self):
        return self.name

    def __format__(self, spec):
        return self.name if not spec else int.__format__(int(self), spec)


cdef tuple _STATE_OF = (BreakerState.HEALTHY, BreakerState.DEGRADED, BreakerState.FAILED,
                        BreakerState.RECOVERY)
cdef tuple _STATE_NAMES = ("HEALTHY", "DEGRADED", "FAILED", "RECOVERY")

# The edges a breaker can take: the state machine's own, plus force_open()
# (to FAILED) and reset() (to HEALTHY).
_EDGES = (
    ("HEALTHY", "DEGRADED"), ("HEALTHY", "FAILED"),
    ("DEGRADED", "HEALTHY"), ("DEGRADED", "FAILED"),
    ("FAILED", "RECOVERY"), ("FAILED", "HEALTHY"),
    ("RECOVERY", "HEALTHY"), ("RECOVERY", "FAILED"),
)
#: Every ``(from, to)`` transition a breaker can make, as state names.
TRANSITIONS = _EDGES


# ================================================================ argument checks

cdef str _show(object v):
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


cdef double _real(str name, object v) except? -1.0:
    """``v`` as a float, or ConfigError naming the parameter and the value."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ConfigError(f"BreakerConfig: {name} must be a real number, got "
                          f"{type(v).__name__} {_show(v)}")
    return float(v)


cdef double _unit(str name, object v) except? -1.0:
    cdef double d = _real(name, v)
    if not (0.0 <= d <= 1.0):
        raise ConfigError(f"BreakerConfig: {name} must be in [0, 1], got {_show(v)}")
    return d


cdef double _seconds(str name, object v, double upper) except? -1.0:
    cdef double d = _real(name, v)
    if not (d > 0.0 and d <= upper):
        raise ConfigError(f"BreakerConfig: {name} must be > 0 and <= {upper:g} seconds, "
                          f"got {_show(v)}")
    return d


cdef object _integer(str name, object v, object lower, object upper):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ConfigError(f"BreakerConfig: {name} must be an integer, got "
                          f"{type(v).__name__} {_show(v)}")
    n = int(v)
    if not (lower <= n <= upper):
        raise ConfigError(f"BreakerConfig: {name} must be in [{lower}, {upper}], got {n}")
    return n


cdef double _duration(object v, str where) except? -2.0:
    """A call's duration in seconds (finite, >= 0); -1 for None (unknown)."""
    cdef double d
    if v is None:
        return -1.0
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{where}: duration must be a number of seconds or None, got "
                        f"{type(v).__name__}")
    d = v
    if not (d >= 0.0 and isfinite(d)):
        raise ValueError(f"{where}: duration must be finite and >= 0 seconds, got {_show(v)}")
    return d


# ================================================================ clock

@cython.final
cdef class ManualClock:
    """A clock that moves only when told to; inject it into breakers in tests.

    The C++ breaker reads it directly (an atomic load), so a breaker on a
    manual clock is as fast as one on the real clock. It starts at ``start``
    seconds and never goes backwards. Thread-safe.

    Parameters
    ----------
    start : float
        The initial reading in seconds (default 0).

    Examples
    --------
    >>> clock = ManualClock()
    >>> clock.advance(1.5)
    >>> clock.now()
    1.5
    """

    def __cinit__(self, *args, **kwargs):
        self.c = make_shared[CManualClock](0)

    def __init__(self, start=0.0):
        cdef double s
        if self._ready:
            raise _already_initialised(self)
        if isinstance(start, bool) or not isinstance(start, numbers.Real):
            raise TypeError(f"ManualClock: start must be a number of seconds, got "
                            f"{type(start).__name__}")
        s = start
        if not (isfinite(s) and abs(s) <= 1e9):
            raise ValueError(f"ManualClock: start must be finite and within 1e9 seconds of 0, "
                             f"got {_show(start)}")
        self.c = make_shared[CManualClock](<int64_t>llround(s * 1e9))
        self._ready = True

    def advance(self, seconds):
        """Move the clock forward by ``seconds`` (finite, >= 0).

        Raises
        ------
        ValueError
            ``seconds`` is negative, NaN or infinite (a monotonic clock never
            goes back).
        """
        cdef double s
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
            raise TypeError(f"ManualClock.advance: seconds must be a number, got "
                            f"{type(seconds).__name__}")
        s = seconds
        if not (s >= 0.0 and s <= 1e9):
            raise ValueError(f"ManualClock.advance: seconds must be in [0, 1e9], got "
                             f"{_show(seconds)}")
        self.c.get().advance_ns(llround(s * 1e9))

    def now(self):
        """The current reading in seconds."""
        return self.c.get().now_ns() / 1e9

    def __call__(self):
        """The current reading in seconds (a ManualClock is a clock function too)."""
        return self.c.get().now_ns() / 1e9

    def __repr__(self):
        return f"ManualClock({self.now()!r})"


# ================================================================ configuration

# name -> default (None: see the docstring).
cdef dict _DEFAULTS = {
    "failure_threshold": 0.5,
    "degraded_threshold": 0.05,
    "recovery_threshold": 0.02,
    "window_type": "count",
    "window_size": None,
    "minimum_calls": 20,
    "slow_call_duration": None,
    "open_duration": 30.0,
    "backoff_factor": 1.0,
    "max_open_duration": None,
    "half_open_permits": 5,
    "recovery_success_rate": 1.0,
}

#: Default window size: calls of a count window, seconds of a time window.
DEFAULT_COUNT_WINDOW = 100
DEFAULT_TIME_WINDOW = 60.0


@cython.final
cdef class BreakerConfig:
    """The validated, immutable settings of a :class:`CircuitBreaker`.

    Every setting is a keyword argument; :class:`CircuitBreaker` takes the
    same keywords (or a ``BreakerConfig``).

    Parameters
    ----------
    failure_threshold : float
        τ2 in [0, 1] (default 0.5): ``HEALTHY``/``DEGRADED`` -> ``FAILED``
        when the window's failure rate exceeds it.
    degraded_threshold : float
        τ1 in [0, 1] (default 0.05): ``HEALTHY`` -> ``DEGRADED`` when the rate
        exceeds it.
    recovery_threshold : float
        τ0 in [0, 1] (default 0.02): ``DEGRADED`` -> ``HEALTHY`` when the rate
        is at or below it. ``τ0 <= τ1 <= τ2`` is required.
    window_type : {"count", "time"}
        ``"count"`` (default): the window is the last ``window_size`` calls.
        ``"time"``: the calls of the last ``window_size`` seconds, in
        ``max(10, ceil(window_size))`` buckets (at most 3600) -- one second or
        finer up to an hour -- so a call leaves the window between one bucket
        short of ``window_size`` seconds and ``window_size`` seconds after it.
    window_size : int or float, optional
        Calls (an integer in [1, 1_000_000], default 100) or seconds (in
        (0, 86400], default 60).
    minimum_calls : int
        Calls in the window before its rate is evaluated (>= 1, default 20;
        a count window uses at most ``window_size``).
    slow_call_duration : float, optional
        Seconds; a success that took longer counts as a failure (and a slow
        call). None (default): off.
    open_duration : float
        Seconds in ``FAILED`` before the next call is admitted as a trial
        (> 0, default 30).
    backoff_factor : float
        >= 1 (default 1): each ``RECOVERY`` -> ``FAILED`` multiplies the open
        duration by it; reaching ``HEALTHY`` (or :meth:`CircuitBreaker.reset`)
        restores ``open_duration``.
    max_open_duration : float, optional
        Cap of the grown open duration (>= ``open_duration``); None: no cap.
    half_open_permits : int
        Trial calls admitted in ``RECOVERY`` (>= 1, default 5).
    recovery_success_rate : float
        σ in (0, 1] (default 1.0: every trial must succeed): the share of the
        ``half_open_permits`` trials that must succeed to heal.

    Raises
    ------
    ConfigError
        A setting is of the wrong type or out of range; the message names it
        and its value.
    TypeError
        An unknown keyword (:class:`CircuitBreaker` raises ConfigError).

    Examples
    --------
    >>> cfg = BreakerConfig(failure_threshold=0.3, window_size=50)
    >>> cfg.failure_threshold, cfg.window_size, cfg.window_type
    (0.3, 50, 'count')
    >>> cfg.replace(window_type="time", window_size=10.0).window_size
    10.0
    """

    def __init__(self, *, failure_threshold=0.5, degraded_threshold=0.05,
                 recovery_threshold=0.02, window_type="count", window_size=None,
                 minimum_calls=20, slow_call_duration=None, open_duration=30.0,
                 backoff_factor=1.0, max_open_duration=None, half_open_permits=5,
                 recovery_success_rate=1.0):
        if self._ready:
            raise _already_initialised(self)
        s = {
            "failure_threshold": failure_threshold, "degraded_threshold": degraded_threshold,
            "recovery_threshold": recovery_threshold, "window_type": window_type,
            "window_size": window_size, "minimum_calls": minimum_calls,
            "slow_call_duration": slow_call_duration, "open_duration": open_duration,
            "backoff_factor": backoff_factor, "max_open_duration": max_open_duration,
            "half_open_permits": half_open_permits, "recovery_success_rate": recovery_success_rate,
        }
        cdef CBreakerConfig c
        c.recovery_threshold = _unit("recovery_threshold", s["recovery_threshold"])
        c.degraded_threshold = _unit("degraded_threshold", s["degraded_threshold"])
        c.failure_threshold = _unit("failure_threshold", s["failure_threshold"])
        if not c.recovery_threshold <= c.degraded_threshold:
            raise ConfigError(f"BreakerConfig: recovery_threshold={_show(s['recovery_threshold'])} "
                              f"must be <= degraded_threshold="
                              f"{_show(s['degraded_threshold'])}")
        if not c.degraded_threshold <= c.failure_threshold:
            raise ConfigError(f"BreakerConfig: degraded_threshold={_show(s['degraded_threshold'])} "
                              f"must be <= failure_threshold={_show(s['failure_threshold'])}")
        wt = s["window_type"]
        if wt == "count" and isinstance(wt, str):
            c.window_type = WindowType.Count
            size = DEFAULT_COUNT_WINDOW if s["window_size"] is None else s["window_size"]
            size = _integer("window_size", size, 1, 1_000_000)
            c.window_size = size
        elif wt == "time" and isinstance(wt, str):
            c.window_type = WindowType.Time
            size = DEFAULT_TIME_WINDOW if s["window_size"] is None else s["window_size"]
            c.window_size = _seconds("window_size", size, 86400.0)
            size = c.window_size
        else:
            raise ConfigError(f"BreakerConfig: window_type must be 'count' or 'time', got "
                              f"{_show(wt)}")
        self._window_size = size
        c.minimum_calls = _integer("minimum_calls", s["minimum_calls"], 1, 2 ** 62)
        v = s["slow_call_duration"]
        c.slow_call_duration = INFINITY if v is None else _seconds("slow_call_duration", v, 1e9)
        c.open_duration = _seconds("open_duration", s["open_duration"], 1e9)
        c.backoff_factor = _real("backoff_factor", s["backoff_factor"])
        if not (c.backoff_factor >= 1.0 and isfinite(c.backoff_factor)):
            raise ConfigError(f"BreakerConfig: backoff_factor must be finite and >= 1, got "
                              f"{_show(s['backoff_factor'])}")
        v = s["max_open_duration"]
        if v is None:
            c.max_open_duration = INFINITY
        else:
            c.max_open_duration = _seconds("max_open_duration", v, 1e9)
            if not c.max_open_duration >= c.open_duration:
                raise ConfigError(f"BreakerConfig: max_open_duration={_show(v)} must be >= "
                                  f"open_duration={_show(s['open_duration'])}")
        c.half_open_permits = _integer("half_open_permits", s["half_open_permits"], 1, 2 ** 31)
        c.recovery_success_rate = _real("recovery_success_rate", s["recovery_success_rate"])
        if not (0.0 < c.recovery_success_rate <= 1.0):
            raise ConfigError(f"BreakerConfig: recovery_success_rate must be in (0, 1], got "
                              f"{_show(s['recovery_success_rate'])}")
        self.c = c
        self._ready = True

    @property
    def failure_threshold(self):
        return self.c.failure_threshold

    @property
    def degraded_threshold(self):
        return self.c.degraded_threshold

    @property
    def recovery_threshold(self):
        return self.c.recovery_threshold

    @property
    def window_type(self):
        """``"count"`` or ``"time"``."""
        return "count" if self.c.window_type == WindowType.Count else "time"

    @property
    def window_size(self):
        """Calls (int) of a count window, seconds (float) of a time window."""
        return self._window_size

    @property
    def minimum_calls(self):
        return self.c.minimum_calls

    @property
    def slow_call_duration(self):
        """Seconds, or None (off)."""
        return None if self.c.slow_call_duration == INFINITY else self.c.slow_call_duration

    @property
    def open_duration(self):
        return self.c.open_duration

    @property
    def backoff_factor(self):
        return self.c.backoff_factor

    @property
    def max_open_duration(self):
        """Seconds, or None (no cap)."""
        return None if self.c.max_open_duration == INFINITY else self.c.max_open_duration

    @property
    def half_open_permits(self):
        return self.c.half_open_permits

    @property
    def recovery_success_rate(self):
        return self.c.recovery_success_rate

    def to_dict(self):
        """The settings as a dict of keyword arguments (``BreakerConfig(**d)`` rebuilds it)."""
        return {name: getattr(self, name) for name in _DEFAULTS}

    def replace(self, **changes):
        """A copy with some settings changed (validated like the constructor)."""
        unknown = [k for k in changes if k not in _DEFAULTS]
        if unknown:
            raise ConfigError(f"BreakerConfig.replace: unknown setting {unknown[0]!r} (known: "
                              f"{', '.join(_DEFAULTS)})")
        d = self.to_dict()
        d.update(changes)
        return BreakerConfig(**d)

    def __eq__(self, other):
        if not isinstance(other, BreakerConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(tuple(self.to_dict().items()))

    def __reduce__(self):
        return (_config_from_dict, (self.to_dict(),))

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"BreakerConfig({inner})"


def _config_from_dict(d):
    return BreakerConfig(**d)


# ================================================================ the breaker

cdef class CircuitBreaker:
    """A thread-safe circuit breaker (C++) with four states.

    See the module documentation for the state machine. Use it as::

        if breaker.allow():
            try:
                value = predict(x)
            except Exception:
                breaker.record_failure()
                raise
            breaker.record_success()
        else:
            value = fallback(x)

    or ``breaker.call(predict, x)``, which raises
    :class:`~fugue_ppl.errors.CircuitOpenError` when refused.

    Every :meth:`allow` that returns True must be followed by exactly one
    ``record_*`` call: in ``RECOVERY`` an admitted trial holds its permit
    until then. ``allow()`` plus ``record_success()`` cost two short C++ lock
    round trips and no allocation.

    Parameters
    ----------
    config : BreakerConfig or mapping, optional
        The settings; keyword ``settings`` override single fields.
    clock : ManualClock, optional
        Time source. None (default): the process's monotonic clock (the CPU's
        invariant time-stamp counter, or ``steady_clock``).
    name : str
        Names the breaker in log records (default ``"circuit_breaker"``).
    **settings
        Any :class:`BreakerConfig` keyword: ``failure_threshold``,
        ``degraded_threshold``, ``recovery_threshold``, ``window_type``,
        ``window_size``, ``minimum_calls``, ``slow_call_duration``,
        ``open_duration``, ``backoff_factor``, ``max_open_duration``,
        ``half_open_permits``, ``recovery_success_rate``.

    Raises
    ------
    ConfigError
        A setting is unknown, of the wrong type or out of range (the message
        names it and its value), or ``clock`` is not a :class:`ManualClock`.

    Notes
    -----
    * Transitions happen inside ``allow()`` (``FAILED`` -> ``RECOVERY``) and
      ``record_*()`` (the others), never by merely reading ``state``: after
      the open duration a ``FAILED`` breaker reports ``retry_after == 0``
      until the next ``allow()``.
    * The rate is only evaluated when a call is recorded, and only with at
      least ``minimum_calls`` calls in the window.
    * Listeners (:meth:`add_listener`) are called after the C++ lock is
      released, from the thread whose call caused the transition. Two
      transitions caused by different threads at nearly the same time may
      reach the listeners in either order; ``state`` is always current.
    * An outcome recorded in ``FAILED``, or in ``RECOVERY`` when no trial is
      outstanding, comes from a call admitted before the breaker opened: it
      is counted in the cumulative metrics only.
    * :meth:`reset` keeps the cumulative counters (they feed monotonic
      Prometheus counters); it clears the window and the backoff.

    Examples
    --------
    >>> clock = ManualClock()
    >>> b = CircuitBreaker(window_size=10, minimum_calls=4, open_duration=5.0,
    ...                    half_open_permits=2, clock=clock)
    >>> for _ in range(4):
    ...     b.record_failure()
    >>> b.state, b.allow(), b.retry_after
    (<BreakerState.FAILED: 2>, False, 5.0)
    >>> clock.advance(5.0)
    >>> b.allow(), b.allow(), b.allow(), b.state
    (True, True, False, <BreakerState.RECOVERY: 3>)
    >>> b.record_success(); b.record_success(); b.state
    <BreakerState.HEALTHY: 0>
    """

    def __init__(self, config=None, *, clock=None, name="circuit_breaker", **settings):
        cdef shared_ptr[CManualClock] clk
        if self.c.get() != NULL:
            raise _already_initialised(self)
        unknown = [k for k in settings if k not in _DEFAULTS]
        if unknown:
            raise ConfigError(f"CircuitBreaker: unknown setting {unknown[0]!r} (known: "
                              f"{', '.join(_DEFAULTS)})")
        if config is None:
            cfg = BreakerConfig(**settings)
        elif isinstance(config, BreakerConfig):
            cfg = config.replace(**settings) if settings else config
        elif hasattr(config, "keys"):
            unknown = [k for k in config if k not in _DEFAULTS]
            if unknown:
                raise ConfigError(f"CircuitBreaker: unknown setting {unknown[0]!r} (known: "
                                  f"{', '.join(_DEFAULTS)})")
            cfg = BreakerConfig(**{**config, **settings})
        else:
            raise ConfigError(f"CircuitBreaker: config must be a BreakerConfig, a mapping or "
                              f"None, got {type(config).__name__}")
        if clock is not None:
            if not isinstance(clock, ManualClock):
                raise ConfigError(f"CircuitBreaker: clock must be a ManualClock or None, got "
                                  f"{type(clock).__name__}")
            clk = (<ManualClock>clock).c
        if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
            raise ConfigError(f"CircuitBreaker: name must be a printable, non-empty str of at "
                              f"most 200 characters, got {_show(name)}")
        try:
            self.c = make_shared[CCircuitBreaker]((<BreakerConfig>cfg).c, clk)
        except ValueError as e:   # the C++ check agrees with ours; this is a backstop
            raise ConfigError(f"CircuitBreaker: {e}") from None
        self.config = cfg
        self.clock = clock
        self.name = name
        self._listeners = ()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- C-level API

    cdef bint c_allow(self) except -1:
        cdef CTransition t
        t.changed = False
        cdef bint ok = self.c.get().allow(t)
        if t.changed:
            try:
                self.c_notify(t)
            except BaseException:
                if ok:   # the caller never learns of its permit: give it back
                    self.c.get().record_ignored()
                raise
        return ok

    cdef int c_record_success(self, double seconds) except -1:
        cdef CTransition t
        t.changed = False
        self.c.get().record_success(seconds, t)
        if t.changed:
            self.c_notify(t)
        return 0

    cdef int c_record_failure(self, double seconds) except -1:
        cdef CTransition t
        t.changed = False
        self.c.get().record_failure(seconds, t)
        if t.changed:
            self.c_notify(t)
        return 0

    cdef int c_record_admitted(self, bint failed, double seconds) except -1:
        cdef CTransition t
        t.changed = False
        self.c.get().record_admitted(failed, seconds, t)
        if t.changed:
            self.c_notify(t)
        return 0

    cdef int c_record_ignored(self) except -1:
        self.c.get().record_ignored()
        return 0

    cdef int c_notify(self, const CTransition& t) except -1:
        if not t.changed:
            return 0
        old = _STATE_OF[<int>t.from_]
        new = _STATE_OF[<int>t.to]
        if new == BreakerState.FAILED:
            _log.warning("circuit breaker %r: %s -> %s", self.name, old.name, new.name)
        else:
            _log.info("circuit breaker %r: %s -> %s", self.name, old.name, new.name)
        for fn in self._listeners:
            try:
                fn(old, new)
            except Exception:
                _log.exception("circuit breaker %r: listener %r raised on %s -> %s "
                               "(ignored)", self.name, fn, old.name, new.name)
        return 0

    # ---------------------------------------------------------------- protocol

    def allow(self):
        """Whether a call may run now (and, in ``RECOVERY``, take a trial permit).

        ``HEALTHY`` / ``DEGRADED``: True. ``FAILED``: False, unless the open
        duration has passed -- then the breaker moves to ``RECOVERY`` and this
        call is its first trial. ``RECOVERY``: True for the first
        ``half_open_permits`` calls (a permit given back by
        :meth:`record_ignored` can be taken again), then False.

        Returns
        -------
        bool
            True: run the call, then record its outcome. False: refused
            (counted in ``metrics["rejected_calls"]``); serve a fallback.
        """
        return self.c_allow()

    def record_success(self, duration=None):
        """Record a successful call.

        Parameters
        ----------
        duration : float, optional
            The call's duration in seconds. With ``slow_call_duration`` set, a
            longer success counts as a failure (and as a slow call).

        Raises
        ------
        TypeError, ValueError
            ``duration`` is not a finite number >= 0 (nothing is recorded).
        """
        self.c_record_success(-1.0 if duration is None else _duration(duration, "record_success"))

    def record_failure(self, duration=None):
        """Record a failed call (``duration`` in seconds, optional: it counts slow calls).

        Raises
        ------
        TypeError, ValueError
            ``duration`` is not a finite number >= 0 (nothing is recorded).
        """
        self.c_record_failure(-1.0 if duration is None else _duration(duration, "record_failure"))

    def record_ignored(self):
        """Record a call that counts neither way (e.g. cancelled, or a client error).

        In ``RECOVERY`` its trial permit goes back, so another call can take it.
        """
        self.c.get().record_ignored()

    def call(self, func, /, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` through the breaker.

        The duration is measured on the breaker's clock. An ``Exception``
        from ``func`` is recorded as a failure and re-raised; a
        ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
        ``SystemExit``, ``GeneratorExit``) as ignored.

        Returns
        -------
        object
            What ``func`` returned.

        Raises
        ------
        CircuitOpenError
            The breaker refused the call (``retry_after`` is set).
        """
        if not self.c_allow():
            raise self.open_error()
        cdef int64_t t0 = self.c.get().now_ns()
        try:
            result = func(*args, **kwargs)
        except Exception:
            self.c_record_failure((self.c.get().now_ns() - t0) / 1e9)
            raise
        except BaseException:
            self.c_record_ignored()
            raise
        self.c_record_success((self.c.get().now_ns() - t0) / 1e9)
        return result

    def open_error(self):
        """The :class:`~fugue_ppl.errors.CircuitOpenError` for a refused call, with ``retry_after``."""
        cdef double ra = self.c.get().retry_after()
        state = _STATE_OF[<int>self.c.get().state()]
        if ra > 0.0 and ra != INFINITY:
            when = f"; retry after {ra:.3g} s"
        elif ra == INFINITY:
            when = "; forced open until reset"
        else:
            when = ""
        return CircuitOpenError(f"circuit breaker {self.name!r} is {state.name} and refuses "
                                f"calls{when}", retry_after=ra, state=state.name)

    # ---------------------------------------------------------------- control

    def force_open(self, duration=None):
        """Open the breaker now: ``FAILED`` for ``duration`` seconds, or until :meth:`reset`.

        Parameters
        ----------
        duration : float, optional
            Seconds (> 0) before the breaker admits trial calls as after any
            open period. None (default): it stays ``FAILED`` (``retry_after``
            is ``inf``) until :meth:`reset`.
        """
        cdef double d = INFINITY
        cdef CTransition t
        if duration is not None:
            if isinstance(duration, bool) or not isinstance(duration, numbers.Real):
                raise TypeError(f"force_open: duration must be a number of seconds or None, "
                                f"got {type(duration).__name__}")
            d = duration
            if not (d > 0.0 and d <= 1e9):
                raise ValueError(f"force_open: duration must be in (0, 1e9] seconds, got "
                                 f"{_show(duration)}")
        t.changed = False
        self.c.get().force_open(d, t)
        self.c_notify(t)

    def reset(self):
        """Back to ``HEALTHY``: empty window, no backoff, not forced.

        The cumulative counters of :attr:`metrics` are kept.
        """
        cdef CTransition t
        t.changed = False
        self.c.get().reset(t)
        self.c_notify(t)

    # ---------------------------------------------------------------- listeners

    def add_listener(self, listener):
        """Call ``listener(old_state, new_state)`` (two :class:`BreakerState`) on each transition.

        Listeners run in the order they were added, outside the breaker's
        lock, in the thread that caused the transition. An exception from a
        listener is logged (logger ``fugue_ppl.breaker``) and ignored.
        """
        if not callable(listener):
            raise TypeError(f"add_listener: listener must be callable, got "
                            f"{type(listener).__name__}")
        with self._lock:
            self._listeners = self._listeners + (listener,)

    def remove_listener(self, listener):
        """Remove a listener added before (the first one equal to ``listener``).

        Raises
        ------
        ValueError
            ``listener`` was not added.
        """
        with self._lock:
            ls = list(self._listeners)
            ls.remove(listener)
            self._listeners = tuple(ls)

    @property
    def listeners(self):
        """The listeners, in calling order."""
        return self._listeners

    # ---------------------------------------------------------------- reading

    @property
    def state(self):
        """The current :class:`BreakerState`."""
        return _STATE_OF[<int>self.c.get().state()]

    @property
    def retry_after(self):
        """Seconds until a ``FAILED`` breaker admits a trial call; 0.0 in the other states.

        0.0 also when the open duration has passed but no call has been
        admitted yet; ``inf`` when forced open until :meth:`reset`.
        """
        return self.c.get().retry_after()

    @property
    def metrics(self):
        """A consistent snapshot of the breaker's state and counters (a JSON-ready dict).

        Keys: ``state`` (name); the window's ``failure_rate`` (failures, slow
        successes included, over the window's calls; 0.0 when empty),
        ``slow_rate``, ``window_calls``, ``window_failures``,
        ``window_slow_calls``, ``minimum_calls`` (what the rate needs);
        cumulative ``allow_calls`` (= ``permitted_calls`` +
        ``rejected_calls``), ``successful_calls`` (not slow),
        ``failed_calls`` (slow successes included), ``total_calls``
        (successful + failed), ``slow_calls``, ``ignored_calls``;
        ``transitions`` (``{"FROM->TO": count}`` for every possible edge);
        ``open_duration`` (seconds of the current or last open period, 0.0
        before any, ``inf`` when forced until reset), ``retry_after``,
        ``backoff_level`` (failed recoveries since last ``HEALTHY``),
        ``forced_open``; in ``RECOVERY`` ``trial_permits_used``,
        ``trial_successes``, ``trial_failures`` (0 otherwise).
        """
        cdef CBreakerSnapshot s = self.c.get().snapshot()
        cdef uint64_t calls = s.window_calls
        transitions = {}
        for a, b in _EDGES:
            transitions[f"{a}->{b}"] = s.transitions[_STATE_NAMES.index(a)][_STATE_NAMES.index(b)]
        return {
            "state": _STATE_NAMES[<int>s.state],
            "failure_rate": s.window_failures / calls if calls else 0.0,
            "slow_rate": s.window_slow / calls if calls else 0.0,
            "window_calls": s.window_calls,
            "window_failures": s.window_failures,
            "window_slow_calls": s.window_slow,
            "minimum_calls": min(self.config.minimum_calls, self.config.window_size)
                             if self.config.window_type == "count"
                             else self.config.minimum_calls,
            "allow_calls": s.permitted + s.rejected,
            "permitted_calls": s.permitted,
            "rejected_calls": s.rejected,
            "successful_calls": s.successes,
            "failed_calls": s.failures,
            "total_calls": s.successes + s.failures,
            "slow_calls": s.slow,
            "ignored_calls": s.ignored,
            "transitions": transitions,
            "open_duration": s.open_duration,
            "retry_after": s.retry_after,
            "backoff_level": s.backoff_level,
            "forced_open": bool(s.forced),
            "trial_permits_used": s.trial_admitted,
            "trial_successes": s.trial_successes,
            "trial_failures": s.trial_failures,
        }

    def __repr__(self):
        return f"<CircuitBreaker {self.name!r} {self.state.name}>"


# ================================================================ test support

@cython.final
cdef class _ConcurrencyProbe:
    """Counts calls in flight across threads (for the tests): ``peak`` is the most seen at once."""

    cdef atomic[int64_t] now_
    cdef atomic[int64_t] peak_

    @property
    def peak(self):
        return self.peak_.load()

    @property
    def now(self):
        return self.now_.load()


cdef inline void _enter(atomic[int64_t]* now, atomic[int64_t]* peak) noexcept nogil:
    cdef int64_t n = now.fetch_add(1, memory_order_acq_rel) + 1
    cdef int64_t seen = peak.load(memory_order_relaxed)
    while n > seen and not peak.compare_exchange_weak(seen, n, memory_order_acq_rel,
                                                      memory_order_relaxed):
        pass


def _hammer(CircuitBreaker breaker, Py_ssize_t calls, int mode, _ConcurrencyProbe probe=None,
            int hold=0):
    """Test support: ``calls`` times allow() and record (C++ only, the GIL released).

    mode 0: record_failure after each admitted call; mode 1: record_ignored;
    mode 2: record_success. With a probe, each admitted call is counted in
    flight for ``hold`` busy-loop iterations. Returns ``(permitted, [(old,
    new), ...])``: the calls admitted and the transitions this thread caused
    (the listeners are called for them after the loop, from this thread).
    """
    cdef vector[CTransition] caused
    cdef CTransition t
    cdef CCircuitBreaker* c = breaker.c.get()
    cdef Py_ssize_t i, permitted = 0
    cdef volatile int spin
    cdef atomic[int64_t]* now = NULL
    cdef atomic[int64_t]* peak = NULL
    if mode not in (0, 1, 2):
        raise ValueError("mode must be 0, 1 or 2")
    if probe is not None:
        now, peak = &probe.now_, &probe.peak_
    caused.reserve(64)
    with nogil:
        for i in range(calls):
            t.changed = False
            if c.allow(t):
                permitted += 1
                if now != NULL:
                    _enter(now, peak)
                    spin = 0
                    while spin < hold:
                        spin += 1
                    now.fetch_sub(1, memory_order_acq_rel)
                if t.changed:
                    caused.push_back(t)
                    t.changed = False
                if mode == 0:
                    c.record_failure(-1.0, t)
                elif mode == 1:
                    c.record_ignored()
                else:
                    c.record_success(-1.0, t)
            if t.changed:
                caused.push_back(t)
    out = []
    for t in caused:
        breaker.c_notify(t)
        out.append((_STATE_OF[<int>t.from_], _STATE_OF[<int>t.to]))
    return permitted, out
