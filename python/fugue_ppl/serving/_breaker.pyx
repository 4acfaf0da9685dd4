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
from libc.math cimport INFINITY, llround
from libc.stdint cimport int64_t, uint64_t
from libcpp.memory cimport make_shared, shared_ptr

import enum
import logging
import threading
from collections.abc import Mapping

from fugue_ppl.serving._cbreaker cimport (
    CBreakerConfig, CBreakerSnapshot, CCircuitBreaker, CManualClock, CTransition, WindowType,
)

from fugue_ppl.checks import (
    Bounded, Choice, Duration, Int, Optional, Real, Relation, Settings, check_bounded,
    check_duration, check_text, invalid, setting, settings, type_error,
)
from fugue_ppl.errors import CircuitOpenError, _already_initialised

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

# The limits of the C++ breaker: durations are kept in int64 nanoseconds, a
# count window is a ring of calls, a time window at most 3600 buckets.
_MAX_SECONDS = 1e9
_MAX_WINDOW_CALLS = 1_000_000
_MAX_WINDOW_SECONDS = 86400.0


# ================================================================ clock

@cython.final
cdef class ManualClock:
    """A clock that moves only when told to; inject it into breakers in tests.

    The C++ breaker reads it directly (an atomic load), so a breaker on a
    manual clock is as fast as one on the real clock. It starts at ``start``
    seconds (finite, within 1e9 seconds of 0) and never goes backwards.
    Thread-safe.

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
        if self._ready:
            raise _already_initialised(self)
        cdef double s = check_bounded(start, "start", "ManualClock", -_MAX_SECONDS, _MAX_SECONDS)
        self.c = make_shared[CManualClock](<int64_t>llround(s * 1e9))
        self._ready = True

    def advance(self, seconds):
        """Move the clock forward by ``seconds`` (in [0, 1e9]: a monotonic clock never goes back).

        Raises
        ------
        TypeError
            ``seconds`` is not a real number.
        InvalidArgument
            ``seconds`` is negative, NaN, infinite or above 1e9.
        """
        cdef double s = check_bounded(seconds, "seconds", "ManualClock.advance", 0.0,
                                      _MAX_SECONDS)
        self.c.get().advance_ns(llround(s * 1e9))

    def now(self):
        """The current reading in seconds."""
        return self.c.get().now_ns() / 1e9

    def __call__(self):
        """The current reading in seconds (a ManualClock is a clock function too)."""
        return self.c.get().now_ns() / 1e9

    def __reduce__(self):
        # A clock at the same reading (a copy moves on its own).
        return (ManualClock, (self.now(),))

    def __repr__(self):
        return f"ManualClock({self.now()!r})"


# ================================================================ settings

def _window_type(text):
    return text.strip().lower()


@settings
class BreakerConfig(Settings):
    """The settings of a :class:`CircuitBreaker`: validated and immutable.

    Each field's default, limit and meaning is declared once, below (the
    reference lists them: ``docs/configuration.md``). The thresholds are
    failure rates over the sliding window, ordered
    ``recovery_threshold <= degraded_threshold <= failure_threshold``.
    :class:`CircuitBreaker` takes a BreakerConfig or the same keywords; the
    ``[breaker]`` section of :class:`fugue_ppl.config.Config` is one.

    Raises
    ------
    TypeError
        A setting of the wrong type.
    InvalidArgument
        A setting out of range or out of order (the message names it).

    Examples
    --------
    >>> cfg = BreakerConfig(failure_threshold=0.3, window_size=50)
    >>> cfg.failure_threshold, cfg.window_size, cfg.window_type
    (0.3, 50, 'count')
    >>> cfg.replace(window_type="time", window_seconds=10).window_seconds
    10.0
    """

    failure_threshold: float = setting(
        0.5, check=Real("probability"),
        doc="Failure rate above which the breaker opens (FAILED), from HEALTHY or DEGRADED.")
    degraded_threshold: float = setting(
        0.05, check=Real("probability"),
        doc="Failure rate above which HEALTHY becomes DEGRADED.")
    recovery_threshold: float = setting(
        0.02, check=Real("probability"),
        doc="Failure rate at or below which DEGRADED returns to HEALTHY.")
    window_type: str = setting(
        "count", check=Choice(("count", "time"), _window_type),
        doc="The sliding window: the last window_size calls, or the calls of the last "
            "window_seconds.")
    window_size: int = setting(
        100, check=Int(1, _MAX_WINDOW_CALLS), doc="Calls in a count window.")
    window_seconds: float = setting(
        60.0, check=Duration(_MAX_WINDOW_SECONDS),
        doc="Seconds of a time window (kept in max(10, ceil(seconds)) buckets, at most 3600).")
    minimum_calls: int = setting(
        20, check=Int(1, 2 ** 62),
        doc="Calls in the window before its rate is acted on (a count window uses at most "
            "window_size).")
    slow_call_duration: float | None = setting(
        None, check=Optional(Duration(_MAX_SECONDS)),
        doc="A success slower than this many seconds counts as a failure (none: off).")
    open_duration: float = setting(
        30.0, check=Duration(_MAX_SECONDS),
        doc="Seconds in FAILED before the next call is admitted as a trial (RECOVERY).")
    backoff_factor: float = setting(
        1.0, check=Bounded(1.0),
        doc="Multiplies the open duration after each failed recovery (1: no backoff).")
    max_open_duration: float | None = setting(
        None, check=Optional(Duration(_MAX_SECONDS)),
        doc="Cap of the backed-off open duration in seconds (none: no cap).")
    half_open_permits: int = setting(
        5, check=Int(1, 2 ** 31), doc="Trial calls admitted in RECOVERY.")
    recovery_success_rate: float = setting(
        1.0, check=Real("unit"),
        doc="Share of the trial calls that must succeed to close the breaker again.")

    _relations = (
        Relation("recovery_threshold", "<=", "degraded_threshold"),
        Relation("degraded_threshold", "<=", "failure_threshold"),
        Relation("max_open_duration", ">=", "open_duration"),
    )


cdef CBreakerConfig _c_config(object cfg):
    """The C++ breaker's settings from a (checked) BreakerConfig."""
    cdef CBreakerConfig c
    c.failure_threshold = cfg.failure_threshold
    c.degraded_threshold = cfg.degraded_threshold
    c.recovery_threshold = cfg.recovery_threshold
    if cfg.window_type == "count":
        c.window_type = WindowType.Count
        c.window_size = cfg.window_size
    else:
        c.window_type = WindowType.Time
        c.window_size = cfg.window_seconds
    c.minimum_calls = cfg.minimum_calls
    c.slow_call_duration = INFINITY if cfg.slow_call_duration is None else cfg.slow_call_duration
    c.open_duration = cfg.open_duration
    c.backoff_factor = cfg.backoff_factor
    c.max_open_duration = INFINITY if cfg.max_open_duration is None else cfg.max_open_duration
    c.half_open_permits = cfg.half_open_permits
    c.recovery_success_rate = cfg.recovery_success_rate
    return c


