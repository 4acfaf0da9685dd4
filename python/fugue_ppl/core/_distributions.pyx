# cython: boundscheck=False, wraparound=False, cdivision=True
"""The 17 distributions of fugue-ppl, implemented in C++.

Each distribution checks its parameters at construction (``TypeError`` for a
wrong type, :class:`~fugue_ppl.errors.InvalidParameters` with Fugue's error
code for a bad value), draws
values through numpy's BitGenerator C API (so a seeded ``Generator`` gives the
same stream numpy gives) and evaluates log-densities, for scalars and arrays.
"""

cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport isfinite
from libc.stdint cimport int64_t, uint8_t

import math
import operator

import numpy as np

from fugue_ppl.core._cdist cimport (
    CParamError, CValue, DistKind, ValueKind, bitgen_t, dist_name, init_dist, log_prob,
    log_prob_fill, log_prob_fill_i64, log_prob_value, sample, sample_fill_bool, sample_fill_f64,
    sample_fill_i64, value_kind, box_value,
)
from fugue_ppl.checks import _as_real, _type_error, check_int
from fugue_ppl.errors import InvalidArgument, InvalidParameters


cdef extern from "Python.h":
    # Unchecked variants: the caller tests PyErr_Occurred itself, so the fast
    # path needs no try/except frame.
    double _as_double_unchecked "PyLong_AsDouble"(object) noexcept
    long long _as_int64_unchecked "PyLong_AsLongLong"(object) noexcept

__all__ = [
    "Distribution", "Normal", "Uniform", "LogNormal", "Exponential", "Beta", "Gamma",
    "Bernoulli", "Binomial", "Categorical", "Poisson", "StudentT", "Cauchy", "Laplace",
    "Weibull", "ChiSquared", "InverseGamma", "DiscreteUniform", "as_generator",
]

cdef object _Generator = np.random.Generator
cdef object _BitGenerator = np.random.BitGenerator
cdef object _SeedSequence = np.random.SeedSequence
cdef object _default_rng = np.random.default_rng
cdef object _integer_types = (int, np.integer)
cdef object _ndarray = np.ndarray
cdef object _bool_types = (bool, np.bool_)
cdef object _INT64_MIN = -2**63
cdef object _INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------- randomness

cpdef object as_generator(object rng):
    """Return a ``numpy.random.Generator`` for ``rng``.

    Parameters
    ----------
    rng : None, int, numpy.random.SeedSequence, numpy.random.BitGenerator or numpy.random.Generator
        ``None`` draws fresh entropy from the OS; an int or a SeedSequence
        seeds a new PCG64 generator; a Generator is used as it is (SPEC 7).

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        ``rng`` is of another type.
    ValueError
        ``rng`` is a negative seed.
    """
    if type(rng) is _Generator:
        return rng
    if rng is None:
        return _default_rng()
    if isinstance(rng, _bool_types):
        raise TypeError("rng must be None, an int seed, a numpy.random.SeedSequence "
                        "or a numpy.random.Generator; got bool")
    if isinstance(rng, _integer_types):
        if rng < 0:
            raise ValueError(f"rng: a seed must be a non-negative integer, got {int(rng)}")
        return _default_rng(int(rng))
    if isinstance(rng, _Generator):
        return rng
    if isinstance(rng, (_SeedSequence, _BitGenerator)):
        return _default_rng(rng)
    raise TypeError("rng must be None, an int seed, a numpy.random.SeedSequence "
                    f"or a numpy.random.Generator; got {type(rng).__name__}")


cdef bitgen_t* bitgen_of(object generator) except NULL:
    capsule = generator.bit_generator.capsule
    return <bitgen_t*>PyCapsule_GetPointer(capsule, "BitGenerator")


# ---------------------------------------------------------------- parameters

cdef dict _CODES = {
    "mu": 100, "loc": 100, "sigma": 101, "scale": 101, "p": 102, "probs": 102,
    "low": 103, "high": 103, "alpha": 104, "beta": 104, "shape": 104, "df": 104, "k": 104,
    "rate": 105, "n": 106,
}


