# cython: boundscheck=False, wraparound=False
"""RFC 8785 canonical JSON, compiled: the audit log's writer thread canonicalises every
request's input and output document, on the interpreter the requests share, so its
cost is taken from the service's throughput.

:meth:`Canonicaliser.dumps` walks the value through the CPython C API and writes
its UTF-8 into one C++ ``std::string``: strings are copied from their UTF-8 form
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
from libc.math cimport INFINITY
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset
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

cdef extern from "<charconv>" namespace "std" nogil:
    enum class chars_format:
        scientific
    cppclass to_chars_result:
        char* ptr
    to_chars_result to_chars(char* first, char* last, double value, chars_format fmt)
    to_chars_result to_chars(char* first, char* last, long long value)


cdef long long _INT_LIMIT = 9007199254740991      # 2**53 - 1: integers a double holds exactly
cdef int _DEPTH_LIMIT = 1000                      # (the walk recurses on the C stack)
cdef object _NP_TYPES = (np.ndarray, np.generic)
cdef const char* _HEX = b"0123456789abcdef"


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
    string buf                  # the canonical JSON: its first `size` bytes
    char* out                   # buf's bytes (moved when buf grows)
    size_t size                 # the bytes written
    size_t room                 # buf.size()
    vector[_Member] members     # the members of the dicts being written, innermost last
    int max_depth


cdef object _too_deep(_Walk* w):
    return NoCanonicalForm(f"more than {w.max_depth} containers deep")


cdef int _grow(_Walk* w, size_t more) except -1:
    """Make room in the buffer for ``more`` bytes after those written."""
    cdef size_t want = w.size + more
    w.buf.resize(want if want > 2 * w.room else 2 * w.room)
    w.out = &w.buf[0]
    w.room = w.buf.size()
    return 0


cdef inline int _put(_Walk* w, const char* p, size_t n) except -1:
    if w.room - w.size < n:
        _grow(w, n)
    memcpy(w.out + w.size, p, n)
    w.size += n
    return 0


cdef inline int _putc(_Walk* w, char c) except -1:
    if w.size == w.room:
        _grow(w, 1)
    w.out[w.size] = c
    w.size += 1
    return 0


cdef inline unsigned int _utf16_rank(unsigned char c) noexcept nogil:
    # UTF-8 bytes compare as code points; UTF-16 code units put U+E000..U+FFFF
    # (lead bytes EE, EF) after U+10000.. (surrogate pairs; lead bytes F0..F4).
    return c + 0x10 if c == 0xEE or c == 0xEF else c


cdef inline bint _before(const _Member& a, const _Member& b) noexcept nogil:
    """Whether key ``a`` sorts before key ``b`` by UTF-16 code units."""
    # The first differing byte is a lead byte in both or a continuation byte in
    # both (the prefix is the same); continuation bytes compare as code points do.
    cdef Py_ssize_t n = a.size if a.size < b.size else b.size
    cdef Py_ssize_t i
    for i in range(n):
        if a.utf8[i] != b.utf8[i]:
            return _utf16_rank(<unsigned char>a.utf8[i]) < _utf16_rank(<unsigned char>b.utf8[i])
    return a.size < b.size


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


cdef inline bint _plain8(const char* p) noexcept nogil:
    """Whether none of the 8 bytes at ``p`` is a control, '"' or '\\' (SWAR)."""
    cdef uint64_t x, q, b
    memcpy(&x, p, 8)
    q = x ^ 0x2222222222222222ULL
    b = x ^ 0x5C5C5C5C5C5C5C5CULL
    return ((((x - 0x2020202020202020ULL) & ~x) | ((q - 0x0101010101010101ULL) & ~q)
             | ((b - 0x0101010101010101ULL) & ~b)) & 0x8080808080808080ULL) == 0


cdef inline bint _plain(unsigned char c) noexcept nogil:
    return c >= 0x20 and c != 0x22 and c != 0x5C


cdef int _string(const char* p, Py_ssize_t n, _Walk* w) except -1:
    """Write the JSON string of UTF-8 ``p[:n]``: '"' and '\\' escaped, the controls
    as \\b \\t \\n \\f \\r or \\u00xx, everything else as it is."""
    cdef Py_ssize_t start = 0
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    cdef char esc[6]
    _putc(w, b'"')
    while True:
        # The run of bytes written as they are, 8 at a time, then one at a time.
        while i + 8 <= n and _plain8(p + i):
            i += 8
        while i < n and _plain(<unsigned char>p[i]):
            i += 1
        _put(w, p + start, i - start)
        if i == n:
            break
        c = <unsigned char>p[i]
        i += 1
        start = i
        esc[0] = b'\\'
        if c == 0x22 or c == 0x5C:
            esc[1] = c
        elif c == 0x08:
            esc[1] = b'b'
        elif c == 0x09:
            esc[1] = b't'
        elif c == 0x0A:
            esc[1] = b'n'
        elif c == 0x0C:
            esc[1] = b'f'
        elif c == 0x0D:
            esc[1] = b'r'
        else:
            memcpy(esc + 1, b"u00", 3)
            esc[4] = _HEX[c >> 4]
            esc[5] = _HEX[c & 15]
            _put(w, esc, 6)
            continue
        _put(w, esc, 2)
    return _putc(w, b'"')


cdef int _integer(long long v, _Walk* w) except -1:
    cdef char buf[24]
    return _put(w, buf, to_chars(buf, buf + 24, v).ptr - buf)


cdef int _float(double f, _Walk* w) except -1:
    """Write ``f`` as ECMAScript's Number::toString (RFC 8785 3.2.2.3) writes it;
    the non-finite floats as the strings "NaN", "Infinity", "-Infinity"."""
    cdef char buf[32]               # the shortest round-trip digits, "d[.ddd]e[+-]XX"
    cdef char text[40]              # what is written
    cdef char* t = text
    cdef char* end
    cdef char* digits = buf
    cdef int k = 1                  # the number of significant digits
    cdef int i, j, n, e
    if f != f:
        return _put(w, b'"NaN"', 5)
    if f == INFINITY:
        return _put(w, b'"Infinity"', 10)
    if f == -INFINITY:
        return _put(w, b'"-Infinity"', 11)
    if f == 0.0:                    # (and -0.0)
        return _putc(w, b'0')
    if f < 0.0:
        t[0] = b'-'
        t += 1
        f = -f
    if f < 9007199254740992.0 and f == <double><long long>f:
        # an integer below 2**53: its digits
        t = to_chars(t, text + 40, <long long>f).ptr
        return _put(w, text, t - text)
    end = to_chars(buf, buf + 32, f, chars_format.scientific).ptr
    i = 1
    if buf[1] == b'.':              # move d1 next to d2..dk: the digits are contiguous
        buf[1] = buf[0]
        digits = buf + 1
        i = 2
        while buf[i] != b'e':
            i += 1
        k = i - 1
    e = 0
    for j in range(i + 2, end - buf):
        e = e * 10 + (buf[j] - 48)
    n = (-e if buf[i + 1] == b'-' else e) + 1      # f = 0.d1..dk x 10**n
    if k <= n <= 21:                # digits, then n - k zeros
        memcpy(t, digits, k)
        memset(t + k, b'0', n - k)
        t += n
    elif 0 < n <= 21:               # the point after n digits
        memcpy(t, digits, n)
        t[n] = b'.'
        memcpy(t + n + 1, digits + n, k - n)
        t += k + 1
    elif -6 < n <= 0:               # "0.", -n zeros, the digits
        memcpy(t, b"0.", 2)
        memset(t + 2, b'0', -n)
        memcpy(t + 2 - n, digits, k)
        t += 2 - n + k
    else:                           # d1[.d2..dk]e+-(n - 1)
        t[0] = digits[0]
        t += 1
        if k > 1:
            t[0] = b'.'
            memcpy(t + 1, digits + 1, k - 1)
            t += k
        t[0] = b'e'
        t[1] = b'+' if n > 0 else b'-'
        t = to_chars(t + 2, text + 40, <long long>(n - 1 if n > 0 else 1 - n)).ptr
    return _put(w, text, t - text)


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
    if overflow or n > _INT_LIMIT or n < -_INT_LIMIT:
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
        w.buf.resize(1024)
        w.out = &w.buf[0]
        w.size = 0
        w.room = w.buf.size()
        w.members.reserve(64)
        w.max_depth = self.max_depth
        _write(value, &w, 0)
        return PyBytes_FromStringAndSize(w.out, w.size)
