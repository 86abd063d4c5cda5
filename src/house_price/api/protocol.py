"""uvicorn's httptools protocol with the limits it lacks (request-head size, header count, the
time to receive a request) and MAX_CONNECTIONS as a server must keep it. `python -m
house_price.serve` (the image) runs it.

uvicorn bounds neither the head of a request nor the time a client may take to send it: one
64 MB header got a 256 MB container killed for memory, and a 128 MB one blocked the event loop
for 13-23 s (httptools gathers a header's pieces before its callback sees any). Here the bytes
of a head are counted as they arrive, before the parser sees them, so a request is refused
after at most MAX_HEADER_BYTES (+ one read) of its head:

    head larger than MAX_HEADER_BYTES       431, connection closed
    more than MAX_HEADERS header fields     431, connection closed
    head and body not in within REQUEST_TIMEOUT_S (slowloris; a connection that sends nothing)
                                            408, connection closed
    still arriving at SIGTERM               503, connection closed (uvicorn would wait for it
                                            until GRACEFUL_SHUTDOWN_S, then cancel it)
    more than MAX_CONNECTIONS connections   the longest idle keep-alive ones closed to make
                                            room; none idle (or MAX_CONNECTIONS requests in
                                            progress): 503, Retry-After, connection closed;
                                            a probe is answered all the same

uvicorn's own limit_concurrency counted idle keep-alive connections as load and refused every
request, the probes too, while they were open: 4 idle clients under MAX_CONNECTIONS=4 made
/livez answer 503, and a pod holding 512 idle connections from a load balancer would have been
restarted by its liveness probe. Here an idle connection is kept only while its slot is not
needed (nginx closes idle keep-alive connections the same way when it runs out; an HTTP client
must expect an idle connection to close, RFC 9112 9.3.1). The limit still bounds the
connections kept and the requests in progress. A probe (GET or HEAD /livez, /readyz, /health,
/: no model work, cheaper than the 503 itself) is never refused: a busy server is alive, and
restarting it, or taking it out of the Service, would only move its load onto the others.

The limits come from `Settings.from_env` in each worker process (uvicorn imports this class by
name in every worker), so they are the API's settings like any other.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Any

import httptools
import pydantic_core
from uvicorn._types import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from house_price.api.core.config import Settings
from house_price.api.routes.health import PROBE_METHODS, PROBE_PATHS

HEAD_END = b"\r\n\r\n"
log = logging.getLogger("uvicorn.error")


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _busy_answer(limit: int) -> ASGI3Application:
    """The 503 of a request beyond MAX_CONNECTIONS: JSON `detail`, Retry-After, and close."""
    body = pydantic_core.to_json(
        {"detail": f"all {limit} connections busy (MAX_CONNECTIONS): retry later"}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]

    async def busy(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return busy


class RefusedRequestError(Exception):
    """Raised from a parser callback: answer `status` with `detail`, then close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses oversized heads (431), too many headers (431) and
    requests not received in time (408), each with a one-line JSON `detail`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self.max_head_bytes = settings.max_header_bytes
        self.max_headers = settings.max_headers
        self.request_timeout = settings.request_timeout_s
        self.max_connections = settings.max_connections
        self.limit_concurrency = None  # uvicorn's check: replaced by `_admit`
        self._reading_head = True  # until on_headers_complete; again after each message
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: HEAD_END may straddle two reads
        self._header_count = 0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._deadline is None:
                self._arm()
            window = self._tail + data
            end = window.find(HEAD_END)
            self._head_bytes += len(data) if end < 0 else max(end + 4 - len(self._tail), 0)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(
                    431,
                    f"request line and headers larger than {self.max_head_bytes} bytes "
                    "(MAX_HEADER_BYTES)",
                )
                return
            self._tail = window[-3:]
        # uvicorn's data_received, with the parser's callback errors told apart.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, RefusedRequestError):
                self._refuse(refused.status, refused.detail)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_message_begin(self) -> None:
        self._header_count = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            raise RefusedRequestError(
                431, f"more than {self.max_headers} header fields (MAX_HEADERS)"
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        self._head_bytes = 0
        self._tail = b""
        super().on_message_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # uvicorn calls this when a request's head is in, or when a pipelined one's turn comes
        super()._start_asgi_task(cycle, self._admit(cycle.scope, app))

    def _admit(self, scope: HTTPScope, app: ASGI3Application) -> ASGI3Application:
        """`app`, or the 503 when the request is beyond MAX_CONNECTIONS (a probe never is)."""
        room = len(self.connections) <= self.max_connections or self._make_room()
        if scope["path"] in PROBE_PATHS and scope["method"] in PROBE_METHODS:
            return app
        if room and len(self.tasks) < self.max_connections:
            return app
        client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        log.warning("%srequest refused, 503: all connections busy (MAX_CONNECTIONS)", client)
        return _busy_answer(self.max_connections)

    def _make_room(self) -> bool:
        """Closes the longest idle keep-alive connections (no request in progress, none
        arriving) until at most MAX_CONNECTIONS are open; False when too few are idle."""
        open_ = [other for other in self.connections if not other.transport.is_closing()]
        excess = len(open_) - self.max_connections
        if excess <= 0:
            return True
        idle = [
            (other.timeout_keep_alive_task.when(), id(other), other)
            for other in open_
            if isinstance(other, HttpToolsProtocol) and other.timeout_keep_alive_task is not None
        ]
        idle.sort()  # longest idle first (its keep-alive timeout is the earliest)
        for _when, _id, other in idle[:excess]:
            other._unset_keepalive_if_required()
            other.transport.close()
        return len(idle) >= excess

    def shutdown(self) -> None:
        """SIGTERM: a request still arriving (a stalled upload) is answered 503 and closed at
        once; requests received in full finish within GRACEFUL_SHUTDOWN_S as uvicorn does."""
        if self._deadline is not None and not self._answering_earlier():
            self._refuse(503, "shutting down: request not received in full before SIGTERM")
            return
        super().shutdown()

    def _answering_earlier(self) -> bool:
        """A pipelined request's head is arriving while the app still answers the one before
        it: that answer must go out first, whole."""
        return self._reading_head and self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._answering_earlier():  # the clock starts once the earlier answer is out
            self._arm()
            return
        cycle = None if self._reading_head else self.cycle
        if cycle is not None and cycle.response_started:  # answered early (413, 503): just close
            self.transport.close()
            return
        self._refuse(
            408, f"request not received within {self.request_timeout} s (REQUEST_TIMEOUT_S)"
        )

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` without the application and close: what remains unread stays
        unread. An application task already waiting for this request's body sees a
        disconnect, and whatever it sends is dropped."""
        self._disarm()
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        log.warning("%srequest refused, %d: %s", client, status, detail)
        body = pydantic_core.to_json({"detail": detail})
        head = [
            STATUS_LINE[status],
            *(b"%s: %s\r\n" % pair for pair in self.server_state.default_headers),
        ]
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()