cdef int _code_for(str name):
    return _CODES.get(name, 100)


cdef inline double _real(object x, str dist, str name) except? -1.0:
    # The happy paths (a Python float or int) are a type check and a load.
    cdef double v
    if type(x) is float:
        return PyFloat_AS_DOUBLE(x)
    if type(x) is int:
        v = _as_double_unchecked(x)   # raises OverflowError beyond the double range
        if v == -1.0 and PyErr_Occurred() != NULL:
            PyErr_Clear()
            raise InvalidParameters(dist, name, x, "must be finite", _code_for(name))
        return v
    return _real_slow(x, dist, name)


cdef double _real_slow(object x, str dist, str name) except? -1.0:
    # The checking kit's conversion: TypeError for a wrong type (bools and
    # strings are not real numbers); the value is checked in C++.
    return _as_real(x, name, dist)


cdef inline int64_t _integer(object x, str dist, str name) except? -1:
    cdef int64_t v
    if type(x) is int:
        v = _as_int64_unchecked(x)   # raises OverflowError beyond the int64 range
        if v == -1 and PyErr_Occurred() != NULL:
            PyErr_Clear()
            return _integer_slow(x, dist, name)
        return v
    return _integer_slow(x, dist, name)


cdef int64_t _integer_slow(object x, str dist, str name) except? -1:
    # The checking kit's conversion: TypeError for a wrong type, a bad value
    # (a non-integral float, beyond int64) as InvalidParameters with the code.
    try:
        return check_int(x, name, dist, low=_INT64_MIN, high=_INT64_MAX)
    except InvalidArgument as e:
        raise InvalidParameters(dist, name, x, e.rule, _code_for(name)) from None


cdef inline int _finish(Distribution d) except -1:
    # Validates the parameters and fills the derived constants.
    cdef CParamError err
    if init_dist(d.c, &err):
        return 0
    _raise_invalid(d, err)
    return -1


cdef int _raise_invalid(Distribution d, CParamError err) except -1:
    name = dist_name(d.c.kind).decode()
    param = err.param.decode()
    rule = err.rule.decode()
    value = err.value
    if d.c.kind == DistKind.DiscreteUniform:
        value = d.c.i[0] if param == "low" else d.c.i[1]
        rule = f"{rule} (low={d.c.i[0]})"
    elif d.c.kind == DistKind.Binomial and param == "n":
        value = d.c.i[0]
    elif d.c.kind == DistKind.Uniform and param == "high" and isfinite(err.value):
        rule = f"{rule} (low={d.c.p[0]!r})"
    elif d.c.kind == DistKind.Categorical and rule.startswith("must sum"):
        rule = f"{rule}; they sum to {err.value!r}"
        value = (<Distribution>d)._probs.tolist()
    elif d.c.kind == DistKind.Categorical and rule.startswith("must not"):
        value = []
    raise InvalidParameters(name, param, value, rule, err.code)


cdef double _int_as_double(object x):
    # A Python int as the nearest double, +-inf beyond the double range.
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


# ---------------------------------------------------------------- boxing

cdef object _shape(object size):
    try:
        if isinstance(size, _integer_types) and not isinstance(size, _bool_types):
            shape = (operator.index(size),)
        elif isinstance(size, (str, bytes)):
            raise TypeError
        else:
            shape = tuple([operator.index(s) for s in size])
            if any(isinstance(s, _bool_types) for s in size):
                raise TypeError
    except TypeError:
        raise TypeError(f"size must be None, an int or a tuple of ints, got {size!r}") from None
    for s in shape:
        if s < 0:
            raise ValueError(f"size must not be negative, got {size!r}")
    return shape


# ---------------------------------------------------------------- base class

cdef inline int _check_concrete(Distribution self) except -1:
    if type(self) is Distribution:
        raise TypeError("Distribution is abstract; use Normal, Beta, ...")
    return 0


