# cython: boundscheck=False, wraparound=False
"""RFC 8785 canonical JSON, compiled: the audit log's writer thread canonicalises every
request's input and output document, on the interpreter the requests share, so its
cost is taken from the service's throughput.

The rules are :mod:`fugue_ppl.service.audit`'s: tuples are lists, numpy values
their Python values, the non-finite floats the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``; keys sort by UTF-16 code units; a value
with no canonical form raises :class:`NoCanonicalForm`.
"""

import json
from collections.abc import Mapping

import numpy as np

from libc.math cimport INFINITY, fabs, floor

__all__ = ["Canonicaliser", "NoCanonicalForm"]

cdef object _string = json.encoder.encode_basestring   # (C; escapes what RFC 8785 escapes)
cdef object _INT_LIMIT = 2**53 - 1                    # (integers a double holds exactly)
cdef object _NP_TYPES = (np.ndarray, np.generic)


class NoCanonicalForm(Exception):
    """The value has no RFC 8785 form (a non-str key, an int beyond 2**53 - 1,
    another type, nesting deeper than the limit)."""


def _utf16(str key):
    return key.encode("utf-16-be", "surrogatepass")


cdef class Canonicaliser:
    """``text(value)``: the RFC 8785 canonical JSON of ``value``, as a str.

    Parameters
    ----------
    number : callable
        ``number(f) -> str``, the ECMAScript text of a float outside
        ``[1e-4, 1e16)`` (within it, Python's shortest repr is that text).
    max_depth : int
        The deepest nesting accepted.
    """

    cdef object number
    cdef int max_depth

    def __init__(self, number, int max_depth):
        self.number = number
        self.max_depth = max_depth

    def text(self, value):
        """The canonical JSON text of ``value`` (raises :class:`NoCanonicalForm`)."""
        cdef list out = []
        self._write(value, out, 0)
        return "".join(out)

    cdef int _float(self, double f, list out) except -1:
        cdef double a = fabs(f)
        if f != f:
            out.append('"NaN"')
        elif f == INFINITY:
            out.append('"Infinity"')
        elif f == -INFINITY:
            out.append('"-Infinity"')
        elif f == 0.0:
            out.append("0")
        elif a < 1e16 and f == floor(f):
            out.append(str(<long long>f))
        elif 1e-4 <= a < 1e16:
            out.append(repr(f))          # (same notation as ECMAScript in this range)
        else:
            out.append(self.number(f))
        return 0

    cdef int _mapping(self, value, list out, int depth) except -1:
        cdef list keys = list(value)
        cdef bint ascii = True
        for k in keys:
            if not isinstance(k, str):
                raise NoCanonicalForm
            if ascii and not (<str>k).isascii():
                ascii = False
        if ascii:
            keys.sort()
        else:
            keys.sort(key=_utf16)
        out.append("{")
        cdef bint first = True
        for k in keys:
            if not first:
                out.append(",")
            first = False
            out.append(_string(k))
            out.append(":")
            self._write(value[k], out, depth + 1)
        out.append("}")
        return 0

    cdef int _sequence(self, value, list out, int depth) except -1:
        out.append("[")
        cdef bint first = True
        for v in value:
            if not first:
                out.append(",")
            first = False
            self._write(v, out, depth + 1)
        out.append("]")
        return 0

    cdef int _write(self, value, list out, int depth) except -1:
        cdef type t = type(value)
        if t is str:
            out.append(_string(value))
        elif t is float:
            self._float(<double>value, out)
        elif t is int:
            if not -_INT_LIMIT <= value <= _INT_LIMIT:
                raise NoCanonicalForm
            out.append(str(value))
        elif value is None:
            out.append("null")
        elif value is True:
            out.append("true")
        elif value is False:
            out.append("false")
        elif isinstance(value, str):
            out.append(_string(str(value)))
        elif isinstance(value, float):
            self._float(float(value), out)
        elif isinstance(value, int):
            self._write(int(value), out, depth)
        elif depth >= self.max_depth:
            raise NoCanonicalForm
        elif t is dict or isinstance(value, Mapping):
            self._mapping(value, out, depth)
        elif t is list or t is tuple or isinstance(value, (list, tuple)):
            self._sequence(value, out, depth)
        elif isinstance(value, _NP_TYPES):
            self._write(value.tolist(), out, depth)
        else:
            raise NoCanonicalForm
        return 0
