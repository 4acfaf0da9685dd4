# cython: boundscheck=False, wraparound=False
"""The audit log's line queue, compiled (``fugue/audit_lines.hpp``): a request's
thread copies its fields in (:meth:`AuditLines.push`, never waiting on the
writer); the writer thread takes them out as finished lines
(:meth:`AuditLines.take`), formatted, canonicalised and HMACed without the
interpreter's lock, which it shares with the requests.

:class:`fugue_ppl.service.audit.AuditLog` owns the format and the rules; this
module only carries them out.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from libcpp.string cimport string
from libcpp.vector cimport vector

from fugue_ppl.checks import check_int

__all__ = ["AuditLines"]


cdef extern from "Python.h":
    const char* _utf8 "PyUnicode_AsUTF8AndSize"(PyObject* s, Py_ssize_t* size)
    void PyErr_Clear()
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)


cdef extern from "fugue/audit_lines.hpp" namespace "fugue::audit" nogil:
    enum Kind:
        kAbsent
        kJsonText
        kCanonical
    cppclass Entry:
        double created
        string text[7]
        unsigned present
        long long status
        bint has_status
        double duration
        bint has_duration
        string doc[2]
        Kind kind[2]
    cppclass LineQueue:
        LineQueue(const string& key, const vector[string]& names, size_t limit,
                  int max_depth) except +
        bint push(Entry& e) except +
        long take(string& out, double linger, size_t max_batch) except +
        void done(size_t n)
        void wake()
        void close()
        size_t queued()
        unsigned long long accepted()


cdef extern from "fugue/sha256.hpp" namespace "fugue" nogil:
    cppclass Sha256:
        Sha256(bint portable)
        void update(const void* data, size_t n)
        void digest(unsigned char* out)
    bint sha256_accelerated()


def _sha256(bytes data not None, bint portable):
    """SHA-256 of ``data`` by the portable code or (where the CPU has them) the SHA
    extensions, and whether the extensions were used (for the tests)."""
    cdef Sha256* h = new Sha256(portable)
    cdef unsigned char out[32]
    h.update(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    h.digest(out)
    del h
    return out[:32], sha256_accelerated() and not portable


cdef int _text(Entry* e, int i, object v) except -1:
    # A str field (None: null); a lone surrogate is written as its escape.
    cdef Py_ssize_t n
    cdef const char* p
    if v is None:
        return 0
    p = _utf8(<PyObject*>v, &n)
    if p == NULL:
        PyErr_Clear()
        b = (<str>v).encode("utf-8", "backslashreplace")
        e.text[i].assign(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
    else:
        e.text[i].assign(p, n)
    e.present |= 1u << i
    return 0


cdef int _doc(Entry* e, int i, bytes v, bint text) except -1:
    if v is None:
        return 0
    e.doc[i].assign(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
    e.kind[i] = kJsonText if text else kCanonical
    return 0


cdef class AuditLines:
    """The queue of audit lines and their formatter.

    Parameters
    ----------
    key : bytes
        The HMAC-SHA256 key.
    names : sequence of str
        The 12 field names in the line's order: the timestamp, the 7 text
        fields, the HTTP status, the duration, the input's and the output's HMAC.
    limit : int
        Lines that may be queued or in the writer's hands at once.
    max_depth : int
        The deepest nesting of a document canonicalised.
    """

    cdef LineQueue* _q

    def __cinit__(self, bytes key not None, names, limit, max_depth):
        cdef vector[string] c_names
        names = [str(n).encode("utf-8") for n in names]
        if len(names) != 12:
            raise ValueError(f"AuditLines: names must hold 12 field names, got {len(names)}")
        for n in names:
            c_names.push_back(n)
        self._q = new LineQueue(key, c_names,
                                check_int(limit, "limit", "AuditLines", low=1, high=10**7),
                                check_int(max_depth, "max_depth", "AuditLines", low=0,
                                          high=1000))

    def __dealloc__(self):
        del self._q

    def push(self, double created, request_id, traceparent, key_id, model, version, action,
             outcome, status, duration, bytes input, bint input_text, bytes output,
             bint output_text):
        """Queue one line; False when the queue is full or closed. The text fields
        are str or None, ``status`` an int or None, ``duration`` a finite float or
        None; ``input`` and ``output`` are bytes or None: JSON text when
        ``*_text``, else canonical JSON."""
        cdef Entry e
        e.created = created
        _text(&e, 0, request_id)
        _text(&e, 1, traceparent)
        _text(&e, 2, key_id)
        _text(&e, 3, model)
        _text(&e, 4, version)
        _text(&e, 5, action)
        _text(&e, 6, outcome)
        if status is not None:
            e.status = status
            e.has_status = True
        if duration is not None:
            e.duration = duration
            e.has_duration = True
        _doc(&e, 0, input, input_text)
        _doc(&e, 1, output, output_text)
        return self._q.push(e)

    def take(self, double linger, size_t max_batch=1024):
        """Wait for lines (without the interpreter's lock), then ``(text, n)``: up to
        ``max_batch`` lines, each ending in a newline; ``("", 0)`` when woken with none
        queued; None once closed and drained. Having waited for a first line, it
        waits ``linger`` seconds more, unless woken or closed."""
        cdef string out
        cdef long n
        with nogil:
            n = self._q.take(out, linger, max_batch)
        if n < 0:
            return None
        return PyUnicode_DecodeUTF8(out.data(), out.size(), NULL), n

    def done(self, size_t n):
        """``n`` lines taken were handed on: they no longer count against the limit."""
        self._q.done(n)

    def wake(self):
        """End the writer's wait (:meth:`take` returns what is queued, or nothing)."""
        self._q.wake()

    def close(self):
        """Refuse later lines; :meth:`take` returns the queued ones, then None."""
        self._q.close()

    @property
    def queued(self):
        """Lines queued, not yet taken."""
        return self._q.queued()

    @property
    def accepted(self):
        """Lines queued so far."""
        return self._q.accepted()