# One freelist for all 17 classes: Cython 3 manages freelists in the base
# type only; the subclasses add no fields, so their instances share it.
# no_gc: the one object field is a float64 array, which cannot form a cycle;
# untracked objects skip GC bookkeeping and never trigger a collection.
@cython.freelist(128)
@cython.no_gc
cdef class Distribution:
    """Base class of the 17 distributions; not instantiable itself.

    Subclasses hold their parameters in C++ (``fugue::Dist``); they are
    immutable, hashable, comparable and picklable, and are cheap to build
    (tens of nanoseconds), since a model builds one per effect.
    """

    # No __init__: a Python-level __init__ would cost ~25 ns per construction.
    # A bare Distribution() has no parameters; its methods refuse to work.

    @property
    def name(self):
        """The distribution's name, e.g. ``"Normal"``."""
        _check_concrete(self)
        return dist_name(self.c.kind).decode()

    @property
    def dtype(self):
        """The numpy dtype of sampled values: float64, int64 or bool."""
        cdef ValueKind k = value_kind(self.c.kind)
        if k == ValueKind.Float:
            return np.dtype(np.float64)
        if k == ValueKind.Int:
            return np.dtype(np.int64)
        return np.dtype(np.bool_)

    def sample(self, rng=None, size=None):
        """Draw from the distribution.

        Parameters
        ----------
        rng : None, int, SeedSequence, BitGenerator or Generator, optional
            Source of randomness (see :func:`as_generator`). A Generator gives
            the same stream as the corresponding ``Generator`` method.
        size : int or tuple of ints, optional
            Output shape. ``None`` (default) returns one Python scalar.

        Returns
        -------
        float, int, bool or numpy.ndarray
            A Python scalar of the distribution's value type, or an array of
            dtype :attr:`dtype` and shape ``size``.

        Raises
        ------
        TypeError
            ``rng`` or ``size`` has a wrong type.
        ValueError
            ``size`` is negative or ``rng`` is a negative seed.
        """
        cdef bitgen_t* bg
        cdef CValue v
        cdef ValueKind k = value_kind(self.c.kind)
        cdef double[::1] fview
        cdef int64_t[::1] iview
        cdef uint8_t[::1] bview
        cdef size_t n
        _check_concrete(self)
        shape = None if size is None else _shape(size)
        gen = as_generator(rng)
        bitgen = gen.bit_generator
        bg = <bitgen_t*>PyCapsule_GetPointer(bitgen.capsule, "BitGenerator")
        lock = bitgen.lock
        if shape is None:
            with lock:
                v = sample(self.c, bg)
            return box_value(v)
        out = np.empty(shape, dtype=self.dtype)
        flat = out.reshape(-1)
        n = flat.shape[0]
        if n == 0:
            return out
        if k == ValueKind.Float:
            fview = flat
            with lock, nogil:
                sample_fill_f64(self.c, bg, &fview[0], n)
        elif k == ValueKind.Int:
            iview = flat
            with lock, nogil:
                sample_fill_i64(self.c, bg, &iview[0], n)
        else:
            bview = flat.view(np.uint8)
            with lock, nogil:
                sample_fill_bool(self.c, bg, &bview[0], n)
        return out

    def log_prob(self, x):
        """Log-density (log-pmf for discrete distributions) at ``x``.

        Parameters
        ----------
        x : scalar or array_like
            Point(s) to evaluate. Values outside the support (including
            non-integers for discrete distributions) give ``-inf``; NaN gives
            NaN. Integer arrays are evaluated exactly for the discrete kinds.

        Returns
        -------
        float or numpy.ndarray of float64
            A float for a scalar or 0-d input, else an array of ``x``'s shape.

        Raises
        ------
        TypeError
            ``x`` is not numeric (a string, None, an object array).
        """
        cdef double[::1] xv
        cdef int64_t[::1] xi
        cdef double[::1] ov
        cdef size_t n
        cdef long long v
        _check_concrete(self)
        if type(x) is float:
            return log_prob(self.c, PyFloat_AS_DOUBLE(x))
        if type(x) is int:
            v = _as_int64_unchecked(x)
            if v == -1 and PyErr_Occurred() != NULL:  # beyond int64: as a double
                PyErr_Clear()
                return log_prob(self.c, _int_as_double(x))
            return log_prob_value(self.c, CValue.of_int(v))
        if type(x) is bool:
            return log_prob_value(self.c, CValue.of_bool(x))
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return self.log_prob(x.item())
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"{self.name}.log_prob: x must be a number or an array of numbers, "
                            f"got {type(x).__name__}")
        if isinstance(x, float):  # float subclasses
            return log_prob(self.c, float(x))
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}.log_prob: x must be numeric, got dtype {arr.dtype}")
        out = np.empty(arr.shape, dtype=np.float64)
        n = out.size
        if n == 0:
            return out
        ov = out.reshape(-1)
        if arr.dtype.kind in "biu" and arr.dtype != np.uint64:
            xi = np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)
            with nogil:
                log_prob_fill_i64(self.c, &xi[0], &ov[0], n)
        else:
            xv = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
            with nogil:
                log_prob_fill(self.c, &xv[0], &ov[0], n)
        if arr.ndim == 0:
            return float(out)
        return out

    def __repr__(self):
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self._params().items())})"

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._params_key() == (<Distribution>other)._params_key()

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        return hash((type(self), self._params_key()))

    def __reduce__(self):
        return (type(self), tuple(self._params().values()))

    def _params_key(self):
        return tuple((k, tuple(v.tolist()) if isinstance(v, np.ndarray) else v)
                     for k, v in self._params().items())

    def _params(self):
        """The parameters as an ordered dict ``{name: value}`` (constructor order)."""
        _check_concrete(self)
        raise NotImplementedError


