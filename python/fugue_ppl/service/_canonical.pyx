# cython: boundscheck=False, wraparound=False
"""RFC 8785 canonical JSON, compiled: the audit log's writer thread canonicalises every
request's input and output document, on the interpreter the requests share, so its
cost is taken from the service's throughput.

:meth:`Canonicaliser.dumps` walks the value through the CPython C API and writes
its UTF-8 into one C++ ``std::string`` with the writers of ``fugue/canonical.hpp``
(the one statement of the format, shared with :meth:`Canonicaliser.dumps_text`,
which reads JSON text without the interpreter's lock): strings are copied from their UTF-8 form
(an ASCII str's bytes read in place) with the escapes of ECMAScript's
``JSON.stringify``; floats are written from their shortest round-trip digits
(``std::to_chars``) in ECMAScript's Number-to-String notation; the members of a
dict are sorted by their keys' UTF-16 code units, compared through their UTF-8
bytes. Exact ``dict``, ``list``, ``tuple``, ``str``, ``float``, ``int`` and
``bool`` values and None are read without calling Python code; other Mappings, list
and tuple subclasses, numpy values (their ``tolist()``) and str, float and int
subclasses are converted through Python first. The walk holds a reference to
each dict member it has read, so Python code run on the way (a Mapping's
``__getitem__``) cannot free what it still has to write.

The rules are :mod:`fugue_ppl.service.audit`'s: tuples are lists, numpy values
their Python values, the non-finite floats the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``; keys sort by UTF-16 code units; a value
with no canonical form (a non-str key, an int beyond +-(2**53 - 1), a lone
surrogate, another type, containers nested deeper than the limit) raises
:class:`NoCanonicalForm`. For every other value the bytes are those of the
``rfc8785`` package.
"""

from collections.abc import Mapping

import numpy as np

from fugue_ppl.checks import check_int

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.ref cimport PyObject
from libcpp.algorithm cimport sort
from libcpp.string cimport string
from libcpp.vector cimport vector

__all__ = ["Canonicaliser", "NoCanonicalForm"]


cdef extern from "Python.h":
    # (declared here without Cython's error checks: the callers test and clear)
    const char* _utf8 "PyUnicode_AsUTF8AndSize"(PyObject* s, Py_ssize_t* size)
    long long _as_long_long "PyLong_AsLongLongAndOverflow"(object v, int* overflow)
    bint _is_str "PyUnicode_Check"(PyObject* o)
    bint _is_ascii "PyUnicode_IS_COMPACT_ASCII"(PyObject* o)
    Py_ssize_t _length "PyUnicode_GET_LENGTH"(PyObject* o)
    void* _data "PyUnicode_DATA"(PyObject* o)
    void _incref "Py_INCREF"(PyObject* o)
    void _xdecref "Py_XDECREF"(PyObject* o)
    PyObject* PyErr_Occurred()
    bint PyErr_ExceptionMatches(object exc)
    void PyErr_Clear()

cdef extern from "fugue/canonical.hpp" namespace "fugue::canonical" nogil:
    void put_string(string& out, const char* p, size_t n) except +
    void put_number(string& out, double v) except +
    void put_integer(string& out, long long v) except +
    bint utf16_before(const char* a, size_t an, const char* b, size_t bn) noexcept
    bint canonical_text(const char* p, size_t n, int max_depth, string& out) except +
    long long kIntLimit


cdef int _DEPTH_LIMIT = 1000                      # (the walk recurses on the C stack)
cdef object _NP_TYPES = (np.ndarray, np.generic)


class NoCanonicalForm(Exception):
    """The value has no RFC 8785 form (a non-str key, an int beyond +-(2**53 - 1),
    a lone surrogate, another type, nesting deeper than the limit); the message
    names the reason and types, never the value."""


cdef struct _Member:
    # A dict's key and value, held (strong references) while the dict is written:
    # writing a value may run Python code (a Mapping's __getitem__, a subclass's
    # __float__) that changes the dict.
    PyObject* key
    PyObject* value
    const char* utf8            # the key's UTF-8 (owned by the key)
    Py_ssize_t size


cdef struct _Walk:
    string out                  # the canonical JSON
    vector[_Member] members     # the members of the dicts being written, innermost last
    int max_depth