cdef double _seconds_taken(object v, str where) except? -2.0:
    """A call's duration in seconds (finite, >= 0); -1 for None (unknown)."""
    if v is None:
        return -1.0
    return check_duration(v, "duration", where, zero=True)


# ================================================================ the breaker

_OUTCOMES = ("success", "failure", "ignored")


def _exception_classes(value, name):
    classes = value if isinstance(value, tuple) else (value,)
    for c in classes:
        if not (isinstance(c, type) and issubclass(c, BaseException)):
            raise type_error("CircuitBreaker", name, c, "an exception class or a tuple of them")
    return classes


@cython.final
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
        The settings (None: the defaults of :class:`BreakerConfig`);
        keyword ``settings`` override single fields.
    clock : ManualClock, optional
        Time source. None: the process's monotonic clock (the CPU's
        invariant time-stamp counter, or ``steady_clock``).
    name : str
        Names the breaker in log records.
    record : exception class or tuple of them
        Exceptions of a call counted as failures (default: every
        ``Exception``); any other exception counts as a success, as in
        resilience4j's ``recordExceptions``.
    ignore : exception class or tuple of them
        Exceptions counted neither way (the call's permit is given back):
        errors of the caller rather than of the service. They win over
        ``record``. A ``BaseException`` that is not an ``Exception``
        (``KeyboardInterrupt``, ``CancelledError``) is always ignored unless
        listed in ``record``.
    **settings
        Any :class:`BreakerConfig` field.

    Raises
    ------
    TypeError
        A setting is unknown or of the wrong type, ``config`` is not a
        BreakerConfig or a mapping, ``clock`` is not a :class:`ManualClock`,
        ``record`` or ``ignore`` is not an exception class or a tuple of them.
    InvalidArgument
        A setting or the name is invalid (the message names it).

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

    def __init__(self, config=None, *, clock=None, name="circuit_breaker",
                 record=Exception, ignore=(), **settings):
        cdef shared_ptr[CManualClock] clk
        if self.c.get() != NULL:
            raise _already_initialised(self)
        record = _exception_classes(record, "record")
        ignore = _exception_classes(ignore, "ignore")
        if not record:      # (every raising call a success: surely not what was meant)
            raise invalid("CircuitBreaker", "record", record,
                          "must name at least one exception class")
        if config is None:
            cfg = BreakerConfig().replace(**settings) if settings else BreakerConfig()
        elif isinstance(config, BreakerConfig):
            cfg = config.replace(**settings) if settings else config
        elif isinstance(config, Mapping):
            cfg = BreakerConfig().replace(**{**config, **settings})
        else:
            raise TypeError(f"CircuitBreaker: config must be a BreakerConfig, a mapping or "
                            f"None, got {type(config).__name__}")
        if clock is not None:
            if not isinstance(clock, ManualClock):
                raise TypeError(f"CircuitBreaker: clock must be a ManualClock or None, got "
                                f"{type(clock).__name__}")
            clk = (<ManualClock>clock).c
        name = check_text(name, "name", "CircuitBreaker")
        try:
            self.c = make_shared[CCircuitBreaker](_c_config(cfg), clk)
        except ValueError as e:   # the C++ check agrees with BreakerConfig's; a backstop
            err = invalid("CircuitBreaker", "config", cfg, f"is refused by the breaker ({e})")
        else:
            err = None
        if err is not None:
            raise err
        self.config = cfg
        self.clock = clock
        self.name = name
        self.record_exceptions = record
        self.ignore_exceptions = ignore
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

    cdef int c_classify(self, object exc) except -1:
        if isinstance(exc, self.ignore_exceptions):
            return OUTCOME_IGNORED
        if isinstance(exc, self.record_exceptions):
            return OUTCOME_FAILURE
        return OUTCOME_SUCCESS if isinstance(exc, Exception) else OUTCOME_IGNORED

    def classify(self, exc):
        """What a call that raised ``exc`` counts as: ``"failure"``, ``"success"`` or
        ``"ignored"`` (see ``record`` and ``ignore``)."""
        if not isinstance(exc, BaseException):
            raise type_error("CircuitBreaker.classify", "exc", exc, "an exception")
        return _OUTCOMES[self.c_classify(exc)]

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
        TypeError
            ``duration`` is not a real number (nothing is recorded).
        InvalidArgument
            ``duration`` is not a finite number >= 0 (nothing is recorded).
        """
        self.c_record_success(_seconds_taken(duration, "CircuitBreaker.record_success"))

    def record_failure(self, duration=None):
        """Record a failed call (``duration`` in seconds, optional: it counts slow calls).

        Raises
        ------
        TypeError
            ``duration`` is not a real number (nothing is recorded).
        InvalidArgument
            ``duration`` is not a finite number >= 0 (nothing is recorded).
        """
        self.c_record_failure(_seconds_taken(duration, "CircuitBreaker.record_failure"))

    def record_ignored(self):
        """Record a call that counts neither way (e.g. cancelled, or a client error).

        In ``RECOVERY`` its trial permit goes back, so another call can take it.
        """
        self.c.get().record_ignored()

    def call(self, func, /, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` through the breaker.

        The duration is measured on the breaker's clock. An exception from
        ``func`` is recorded as :meth:`classify` says (by default a failure;
        a ``BaseException`` that is not an ``Exception``, such as
        ``KeyboardInterrupt``, as ignored) and re-raised.

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
        cdef int outcome
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            outcome = self.c_classify(exc)
            if outcome == OUTCOME_FAILURE:
                self.c_record_failure((self.c.get().now_ns() - t0) / 1e9)
            elif outcome == OUTCOME_SUCCESS:
                self.c_record_success((self.c.get().now_ns() - t0) / 1e9)
            else:
                self.c_record_ignored()
            raise
        self.c_record_success((self.c.get().now_ns() - t0) / 1e9)
        return result

    def open_error(self):
        """The :class:`~fugue_ppl.errors.CircuitOpenError` of a refused call (with retry_after)."""
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
            Seconds (> 0, at most 1e9) before the breaker admits trial calls as
            after any open period. None: it stays ``FAILED`` (``retry_after``
            is ``inf``) until :meth:`reset`.

        Raises
        ------
        TypeError
            ``duration`` is not a real number or None.
        InvalidArgument
            ``duration`` is out of range (the breaker is unchanged).
        """
        cdef double d = INFINITY
        cdef CTransition t
        if duration is not None:
            d = check_duration(duration, "duration", "CircuitBreaker.force_open",
                               maximum=_MAX_SECONDS)
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
        cfg = self.config
        # (a count window acts on at most its size)
        minimum_calls = (min(cfg.minimum_calls, cfg.window_size) if cfg.window_type == "count"
                         else cfg.minimum_calls)
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
            "minimum_calls": minimum_calls,
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

    def __reduce__(self):
        raise TypeError("CircuitBreaker does not pickle: its state, window and listeners are "
                        "live and belong to this process; build one in the other process "
                        "from its config (CircuitBreaker(breaker.config, name=...)); a "
                        "ModelRunner pickles with a new HEALTHY breaker of the same settings")

    def __repr__(self):
        return f"<CircuitBreaker {self.name!r} {self.state.name}>"