# ---------------------------------------------------------------- the 17
#
# Parameter positions in fugue::Dist are documented in fugue/distributions.hpp.

cdef class Normal(Distribution):
    """Normal (Gaussian) distribution.

    Parameters
    ----------
    mu : float
        Mean; finite (error code 100).
    sigma : float
        Standard deviation; finite and > 0 (error code 101).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: the real line. Values: float. Sampling equals
    ``Generator.normal(mu, sigma)``.

    Examples
    --------
    >>> d = Normal(0.0, 1.0)
    >>> round(d.log_prob(0.0), 6)
    -0.918939
    """

    def __cinit__(self, mu, sigma):
        self.c.kind = DistKind.Normal
        self.c.p[0] = _real(mu, "Normal", "mu")
        self.c.p[1] = _real(sigma, "Normal", "sigma")
        _finish(self)

    @property
    def mu(self):
        """Mean."""
        return self.c.p[0]

    @property
    def sigma(self):
        """Standard deviation."""
        return self.c.p[1]

    def _params(self):
        return {"mu": self.c.p[0], "sigma": self.c.p[1]}


cdef class Uniform(Distribution):
    """Continuous uniform distribution on the half-open interval [low, high).

    Parameters
    ----------
    low : float
        Lower bound (included); finite (error code 103).
    high : float
        Upper bound (excluded); finite, > low, and ``high - low`` finite
        (error code 103).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: [low, high); ``log_prob(high)`` is ``-inf`` (scipy's closed
    interval differs there on purpose). Values: float. Sampling equals
    ``Generator.uniform(low, high)``.

    Examples
    --------
    >>> Uniform(1.0, 3.0).log_prob([1.0, 2.0, 3.0])
    array([-0.69314718, -0.69314718,        -inf])
    """

    def __cinit__(self, low, high):
        self.c.kind = DistKind.Uniform
        self.c.p[0] = _real(low, "Uniform", "low")
        self.c.p[1] = _real(high, "Uniform", "high")
        _finish(self)

    @property
    def low(self):
        """Lower bound (included)."""
        return self.c.p[0]

    @property
    def high(self):
        """Upper bound (excluded)."""
        return self.c.p[1]

    def _params(self):
        return {"low": self.c.p[0], "high": self.c.p[1]}


