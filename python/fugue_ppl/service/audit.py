"""The audit log: one JSON line per request, written off the request path.

:meth:`AuditLog.record` copies the request's fields into a bounded queue
(:class:`~fugue_ppl.service._audit_lines.AuditLines`, compiled), which never
waits: when the writer falls behind and the queue is full, the line is dropped
and counted (:attr:`AuditLog.dropped`). The writer thread takes the lines out
in batches, formatted, canonicalised and HMACed by compiled code without the
interpreter's lock (which it shares with the requests: formatting the lines in
Python took about a seventh of the service's throughput), and hands them to a
:mod:`logging` handler (a :class:`~logging.handlers.RotatingFileHandler`, one
record per batch, or standard error, or any handler given, one record per line).

A line holds, in this order: ``timestamp`` (RFC 3339, UTC, microseconds),
``request_id``, ``traceparent``, ``key_id``, ``model``, ``version``,
``action``, ``outcome``, ``http_status``, ``duration`` (seconds),
``input_hmac`` and ``output_hmac``. Never an API key, never the input or the
output themselves: their HMAC-SHA256 (hex) under ``secrets.audit_key`` (its
UTF-8 bytes), over their RFC 8785 canonical JSON, so whoever holds the key
and a claimed input can check it against the line, whatever the order of its
keys. A document given as bytes is JSON text (the service passes the bodies
it received and sent), read as the service reads a request body
(:func:`~fugue_ppl.service.protocol.parse_json`). Before canonicalisation,
tuples are lists, numpy values are their Python values, and the non-finite
floats (which JSON lacks) are the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``; a value that still has no canonical form (a non-str key, an
int beyond 2**53 - 1, a lone surrogate, another type, nesting deeper than 100,
text that is not JSON) gets ``null``, as does a request without a document
(refused before its body was read). The canonical bytes are those of the
``rfc8785`` package, written by compiled code (:mod:`fugue_ppl.service._canonical`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import sys
import threading
import time
from logging.handlers import RotatingFileHandler
from typing import Any

from fugue_ppl.checks import Secret, check_int, safe_text
from fugue_ppl.errors import ConfigError
from fugue_ppl.service._audit_config import STDERR, AuditConfig
from fugue_ppl.service._audit_lines import AuditLines
from fugue_ppl.service._canonical import Canonicaliser, NoCanonicalForm

__all__ = ["FIELDS", "AuditLog", "audit_hmac", "canonical", "open_handler"]

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
_BATCH = 1024                    # (lines the writer formats at a time)
_STATUS = range(-(2**63), 2**63)


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
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return _canonical.dumps_text(value)     # (as the service parsed the body)
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
    data = canonical(value)
    return None if data is None else hmac.new(key, data, hashlib.sha256).hexdigest()


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        v = safe_text(v, MAX_TEXT)
    return v if len(v) <= MAX_TEXT else v[:MAX_TEXT]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        v = float(v)
    except OverflowError:               # (an int beyond a double)
        return None
    return v if math.isfinite(v) else None


def _record(message: str, lines: int) -> logging.LogRecord:
    """A record of ``lines`` audit lines (LogRecord.__init__ costs microseconds)."""
    rec = _new_record(_LogRecord)
    rec.__dict__.update(_TEMPLATE)
    rec.created = time.time()
    rec.msg = message
    rec.lines = lines
    return rec


def _document(value: Any) -> tuple[bytes | None, bool]:
    """A line's document for the queue: (JSON text, True) or (canonical JSON, False)."""
    if value is None:
        return None, False
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), True
    return canonical(value), False     # (read now: the caller may change it later)


