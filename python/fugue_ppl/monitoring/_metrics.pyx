# cython: boundscheck=False, wraparound=False
"""Latency histogram and production metrics, implemented in C++.

:class:`LatencyHistogram` is a log-linear (HDR-style) histogram with bounded
relative error on every quantile; :class:`ProductionMetrics` counts
inferences, errors by kind, timeouts and fallbacks, keeps their latencies and
the throughput, and is what :class:`~fugue_ppl.MetricsHandler` records into.
"""

cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE
from cython.operator cimport dereference as deref
from libc.math cimport isfinite
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp.memory cimport make_shared

import functools
import logging
import threading

import numpy as np

from fugue_ppl.core._cclock cimport seconds_per_tick, ticks, ticks_use_tsc
from fugue_ppl.core._runtime cimport HandlerWrapper
from fugue_ppl.monitoring._cmetrics cimport (
    CInferenceMetrics, CLatencyHistogram, CMetricsCounts, kMaxWindowSeconds,
)

from fugue_ppl.checks import check_int, check_real, check_text, invalid, safe_repr
from fugue_ppl.errors import InferenceTimeout, _already_initialised

__all__ = [
    "LatencyHistogram", "ProductionMetrics", "MetricsHandler", "clock_info", "MAX_WINDOW_SECONDS",
    "DEFAULT_WINDOW_SECONDS",
]

_log = logging.getLogger("fugue_ppl.monitoring.prometheus")

#: The longest sliding throughput window of ProductionMetrics, in seconds.
MAX_WINDOW_SECONDS = kMaxWindowSeconds
#: The window of a ProductionMetrics built without one, in seconds.
DEFAULT_WINDOW_SECONDS = 60

# Counters stop at this value instead of wrapping.
cdef object _COUNTER_MAX = 2 ** 64 - 1

seconds_per_tick()   # calibrate the tick clock at import, not in the first timed call


def clock_info():
    """How latencies are measured.

    ``{"source": "tsc" | "steady_clock", "seconds_per_tick": float}``.
    """
    return {"source": "tsc" if ticks_use_tsc() else "steady_clock",
            "seconds_per_tick": seconds_per_tick()}


