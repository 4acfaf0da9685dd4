"""Running the service: uvicorn (uvloop, httptools) with the timeouts and the
graceful shutdown a production deployment needs.

One process per container: scale with replicas, not workers. The metrics are
read from the runners' own counters by custom collectors, which
``prometheus_client``'s multiprocess mode cannot carry, so several worker
processes behind one port would each export only their own share.

uvicorn was chosen over granian: on this application both served about the
same number of requests per second (the model, the JSON and the routing
dominate), while uvicorn runs in the process that holds the application, so
that a SIGTERM can fail readiness at once and drain exactly the requests in
flight. uvicorn has no timeout for receiving a request's headers; the
protocol here adds one (``header_timeout_seconds``: from the connection's
opening, or from a request's first byte, to the end of its headers; a slower
client gets 408 and is disconnected), and the application bounds the body's
arrival (``body_timeout_seconds``).

Shutdown (SIGTERM or SIGINT): readiness fails at once, the listening socket
closes (no new connection), idle keep-alive connections stay open only while
requests are in flight (a request arriving on one is answered, with
``Connection: close``), the requests in flight get up to
``shutdown_grace_seconds`` to finish (the rest are cancelled), then the
application's lifespan ends and :func:`serve` returns 0. A second SIGINT
forces the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.service._service_config import ServiceConfig
from fugue_ppl.service.app import Service

__all__ = ["configure_logging", "serve"]

_log = logging.getLogger("fugue_ppl.service")

_HANDLED = (signal.SIGTERM, signal.SIGINT)
_STATUS_408 = b"HTTP/1.1 408 Request Timeout\r\n"


def configure_logging(level: str = "WARNING") -> None:
    """JSON lines on stderr for every logger (the root's handler), ``fugue_ppl``'s
    loggers and uvicorn's at ``level``, uvicorn's access log off."""
    from fugue_ppl.serving.logs import json_handler

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = json_handler(sys.stderr)
    handler.addFilter(_drop_colour)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("fugue_ppl", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True


def _drop_colour(record: logging.LogRecord) -> bool:
    record.__dict__.pop("color_message", None)       # (uvicorn's terminal copy of the message)
    return True


class _OneWrite:
    """A connection's transport as its requests' cycles see it: a response's head is
    held until the next write (its first body bytes), the response's end or the
    close, so that head and body leave in one system call. uvicorn writes them
    apart, and on loopback each write costs the server as much as the rest of its
    HTTP handling of a small request. An interim ``1xx`` response (``100
    Continue``) goes at once: the client waits for it.
    """

    __slots__ = ("_transport", "_head")

    def __init__(self, transport: Any):
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data = self._head + data
            self._head = None
        elif data[:7] == b"HTTP/1." and data[9:10] != b"1":     # (a final response's head)
            self._head = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol_class(settings: ServiceConfig) -> type:
    """uvicorn's httptools protocol with a timeout on the request's headers,
    ``Connection: close`` on every request once the server is shutting down, and
    each response's head and body written at once (:class:`_OneWrite`)."""
    require("serve", "httptools", feature="fugue-ppl serve")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    header_timeout = settings.header_timeout_seconds
    body = (b'{"error":"the request headers were not received within '
            + f"{header_timeout:g}".encode() + b' s"}')
    response = b"".join([
        _STATUS_408, b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n", body])

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        # The headers' deadline is an attribute, and one timer per connection looks at
        # it when due, arming itself again for a later deadline: a timer made and
        # cancelled for every request cost more than the rest of this class.
        _header_deadline: float | None = None      # (None: no request's headers pending)
        _header_timer: asyncio.TimerHandle | None = None
        _one_write: _OneWrite | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._one_write = _OneWrite(transport)
            self._expect_headers()

        def _expect_headers(self) -> None:
            if self._header_deadline is None:
                self._header_deadline = self.loop.time() + header_timeout
                if self._header_timer is None:
                    self._header_timer = self.loop.call_at(self._header_deadline,
                                                           self._headers_due)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._expect_headers()

        def on_headers_complete(self) -> None:
            self._header_deadline = None
            super().on_headers_complete()
            if self.cycle is not None:
                self.cycle.transport = self._one_write
                if getattr(self.server_state, "draining", False):
                    self.cycle.keep_alive = False

        def on_response_complete(self) -> None:
            self._one_write.flush()       # (a response without body bytes: HEAD, 204)
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_deadline = None
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

        def _headers_due(self) -> None:
            self._header_timer = None
            deadline = self._header_deadline
            if deadline is None:
                return
            if self.loop.time() < deadline:      # (a later request's: look again then)
                self._header_timer = self.loop.call_at(deadline, self._headers_due)
                return
            if self.transport.is_closing():
                return
            busy = self.cycle is not None and not self.cycle.response_complete
            if busy:          # (headers complete, a response pending: not ours to cut)
                return
            self.logger.info("closing a connection: its request headers took longer than "
                             "%g s", header_timeout)
            self.transport.write(response)
            self.transport.close()

    return TimedHttpToolsProtocol


def _server_class() -> type:
    uvicorn = require("serve", "uvicorn", feature="fugue-ppl serve")

    class Server(uvicorn.Server):
        """uvicorn's server with the shutdown described in the module docstring."""

        service: Service

        def __init__(self, config: Any, service: Service):
            super().__init__(config)
            self.service = service
            self.server_state.draining = False

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in _HANDLED}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            # (uvicorn raises the signal again here, ending the process by it: a
            # graceful shutdown is a normal exit instead)

        def handle_exit(self, sig: int, frame: Any) -> None:
            # (a signal handler: flags only; the shutdown logs)
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.service.draining = True
            self.server_state.draining = True
            self.should_exit = True

        async def shutdown(self, sockets: Any = None) -> None:
            _log.warning("shutting down: readiness fails, no new connection, %d request(s) "
                         "in flight get up to %g s", self.service.in_flight,
                         self.config.timeout_graceful_shutdown or 0.0)
            self.service.draining = True
            self.server_state.draining = True
            for server in self.servers:
                server.close()
            state = self.server_state
            for conn in list(state.connections):
                if conn.cycle is not None and not conn.cycle.response_complete:
                    conn.shutdown()          # (closes once its response is sent)
            grace = self.config.timeout_graceful_shutdown
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (grace or 0.0)
            while state.tasks and not self.force_exit and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if state.tasks:
                _log.error("shutdown: cancelling %d request(s) still in flight after %g s",
                           len(state.tasks), grace)
                for t in list(state.tasks):
                    t.cancel()
            for conn in list(state.connections):
                conn.shutdown()
            end = loop.time() + 1.0
            while state.connections and not self.force_exit and loop.time() < end:
                await asyncio.sleep(0.02)
            for conn in list(state.connections):
                with contextlib.suppress(Exception):
                    conn.transport.close()
            for server in self.servers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 1.0)
            if not self.force_exit:
                await self.lifespan.shutdown()

    return Server


def serve(app: Any, settings: ServiceConfig | None = None, *,
          log_level: str = "WARNING") -> int:
    """Serve ``app`` (an app of :func:`~fugue_ppl.service.app.create_app`) until SIGTERM.

    Parameters
    ----------
    app : starlette.applications.Starlette
        Its ``state.service`` is told when the shutdown begins.
    settings : ServiceConfig, optional
        Host, port, timeouts, the shutdown's grace period (default: the app's).
    log_level : str
        Level of the ``fugue_ppl`` and uvicorn loggers.

    Returns
    -------
    int
        0 after a graceful shutdown; 1 when the server could not start
        (e.g. the port is taken: the reason is logged).
    """
    uvicorn = require("serve", "uvicorn", feature="fugue-ppl serve")
    # (uvloop where it exists: not on Windows)
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    service: Service = app.state.service
    settings = service.settings if settings is None else settings
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop=loop,
        http=_protocol_class(settings), ws="none", lifespan="on", log_config=None,
        access_log=False, server_header=False, proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds, backlog=2048)
    server = _server_class()(config, service)
    # The objects made so far (the app, the models, the libraries) live as long as
    # the process: out of the collector's sight, a full collection does not trace them.
    gc.freeze()
    _log.info("fugue-ppl serve: listening on %s:%d", settings.host, settings.port)
    try:
        server.run()
    except SystemExit as e:          # (uvicorn exits 3 when it cannot start)
        return 1 if e.code not in (0, None) else 0
    return 0 if server.started else 1