cdef class LogNormal(Distribution):
    """Log-normal distribution: ``exp(Normal(mu, sigma))``.

    Parameters
    ----------
    mu : float
        Mean of the logarithm; finite (error code 100).
    sigma : float
        Standard deviation of the logarithm; finite and > 0 (error code 101).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: (0, inf). Values: float. Sampling equals
    ``Generator.lognormal(mu, sigma)``.

    Examples
    --------
    >>> LogNormal(0.0, 1.0).log_prob(0.0)
    -inf
    """

    def __cinit__(self, mu, sigma):
        self.c.kind = DistKind.LogNormal
        self.c.p[0] = _real(mu, "LogNormal", "mu")
        self.c.p[1] = _real(sigma, "LogNormal", "sigma")
        _finish(self)

    @property
    def mu(self):
        """Mean of the logarithm."""
        return self.c.p[0]

    @property
    def sigma(self):
        """Standard deviation of the logarithm."""
        return self.c.p[1]

    def _params(self):
        return {"mu": self.c.p[0], "sigma": self.c.p[1]}


cdef class Exponential(Distribution):
    """Exponential distribution with the given rate (mean ``1/rate``).

    Parameters
    ----------
    rate : float
        Rate; finite and > 0 (error code 105).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: [0, inf). Values: float. Sampling equals
    ``Generator.exponential(1/rate)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = Exponential(2.0).sample(rng=np.random.default_rng(1), size=3)
    >>> bool(np.all(x == np.random.default_rng(1).exponential(0.5, size=3)))
    True
    """

    def __cinit__(self, rate):
        self.c.kind = DistKind.Exponential
        self.c.p[0] = _real(rate, "Exponential", "rate")
        _finish(self)

    @property
    def rate(self):
        """Rate (inverse mean)."""
        return self.c.p[0]

    def _params(self):
        return {"rate": self.c.p[0]}


cdef class Beta(Distribution):
    """Beta distribution.

    Parameters
    ----------
    alpha : float
        First shape; finite and > 0 (error code 104).
    beta : float
        Second shape; finite and > 0 (error code 104).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: [0, 1] (the density may be infinite at an end point when a
    shape is < 1). Values: float. Sampling equals ``Generator.beta(alpha, beta)``.

    Examples
    --------
    >>> Beta(0.5, 2.0).log_prob(0.0)
    inf
    """

    def __cinit__(self, alpha, beta):
        self.c.kind = DistKind.Beta
        self.c.p[0] = _real(alpha, "Beta", "alpha")
        self.c.p[1] = _real(beta, "Beta", "beta")
        _finish(self)

    @property
    def alpha(self):
        """First shape parameter."""
        return self.c.p[0]

    @property
    def beta(self):
        """Second shape parameter."""
        return self.c.p[1]

    def _params(self):
        return {"alpha": self.c.p[0], "beta": self.c.p[1]}


cdef class Gamma(Distribution):
    """Gamma distribution in the shape/rate parametrisation (mean ``shape/rate``).

    Parameters
    ----------
    shape : float
        Shape; finite and > 0 (error code 104).
    rate : float
        Rate (inverse scale); finite and > 0 (error code 105).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: [0, inf) (infinite density at 0 when shape < 1). Values: float.
    Sampling equals ``Generator.gamma(shape, 1/rate)``.

    Examples
    --------
    >>> import math
    >>> math.isclose(Gamma(1.0, 3.0).log_prob(0.5), math.log(3.0) - 1.5)
    True
    """

    def __cinit__(self, shape, rate):
        self.c.kind = DistKind.Gamma
        self.c.p[0] = _real(shape, "Gamma", "shape")
        self.c.p[1] = _real(rate, "Gamma", "rate")
        _finish(self)

    @property
    def shape(self):
        """Shape parameter."""
        return self.c.p[0]

    @property
    def rate(self):
        """Rate parameter (inverse scale)."""
        return self.c.p[1]

    def _params(self):
        return {"shape": self.c.p[0], "rate": self.c.p[1]}


