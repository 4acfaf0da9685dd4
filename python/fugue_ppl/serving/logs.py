"""Structured logs of a served model: one event per inference and the JSON formatter.

A :class:`~fugue_ppl.ModelRunner` logs a sampled fraction of its inferences
(``runtime.inference_log_rate``, off by default) to the logger
:data:`INFERENCE_LOGGER`, each record carrying the fields of :data:`FIELDS`
as attributes; :data:`request_id` is the id of the request being served and
:data:`traceparent` its W3C trace context (set them per request; an
asynchronous call's event carries the values of its caller, though a worker
thread logs it). :func:`json_handler` renders records as JSON lines, through
python-json-logger (the ``serve`` extra).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import IO

from fugue_ppl._extras import require

__all__ = ["FIELDS", "INFERENCE_LOGGER", "json_formatter", "json_handler", "request_id",
           "traceparent"]

#: The logger of the inference events.
INFERENCE_LOGGER = "fugue_ppl.inference"

#: The fields of an inference event, attributes of its log record.
FIELDS = ("request_id", "traceparent", "model", "model_version", "status", "duration_seconds",
          "error_id")

#: The id of the request being served, if any (an HTTP service sets it per request).
request_id: ContextVar[str | None] = ContextVar("fugue_ppl_request_id", default=None)

#: The W3C ``traceparent`` of the request being served, if any (checked by the service).
traceparent: ContextVar[str | None] = ContextVar("fugue_ppl_traceparent", default=None)


def json_formatter() -> logging.Formatter:
    """A formatter that writes each record as one JSON object: the time (RFC 3339), level,
    logger and message, and the inference fields when the record has them."""
    json_log = require("serve", "pythonjsonlogger.json", feature="JSON logs")
    return json_log.JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp=True,
                                  rename_fields={"levelname": "level", "name": "logger"})


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (default ``sys.stderr``) writing JSON lines (:func:`json_formatter`).

    Attach it to the ``fugue_ppl`` logger, or to the root logger of a service.
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(json_formatter())
    return handler