cdef object _too_deep(_Walk* w):
    return NoCanonicalForm(f"more than {w.max_depth} containers deep")


cdef inline int _put(_Walk* w, const char* p, size_t n) except -1:
    w.out.append(p, n)
    return 0


cdef inline int _putc(_Walk* w, char c) except -1:
    w.out.push_back(c)
    return 0


cdef inline bint _before(const _Member& a, const _Member& b) noexcept nogil:
    """Whether key ``a`` sorts before key ``b`` by UTF-16 code units."""
    return utf16_before(a.utf8, a.size, b.utf8, b.size)


cdef void _sort(_Member* a, Py_ssize_t n) noexcept nogil:
    """Sort a dict's members by their keys (insertion sort for the usual few)."""
    cdef Py_ssize_t i, j
    cdef _Member t
    if n > 16:
        sort(a, a + n, _before)
        return
    for i in range(1, n):
        t = a[i]
        j = i
        while j > 0 and _before(t, a[j - 1]):
            a[j] = a[j - 1]
            j -= 1
        a[j] = t


cdef inline const char* _text(PyObject* s, Py_ssize_t* size) except? NULL:
    """The UTF-8 of str ``s`` (cached by CPython); NoCanonicalForm for a lone surrogate."""
    cdef const char* p
    if _is_ascii(s):
        size[0] = _length(s)
        return <const char*>_data(s)
    p = _utf8(s, size)
    if p == NULL:
        if not PyErr_ExceptionMatches(UnicodeEncodeError):
            return NULL
        PyErr_Clear()
        raise NoCanonicalForm("a str holds a lone surrogate")
    return p


cdef inline int _string(const char* p, Py_ssize_t n, _Walk* w) except -1:
    put_string(w.out, p, n)
    return 0


cdef inline int _integer(long long v, _Walk* w) except -1:
    put_integer(w.out, v)
    return 0


cdef inline int _float(double f, _Walk* w) except -1:
    put_number(w.out, f)
    return 0


cdef int _dict(dict d, _Walk* w, int depth) except -1:
    """Write an exact dict, its members sorted by their keys' UTF-16 code units."""
    cdef vector[_Member]* members = &w.members
    cdef size_t base = members.size()
    cdef size_t i
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    cdef _Member* m
    if depth >= w.max_depth:
        raise _too_deep(w)
    if len(d) == 0:
        return _put(w, b"{}", 2)
    try:
        # (no Python code runs while the dict is read: its references are borrowed
        # until they are taken)
        members.resize(base + len(d))     # (zeroed: the finally skips members not read)
        m = members.data() + base
        while PyDict_Next(d, &pos, &key, &value):
            if not _is_str(key):
                raise NoCanonicalForm(f"a key is not a str but {type(<object>key).__name__}")
            m.key = key
            m.value = value
            _incref(key)
            _incref(value)
            m.utf8 = _text(key, &m.size)
            m += 1
        _sort(members.data() + base, members.size() - base)
        _putc(w, b'{')
        for i in range(base, members.size()):
            if i > base:
                _putc(w, b',')
            m = members.data() + i      # (not used after _write: it may move the vector)
            _string(m.utf8, m.size, w)
            _putc(w, b':')
            _write(<object>m.value, w, depth + 1)
        _putc(w, b'}')
    finally:
        for i in range(base, members.size()):
            _xdecref(members[0][i].key)
            _xdecref(members[0][i].value)
        members.resize(base)
    return 0


cdef int _list(list items, _Walk* w, int depth) except -1:
    cdef bint first = True
    if depth >= w.max_depth:
        raise _too_deep(w)
    _putc(w, b'[')
    for v in items:             # (Cython rereads the length: a callee may change the list)
        if not first:
            _putc(w, b',')
        first = False
        _write(v, w, depth + 1)
    return _putc(w, b']')


cdef int _tuple(tuple items, _Walk* w, int depth) except -1:
    cdef bint first = True
    if depth >= w.max_depth:
        raise _too_deep(w)
    _putc(w, b'[')
    for v in items:
        if not first:
            _putc(w, b',')
        first = False
        _write(v, w, depth + 1)
    return _putc(w, b']')