cdef class Bernoulli(Distribution):
    """Bernoulli distribution: ``True`` with probability ``p``.

    Parameters
    ----------
    p : float
        Probability of ``True``; in [0, 1] (error code 102).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: {False, True}. Values: bool. A draw is ``u < p`` for one
    uniform ``u = Generator.random()``.

    Examples
    --------
    >>> type(Bernoulli(0.5).sample(rng=7))
    <class 'bool'>
    """

    def __cinit__(self, p):
        self.c.kind = DistKind.Bernoulli
        self.c.p[0] = _real(p, "Bernoulli", "p")
        _finish(self)

    @property
    def p(self):
        """Probability of ``True``."""
        return self.c.p[0]

    def _params(self):
        return {"p": self.c.p[0]}


cdef class Binomial(Distribution):
    """Binomial distribution: the number of successes in ``n`` trials.

    Parameters
    ----------
    n : int
        Number of trials; an integer >= 0 (error code 106).
    p : float
        Success probability; in [0, 1] (error code 102).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: {0, ..., n}. Values: int. Sampling equals
    ``Generator.binomial(n, p)``.

    Examples
    --------
    >>> Binomial(10, 0.5).log_prob(11)
    -inf
    """

    def __cinit__(self, n, p):
        self.c.kind = DistKind.Binomial
        self.c.i[0] = _integer(n, "Binomial", "n")
        self.c.p[0] = _real(p, "Binomial", "p")
        _finish(self)

    @property
    def n(self):
        """Number of trials."""
        return self.c.i[0]

    @property
    def p(self):
        """Success probability."""
        return self.c.p[0]

    def _params(self):
        return {"n": self.c.i[0], "p": self.c.p[0]}


cdef class Categorical(Distribution):
    """Categorical distribution over the indices ``0 .. len(probs) - 1``.

    Parameters
    ----------
    probs : sequence of float
        Probabilities: a non-empty one-dimensional sequence of numbers in
        [0, 1] summing to 1 within 1e-6; they are not renormalised
        (error code 102).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: {0, ..., len(probs) - 1}. Values: int. A draw inverts the
    cumulative sum at one uniform ``u = Generator.random()`` (the first ``i``
    with ``u < probs[0] + ... + probs[i]``; the last positive category when
    the sum falls short of ``u``).

    Examples
    --------
    >>> d = Categorical([0.25, 0.0, 0.75])
    >>> d.log_prob(1)
    -inf
    >>> sorted(set(d.sample(rng=3, size=100).tolist()))
    [0, 2]
    """

    def __cinit__(self, probs):
        cdef const double[::1] view
        self.c.kind = DistKind.Categorical
        if (type(probs) is list or type(probs) is tuple) and _all_floats(probs):
            arr = np.array(probs, dtype=np.float64)   # fast path: a list of floats
        else:
            arr = _probs_array(probs)
        arr.setflags(write=False)
        self._probs = arr
        view = arr
        self.c.n_probs = arr.shape[0]
        self.c.probs = &view[0] if arr.shape[0] > 0 else NULL
        _finish(self)

    @property
    def probs(self):
        """The probabilities (a read-only float64 array)."""
        return self._probs

    def _params(self):
        return {"probs": self._probs}


cdef bint _all_floats(seq) noexcept:
    for v in seq:
        if type(v) is not float:
            return False
    return True


cdef object _probs_array(object probs):
    # A fresh float64 copy of probs; TypeError (the checking kit's wording)
    # unless it is a one-dimensional sequence of real numbers. The values are
    # checked in C++.
    src = None
    if not (isinstance(probs, (str, bytes)) or probs is None):
        try:
            src = np.asarray(probs)
        except (TypeError, ValueError):   # ragged nesting
            pass
    if src is None or src.dtype.kind not in "iuf" or src.ndim != 1:
        raise _type_error("Categorical", "probs", probs,
                          "a one-dimensional sequence of real numbers")
    return np.array(src, dtype=np.float64, copy=True)


