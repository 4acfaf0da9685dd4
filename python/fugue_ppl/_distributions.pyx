# cython: boundscheck=False, wraparound=False, cdivision=True
"""The 17 distributions of fugue-ppl, implemented in C++.

Each distribution validates its parameters at construction (raising
:class:`~fugue_ppl.errors.InvalidParameters` with Fugue's error code), draws
values through numpy's BitGenerator C API (so a seeded ``Generator`` gives the
same stream numpy gives) and evaluates log-densities, for scalars and arrays.
"""

cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLong
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport isfinite, isnan
from libc.stdint cimport int64_t, uint8_t

import operator

import numpy as np

from fugue_ppl._cdist cimport (
    CDist, CParamError, CValue, DistKind, ValueKind, bitgen_t, dist_name, init_dist,
    log_prob, log_prob_fill, log_prob_fill_i64, log_prob_value, sample, sample_fill_bool,
    sample_fill_f64, sample_fill_i64, value_kind,
)
from fugue_ppl.errors import InvalidParameters

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


# ---------------------------------------------------------------- randomness

cpdef object as_generator(object rng):
    """Return a ``numpy.random.Generator`` for ``rng``.

    Parameters
    ----------
    rng : None, int, numpy.random.SeedSequence, numpy.random.BitGenerator or numpy.random.Generator
        ``None`` draws fresh entropy from the OS; an int or a SeedSequence
        seeds a new PCG64 generator; a Generator is used as it is (SPEC 7).

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
    if isinstance(rng, bool):
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

cdef inline double _real(object x, str dist, str name) except? -1.0:
    if type(x) is float:
        return PyFloat_AS_DOUBLE(x)
    return _real_slow(x, dist, name)


cdef double _real_slow(object x, str dist, str name) except? -1.0:
    if isinstance(x, (str, bytes, bool)) or x is None:
        raise InvalidParameters(dist, name, x, f"must be a real number, not {type(x).__name__}",
                                _code_for(name))
    try:
        return float(x)
    except (TypeError, ValueError):
        raise InvalidParameters(dist, name, x, f"must be a real number, not {type(x).__name__}",
                                _code_for(name)) from None


cdef int64_t _integer(object x, str dist, str name) except? -1:
    if type(x) is int:
        try:
            return PyLong_AsLongLong(x)
        except OverflowError:
            raise InvalidParameters(dist, name, x, "must fit in a signed 64-bit integer",
                                    _code_for(name)) from None
    if isinstance(x, bool) or x is None or isinstance(x, (str, bytes)):
        raise InvalidParameters(dist, name, x, f"must be an integer, not {type(x).__name__}",
                                _code_for(name))
    if isinstance(x, (float, np.floating)):
        if isfinite(x) and float(x).is_integer() and abs(x) < 9.2e18:
            return <int64_t>float(x)
        raise InvalidParameters(dist, name, x, "must be an integer", _code_for(name))
    try:
        return _integer(operator.index(x), dist, name)
    except TypeError:
        raise InvalidParameters(dist, name, x, f"must be an integer, not {type(x).__name__}",
                                _code_for(name)) from None


cdef dict _CODES = {
    "mu": 100, "loc": 100, "sigma": 101, "scale": 101, "p": 102, "probs": 102,
    "low": 103, "high": 103, "alpha": 104, "beta": 104, "shape": 104, "df": 104, "k": 104,
    "rate": 105, "n": 106,
}


cdef int _code_for(str name):
    return _CODES.get(name, 100)


cdef int _finish(Distribution d) except -1:
    cdef CParamError err
    if init_dist(d.c, &err):
        return 0
    name = dist_name(d.c.kind).decode()
    param = err.param.decode()
    rule = err.rule.decode()
    value = err.value
    if d.c.kind == DistKind.DiscreteUniform or (d.c.kind == DistKind.Binomial and param == "n"):
        if isfinite(value):
            value = int(value)
    raise InvalidParameters(name, param, value, rule, err.code)


# ---------------------------------------------------------------- boxing

cdef inline object _box(CValue v):
    if v.kind == ValueKind.Float:
        return v.f
    if v.kind == ValueKind.Int:
        return v.i
    return True if v.b else False


cdef object _shape(object size):
    try:
        if isinstance(size, _integer_types) and not isinstance(size, bool):
            shape = (operator.index(size),)
        else:
            shape = tuple(operator.index(s) for s in size)
    except TypeError:
        raise TypeError(f"size must be an int or a tuple of ints, got {size!r}") from None
    for s in shape:
        if s < 0:
            raise ValueError(f"size must not be negative, got {size!r}")
    return shape


# ---------------------------------------------------------------- base class

cdef class Distribution:
    """Base class of the distributions. Not instantiable itself."""

    def __init__(self, *args, **kwargs):
        if type(self) is Distribution:
            raise TypeError("Distribution is abstract; use Normal, Beta, ...")

    @property
    def name(self):
        """The distribution's name, e.g. ``"Normal"``."""
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
        rng : None, int, SeedSequence or Generator, optional
            Source of randomness (see :func:`as_generator`).
        size : int or tuple of ints, optional
            Output shape. ``None`` (default) returns one Python scalar.

        Returns
        -------
        float, int, bool or numpy.ndarray
        """
        cdef bitgen_t* bg
        cdef CValue v
        cdef ValueKind k = value_kind(self.c.kind)
        cdef double[::1] fview
        cdef int64_t[::1] iview
        cdef uint8_t[::1] bview
        cdef size_t n
        gen = as_generator(rng)
        bg = bitgen_of(gen)
        lock = gen.bit_generator.lock
        if size is None:
            with lock:
                v = sample(self.c, bg)
            return _box(v)
        shape = _shape(size)
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
            Point(s) to evaluate; values outside the support give ``-inf``.

        Returns
        -------
        float or numpy.ndarray of float64
        """
        cdef double[::1] xv
        cdef int64_t[::1] xi
        cdef double[::1] ov
        cdef size_t n
        if type(x) is float:
            return log_prob(self.c, PyFloat_AS_DOUBLE(x))
        if type(x) is bool:
            return log_prob(self.c, 1.0 if x else 0.0)
        if type(x) is int:
            try:
                return log_prob_value(self.c, CValue.of_int(PyLong_AsLongLong(x)))
            except OverflowError:
                return log_prob(self.c, float(x))
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return self.log_prob(x.item())
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"{self.name}.log_prob: x must be a number or an array of numbers, "
                            f"got {type(x).__name__}")
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}.log_prob: x must be numeric, got dtype {arr.dtype}")
        out = np.empty(arr.shape, dtype=np.float64)
        n = out.size
        if n == 0:
            return out
        ov = out.reshape(-1)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 8 and arr.dtype != np.uint64:
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

    def __hash__(self):
        return hash((type(self), self._params_key()))

    def __reduce__(self):
        return (type(self), tuple(self._params().values()))

    def _params_key(self):
        return tuple((k, tuple(v) if isinstance(v, np.ndarray) else v)
                     for k, v in self._params().items())

    def _params(self):
        raise NotImplementedError