cdef int _int(object v, _Walk* w) except -1:
    """Write an int; NoCanonicalForm beyond +-(2**53 - 1)."""
    cdef int overflow
    cdef long long n = _as_long_long(v, &overflow)
    if n == -1 and PyErr_Occurred() != NULL:
        return -1
    if overflow or n > kIntLimit or n < -kIntLimit:
        raise NoCanonicalForm("an int beyond +-(2**53 - 1)")
    return _integer(n, w)


cdef int _other(object value, _Walk* w, int depth) except -1:
    """The values that are not of an exact JSON type, through Python."""
    cdef Py_ssize_t size
    cdef const char* p
    if isinstance(value, str):              # (its characters, not its __str__)
        p = _text(<PyObject*>value, &size)
        return _string(p, size, w)
    if isinstance(value, float):            # (numpy's float64 too)
        return _float(float(value), w)
    if isinstance(value, int):
        return _int(int(value), w)
    if isinstance(value, _NP_TYPES):
        return _write(value.tolist(), w, depth)
    if depth >= w.max_depth:
        raise _too_deep(w)
    if isinstance(value, Mapping):
        return _dict({k: value[k] for k in value}, w, depth)
    if isinstance(value, (list, tuple)):
        return _list(list(value), w, depth)
    raise NoCanonicalForm(f"{type(value).__name__} has no JSON form")


cdef int _write(object value, _Walk* w, int depth) except -1:
    cdef type t = type(value)
    cdef Py_ssize_t size
    cdef const char* p
    if t is str:
        p = _text(<PyObject*>value, &size)
        return _string(p, size, w)
    if t is float:
        return _float(PyFloat_AS_DOUBLE(value), w)
    if t is dict:
        return _dict(<dict>value, w, depth)
    if t is list:
        return _list(<list>value, w, depth)
    if t is int:
        return _int(value, w)
    if value is None:
        return _put(w, b"null", 4)
    if value is True:
        return _put(w, b"true", 4)
    if value is False:
        return _put(w, b"false", 5)
    if t is tuple:
        return _tuple(<tuple>value, w, depth)
    return _other(value, w, depth)


cdef class Canonicaliser:
    """``dumps(value)``: the RFC 8785 canonical JSON of ``value``, as UTF-8 bytes.

    Parameters
    ----------
    max_depth : int
        The most containers nested one in another (0: scalars only; at most
        1000, as the walk recurses on the C stack).

    Raises
    ------
    TypeError
        ``max_depth`` is not an integer.
    InvalidArgument
        ``max_depth`` is out of range.

    Examples
    --------
    >>> Canonicaliser(100).dumps({"b": [1, 2.0, 1e21], "a": "\\u00e9\\n"})
    b'{"a":"\\xc3\\xa9\\\\n","b":[1,2,1e+21]}'
    """

    cdef int max_depth

    def __init__(self, max_depth):
        self.max_depth = check_int(max_depth, "max_depth", "Canonicaliser", low=0,
                                   high=_DEPTH_LIMIT)

    def dumps(self, value):
        """The canonical JSON of ``value`` as UTF-8 bytes (raises :class:`NoCanonicalForm`)."""
        cdef _Walk w
        w.out.reserve(1024)
        w.members.reserve(64)
        w.max_depth = self.max_depth
        _write(value, &w, 0)
        return PyBytes_FromStringAndSize(w.out.data(), w.out.size())

    def dumps_text(self, const unsigned char[::1] text not None):
        """The canonical JSON of the JSON text ``text`` (bytes-like, UTF-8), read as the
        service reads a request body (:func:`fugue_ppl.service.protocol.parse_json`),
        without the interpreter's lock; raises :class:`NoCanonicalForm` when the text
        is not JSON or its value has none."""
        cdef string out
        cdef bint ok
        cdef const char* p = NULL
        if text.shape[0]:
            p = <const char*>&text[0]
        with nogil:
            ok = canonical_text(p, text.shape[0], self.max_depth, out)
        if not ok:
            raise NoCanonicalForm("the text is not JSON, or its value has no canonical form")
        return PyBytes_FromStringAndSize(out.data(), out.size())
