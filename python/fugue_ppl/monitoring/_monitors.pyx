# cython: boundscheck=False, wraparound=False, cdivision=True
"""Statistical process control monitors, implemented in C++.

* :class:`Welford` -- running mean and variance, mergeable across workers.
* :class:`EWMA` -- exponentially weighted moving average chart with
  time-varying control limits.
* :class:`ShewhartChart` -- individuals or X-bar chart with the four Western
  Electric rules.
* :class:`CUSUM` -- tabular two-sided cumulative sum chart.

The three charts share one interface: ``update(x) -> Signal`` for one
observation, ``update_many(x) -> BatchResult`` for an array (a C++ loop with
the GIL released), ``count``, ``alarm_count``, ``reset()``, ``restart()`` and
``snapshot() -> dict``. An unknown baseline (``mu0`` and / or ``sigma`` left
as ``None``) is estimated from a warm-up of ``warmup`` observations
(:data:`DEFAULT_WARMUP`), during which no alarm is raised.

Every monitor guards its state with its own mutex: updates from several
threads are serialised, and an array update is applied all at once. NaN and
infinite observations are rejected with
:class:`~fugue_ppl.errors.InvalidObservation` (a ``ValueError``) naming the
value, and leave the monitor unchanged; a parameter of the wrong type raises
``TypeError``, a bad one :class:`~fugue_ppl.errors.InvalidArgument` naming
it. :class:`EWMAConfig` and :class:`CUSUMConfig` are the charts' settings
types (their defaults and limits).
"""

cimport cython
from cython.operator cimport dereference as deref
from libc.math cimport NAN, sqrt
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcpy
from libcpp.memory cimport unique_ptr

import numpy as np

from fugue_ppl.monitoring._cmonitors cimport (
    CBatchOutput, CCusum, CCusumConfig, CCusumSnapshot, CEwma, CEwmaConfig, CEwmaSnapshot,
    CMoments, CShewhartChart, CShewhartConfig, CShewhartSnapshot, CSignal, CWelford,
    UpdateStatus, kRuleLower, kRuleUpper, kRuleWE1, kRuleWE2, kRuleWE3, kRuleWE4,
)

from fugue_ppl.checks import (
    Bounded, Int, Real, Settings, check_flag, check_int, check_real, invalid, setting, settings,
)
from fugue_ppl.errors import FugueError, InvalidObservation, _already_initialised

__all__ = [
    "Welford", "EWMA", "ShewhartChart", "CUSUM", "Signal", "BatchResult",
    "EWMAConfig", "CUSUMConfig", "DEFAULT_WARMUP", "WESTERN_ELECTRIC_RULES",
]

#: Warm-up length used when a baseline parameter is estimated and ``warmup`` is not given.
DEFAULT_WARMUP = 30
#: The names of the Western Electric rules, in order.
WESTERN_ELECTRIC_RULES = ("WE1", "WE2", "WE3", "WE4")

cdef object _ascontiguous = np.ascontiguousarray
cdef object _float64 = np.float64
cdef object _empty = np.empty
cdef object _int64 = np.int64


# ================================================================ argument checks

def _warmup(str owner, object warmup, bint needed, object settings_type):
    """The warm-up length: 0 when the baseline is given, else >= 2."""
    if not needed:
        if warmup is not None:
            raise invalid(owner, "warmup", warmup, "must be None when mu0 and sigma are both "
                          "given (there is nothing to estimate)")
        return 0
    if warmup is None:
        return DEFAULT_WARMUP
    return settings_type.check_field("warmup", warmup, owner)


# ================================================================ settings

@settings
class EWMAConfig(Settings):
    """The settings of an :class:`EWMA` chart (the ``[monitor.ewma]`` section).

    ``EWMA(**dataclasses.asdict(config))`` builds the chart they describe.
    """

    lam: float = setting(0.2, check=Real("unit"),
                         doc="Weight of the newest observation (1 gives a Shewhart chart).")
    L: float = setting(2.962, check=Real("positive"),
                       doc="Width of the control limits in standard deviations of the average.")
    warmup: int = setting(DEFAULT_WARMUP, check=Int(2, 2 ** 62),
                          doc="Observations that estimate an unknown baseline (no alarm "
                              "during them).")


@settings
class CUSUMConfig(Settings):
    """The settings of a :class:`CUSUM` chart (the ``[monitor.cusum]`` section).

    ``CUSUM(**dataclasses.asdict(config))`` builds the chart they describe.
    """

    k: float = setting(0.5, check=Bounded(0.0),
                       doc="Reference value in standard deviations (about half the shift to "
                           "detect).")
    h: float = setting(5.0, check=Real("positive"),
                       doc="Decision interval in standard deviations.")
    warmup: int = setting(DEFAULT_WARMUP, check=Int(2, 2 ** 62),
                          doc="Observations that estimate an unknown baseline (no alarm "
                              "during them).")


_EWMA_DEFAULTS = EWMAConfig()
_CUSUM_DEFAULTS = CUSUMConfig()


cdef object _as_f64(object x):
    return _ascontiguous(x, dtype=_float64)