# ---------------------------------------------------------------- the 17

@cython.freelist(64)
cdef class Normal(Distribution):
    """Normal(mu, sigma): the Gaussian with mean ``mu`` and standard deviation ``sigma > 0``."""

    def __cinit__(self, mu, sigma):
        self.c.kind = DistKind.Normal
        self.c.p[0] = _real(mu, "Normal", "mu")
        self.c.p[1] = _real(sigma, "Normal", "sigma")
        _finish(self)

    @property
    def mu(self): return self.c.p[0]
    @property
    def sigma(self): return self.c.p[1]
    def _params(self): return {"mu": self.c.p[0], "sigma": self.c.p[1]}


@cython.freelist(64)
cdef class Bernoulli(Distribution):
    """Bernoulli(p): ``True`` with probability ``p`` in [0, 1]."""

    def __cinit__(self, p):
        self.c.kind = DistKind.Bernoulli
        self.c.p[0] = _real(p, "Bernoulli", "p")
        _finish(self)

    @property
    def p(self): return self.c.p[0]
    def _params(self): return {"p": self.c.p[0]}


@cython.freelist(16)
cdef class Categorical(Distribution):
    """Categorical(probs): index ``i`` with probability ``probs[i]``.

    The probabilities must be finite, non-negative and sum to 1 within 1e-6;
    they are not renormalised.
    """

    def __cinit__(self, probs):
        self.c.kind = DistKind.Categorical
        if isinstance(probs, (str, bytes)) or probs is None:
            raise InvalidParameters("Categorical", "probs", probs,
                                    "must be a sequence of probabilities", 102)
        try:
            arr = np.array(probs, dtype=np.float64, copy=True).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidParameters("Categorical", "probs", probs,
                                    "must be a sequence of real numbers", 102) from None
        if np.ndim(probs) > 1:
            raise InvalidParameters("Categorical", "probs", probs, "must be one-dimensional", 102)
        arr.setflags(write=False)
        self._probs = arr
        cdef const double[::1] view = arr
        self.c.n_probs = arr.shape[0]
        self.c.probs = &view[0] if arr.shape[0] > 0 else NULL
        _finish(self)

    @property
    def probs(self): return self._probs
    def _params(self): return {"probs": self._probs}