cdef class LatencyHistogram:
    """Log-linear latency histogram (seconds).

    Each power of two of ``[lowest, highest]`` is split into
    ``2**sub_bits`` equal buckets, so every quantile of values inside the range
    is reported within ``1 / 2**(sub_bits + 1)`` relative error (0.39% with the
    default ``sub_bits=7``). Recording is lock-free and thread-safe: no sample
    is lost under concurrent writers. Counts saturate at ``2**64 - 1``.

    Parameters
    ----------
    lowest, highest : float
        The range in seconds (default 1 µs to 1 h). Values outside it are
        still counted (under/overflow buckets) and move ``min``/``max``/``sum``.
    sub_bits : int
        Resolution, 1 to 12.

    Examples
    --------
    >>> h = LatencyHistogram()
    >>> h.record_many([0.001, 0.002, 0.003, 0.004])
    >>> h.count, round(h.quantile(0.5), 4)
    (4, 0.002)
    """

    def __init__(self, lowest=1e-6, highest=3600.0, sub_bits=7):
        if self.c.get() != NULL:   # metrics and other threads record into it
            raise _already_initialised(self)
        cdef double lo = check_real(lowest, "lowest", "LatencyHistogram", "positive")
        cdef double hi = check_real(highest, "highest", "LatencyHistogram", "positive")
        if not hi > lo:
            raise invalid("LatencyHistogram", "highest", highest,
                          f"must be > lowest ({safe_repr(lowest)})")
        if hi / lo > 2.0 ** 900:
            raise invalid("LatencyHistogram", "highest", highest,
                          "must be at most 2**900 times lowest")
        sub_bits = check_int(sub_bits, "sub_bits", "LatencyHistogram", low=1, high=12)
        self.c = make_shared[CLatencyHistogram](lo, hi, <int>sub_bits)

    def record(self, seconds):
        """Record one latency in seconds (finite, >= 0).

        Raises
        ------
        TypeError
            ``seconds`` is not a real number.
        InvalidArgument
            ``seconds`` is negative, NaN or infinite.
        """
        cdef double x
        if type(seconds) is float:
            x = PyFloat_AS_DOUBLE(seconds)
            if x >= 0.0 and isfinite(x):
                self.c.get().record(x)
                return
        self.c.get().record(check_real(seconds, "seconds", "LatencyHistogram.record",
                                       "non_negative"))

    def record_many(self, values):
        """Record an array of latencies (seconds, each >= 0), with the GIL released.

        Raises
        ------
        InvalidArgument
            A value is negative, NaN or infinite (nothing is recorded then).
        """
        cdef const double[::1] v = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        cdef size_t n = v.shape[0]
        if n == 0:
            return
        arr = np.asarray(v)
        ok = (arr >= 0.0) & np.isfinite(arr)
        if not ok.all():
            raise invalid("LatencyHistogram.record_many", "values", float(arr[~ok][0]),
                          "must be finite and >= 0")
        with nogil:
            self.c.get().record_many(&v[0], n)

    @property
    def count(self):
        """Number of recorded values (at most ``2**64 - 1``)."""
        return self.c.get().count()

    @property
    def sum(self):
        """Sum of the recorded values (seconds)."""
        return self.c.get().sum()

    @property
    def min(self):
        """Smallest recorded value (NaN when empty)."""
        return self.c.get().min()

    @property
    def max(self):
        """Largest recorded value (NaN when empty)."""
        return self.c.get().max()

    @property
    def mean(self):
        """Mean of the recorded values (NaN when empty)."""
        cdef uint64_t n = self.c.get().count()
        return self.c.get().sum() / n if n else float("nan")

    @property
    def lowest(self):
        return self.c.get().lowest()

    @property
    def highest(self):
        return self.c.get().highest()

    @property
    def sub_bits(self):
        return self.c.get().sub_bits()

    def __reduce__(self):
        raise TypeError("LatencyHistogram does not pickle: it is recorded into live (and "
                        "shared with its ProductionMetrics); send to_dict() instead")

    def quantile(self, q):
        """The q-quantile (the order statistic of rank ``ceil(q n)``), NaN when empty.

        Raises
        ------
        ValueError
            ``q`` is not in [0, 1].
        """
        return self.c.get().quantile(check_real(q, "q", "LatencyHistogram.quantile",
                                                "probability"))

    def percentiles(self, qs=(0.5, 0.9, 0.99)):
        """``{q: quantile(q)}`` for several q."""
        return {q: self.quantile(q) for q in qs}

    def count_le(self, double x):
        """Number of values <= ``x`` at the histogram's resolution."""
        return self.c.get().count_le(x)

    def cumulative_counts(self, bounds):
        """``[(le, count of values <= le)]`` for increasing bounds, then ``(inf, count)``.

        The form Prometheus histograms take; each ``le`` is resolved to the
        histogram's bucket resolution (:meth:`count_le`), all in one pass.
        """
        cdef const double[::1] b = np.ascontiguousarray(bounds, dtype=np.float64).reshape(-1)
        counts = np.empty(b.shape[0], dtype=np.uint64)
        cdef uint64_t[::1] c = counts
        if b.shape[0]:
            self.c.get().count_le_many(&b[0], <size_t>b.shape[0], &c[0])
        out = [(float(x), int(n)) for x, n in zip(np.asarray(b), counts)]
        out.append((float("inf"), self.c.get().count()))
        return out

    def merge(self, LatencyHistogram other not None):
        """Add ``other``'s values.

        Raises
        ------
        ValueError
            The two histograms differ in range or resolution.
        """
        self.c.get().merge(deref(other.c.get()))

    def reset(self):
        """Forget every value."""
        self.c.get().reset()

    def to_dict(self):
        """Count, sum, min, max, mean and p50/p90/p99."""
        return {"count": self.count, "sum": self.sum, "min": self.min, "max": self.max,
                "mean": self.mean, "p50": self.quantile(0.5), "p90": self.quantile(0.9),
                "p99": self.quantile(0.99)}

    def __repr__(self):
        return (f"LatencyHistogram(count={self.count}, p50={self.quantile(0.5):.6g}, "
                f"p99={self.quantile(0.99):.6g})")


@cython.final
cdef class _Timer:
    """Context manager and decorator recording one inference per use."""

    cdef ProductionMetrics _m
    cdef int64_t _t0

    def __enter__(self):
        self._t0 = ticks()
        return self

    def __exit__(self, exc_type, exc, tb):
        cdef int64_t t1 = ticks()
        self._m.record_call(self._t0, t1, exc, 0)
        return False

    def __call__(self, func):
        m = self._m

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with m.time():
                return func(*args, **kwargs)
        return wrapper


