"""The audit log: one JSON line per request, written off the request path.

:meth:`AuditLog.record` builds a :class:`logging.LogRecord` holding the
request's fields and puts it on a bounded queue (a
:class:`~logging.handlers.QueueHandler`), which never waits: when the writer
falls behind and the queue is full, the line is dropped and counted
(:attr:`AuditLog.dropped`). A :class:`~logging.handlers.QueueListener`'s
thread turns each record into its line, then hands it to the handler (a
:class:`~logging.handlers.RotatingFileHandler`, or standard error): the
canonical JSON and the HMACs are computed there, not while the request waits.

A line holds, in this order: ``timestamp`` (RFC 3339, UTC, microseconds),
``request_id``, ``traceparent``, ``key_id``, ``model``, ``version``,
``action``, ``outcome``, ``http_status``, ``duration`` (seconds),
``input_hmac`` and ``output_hmac``. Never an API key, never the input or the
output themselves: their HMAC-SHA256 (hex) under ``secrets.audit_key`` (its
UTF-8 bytes), over their RFC 8785 canonical JSON, so whoever holds the key
and a claimed input can check it against the line, whatever the order of its
keys. A document given as bytes is JSON text (the service passes the bodies
it received and sent), parsed as the service parses a request body. Before
canonicalisation, tuples are lists, numpy values are their Python values,
and the non-finite floats (which JSON lacks) are the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``; a value that still has no canonical form
(a non-str key, an int beyond 2**53 - 1, a lone surrogate, another type,
nesting deeper than 100, text that is not JSON) gets ``null``, as does a
request without a document (refused before its body was read). The canonical bytes are
those of the ``rfc8785`` package, written by a compiled canonicaliser
(:mod:`fugue_ppl.service._canonical`) several times faster: the writer thread
shares the interpreter with the requests.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import math
import os
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler, QueueListener, RotatingFileHandler
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.checks import Secret, check_int, safe_text
from fugue_ppl.errors import ConfigError
from fugue_ppl.service._audit_config import STDERR, AuditConfig
from fugue_ppl.service._canonical import Canonicaliser, NoCanonicalForm
from fugue_ppl.service.protocol import parse_json

__all__ = ["FIELDS", "AuditLog", "audit_hmac", "canonical", "open_handler"]

orjson = require("serve", "orjson", feature="the audit log")

log = logging.getLogger("fugue_ppl.service.audit")

#: The fields of an audit line, in order.
FIELDS = ("timestamp", "request_id", "traceparent", "key_id", "model", "version", "action",
          "outcome", "http_status", "duration", "input_hmac", "output_hmac")
#: The longest text field written (longer ones are cut).
MAX_TEXT = 512
#: The deepest nesting canonicalised.
MAX_DEPTH = 100

_NAME = "fugue_ppl.audit"
#: The attributes of an audit record but its time and fields (a LogRecord's, made once).
_TEMPLATE = dict(vars(logging.LogRecord(_NAME, logging.INFO, "", 0, "", None, None)),
                 thread=None, threadName=None, process=None, processName=None)
_LogRecord = logging.LogRecord
_new_record = object.__new__
_LINGER = 0.02                   # (seconds the writer waits for more lines once caught up)


_canonical = Canonicaliser(MAX_DEPTH)


def canonical(value: Any) -> bytes | None:
    """The RFC 8785 canonical JSON of ``value`` (as the module says), None when it has none.

    The bytes the ``rfc8785`` package gives for the value with its non-finite
    floats spelt as strings. ``bytes`` are JSON text (a request's or a
    response's body), canonicalised as the value the service parses them to
    (:func:`~fugue_ppl.service.protocol.parse_json`); text that is not JSON
    (or holds ``NaN`` or ``Infinity`` literals) has none.

    Examples
    --------
    >>> canonical({"b": [1, 2.0], "a": float("nan")})
    b'{"a":"NaN","b":[1,2]}'
    >>> canonical(b'{"b": [1, 2.0], "a": 0.5}')
    b'{"a":0.5,"b":[1,2]}'
    >>> canonical({1: "x"}) is None, canonical(b"{") is None
    (True, True)
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = parse_json(bytes(value))      # (as the service parsed the body)
        except ValueError:
            return None
    try:
        return _canonical.dumps(value)
    except NoCanonicalForm:
        return None


def audit_hmac(key: bytes, value: Any) -> str | None:
    """HMAC-SHA256 (hex) of ``value``'s canonical JSON (:func:`canonical`) under ``key``;
    None without one.

    Examples
    --------
    >>> audit_hmac(b"k", {"x": 1}) == audit_hmac(b"k", {"x": 1.0}) == audit_hmac(b"k", b'{"x":1}')
    True
    """
    return _hmac(hmac.new(key, digestmod=hashlib.sha256), value)


def _hmac(mac: hmac.HMAC, value: Any) -> str | None:
    """:func:`audit_hmac` with the key's HMAC state made once (``mac``, left unchanged)."""
    data = canonical(value)
    if data is None:
        return None
    h = mac.copy()
    h.update(data)
    return h.hexdigest()


#: The last whole second formatted and its text: one tuple, replaced whole, so that the
#: writer threads of several logs never read one second's number with another's text.
_second: tuple[int | None, str] = (None, "")


def _rfc3339(ts: float) -> str:
    global _second
    sec, frac = divmod(round(ts * 1e6), 1_000_000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, datetime.datetime.fromtimestamp(
            sec, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{frac:06d}Z"


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        v = safe_text(v, MAX_TEXT)
    return v if len(v) <= MAX_TEXT else v[:MAX_TEXT]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class _Flush:
    """A marker the writer answers by setting ``done`` (it is not a line)."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _Enqueue(QueueHandler):
    """Puts records on the queue as they are (formatting is the writer's job), never
    waiting: a lock-free :class:`queue.SimpleQueue`, bounded by its size (give or take
    the threads putting at that instant)."""

    def __init__(self, q: queue.SimpleQueue, limit: int, owner: AuditLog):
        super().__init__(q)
        self._limit = limit
        self._owner = owner

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self.queue.qsize() >= self._limit:
            self._owner._drop()
        else:
            self.queue.put(record)


class _Writer(QueueListener):
    """The writer thread: turns each record into its line, then hands it to the handler."""

    def __init__(self, q: queue.SimpleQueue, handler: logging.Handler, owner: AuditLog):
        super().__init__(q, handler)
        self._owner = owner

    def handle(self, record: Any) -> None:
        if isinstance(record, _Flush):
            for h in self.handlers:
                h.flush()
            record.done.set()
        else:
            super().handle(record)

    def dequeue(self, block: bool) -> Any:
        # Caught up: flush the file, then let lines gather for a moment, so that under
        # load the thread wakes (and takes the interpreter's lock) once per batch, not
        # once per request.
        if block and self.queue.empty():
            for h in self.handlers:
                h.flush()
            time.sleep(_LINGER)
        return self.queue.get(block)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        data = record.__dict__.pop("audit", None)
        if data is not None:
            try:
                record.msg = self._owner._line(record.created, data)
            except Exception:           # noqa: BLE001 - the thread must live on
                self._owner._fail("an audit line could not be formatted")
                record.msg = json.dumps({"timestamp": _rfc3339(record.created),
                                         "error": "unformattable"})
            record.args = None
            self._owner._count_written()
        return record


class _AuditFile(RotatingFileHandler):
    """The audit file, rotated by size; a failed write is counted and warned about
    without the line (the default handler would print it)."""

    owner: AuditLog | None = None
    _size: int | None = None        # (the file's size, counted by the writer)

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line, rotating first when it would reach ``maxBytes``; the writer
        flushes when its queue is empty (the base class flushes every line and stats
        the file before each)."""
        try:
            line = record.getMessage() + "\n"
            if self.stream is None or self._size is None:
                if self.stream is None:
                    self.stream = self._open()
                self.stream.flush()
                self._size = os.fstat(self.stream.fileno()).st_size
            size = len(line.encode("utf-8", "surrogatepass")) if not line.isascii() \
                else len(line)
            if self.maxBytes > 0 and self._size + size >= self.maxBytes:
                self.doRollover()
                self._size = 0
            self.stream.write(line)
            self._size += size
        except Exception:  # noqa: BLE001 - counted by handleError
            self._size = None
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.owner is not None:
            self.owner._fail("an audit line could not be written to the file")


class AuditLog:
    """An audit log: :meth:`record` one line per request; :meth:`close` at shutdown.

    Parameters
    ----------
    handler : logging.Handler or None
        Where the lines go (its formatter is replaced by ``%(message)s``);
        None: a disabled log, whose :meth:`record` does nothing.
    key : bytes or Secret
        The HMAC key (a Secret's UTF-8 bytes). Required with a handler.
    queue_size : int
        Lines that may wait for the writer; beyond, lines are dropped.

    Raises
    ------
    TypeError
        A wrong type (the message never shows the key).
    InvalidArgument
        ``queue_size`` is not from 1 to 10**7, or ``key`` is empty.

    Examples
    --------
    >>> import io, json, logging
    >>> out = io.StringIO()
    >>> audit = AuditLog(logging.StreamHandler(out), key=b"k")
    >>> audit.record(request_id="r1", traceparent=None, key_id="ci", model="sensor",
    ...              version="1", action="infer", outcome="ok", http_status=200,
    ...              duration=0.004, input={"reading": 22.0}, output={"temperature": 21.5})
    >>> audit.close()
    >>> line = json.loads(out.getvalue())
    >>> line["key_id"], line["http_status"], line["input_hmac"] == audit_hmac(b"k",
    ...                                                                    {"reading": 22.0})
    ('ci', 200, True)
    """

    def __init__(self, handler: logging.Handler | None, *, key: bytes | Secret | None = None,
                 queue_size: int = 10_000):
        check_int(queue_size, "queue_size", "AuditLog", low=1, high=10**7)
        self._handler = handler
        self._lock = threading.Lock()
        self._dropped = 0
        self._errors = 0
        self._written = 0
        self._closed = handler is None
        if handler is None:
            self._mac = None
            return
        if not isinstance(handler, logging.Handler):
            raise TypeError(f"AuditLog: handler must be a logging.Handler, got "
                            f"{type(handler).__name__}")
        if isinstance(key, Secret):
            key = key.reveal().encode("utf-8", "surrogatepass")
        if not isinstance(key, (bytes, bytearray)):
            raise TypeError(f"AuditLog: key must be bytes or a Secret, got {type(key).__name__}")
        if not key:
            raise ConfigError("AuditLog: the HMAC key must not be empty", key="secrets.audit_key",
                              value="***")
        self._mac = hmac.new(bytes(key), digestmod=hashlib.sha256)   # (the key's state, made once)
        handler.setFormatter(logging.Formatter("%(message)s"))
        if isinstance(handler, _AuditFile):
            handler.owner = self
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._enqueue = _Enqueue(self._queue, queue_size, self)
        self._writer = _Writer(self._queue, handler, self)
        self._writer.start()

    @classmethod
    def from_config(cls, config: Any) -> AuditLog:
        """The audit log of a :class:`fugue_ppl.config.Config`: ``[audit]`` and
        ``secrets.audit_key``.

        Raises
        ------
        ConfigError
            The file cannot be opened, or there is no ``secrets.audit_key``
            and ``audit.ephemeral_hmac`` is false.
        """
        s: AuditConfig = config.audit
        if not s.enabled:
            return cls(None)
        key: bytes | Secret | None = config.secrets.audit_key
        if key is None:
            if not s.ephemeral_hmac:
                raise ConfigError("secrets.audit_key is not set and audit.ephemeral_hmac is "
                                  "false: set FUGUE_SECRETS__AUDIT_KEY", key="secrets.audit_key")
            log.warning("secrets.audit_key is not set: the audit log's HMACs use a random key "
                        "that dies with this process (set FUGUE_SECRETS__AUDIT_KEY)")
            key = os.urandom(32)
        return cls(open_handler(s), key=key, queue_size=s.queue_size)

    # ------------------------------------------------------------ recording

    def record(self, *, request_id: str, traceparent: str | None, key_id: str | None,
               model: str | None, version: str | None, action: str, outcome: str,
               http_status: int, duration: float, input: Any, output: Any,
               timestamp: float | None = None) -> None:
        """Queue the audit line of one request; never waits.

        ``input`` and ``output`` (JSON values, or JSON text as bytes: what a
        service has at hand, and nothing for the collector to trace while
        the line waits) are read later, by the writer thread: pass values
        the caller no longer changes. ``timestamp`` (seconds since the
        epoch) defaults to now.
        """
        if self._closed:
            if self._handler is not None:
                self._drop()
            return
        rec = _new_record(_LogRecord)          # (LogRecord.__init__ costs microseconds)
        rec.__dict__.update(_TEMPLATE)
        rec.created = time.time() if timestamp is None else timestamp
        rec.audit = (request_id, traceparent, key_id, model, version, action, outcome,
                     http_status, duration, input, output)
        self._enqueue.emit(rec)            # (no handler lock, no filters: nothing to wait on)

    def _line(self, created: float, data: tuple) -> str:
        """The writer thread's work: one record's JSON line."""
        (request_id, traceparent, key_id, model, version, action, outcome, status, duration,
         inp, out) = data
        fields = {
            "timestamp": _rfc3339(created),
            "request_id": _text(request_id),
            "traceparent": _text(traceparent),
            "key_id": _text(key_id),
            "model": _text(model),
            "version": _text(version),
            "action": _text(action),
            "outcome": _text(outcome),
            "http_status": status if type(status) is int else None,
            "duration": _number(duration),
            "input_hmac": None if inp is None else _hmac(self._mac, inp),
            "output_hmac": None if out is None else _hmac(self._mac, out),
        }
        return orjson.dumps(fields).decode("utf-8")

    # ------------------------------------------------------------ accounting

    def _drop(self) -> None:
        with self._lock:
            self._dropped += 1
            first = self._dropped == 1
        if first:
            log.warning("audit lines are being dropped: the writer is behind (audit.queue_size)"
                        " or the log is closed")

    def _fail(self, what: str) -> None:
        with self._lock:
            self._errors += 1
            first = self._errors == 1
        if first:
            exc = sys.exc_info()[1]
            log.warning("%s (%s)", what, type(exc).__name__ if exc is not None else "error")

    def _count_written(self) -> None:
        self._written += 1      # (the writer thread only)

    @property
    def enabled(self) -> bool:
        """Whether this log writes lines."""
        return self._handler is not None

    @property
    def dropped(self) -> int:
        """Lines dropped: the queue was full, or the log was closed."""
        return self._dropped

    @property
    def errors(self) -> int:
        """Lines that could not be formatted or written."""
        return self._errors

    @property
    def written(self) -> int:
        """Lines handed to the handler."""
        return self._written

    # ------------------------------------------------------------ lifetime

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every line queued so far is written; False if ``timeout`` passed first."""
        if self._closed:
            return True
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self) -> None:
        """Write the lines still queued, stop the writer and close the handler (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._writer.stop()
        self._handler.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = getattr(self._handler, "baseFilename", None) or type(self._handler).__name__
        return (f"AuditLog({safe_text(where, 200)!r}, written={self._written}, "
                f"dropped={self._dropped}, errors={self._errors})")


def open_handler(settings: AuditConfig) -> logging.Handler:
    """The handler of ``[audit]``: the rotating file (opened now), or standard error.

    Raises
    ------
    ConfigError
        The file cannot be opened (naming ``audit.path`` and the reason).
    """
    if settings.path == STDERR:
        return logging.StreamHandler(sys.stderr)
    try:
        return _AuditFile(settings.path, maxBytes=settings.max_bytes,
                          backupCount=settings.backup_count, encoding="utf-8")
    except OSError as e:
        reason = safe_text(e.strerror or type(e).__name__, 80)
        raise ConfigError(f"audit.path: {safe_text(settings.path, 200)} cannot be opened "
                          f"({reason})", key="audit.path") from None