cdef class Poisson(Distribution):
    """Poisson distribution with the given rate (mean).

    Parameters
    ----------
    rate : float
        Rate; finite, > 0 and <= 9.223372006484771e18, numpy's sampling
        limit (error code 105).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: {0, 1, 2, ...}. Values: int. Sampling equals
    ``Generator.poisson(rate)``.

    Examples
    --------
    >>> Poisson(1e15).log_prob(10**15)  # accurate for huge counts
    -18.188326730660016
    """

    def __cinit__(self, rate):
        self.c.kind = DistKind.Poisson
        self.c.p[0] = _real(rate, "Poisson", "rate")
        _finish(self)

    @property
    def rate(self):
        """Rate (mean)."""
        return self.c.p[0]

    def _params(self):
        return {"rate": self.c.p[0]}


cdef class StudentT(Distribution):
    """Student's t distribution with location and scale.

    Parameters
    ----------
    df : float
        Degrees of freedom; finite and > 0 (error code 104).
    loc : float
        Location; finite (error code 100).
    scale : float
        Scale; finite and > 0 (error code 101).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: the real line. Values: float. Sampling equals
    ``loc + scale * Generator.standard_t(df)``.

    Examples
    --------
    >>> round(StudentT(1.0, 0.0, 1.0).log_prob(0.0), 6)  # = Cauchy(0, 1)
    -1.14473
    """

    def __cinit__(self, df, loc, scale):
        self.c.kind = DistKind.StudentT
        self.c.p[0] = _real(df, "StudentT", "df")
        self.c.p[1] = _real(loc, "StudentT", "loc")
        self.c.p[2] = _real(scale, "StudentT", "scale")
        _finish(self)

    @property
    def df(self):
        """Degrees of freedom."""
        return self.c.p[0]

    @property
    def loc(self):
        """Location."""
        return self.c.p[1]

    @property
    def scale(self):
        """Scale."""
        return self.c.p[2]

    def _params(self):
        return {"df": self.c.p[0], "loc": self.c.p[1], "scale": self.c.p[2]}


cdef class Cauchy(Distribution):
    """Cauchy distribution.

    Parameters
    ----------
    loc : float
        Location (median); finite (error code 100).
    scale : float
        Scale (half width at half maximum); finite and > 0 (error code 101).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: the real line. Values: float. Sampling equals
    ``loc + scale * Generator.standard_cauchy()``.

    Examples
    --------
    >>> round(Cauchy(0.0, 1.0).log_prob(1.0), 6)
    -1.837877
    """

    def __cinit__(self, loc, scale):
        self.c.kind = DistKind.Cauchy
        self.c.p[0] = _real(loc, "Cauchy", "loc")
        self.c.p[1] = _real(scale, "Cauchy", "scale")
        _finish(self)

    @property
    def loc(self):
        """Location (median)."""
        return self.c.p[0]

    @property
    def scale(self):
        """Scale."""
        return self.c.p[1]

    def _params(self):
        return {"loc": self.c.p[0], "scale": self.c.p[1]}


cdef class Laplace(Distribution):
    """Laplace (double exponential) distribution.

    Parameters
    ----------
    loc : float
        Location; finite (error code 100).
    scale : float
        Scale; finite and > 0 (error code 101).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: the real line. Values: float. Sampling equals
    ``Generator.laplace(loc, scale)``.

    Examples
    --------
    >>> round(Laplace(0.0, 1.0).log_prob(-1.0), 6)
    -1.693147
    """

    def __cinit__(self, loc, scale):
        self.c.kind = DistKind.Laplace
        self.c.p[0] = _real(loc, "Laplace", "loc")
        self.c.p[1] = _real(scale, "Laplace", "scale")
        _finish(self)

    @property
    def loc(self):
        """Location."""
        return self.c.p[0]

    @property
    def scale(self):
        """Scale."""
        return self.c.p[1]

    def _params(self):
        return {"loc": self.c.p[0], "scale": self.c.p[1]}