class _AuditFile(RotatingFileHandler):
    """The audit file, rotated by size; a failed write is counted and warned about
    without the line (the default handler would print it)."""

    owner: AuditLog | None = None
    _size: int | None = None        # (the file's size, counted by the writer)

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record's lines (``record.lines`` of them: the writer's batch),
        rotating first before a line that would make the file reach ``maxBytes``; the
        writer flushes when its queue is empty (the base class flushes every line and
        stats the file before each)."""
        try:
            text = record.getMessage() + "\n"
            if self.stream is None or self._size is None:
                if self.stream is None:
                    self.stream = self._open()
                self.stream.flush()
                self._size = os.fstat(self.stream.fileno()).st_size
            size = _size(text)
            if self.maxBytes > 0 and self._size + size >= self.maxBytes:
                for line in text[:-1].split("\n"):
                    self._write(line + "\n")
            else:
                self.stream.write(text)
                self._size += size
        except Exception:  # noqa: BLE001 - counted by handleError
            self._size = None
            self.handleError(record)

    def _write(self, line: str) -> None:
        size = _size(line)
        if self._size + size >= self.maxBytes:
            self.doRollover()
            self._size = 0
        self.stream.write(line)
        self._size += size

    def handleError(self, record: logging.LogRecord) -> None:
        if self.owner is not None:
            self.owner._fail("an audit line could not be written to the file",
                             getattr(record, "lines", 1))


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


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
        handler.setFormatter(logging.Formatter("%(message)s"))
        if isinstance(handler, _AuditFile):
            handler.owner = self
        self._lines = AuditLines(bytes(key), FIELDS, queue_size, MAX_DEPTH)
        self._flushes = threading.Condition()
        self._flushed = 0             # lines written and flushed
        self._flush_wanted = 0        # flush() calls waiting
        self._writer = threading.Thread(target=self._write, name="fugue-audit-writer",
                                        daemon=True)
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

        ``input`` and ``output`` are JSON values (canonicalised now), or
        JSON text as bytes (what a service has at hand: copied now, read by
        the writer). ``timestamp`` (seconds since the epoch) defaults to now.
        """
        if self._closed:
            if self._handler is not None:
                self._drop()
            return
        if timestamp is None:
            created = time.time()
        else:
            created = _number(timestamp)
            created = math.nan if created is None else created      # (a null timestamp)
        inp, inp_text = (input, True) if type(input) is bytes else _document(input)
        out, out_text = (output, True) if type(output) is bytes else _document(output)
        if not self._lines.push(
                created, _text(request_id), _text(traceparent), _text(key_id), _text(model),
                _text(version), _text(action), _text(outcome),
                http_status if type(http_status) is int and http_status in _STATUS else None,
                _number(duration), inp, inp_text, out, out_text):
            self._drop()

    def _write(self) -> None:
        """The writer thread: the lines, a batch at a time, to the handler."""
        lines, handler = self._lines, self._handler
        whole = isinstance(handler, _AuditFile)     # (others get a record per line)
        while True:
            batch = lines.take(_LINGER, _BATCH)
            if batch is None:
                break
            text, n = batch
            if n:
                try:
                    if whole:
                        handler.handle(_record(text[:-1], n))
                    else:
                        for line in text[:-1].split("\n"):
                            handler.handle(_record(line, 1))
                except Exception:       # noqa: BLE001 - the thread must live on
                    self._fail("audit lines could not be written", n)
                self._written += n
                lines.done(n)
            if self._flush_wanted or not lines.queued:
                try:
                    handler.flush()
                except Exception:       # noqa: BLE001
                    self._fail("the audit log could not be flushed")
                with self._flushes:
                    self._flushed = self._written
                    self._flushes.notify_all()
        handler.flush()

    # ------------------------------------------------------------ accounting

    def _drop(self) -> None:
        with self._lock:
            self._dropped += 1
            first = self._dropped == 1
        if first:
            log.warning("audit lines are being dropped: the writer is behind (audit.queue_size)"
                        " or the log is closed")

    def _fail(self, what: str, lines: int = 1) -> None:
        with self._lock:
            first = self._errors == 0
            self._errors += lines
        if first:
            exc = sys.exc_info()[1]
            log.warning("%s (%s)", what, type(exc).__name__ if exc is not None else "error")

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
        with self._flushes:
            target = self._lines.accepted
            self._flush_wanted += 1
            self._lines.wake()
            try:
                return self._flushes.wait_for(lambda: self._flushed >= target, timeout)
            finally:
                self._flush_wanted -= 1

    def close(self) -> None:
        """Write the lines still queued, stop the writer and close the handler (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._lines.close()
        self._writer.join()
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