cdef str _kind_of(object error):
    if isinstance(error, BaseException):
        return type(error).__name__
    if isinstance(error, type) and issubclass(error, BaseException):
        return error.__name__
    if isinstance(error, str):
        return check_text(error, "error", "ProductionMetrics.record", max_length=100)
    raise TypeError(f"ProductionMetrics.record: error must be an exception, an exception "
                    f"class or a kind string, got {type(error).__name__}")


@cython.final
cdef class _Monitor:
    # A monitor attached to ProductionMetrics, with its counts.
    cdef str name
    cdef object monitor
    cdef uint64_t alarms        # signals with a true ``alarm``
    cdef uint64_t errors        # updates that raised (logged)


@cython.final
cdef class ProductionMetrics:
    """Production counters of a model: inferences, errors, latencies, throughput.

    Thread-safe; recording one inference is lock-free; counters saturate at
    ``2**64 - 1``. Use :class:`MetricsHandler` to record every
    :func:`~fugue_ppl.run`, or :meth:`time` around other code.

    Parameters
    ----------
    window : int
        Seconds of the sliding throughput window (at most MAX_WINDOW_SECONDS).
    lowest, highest : float
        Range of the latency histogram in seconds (default 100 ns to 1 h:
        small models run in well under a microsecond).

    Examples
    --------
    >>> m = ProductionMetrics()
    >>> with m.time():
    ...     pass
    >>> m.inference_count, m.error_count
    (1, 0)
    """

    def __init__(self, window=DEFAULT_WINDOW_SECONDS, lowest=1e-7, highest=3600.0):
        if self.c.get() != NULL:   # runners and other threads record into it
            raise _already_initialised(self)
        window = check_int(window, "window", "ProductionMetrics", low=1,
                           high=MAX_WINDOW_SECONDS)
        self.latency = LatencyHistogram(lowest, highest)
        self.c.reset(new CInferenceMetrics(self.latency.c, <int>window))
        self._monitors = ()
        self._has_monitors = False
        self._lock = threading.Lock()
        self._spt = seconds_per_tick()

    cdef int record_call(self, int64_t start_tick, int64_t end_tick, object error,
                         uint64_t fallbacks) except -1:
        return self._record(<double>(end_tick - start_tick) * self._spt, end_tick, error,
                            fallbacks)

    cdef int _record(self, double seconds, int64_t end_tick, object error,
                     uint64_t fallbacks) except -1:
        if error is None:
            return record_success(self, seconds, end_tick, fallbacks)
        self.c.get().record(seconds, end_tick)
        if error is not None:
            self.c.get().record_error(_kind_of(error).encode("utf-8"))
            if isinstance(error, InferenceTimeout) or (
                    isinstance(error, type) and issubclass(error, InferenceTimeout)):
                self.c.get().add_timeout()
        if fallbacks:
            self.c.get().add_fallback(fallbacks)
        if self._has_monitors:
            self._notify(seconds)
        return 0

    cdef int add_fallbacks(self, uint64_t n) except -1:
        self.c.get().add_fallback(n)
        return 0

    cdef int add_invalid(self) except -1:
        self.c.get().add_invalid()
        return 0

    cdef int _notify(self, double seconds) except -1:
        # A failing monitor must not fail the inference it observes: its
        # error is logged and counted, the inference is not.
        cdef _Monitor m
        for m in self._monitors:
            try:
                signal = m.monitor.update(seconds)
            except Exception:
                _log.exception("monitor %r failed on a latency of %r s", m.name, seconds)
                with self._lock:
                    m.errors += 1
                continue
            if getattr(signal, "alarm", False):
                with self._lock:
                    m.alarms += 1
        return 0

    # ---- recording
    def record(self, seconds, error=None):
        """Record one inference that took ``seconds`` (and failed with ``error``, if given).

        Parameters
        ----------
        seconds : float
            Duration, >= 0.
        error : BaseException, exception class or str, optional
            The failure; counted by kind (the class name, or the string).
            An :class:`~fugue_ppl.errors.InferenceTimeout` also counts as a
            timeout.
        """
        cdef double s = check_real(seconds, "seconds", "ProductionMetrics.record", "non_negative")
        if error is not None:
            _kind_of(error)
        self._record(s, ticks(), error, 0)

    def record_timeout(self):
        """Count a timeout that was not recorded through :meth:`record`."""
        self.c.get().add_timeout()

    def record_invalid(self):
        """Count a request refused for invalid arguments: a client error, not an inference."""
        self.c.get().add_invalid()

    def record_fallback(self, n=1):
        """Count ``n`` fallback values served.

        The count saturates at ``2**64 - 1``: a larger ``n``, or a sum
        beyond it, leaves the counter at its maximum.

        Raises
        ------
        TypeError
            ``n`` is not an int.
        InvalidArgument
            ``n`` is negative.
        """
        n = check_int(n, "n", "ProductionMetrics.record_fallback", low=0)
        self.add_fallbacks(<uint64_t>min(n, _COUNTER_MAX))

    def time(self):
        """A context manager (and decorator) recording one inference.

        An exception leaving the block is counted as an error of its kind and
        re-raised.

        Examples
        --------
        >>> m = ProductionMetrics()
        >>> @m.time()
        ... def predict(x):
        ...     return 2 * x
        >>> predict(3), m.inference_count
        (6, 1)
        """
        cdef _Timer t = _Timer.__new__(_Timer)
        t._m = self
        return t

    # ---- monitors
    def attach(self, monitor, name=None):
        """Feed every recorded latency (seconds) to ``monitor.update``.

        Alarms (signals with a true ``alarm``) are counted per monitor and
        exported. ``monitor`` is any object with ``update(x)``, such as
        :class:`~fugue_ppl.monitoring.EWMA`, ``ShewhartChart`` or ``CUSUM``.
        """
        if not callable(getattr(monitor, "update", None)):
            raise TypeError(f"attach: monitor must have an update(x) method, got "
                            f"{type(monitor).__name__}")
        name = type(monitor).__name__.lower() if name is None else name
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"attach: name must be an identifier, got {name!r}")
        cdef _Monitor m
        with self._lock:
            if any((<_Monitor>e).name == name for e in self._monitors):
                raise ValueError(f"attach: a monitor named {name!r} is already attached")
            m = _Monitor.__new__(_Monitor)
            m.name = name
            m.monitor = monitor
            self._monitors = self._monitors + (m,)
            self._has_monitors = True

    @property
    def monitors(self):
        """``{name: monitor}`` of the attached monitors."""
        return {(<_Monitor>m).name: (<_Monitor>m).monitor for m in self._monitors}

    @property
    def monitor_alarms(self):
        """``{name: alarms counted}``."""
        with self._lock:
            return {(<_Monitor>m).name: (<_Monitor>m).alarms for m in self._monitors}

    @property
    def monitor_errors(self):
        """``{name: updates that raised}`` (logged, never propagated)."""
        with self._lock:
            return {(<_Monitor>m).name: (<_Monitor>m).errors for m in self._monitors}

    # ---- reading
    @property
    def inference_count(self):
        return self.c.get().inferences()

    @property
    def error_count(self):
        return self.c.get().errors()

    @property
    def errors(self):
        """``{kind: count}``."""
        return {k.decode("utf-8"): v for k, v in self.c.get().errors_by_kind()}

    @property
    def timeouts(self):
        return self.c.get().timeouts()

    @property
    def fallbacks(self):
        return self.c.get().fallbacks()

    @property
    def invalid_requests(self):
        """Requests refused for invalid arguments (never inferences, never errors)."""
        return self.c.get().invalid()

    @property
    def error_rate(self):
        """Errors / inferences (0.0 before any inference)."""
        cdef uint64_t n = self.c.get().inferences()
        return self.c.get().errors() / n if n else 0.0

    @property
    def uptime(self):
        """Seconds since construction or the last :meth:`reset`."""
        return self.c.get().uptime()

    @property
    def throughput(self):
        """Inferences per second over the uptime."""
        cdef double up = self.c.get().uptime()
        return self.c.get().inferences() / up if up > 0 else 0.0

    @property
    def window_throughput(self):
        """Inferences per second over the sliding window."""
        return self.c.get().window_rate()

    @property
    def window(self):
        return self.c.get().window_seconds()

    def counts(self):
        """The counters at one moment, as a dict.

        ``{"inferences", "errors", "timeouts", "fallbacks", "invalid", "errors_by_kind"}``,
        read so that ``timeouts <= errors <= inferences`` and the kinds sum
        to at most ``errors`` however many threads are recording: windows of
        counts (health checks, SLO event stores) take their differences.
        """
        cdef CMetricsCounts c = self.c.get().counts()
        return {"inferences": c.inferences, "errors": c.errors, "timeouts": c.timeouts,
                "fallbacks": c.fallbacks, "invalid": c.invalid,
                "errors_by_kind": {k.decode("utf-8"): v for k, v in c.errors_by_kind}}

    def snapshot(self):
        """All metrics as a JSON-serialisable dict (the counters from one :meth:`counts`)."""
        counts = self.counts()
        lat = self.latency.to_dict()
        n = counts["inferences"]
        return {
            "inferences": n,
            "errors": counts["errors"],
            "errors_by_kind": counts["errors_by_kind"],
            "timeouts": counts["timeouts"],
            "fallbacks": counts["fallbacks"],
            "invalid_requests": counts["invalid"],
            "error_rate": counts["errors"] / n if n else 0.0,
            "latency_seconds": {k: (None if v != v else v) for k, v in lat.items()},
            "throughput_per_second": self.throughput,
            "window_throughput_per_second": self.window_throughput,
            "window_seconds": self.window,
            "uptime_seconds": self.uptime,
            "monitor_alarms": self.monitor_alarms,
        }

    def reset(self):
        """Zero every counter and the histogram; restart the uptime."""
        self.c.get().reset()
        with self._lock:
            for m in self._monitors:
                (<_Monitor>m).alarms = 0
                (<_Monitor>m).errors = 0

    def __reduce__(self):
        raise TypeError("ProductionMetrics does not pickle: its counters are live (threads of "
                        "this process record into them); send snapshot() or counts(), or "
                        "build a ProductionMetrics(window=...) in the other process (a "
                        "MetricsHandler or a ModelRunner pickles with new metrics of the same "
                        "settings)")

    def __repr__(self):
        return (f"ProductionMetrics(inferences={self.inference_count}, errors={self.error_count}, "
                f"p99={self.latency.quantile(0.99):.6g}s)")


