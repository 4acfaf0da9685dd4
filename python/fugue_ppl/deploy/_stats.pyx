# cython: boundscheck=False, wraparound=False
"""The distribution functions of the rollout analysis, implemented in C++.

* :func:`betainc` -- the regularised incomplete beta function I_x(a, b).
* :func:`t_cdf`, :func:`t_sf`, :func:`t_sf_two_sided` -- Student's t
  distribution (Welch's test), from I_x(df/2, 1/2).
* :func:`norm_cdf`, :func:`norm_sf` -- the standard normal (z tests and the
  sequential tests), from erfc.

They are accurate to about 1e-13 relative (the t distribution up to any
number of degrees of freedom) and release the GIL. Arguments are checked by
the checking kit: a wrong type raises ``TypeError``, a bad value
:class:`~fugue_ppl.errors.InvalidArgument` naming the parameter.
"""

from libc.math cimport INFINITY, isnan

from fugue_ppl.deploy._cstats cimport (
    c_betainc, c_norm_cdf, c_norm_sf, c_t_cdf, c_t_sf, c_t_sf_two_sided, kMaxBetaParameter,
)

from fugue_ppl.checks import as_number, check_bounded, check_real, invalid

__all__ = ["betainc", "t_cdf", "t_sf", "t_sf_two_sided", "norm_cdf", "norm_sf",
           "MAX_BETA_PARAMETER"]

#: The largest ``a`` or ``b`` :func:`betainc` accepts.
MAX_BETA_PARAMETER = kMaxBetaParameter


cdef double _value(object value, str name, str owner) except? -1.0:
    """A real number that is not NaN (infinities allowed: a statistic may be)."""
    cdef double x = <double>as_number(value, name, owner)
    if isnan(x):
        raise invalid(owner, name, value, "must not be NaN")
    return x


cdef double _df(object value, str owner) except? -1.0:
    """Degrees of freedom: > 0; +inf gives the normal distribution."""
    cdef double df = <double>as_number(value, "df", owner)
    if not df > 0.0:
        raise invalid(owner, "df", value, "must be > 0 (inf for the normal distribution)")
    return df


def betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b).

    Parameters
    ----------
    a, b : float
        The shape parameters, > 0 and at most :data:`MAX_BETA_PARAMETER`.
    x : float
        The point, in [0, 1].

    Returns
    -------
    float
        P(X <= x) for X ~ Beta(a, b).

    Raises
    ------
    TypeError
        An argument is not a real number.
    InvalidArgument
        ``a`` or ``b`` is not in (0, MAX_BETA_PARAMETER], ``x`` not in [0, 1].

    Examples
    --------
    >>> round(betainc(2.0, 3.0, 0.5), 12)
    0.6875
    """
    cdef double ca = check_bounded(a, "a", "betainc", 0.0, kMaxBetaParameter, low_open=True)
    cdef double cb = check_bounded(b, "b", "betainc", 0.0, kMaxBetaParameter, low_open=True)
    cdef double cx = check_real(x, "x", "betainc", "probability")
    cdef double r
    with nogil:
        r = c_betainc(ca, cb, cx, 1.0 - cx)
    return r


def t_cdf(t, df):
    """P(T <= t) for Student's t distribution with ``df`` degrees of freedom.

    Parameters
    ----------
    t : float
        The point (infinities allowed; not NaN).
    df : float
        Degrees of freedom, > 0 (not necessarily an integer; ``inf``: the normal).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        An argument is not a real number.
    InvalidArgument
        ``t`` is NaN, or ``df`` is not > 0.

    Examples
    --------
    >>> t_cdf(0.0, 5)
    0.5
    >>> round(t_cdf(-1.0, 1), 12)   # Cauchy: 1/4
    0.25
    """
    cdef double ct = _value(t, "t", "t_cdf")
    cdef double cdf = _df(df, "t_cdf")
    cdef double r
    with nogil:
        r = c_norm_cdf(ct) if cdf == INFINITY else c_t_cdf(ct, cdf)
    return r


def t_sf(t, df):
    """P(T > t) for Student's t distribution (no cancellation for large ``t``).

    Parameters and errors as for :func:`t_cdf`.
    """
    cdef double ct = _value(t, "t", "t_sf")
    cdef double cdf = _df(df, "t_sf")
    cdef double r
    with nogil:
        r = c_norm_sf(ct) if cdf == INFINITY else c_t_sf(ct, cdf)
    return r


def t_sf_two_sided(t, df):
    """The two-sided p-value P(|T| >= |t|) of a t statistic.

    Parameters and errors as for :func:`t_cdf`.

    Examples
    --------
    >>> round(t_sf_two_sided(2.0, 10), 6)
    0.073388
    """
    cdef double ct = _value(t, "t", "t_sf_two_sided")
    cdef double cdf = _df(df, "t_sf_two_sided")
    cdef double r
    with nogil:
        if cdf == INFINITY:
            r = 2.0 * c_norm_sf(ct if ct >= 0.0 else -ct)
        else:
            r = c_t_sf_two_sided(ct, cdf)
    return r


def norm_cdf(z):
    """P(Z <= z) for the standard normal distribution.

    Raises
    ------
    TypeError
        ``z`` is not a real number.
    InvalidArgument
        ``z`` is NaN.

    Examples
    --------
    >>> round(norm_cdf(1.959963984540054), 12)
    0.975
    """
    cdef double cz = _value(z, "z", "norm_cdf")
    return c_norm_cdf(cz)


def norm_sf(z):
    """P(Z > z) for the standard normal distribution (no cancellation for large ``z``).

    Errors as for :func:`norm_cdf`.
    """
    cdef double cz = _value(z, "z", "norm_sf")
    return c_norm_sf(cz)