cdef object _vector_arg(object x, str where):
    """``x`` as a contiguous 1-D float64 array (no copy when it already is one)."""
    try:
        a = _as_f64(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: x must be a 1-D array of real numbers ({e})") from None
    if a.ndim != 1:
        raise invalid(where, "x", a.shape, "must be 1-D (its shape)")
    return a


cdef object _not_finite_x(str where, double x):
    return InvalidObservation(f"{where}: x={x!r} is not finite (NaN and infinite observations "
                              f"are rejected; nothing was added)")


cdef object _not_finite(str where, object a, int64_t i):
    if a.ndim == 1:
        what = f"x[{i}]={float(a[i])!r} is not finite"
    else:
        what = f"x[{i}] (a subgroup) holds a value that is not finite"
    return InvalidObservation(f"{where}: {what} (NaN and infinite observations are rejected; "
                              f"nothing was added)")


# ================================================================ results

cdef list _rule_table(dict names):
    """Rule-bit mask -> tuple of rule names, for every mask."""
    cdef list out = []
    cdef int m
    for m in range(64):
        out.append(tuple(name for bit, name in names.items() if m & bit))
    return out

cdef list _WE_TABLE = _rule_table({kRuleWE1: "WE1", kRuleWE2: "WE2", kRuleWE3: "WE3",
                                   kRuleWE4: "WE4"})
cdef list _EWMA_TABLE = _rule_table({kRuleUpper: "UCL", kRuleLower: "LCL"})
cdef list _CUSUM_TABLE = _rule_table({kRuleUpper: "CUSUM+", kRuleLower: "CUSUM-"})


@cython.final
@cython.freelist(32)
@cython.no_gc
cdef class Signal:
    """The outcome of one update of a control chart.

    Parameters
    ----------
    x : float
        The observation (for an X-bar chart: the subgroup's mean).
    value : float
        The charted statistic: ``z_t`` for :class:`EWMA`, the point itself
        for :class:`ShewhartChart`, and for :class:`CUSUM` ``C+`` when
        ``C+ >= C-`` else ``-C-``. NaN during the warm-up.
    lcl, ucl : float
        The control limits the statistic was compared with (NaN during the
        warm-up). For :class:`CUSUM`, ``-H`` and ``H``.
    alarm : bool
        Whether this observation raised an alarm.
    rules : tuple of str
        What fired: ``"WE1"``..``"WE4"`` (Shewhart), ``"UCL"`` / ``"LCL"``
        (EWMA), ``"CUSUM+"`` / ``"CUSUM-"`` (CUSUM); empty without an alarm.
    direction : int
        +1 for an upward alarm, -1 for a downward one, 0 without an alarm.
    count : int
        Observations seen by the monitor, this one included.
    warmup : bool
        True while the baseline was still being estimated (no alarm then).

    Examples
    --------
    >>> from fugue_ppl.monitoring._monitors import CUSUM
    >>> s = CUSUM(mu0=0.0, sigma=1.0).update(7.0)
    >>> s.alarm, s.rules, s.direction, s.value
    (True, ('CUSUM+',), 1, 6.5)
    """

    cdef readonly double x, value, lcl, ucl
    cdef readonly bint alarm, warmup
    cdef readonly int direction
    cdef readonly uint64_t count
    cdef readonly tuple rules

    def __init__(self, double x, double value, double lcl, double ucl, bint alarm=False,
                 rules=(), int direction=0, uint64_t count=0, bint warmup=False):
        self.x, self.value, self.lcl, self.ucl = x, value, lcl, ucl
        self.alarm, self.warmup, self.direction, self.count = alarm, warmup, direction, count
        self.rules = tuple(rules)

    def to_dict(self):
        """The fields as a dict."""
        return {"x": self.x, "value": self.value, "lcl": self.lcl, "ucl": self.ucl,
                "alarm": self.alarm, "rules": self.rules, "direction": self.direction,
                "count": self.count, "warmup": self.warmup}

    def __eq__(self, other):
        if not isinstance(other, Signal):
            return NotImplemented
        return self.to_dict() == (<Signal>other).to_dict()

    def __hash__(self):
        return hash(tuple(self.to_dict().values()))

    def __reduce__(self):
        return (Signal, (self.x, self.value, self.lcl, self.ucl, self.alarm, self.rules,
                         self.direction, self.count, self.warmup))

    def __repr__(self):
        return (f"Signal(x={self.x!r}, value={self.value!r}, lcl={self.lcl!r}, "
                f"ucl={self.ucl!r}, alarm={self.alarm}, rules={self.rules!r}, "
                f"direction={self.direction}, count={self.count}, warmup={self.warmup})")


cdef inline Signal _signal(const CSignal& s, list table):
    cdef Signal r = Signal.__new__(Signal)
    r.x = s.x
    r.value = s.value
    r.lcl = s.lcl
    r.ucl = s.ucl
    r.alarm = s.alarm
    r.warmup = s.warmup
    r.direction = s.direction
    r.count = s.count
    r.rules = <tuple>table[s.rules & 63]
    return r


@cython.final
cdef class BatchResult:
    """The outcome of ``update_many``.

    Attributes
    ----------
    count : int
        Observations consumed (the length of the input).
    alarms : numpy.ndarray of int64
        Indices into the input of the observations that raised an alarm.
    last : Signal or None
        The signal of the last observation (None for an empty input).
    values, lcl, ucl : numpy.ndarray of float64 or None
        With ``full=True``: the charted statistic and the control limits of
        every observation (NaN during the warm-up); else None.
    """

    cdef readonly uint64_t count
    cdef readonly object alarms
    cdef readonly object last
    cdef readonly object values, lcl, ucl

    @property
    def n_alarms(self):
        """``len(alarms)``."""
        return len(self.alarms)

    @property
    def alarm(self):
        """True when any observation raised an alarm."""
        return len(self.alarms) > 0

    def __repr__(self):
        return (f"BatchResult(count={self.count}, n_alarms={len(self.alarms)}, "
                f"last={self.last!r}, full={self.values is not None})")


cdef BatchResult _batch(CBatchOutput& out, uint64_t count, list table, values, lcl, ucl):
    cdef BatchResult r = BatchResult.__new__(BatchResult)
    cdef size_t na = out.alarms.size()
    alarms = _empty(na, dtype=_int64)
    cdef int64_t[::1] av = alarms
    if na:
        memcpy(&av[0], out.alarms.data(), na * sizeof(int64_t))
    r.count = count
    r.alarms = alarms
    r.last = _signal(out.last, table) if out.last.count > 0 else None
    r.values, r.lcl, r.ucl = values, lcl, ucl
    return r


cdef inline double* _ptr(double[::1] v) noexcept:
    return &v[0] if v.shape[0] > 0 else NULL


cdef inline const double* _cptr(const double[::1] v) noexcept:
    return &v[0] if v.shape[0] > 0 else NULL


cdef object _full_arrays(bint full, size_t n, CBatchOutput& out):
    """Allocates (and points `out` at) the per-observation arrays when `full`."""
    if not full:
        return None, None, None
    if n == 0:
        return _empty(0), _empty(0), _empty(0)
    values, lcl, ucl = _empty(n), _empty(n), _empty(n)
    out.values = _ptr(values)
    out.lcl = _ptr(lcl)
    out.ucl = _ptr(ucl)
    return values, lcl, ucl


# ================================================================ what the charts share

# The C++ charts (fugue::LockedChart gives them update, update_many, restart
# and reset); the helpers below are specialised for each at compile time.
ctypedef fused CChart:
    CEwma
    CCusum
    CShewhartChart

ctypedef fused CChartConfig:
    CEwmaConfig
    CCusumConfig
    CShewhartConfig


cdef int _baseline_args(CChartConfig* cfg, str owner, object mu0, object sigma,
                        object warmup, object settings_type) except -1:
    """Sets the baseline of ``cfg``: ``mu0`` and ``sigma`` (None: estimated) and the warm-up."""
    cfg.has_mu0 = mu0 is not None
    cfg.mu0 = check_real(mu0, "mu0", owner) if cfg.has_mu0 else 0.0
    cfg.has_sigma = sigma is not None
    cfg.sigma = check_real(sigma, "sigma", owner, "positive") if cfg.has_sigma else 1.0
    cfg.warmup = _warmup(owner, warmup, not (cfg.has_mu0 and cfg.has_sigma), settings_type)
    return 0


cdef CChart* _initialised(CChart* p, str owner) except NULL:
    if p == NULL:
        raise FugueError(f"{owner} was not initialised")
    return p


cdef Signal _update(CChart* p, double x, str where, list table):
    """``p.update(x)`` as a Signal; InvalidObservation when ``x`` is not finite."""
    cdef CSignal s
    cdef UpdateStatus st = p.update(x, s, False)
    if st == UpdateStatus.Busy:  # another thread is in update_many: wait without the GIL
        with nogil:
            st = p.update(x, s, True)
    if st == UpdateStatus.NonFinite:
        raise _not_finite_x(where, x)
    return _signal(s, table)


cdef BatchResult _update_many(CChart* p, object x, bint full, str where, list table):
    """``p.update_many`` of ``x``, a 1-D array of observations."""
    a = _vector_arg(x, where)
    cdef const double[::1] v = a
    return _run_many(p, a, _cptr(v), v.shape[0], 0, full, where, table)


cdef BatchResult _run_many(CChart* p, object a, const double* xp, size_t n, size_t cols,
                           bint full, str where, list table):
    """Feeds ``p`` the ``n`` observations at ``xp`` (the data of ``a``) with the GIL
    released, all or nothing; for a ShewhartChart with ``cols > 0``, ``n`` subgroups
    (rows) of ``cols`` values."""
    cdef CBatchOutput out
    values, lcl, ucl = _full_arrays(full, n, out)
    cdef int64_t bad
    with nogil:
        if CChart is CShewhartChart:
            if cols > 0:
                bad = p.update_many_subgroups(xp, n, cols, out)
            else:
                bad = p.update_many(xp, n, out)
        else:
            bad = p.update_many(xp, n, out)
    if bad >= 0:
        raise _not_finite(where, a, bad)
    return _batch(out, n, table, values, lcl, ucl)


cdef int _restart(CChart* p) except -1:
    with nogil:
        p.restart()
    return 0


cdef int _reset(CChart* p) except -1:
    with nogil:
        p.reset()
    return 0


# ================================================================ Welford

@cython.final
cdef class Welford:
    """Running mean and variance (Welford's algorithm), mergeable.

    Values are accumulated relative to the first one, so data far from zero
    (``1e9`` plus small noise) keeps its full precision. :meth:`update_many`
    sums a whole array in C++ (two passes per cache-sized block, combined
    across blocks; the GIL is released). Two accumulators combine exactly
    as if one had seen both streams (:meth:`merge`, Chan et al.), so work
    can be split across threads or processes (a Welford pickles).

    Examples
    --------
    >>> import numpy as np
    >>> from fugue_ppl.monitoring._monitors import Welford
    >>> a, b = Welford(), Welford()
    >>> a.update_many(np.array([1.0, 2.0, 3.0]))
    >>> b.update(4.0)
    >>> a.merge(b).count, a.mean, a.variance, a.population_variance
    (4, 2.5, 1.6666666666666667, 1.25)
    """

    cdef unique_ptr[CWelford] c

    def __cinit__(self):
        self.c.reset(new CWelford())

    def update(self, double x):
        """Add one value.

        Parameters
        ----------
        x : float

        Raises
        ------
        InvalidObservation
            ``x`` is NaN or infinite (nothing is added).
        """
        if not self.c.get().update(x):
            raise _not_finite_x("Welford.update", x)

    def update_many(self, x):
        """Add every value of a 1-D array (C++ loop, GIL released).

        Parameters
        ----------
        x : array_like of float, 1-D

        Raises
        ------
        InvalidObservation
            A value is NaN or infinite (nothing is added).
        """
        a = _vector_arg(x, "Welford.update_many")
        cdef const double[::1] v = a
        cdef const double* xp = _cptr(v)
        cdef size_t n = v.shape[0]
        cdef int64_t bad
        with nogil:
            bad = self.c.get().update_many(xp, n)
        if bad >= 0:
            raise _not_finite("Welford.update_many", a, bad)

    def merge(self, Welford other not None):
        """Add the values ``other`` has seen (parallel combination); return self.

        ``other`` is not changed (merging an accumulator with itself counts
        its values twice).
        """
        with nogil:
            self.c.get().merge(deref(other.c.get()))
        return self

    def copy(self):
        """An independent accumulator with the same state."""
        cdef Welford w = Welford.__new__(Welford)
        w.c.get().set_state(self.c.get().state())
        return w

    def reset(self):
        """Forget every value."""
        self.c.get().reset()

    def var(self, ddof=1):
        """The variance with ``ddof`` (>= 0) delta degrees of freedom (NaN if ``count <= ddof``)."""
        cdef int d = check_int(ddof, "ddof", "Welford.var", low=0, high=2 ** 31 - 1)
        return self.c.get().state().variance(d)

    @property
    def count(self):
        """Values seen."""
        return self.c.get().state().n

    @property
    def alarm_count(self):
        """Always 0: a Welford accumulator raises no alarms (here so that every monitor
        exposes the same counters)."""
        return 0

    @property
    def mean(self):
        """The mean (NaN before any value)."""
        return self.c.get().state().mean()

    @property
    def variance(self):
        """The sample variance, ``ddof=1`` (NaN with fewer than 2 values)."""
        return self.c.get().state().variance(1)

    @property
    def population_variance(self):
        """The population variance, ``ddof=0`` (NaN before any value)."""
        return self.c.get().state().variance(0)

    @property
    def std(self):
        """The sample standard deviation, ``sqrt(variance)``."""
        return sqrt(self.c.get().state().variance(1))

    @property
    def population_std(self):
        """The population standard deviation, ``sqrt(population_variance)``."""
        return sqrt(self.c.get().state().variance(0))

    def snapshot(self):
        """The current statistics as a dict (``monitor``, ``count``, ``alarm_count``,
        ``mean``, ``variance``, ``population_variance``, ``std``)."""
        cdef CMoments m = self.c.get().state()
        return {"monitor": "Welford", "count": m.n, "alarm_count": 0, "mean": m.mean(),
                "variance": m.variance(1), "population_variance": m.variance(0),
                "std": sqrt(m.variance(1))}

    def __reduce__(self):
        cdef CMoments m = self.c.get().state()
        return (_welford_from_state, (m.n, m.shift, m.mean_s, m.m2))

    def __repr__(self):
        cdef CMoments m = self.c.get().state()
        return f"Welford(count={m.n}, mean={m.mean()!r}, variance={m.variance(1)!r})"


def _welford_from_state(n, shift, mean_s, m2):
    """Rebuild a pickled :class:`Welford`."""
    cdef Welford w = Welford.__new__(Welford)
    cdef CMoments m
    m.n = n
    m.shift = shift
    m.mean_s = mean_s
    m.m2 = m2
    w.c.get().set_state(m)
    return w


# ================================================================ EWMA

@cython.final
cdef class EWMA:
    """Exponentially weighted moving average control chart.

    ``z_t = lam * x_t + (1 - lam) * z_{t-1}``, ``z_0 = mu0``, charted against
    the time-varying limits ::

        mu0 -+ L * sigma * sqrt(lam / (2 - lam) * (1 - (1 - lam)**(2 t)))

    which widen to their steady state ``mu0 -+ L sigma sqrt(lam / (2 - lam))``.
    The defaults (``lam=0.2``, ``L=2.962``) give an in-control average run
    length near 500 with a known baseline, and detect a 1-sigma shift in
    about 10 observations.

    Parameters
    ----------
    lam : float
        Weight of the newest observation, in (0, 1] (1 gives a Shewhart
        chart with ``L``-sigma limits).
    L : float
        Width of the limits in standard deviations of ``z``, > 0.
    mu0 : float, optional
        The in-control mean. Estimated by the warm-up when None.
    sigma : float, optional
        The in-control standard deviation of one observation, > 0.
        Estimated by the warm-up (sample standard deviation) when None.
    warmup : int, optional
        Warm-up length (>= 2) when ``mu0`` or ``sigma`` is estimated; default
        :data:`DEFAULT_WARMUP`. The warm-up raises no alarms and goes on
        past ``warmup`` observations while they show no spread. Must be None
        when both ``mu0`` and ``sigma`` are given.
    reset_on_alarm : bool
        Restart the chart (``z = mu0``, ``t = 0``) after every alarm.

    Raises
    ------
    TypeError
        A parameter of the wrong type.
    InvalidArgument
        A parameter out of range (the message names it).

    Examples
    --------
    >>> from fugue_ppl.monitoring._monitors import EWMA
    >>> chart = EWMA(mu0=10.0, sigma=2.0)
    >>> s = chart.update(11.0)
    >>> s.value, round(s.ucl, 6), s.alarm
    (10.2, 11.1848, False)
    >>> chart.update_many([16.0, 16.0, 16.0]).alarms  # indices of the alarms
    array([1, 2])
    >>> chart.count, chart.alarm_count
    (4, 2)
    """

    cdef unique_ptr[CEwma] c

    def __init__(self, lam=_EWMA_DEFAULTS.lam, L=_EWMA_DEFAULTS.L, *, mu0=None, sigma=None,
                 warmup=None, reset_on_alarm=False):
        cdef CEwmaConfig cfg
        if self.c.get() != NULL:   # a C++ loop may be using it without the GIL
            raise _already_initialised(self)
        cfg.lam = EWMAConfig.check_field("lam", lam, "EWMA")
        cfg.L = EWMAConfig.check_field("L", L, "EWMA")
        _baseline_args(&cfg, "EWMA", mu0, sigma, warmup, EWMAConfig)
        cfg.reset_on_alarm = check_flag(reset_on_alarm, "reset_on_alarm", "EWMA")
        self.c.reset(new CEwma(cfg))

    cdef inline CEwma* _c(self) except NULL:
        return _initialised(self.c.get(), "EWMA")

    def update(self, double x):
        """Add one observation.

        Parameters
        ----------
        x : float

        Returns
        -------
        Signal
            ``value`` is ``z_t``; ``lcl``/``ucl`` the limits at ``t``;
            ``rules`` is ``("UCL",)`` or ``("LCL",)`` on an alarm.

        Raises
        ------
        InvalidObservation
            ``x`` is NaN or infinite (the chart is unchanged).
        """
        return _update(self._c(), x, "EWMA.update", _EWMA_TABLE)

    def update_many(self, x, *, bint full=False):
        """Add the observations of a 1-D array, in order (C++ loop, GIL released).

        Parameters
        ----------
        x : array_like of float, 1-D
        full : bool
            Also return ``z_t`` and the limits of every observation (three
            float64 arrays of ``len(x)``); otherwise only the summary.

        Returns
        -------
        BatchResult
            ``alarms`` (indices into ``x``), ``last`` (the last signal) and,
            with ``full``, ``values``/``lcl``/``ucl``.

        Raises
        ------
        InvalidObservation
            A value is NaN or infinite: nothing is added (the whole array is
            applied or none of it).
        """
        return _update_many(self._c(), x, full, "EWMA.update_many", _EWMA_TABLE)

    def restart(self):
        """Restart the statistic (``z = mu0``, ``t = 0``), keeping the baseline and the counts."""
        _restart(self._c())

    def reset(self):
        """Back to the state after construction: counts to zero, an estimated baseline
        forgotten (the warm-up starts again)."""
        _reset(self._c())

    cdef CEwmaSnapshot _snap(self) except *:
        cdef CEwma* p = self._c()
        cdef CEwmaSnapshot s
        with nogil:
            s = p.snapshot()
        return s

    def snapshot(self):
        """The current state as a dict.

        Keys: ``monitor`` ("EWMA"), ``count``, ``alarm_count``, ``value``
        (``z``), ``lcl``, ``ucl``, ``center`` (``mu0``), ``sigma``,
        ``in_warmup``, ``warmup_seen``, ``t``, ``lam``, ``L``. Values not
        known yet (during the warm-up) are NaN.
        """
        cdef CEwmaSnapshot s = self._snap()
        cdef CEwmaConfig cfg = self._c().config()
        return {"monitor": "EWMA", "count": s.count, "alarm_count": s.alarm_count,
                "value": s.z, "lcl": s.lcl, "ucl": s.ucl, "center": s.mu0, "sigma": s.sigma,
                "in_warmup": s.in_warmup, "warmup_seen": s.warmup_seen, "t": s.t,
                "lam": cfg.lam, "L": cfg.L}

    @property
    def count(self):
        """Observations seen, warm-up included."""
        return self._snap().count

    @property
    def alarm_count(self):
        """Alarms raised so far."""
        return self._snap().alarm_count

    @property
    def value(self):
        """The statistic ``z`` (NaN during the warm-up)."""
        return self._snap().z

    @property
    def lcl(self):
        """The current lower control limit."""
        return self._snap().lcl

    @property
    def ucl(self):
        """The current upper control limit."""
        return self._snap().ucl

    @property
    def mu0(self):
        """The centre (given or estimated; NaN during the warm-up)."""
        return self._snap().mu0

    @property
    def sigma(self):
        """The standard deviation of one observation (given, or estimated; NaN in the warm-up)."""
        return self._snap().sigma

    @property
    def t(self):
        """Observations since the chart (re)started, warm-up excluded."""
        return self._snap().t

    @property
    def in_warmup(self):
        """True while the baseline is being estimated."""
        return self._snap().in_warmup

    @property
    def lam(self):
        return self._c().config().lam

    @property
    def L(self):
        return self._c().config().L

    @property
    def warmup(self):
        """The configured warm-up length (0 when the baseline is given)."""
        return self._c().config().warmup

    @property
    def reset_on_alarm(self):
        return self._c().config().reset_on_alarm

    def __repr__(self):
        cdef CEwmaSnapshot s = self._snap()
        return (f"EWMA(lam={self.lam!r}, L={self.L!r}, mu0={s.mu0!r}, sigma={s.sigma!r}, "
                f"count={s.count}, alarm_count={s.alarm_count})")


# ================================================================ CUSUM

@cython.final
cdef class CUSUM:
    """Tabular two-sided CUSUM control chart.

    With ``K = k * sigma`` and ``H = h * sigma``::

        C+_t = max(0, C+_{t-1} + (x_t - (mu0 + K)))
        C-_t = max(0, C-_{t-1} + ((mu0 - K) - x_t))

    from ``C+_0 = C-_0 = 0``; an alarm when ``C+ > H`` (upward shift) or
    ``C- > H`` (downward). The defaults (``k=0.5``, ``h=5``) give an
    in-control average run length near 465 and detect a 1-sigma shift in
    about 10 observations.

    Parameters
    ----------
    k : float
        Reference value in units of sigma, >= 0 (about half the shift to detect).
    h : float
        Decision interval in units of sigma, > 0.
    mu0, sigma, warmup
        The baseline, as for :class:`EWMA`.
    reset_on_alarm : bool
        Set ``C+ = C- = 0`` after every alarm (otherwise an alarm repeats
        while a sum stays above ``H``).

    Raises
    ------
    TypeError
        A parameter of the wrong type.
    InvalidArgument
        A parameter out of range (the message names it).

    Examples
    --------
    >>> from fugue_ppl.monitoring._monitors import CUSUM
    >>> chart = CUSUM(mu0=0.0, sigma=1.0, reset_on_alarm=True)
    >>> r = chart.update_many([1.5] * 10)
    >>> r.alarms, chart.upper
    (array([5]), 4.0)
    """

    cdef unique_ptr[CCusum] c

    def __init__(self, k=_CUSUM_DEFAULTS.k, h=_CUSUM_DEFAULTS.h, *, mu0=None, sigma=None,
                 warmup=None, reset_on_alarm=False):
        cdef CCusumConfig cfg
        if self.c.get() != NULL:   # a C++ loop may be using it without the GIL
            raise _already_initialised(self)
        cfg.k = CUSUMConfig.check_field("k", k, "CUSUM")
        cfg.h = CUSUMConfig.check_field("h", h, "CUSUM")
        _baseline_args(&cfg, "CUSUM", mu0, sigma, warmup, CUSUMConfig)
        cfg.reset_on_alarm = check_flag(reset_on_alarm, "reset_on_alarm", "CUSUM")
        self.c.reset(new CCusum(cfg))

    cdef inline CCusum* _c(self) except NULL:
        return _initialised(self.c.get(), "CUSUM")

    def update(self, double x):
        """Add one observation.

        Returns
        -------
        Signal
            ``value`` is ``C+`` when ``C+ >= C-``, else ``-C-``; ``lcl``/``ucl``
            are ``-H``/``H``; ``rules`` names the side(s) above ``H``
            (``"CUSUM+"``, ``"CUSUM-"``).

        Raises
        ------
        InvalidObservation
            ``x`` is NaN or infinite (the chart is unchanged).
        """
        return _update(self._c(), x, "CUSUM.update", _CUSUM_TABLE)

    def update_many(self, x, *, bint full=False):
        """Add the observations of a 1-D array, in order (C++ loop, GIL released).

        As :meth:`EWMA.update_many`; with ``full`` the arrays hold the signed
        statistic (``C+`` or ``-C-``) and ``-H``/``H``.
        """
        return _update_many(self._c(), x, full, "CUSUM.update_many", _CUSUM_TABLE)

    def restart(self):
        """Restart the sums (``C+ = C- = 0``), keeping the baseline and the counts."""
        _restart(self._c())

    def reset(self):
        """Back to the state after construction (an estimated baseline is forgotten)."""
        _reset(self._c())

    cdef CCusumSnapshot _snap(self) except *:
        cdef CCusum* p = self._c()
        cdef CCusumSnapshot s
        with nogil:
            s = p.snapshot()
        return s

    def snapshot(self):
        """The current state as a dict.

        Keys: ``monitor`` ("CUSUM"), ``count``, ``alarm_count``, ``value``
        (signed: ``C+`` or ``-C-``), ``upper`` (``C+``), ``lower`` (``C-``),
        ``lcl`` (``-H``), ``ucl`` (``H``), ``center`` (``mu0``), ``sigma``,
        ``in_warmup``, ``warmup_seen``, ``k``, ``h``, ``K``, ``H``.
        """
        cdef CCusumSnapshot s = self._snap()
        cdef CCusumConfig cfg = self._c().config()
        value = s.upper if s.upper >= s.lower else -s.lower
        if s.in_warmup:
            value = NAN
        return {"monitor": "CUSUM", "count": s.count, "alarm_count": s.alarm_count,
                "value": value, "upper": s.upper, "lower": s.lower, "lcl": -s.H, "ucl": s.H,
                "center": s.mu0, "sigma": s.sigma, "in_warmup": s.in_warmup,
                "warmup_seen": s.warmup_seen, "k": cfg.k, "h": cfg.h, "K": s.K, "H": s.H}

    @property
    def count(self):
        """Observations seen, warm-up included."""
        return self._snap().count

    @property
    def alarm_count(self):
        """Alarms raised so far."""
        return self._snap().alarm_count

    @property
    def upper(self):
        """``C+`` (NaN during the warm-up)."""
        return self._snap().upper

    @property
    def lower(self):
        """``C-`` (NaN during the warm-up)."""
        return self._snap().lower

    @property
    def value(self):
        """``C+`` when ``C+ >= C-``, else ``-C-`` (NaN during the warm-up)."""
        cdef CCusumSnapshot s = self._snap()
        if s.in_warmup:
            return NAN
        return s.upper if s.upper >= s.lower else -s.lower

    @property
    def mu0(self):
        return self._snap().mu0

    @property
    def sigma(self):
        return self._snap().sigma

    @property
    def K(self):
        """``k * sigma``."""
        return self._snap().K

    @property
    def H(self):
        """``h * sigma``."""
        return self._snap().H

    @property
    def k(self):
        return self._c().config().k

    @property
    def h(self):
        return self._c().config().h

    @property
    def in_warmup(self):
        return self._snap().in_warmup

    @property
    def warmup(self):
        """The configured warm-up length (0 when the baseline is given)."""
        return self._c().config().warmup

    @property
    def reset_on_alarm(self):
        return self._c().config().reset_on_alarm

    def __repr__(self):
        cdef CCusumSnapshot s = self._snap()
        return (f"CUSUM(k={self.k!r}, h={self.h!r}, mu0={s.mu0!r}, sigma={s.sigma!r}, "
                f"count={s.count}, alarm_count={s.alarm_count})")


# ================================================================ Shewhart

cdef dict _WE_BITS = {"WE1": kRuleWE1, "WE2": kRuleWE2, "WE3": kRuleWE3, "WE4": kRuleWE4,
                      1: kRuleWE1, 2: kRuleWE2, 3: kRuleWE3, 4: kRuleWE4}


cdef uint8_t _rules_arg(object rules) except? 0:
    cdef uint8_t mask = 0
    if isinstance(rules, (str, int)):
        rules = (rules,)
    try:
        items = list(rules)
    except TypeError:
        raise TypeError(f"ShewhartChart: rules must be a sequence of rule names "
                        f"(WE1, WE2, WE3, WE4), got {type(rules).__name__}") from None
    for r in items:
        key = r.upper() if isinstance(r, str) else r
        try:
            known = not isinstance(key, bool) and key in _WE_BITS
        except TypeError:                 # unhashable
            known = False
        if not known:
            raise invalid("ShewhartChart", "rules", r,
                          "must name rules among WE1, WE2, WE3, WE4 (or 1 to 4)")
        mask |= <uint8_t>_WE_BITS[key]
    if mask == 0:
        raise invalid("ShewhartChart", "rules", rules,
                      "must name at least one of WE1, WE2, WE3, WE4")
    return mask


@cython.final
cdef class ShewhartChart:
    """Shewhart control chart (individuals or X-bar) with the Western Electric rules.

    Each point -- an individual value (``n=1``) or the mean of a subgroup of
    ``n`` values -- is charted against the centre line ``mu0`` and the
    limits ``mu0 -+ 3 sigma / sqrt(n)``. With ``s = sigma / sqrt(n)``:

    ======  ==============================================================
    rule    alarm when
    ======  ==============================================================
    WE1     the point is beyond 3 s
    WE2     2 of the last 3 points are beyond 2 s on the same side (the
            new point being one of them)
    WE3     4 of the last 5 points are beyond 1 s on the same side (the new
            point being one of them)
    WE4     the last 8 points are all on one side of the centre line (every
            further point of the run alarms again)
    ======  ==============================================================

    With the 3-sigma rule alone and a known baseline, the in-control average
    run length is 370.4; with all four rules about 92.

    Parameters
    ----------
    n : int
        Subgroup size (>= 1); 1 charts individual values.
    mu0 : float, optional
        The centre line. Estimated by the warm-up (mean of the points) when None.
    sigma : float, optional
        The standard deviation of one observation, > 0. When None, the
        warm-up estimates the spread of the points as their average moving
        range / 1.128 (``sigma`` is then that times ``sqrt(n)``).
    warmup : int, optional
        Warm-up length in points (>= 2) when ``mu0`` or ``sigma`` is
        estimated; default :data:`DEFAULT_WARMUP`. Must be None when both
        are given.
    rules : sequence of str
        The rules to apply: a non-empty subset of the four (names, or 1-4).
    reset_on_alarm : bool
        Clear the rule history (the last 8 points) after every alarm.

    Raises
    ------
    TypeError
        A parameter of the wrong type.
    InvalidArgument
        A parameter out of range (the message names it).

    Examples
    --------
    >>> from fugue_ppl.monitoring._monitors import ShewhartChart
    >>> chart = ShewhartChart(mu0=0.0, sigma=1.0)
    >>> chart.update(3.5).rules
    ('WE1',)
    >>> chart.restart()  # forget the history the rules look at
    >>> [chart.update(x).rules for x in (2.5, 0.5, 2.5)]
    [(), (), ('WE2',)]
    >>> xbar = ShewhartChart(n=4, mu0=10.0, sigma=2.0, rules=["WE1"])
    >>> s = xbar.update([10.0, 11.0, 12.0, 14.0])
    >>> s.x, s.lcl, s.ucl, s.alarm
    (11.75, 7.0, 13.0, False)
    """

    cdef unique_ptr[CShewhartChart] c

    def __init__(self, n=1, *, mu0=None, sigma=None, warmup=None,
                 rules=WESTERN_ELECTRIC_RULES, reset_on_alarm=False):
        cdef CShewhartConfig cfg
        if self.c.get() != NULL:   # a C++ loop may be using it without the GIL
            raise _already_initialised(self)
        cfg.n = check_int(n, "n", "ShewhartChart", low=1, high=2 ** 62)
        _baseline_args(&cfg, "ShewhartChart", mu0, sigma, warmup, EWMAConfig)
        cfg.rules = _rules_arg(rules)
        cfg.reset_on_alarm = check_flag(reset_on_alarm, "reset_on_alarm", "ShewhartChart")
        self.c.reset(new CShewhartChart(cfg))

    cdef inline CShewhartChart* _c(self) except NULL:
        return _initialised(self.c.get(), "ShewhartChart")

    def update(self, x):
        """Add one point: a number (an individual value, or a subgroup's mean)
        or a subgroup of ``n`` values.

        Returns
        -------
        Signal
            ``x`` and ``value`` are the point (the subgroup's mean);
            ``rules`` names the Western Electric rules that fired.

        Raises
        ------
        InvalidObservation
            A value is NaN or infinite (the chart is unchanged).
        InvalidArgument
            A subgroup does not have ``n`` values.
        """
        cdef CShewhartChart* p = self._c()
        cdef CSignal s
        cdef UpdateStatus st
        cdef const double[::1] v
        cdef const double* xp
        cdef size_t m
        if type(x) is not float and isinstance(x, (list, tuple, np.ndarray)) and np.ndim(x) > 0:
            a = _vector_arg(x, "ShewhartChart.update")
            v = a
            m = v.shape[0]
            xp = _cptr(v)
            st = p.update_subgroup(xp, m, s, False)
            if st == UpdateStatus.Busy:
                with nogil:
                    st = p.update_subgroup(xp, m, s, True)
            if st == UpdateStatus.BadSize:
                raise invalid("ShewhartChart.update", "x", m,
                              f"must be a subgroup of n={p.config().n} values (its length)")
            if st == UpdateStatus.NonFinite:
                bad = int(np.flatnonzero(~np.isfinite(a))[0]) if not np.isfinite(a).all() else 0
                raise _not_finite("ShewhartChart.update", a, bad)
            return _signal(s, _WE_TABLE)
        cdef double d = x
        return _update(p, d, "ShewhartChart.update", _WE_TABLE)

    def update_many(self, x, *, bint full=False):
        """Add points in order (C++ loop, GIL released).

        Parameters
        ----------
        x : array_like of float
            1-D: points (individual values or subgroup means); 2-D of shape
            ``(m, n)``: ``m`` subgroups, one per row.
        full : bool
            Also return every point and the (constant) 3-sigma limits.

        Returns
        -------
        BatchResult
            ``alarms`` indexes the points (rows); ``last.rules`` names the
            rules of the last point.

        Raises
        ------
        InvalidObservation
            A value is NaN or infinite: nothing is added.
        InvalidArgument
            A 2-D ``x`` does not have ``n`` columns, or ``x`` has more than 2 dimensions.
        """
        cdef CShewhartChart* p = self._c()
        try:
            a = _as_f64(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"ShewhartChart.update_many: x must be an array of real numbers "
                            f"({e})") from None
        cdef size_t cols = p.config().n
        if a.ndim == 2 and <size_t>a.shape[1] != cols:
            raise invalid("ShewhartChart.update_many", "x", a.shape,
                          f"must have subgroups (rows) of n={cols} values (its shape)")
        if a.ndim not in (1, 2):
            raise invalid("ShewhartChart.update_many", "x", a.shape,
                          "must be 1-D (points) or 2-D (subgroups) (its shape)")
        cdef const double[::1] v = a.reshape(-1)
        cdef size_t n = a.shape[0]
        if a.ndim == 1:
            cols = 0  # points, not subgroups
        return _run_many(p, a, _cptr(v), n, cols, full, "ShewhartChart.update_many", _WE_TABLE)

    def restart(self):
        """Clear the rule history, keeping the baseline and the counts."""
        _restart(self._c())

    def reset(self):
        """Back to the state after construction (an estimated baseline is forgotten)."""
        _reset(self._c())

    cdef CShewhartSnapshot _snap(self) except *:
        cdef CShewhartChart* p = self._c()
        cdef CShewhartSnapshot s
        with nogil:
            s = p.snapshot()
        return s

    def snapshot(self):
        """The current state as a dict.

        Keys: ``monitor`` ("ShewhartChart"), ``count``, ``alarm_count``,
        ``value`` (the last charted point), ``lcl``, ``ucl``, ``center``, ``sigma``,
        ``sigma_point`` (``sigma / sqrt(n)``), ``in_warmup``, ``warmup_seen``,
        ``n``, ``rules`` (enabled), ``rule_counts`` (alarms per rule).
        """
        cdef CShewhartSnapshot s = self._snap()
        return {"monitor": "ShewhartChart", "count": s.count, "alarm_count": s.alarm_count,
                "value": s.last, "lcl": s.lcl, "ucl": s.ucl, "center": s.center,
                "sigma": s.sigma, "sigma_point": s.sigma_point, "in_warmup": s.in_warmup,
                "warmup_seen": s.warmup_seen, "n": self._c().config().n, "rules": self.rules,
                "rule_counts": {"WE1": s.rule_counts[0], "WE2": s.rule_counts[1],
                                "WE3": s.rule_counts[2], "WE4": s.rule_counts[3]}}

    @property
    def count(self):
        """Points seen (subgroups for an X-bar chart), warm-up included."""
        return self._snap().count

    @property
    def alarm_count(self):
        """Points that raised an alarm so far."""
        return self._snap().alarm_count

    @property
    def rule_counts(self):
        """Alarms in which each rule fired, as a dict."""
        cdef CShewhartSnapshot s = self._snap()
        return {"WE1": s.rule_counts[0], "WE2": s.rule_counts[1],
                "WE3": s.rule_counts[2], "WE4": s.rule_counts[3]}

    @property
    def center(self):
        """The centre line ``mu0`` (NaN during the warm-up)."""
        return self._snap().center

    @property
    def mu0(self):
        """Alias of :attr:`center`."""
        return self._snap().center

    @property
    def lcl(self):
        """``mu0 - 3 sigma / sqrt(n)``."""
        return self._snap().lcl

    @property
    def ucl(self):
        """``mu0 + 3 sigma / sqrt(n)``."""
        return self._snap().ucl

    @property
    def sigma(self):
        """The standard deviation of one observation (given or estimated)."""
        return self._snap().sigma

    @property
    def sigma_point(self):
        """The standard deviation of one point, ``sigma / sqrt(n)``."""
        return self._snap().sigma_point

    @property
    def value(self):
        """The last charted point (NaN before the first, and during the warm-up)."""
        return self._snap().last

    @property
    def in_warmup(self):
        return self._snap().in_warmup

    @property
    def n(self):
        return self._c().config().n

    @property
    def rules(self):
        """The enabled rules, e.g. ``("WE1", "WE2", "WE3", "WE4")``."""
        return _WE_TABLE[self._c().config().rules & 15]

    @property
    def warmup(self):
        """The configured warm-up length (0 when the baseline is given)."""
        return self._c().config().warmup

    @property
    def reset_on_alarm(self):
        return self._c().config().reset_on_alarm

    def __repr__(self):
        cdef CShewhartSnapshot s = self._snap()
        return (f"ShewhartChart(n={self.n}, mu0={s.center!r}, sigma={s.sigma!r}, "
                f"rules={self.rules!r}, count={s.count}, alarm_count={s.alarm_count})")