cdef class Weibull(Distribution):
    """Weibull distribution.

    Parameters
    ----------
    shape : float
        Shape ``k``; finite and > 0 (error code 104).
    scale : float
        Scale ``lambda``; finite and > 0 (error code 101).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: [0, inf) (infinite density at 0 when shape < 1). Values: float.
    Sampling equals ``scale * Generator.weibull(shape)``.

    Examples
    --------
    >>> round(Weibull(1.0, 2.0).log_prob(0.0), 6)  # = Exponential(0.5)
    -0.693147
    """

    def __cinit__(self, shape, scale):
        self.c.kind = DistKind.Weibull
        self.c.p[0] = _real(shape, "Weibull", "shape")
        self.c.p[1] = _real(scale, "Weibull", "scale")
        _finish(self)

    @property
    def shape(self):
        """Shape parameter."""
        return self.c.p[0]

    @property
    def scale(self):
        """Scale parameter."""
        return self.c.p[1]

    def _params(self):
        return {"shape": self.c.p[0], "scale": self.c.p[1]}


cdef class ChiSquared(Distribution):
    """Chi-squared distribution with ``k`` degrees of freedom.

    Parameters
    ----------
    k : float
        Degrees of freedom; finite and > 0, need not be an integer
        (error code 104).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: [0, inf). Values: float. Sampling equals
    ``Generator.chisquare(k)``.

    Examples
    --------
    >>> round(ChiSquared(2.0).log_prob(0.0), 6)
    -0.693147
    """

    def __cinit__(self, k):
        self.c.kind = DistKind.ChiSquared
        self.c.p[0] = _real(k, "ChiSquared", "k")
        _finish(self)

    @property
    def k(self):
        """Degrees of freedom."""
        return self.c.p[0]

    def _params(self):
        return {"k": self.c.p[0]}


cdef class InverseGamma(Distribution):
    """Inverse-gamma distribution: ``rate / X`` for ``X ~ Gamma(shape, 1)``.

    The density is ``rate**shape / Gamma(shape) * x**(-shape-1) * exp(-rate/x)``.

    Parameters
    ----------
    shape : float
        Shape; finite and > 0 (error code 104).
    rate : float
        Rate of the underlying gamma (the scale of this distribution);
        finite and > 0 (error code 105).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: (0, inf). Values: float. Sampling equals
    ``rate / Generator.standard_gamma(shape)``.

    Examples
    --------
    >>> InverseGamma(2.0, 1.0).log_prob(0.0)
    -inf
    """

    def __cinit__(self, shape, rate):
        self.c.kind = DistKind.InverseGamma
        self.c.p[0] = _real(shape, "InverseGamma", "shape")
        self.c.p[1] = _real(rate, "InverseGamma", "rate")
        _finish(self)

    @property
    def shape(self):
        """Shape parameter."""
        return self.c.p[0]

    @property
    def rate(self):
        """Rate parameter."""
        return self.c.p[1]

    def _params(self):
        return {"shape": self.c.p[0], "rate": self.c.p[1]}


cdef class DiscreteUniform(Distribution):
    """Discrete uniform distribution on the integers ``low .. high``, both included.

    Parameters
    ----------
    low : int
        Smallest value (error code 103).
    high : int
        Largest value; >= low (error code 103).

    Raises
    ------
    TypeError
        A parameter is not a number.
    InvalidParameters
        A parameter's value breaks its rule (error code as above).

    Notes
    -----
    Support: {low, ..., high}. Values: int. Sampling equals
    ``Generator.integers(low, high, endpoint=True)``.

    Examples
    --------
    >>> DiscreteUniform(1, 6).log_prob(6) == DiscreteUniform(1, 6).log_prob(1)
    True
    >>> DiscreteUniform(1, 6).log_prob(7)
    -inf
    """

    def __cinit__(self, low, high):
        self.c.kind = DistKind.DiscreteUniform
        self.c.i[0] = _integer(low, "DiscreteUniform", "low")
        self.c.i[1] = _integer(high, "DiscreteUniform", "high")
        _finish(self)

    @property
    def low(self):
        """Smallest value."""
        return self.c.i[0]

    @property
    def high(self):
        """Largest value (included)."""
        return self.c.i[1]

    def _params(self):
        return {"low": self.c.i[0], "high": self.c.i[1]}