cdef class MetricsHandler(HandlerWrapper):
    """Record every run of ``inner`` into ``metrics``.

    Exactly one inference per :func:`~fugue_ppl.run`, with its duration (a
    fast monotonic clock), its outcome and the fallback values a
    ``RobustHandler`` in the chain substituted: an exception leaving the
    model counts as an error of its kind (an ``InferenceTimeout`` also as a
    timeout) and is re-raised. The runs themselves are ``inner``'s.

    Parameters
    ----------
    inner : Handler
        Any handler whose chain holds no other MetricsHandler.
    metrics : ProductionMetrics

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> m = ProductionMetrics()
    >>> h = MetricsHandler(fp.PooledPriorHandler(rng=1), m)
    >>> for _ in range(10):
    ...     _ = fp.run(h, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    >>> m.inference_count
    10
    """

    cdef ProductionMetrics _metrics

    def __init__(self, inner, metrics):
        self._claim()
        self._wrap(inner, False, True)
        if not isinstance(metrics, ProductionMetrics):
            raise TypeError(f"MetricsHandler: metrics must be a ProductionMetrics, got "
                            f"{type(metrics).__name__}")
        self._metrics = metrics

    cdef int _run_ended(self, int64_t t0, int64_t t1, object error,
                        uint32_t substituted) except -1:
        return self._metrics.record_call(t0, t1, error, substituted)

    def __reduce__(self):
        # The inner handler (pickled as handlers are) and the settings of its
        # metrics: a copy records into new metrics, its counts starting at zero.
        m = self._metrics
        return (_rebuild_metrics_handler, (type(self), self.inner, m.window, m.latency.lowest,
                                           m.latency.highest),
                getattr(self, "__dict__", None) or None)

    @property
    def metrics(self):
        return self._metrics


def _rebuild_metrics_handler(cls, inner, window, lowest, highest):
    """Unpickle a :class:`MetricsHandler`: new metrics of the same settings."""
    h = cls.__new__(cls)
    MetricsHandler.__init__(h, inner, ProductionMetrics(window, lowest, highest))
    return h
