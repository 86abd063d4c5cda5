"""Hostile and awkward clients, shared by the server-limit tests, the container tests and
bench/hardening_bench.py: raw sockets (exact bytes, partial requests, floods), concurrent large
batches, and what /proc says of the server (threads, resident memory). Standard library only."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxies


@dataclass
class RawReply:
    status: int | None  # None: the connection closed (or timed out) without a status line
    body: bytes
    seconds: float  # from the first byte sent to the end of the answer
    sent: int  # payload bytes the server accepted before it answered or closed

    def json(self) -> Any:
        return json.loads(self.body)


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _parse(data: bytes) -> tuple[int | None, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None, data
    return int(parts[1]), body


def raw_exchange(base: str, payload: Iterable[bytes], timeout: float = 30.0) -> RawReply:
    """Sends the chunks of `payload` in turn (stopping when the server closes or answers), then
    reads until the server closes or `timeout` passes."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection(_address(base), timeout=timeout) as sock:
        sock.setblocking(True)
        sock.settimeout(timeout)
        for chunk in payload:
            try:
                sock.sendall(chunk)
            except OSError:  # refused mid-way: the answer is already waiting
                break
            sent += len(chunk)
        data = b""
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
                status, body = _parse(data)
                length = _content_length(data)
                if status is not None and length is not None and len(body) >= length:
                    break
        except OSError:
            pass
    status, body = _parse(data)
    return RawReply(status, body, time.monotonic() - started, sent)


def _content_length(data: bytes) -> int | None:
    head, found, _ = data.partition(b"\r\n\r\n")
    if not found:
        return None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def header_flood(base: str, size: int, path: str = "/livez", chunk: int = 1 << 20) -> RawReply:
    """GET `path` with one header of `size` bytes, streamed `chunk` bytes at a time."""

    def payload() -> Iterable[bytes]:
        yield f"GET {path} HTTP/1.1\r\nHost: test\r\nX-Flood: ".encode()
        remaining = size
        block = b"a" * chunk
        while remaining > 0:
            yield block[: min(chunk, remaining)]
            remaining -= chunk
        yield b"\r\n\r\n"

    return raw_exchange(base, payload())


def many_headers(count: int, path: str = "/livez") -> bytes:
    lines = b"".join(b"X-Header-%d: %d\r\n" % (index, index) for index in range(count))
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n".encode() + lines + b"\r\n"


def stalled(base: str, part: bytes) -> socket.socket:
    """A connection that has sent `part` of a request and then nothing (the caller closes)."""
    sock = socket.create_connection(_address(base), timeout=30)
    sock.sendall(part)
    return sock


def partial_body(path: str = "/predict") -> bytes:
    """The head of a POST announcing 1,000 body bytes, and the first 10 of them."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    return head.encode() + b'{"sqft": 1'


@dataclass
class Outcomes:
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: set[str | None] = field(default_factory=set)  # on 503s
    errors: list[str] = field(default_factory=list)  # no HTTP answer at all


def post(base: str, path: str, body: bytes, timeout: float = 60.0) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names) of one JSON POST."""
    request = urllib.request.Request(
        f"{base}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with OPENER.open(request, timeout=timeout) as response:
            response.read()
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def concurrent_batches(base: str, row: dict[str, Any], rows: int, requests: int) -> Outcomes:
    """`requests` POST /predict/batch of `rows` copies of `row`, all at once."""
    body = json.dumps({"rows": [row] * rows}).encode()
    outcomes = Outcomes()

    def one(_: int) -> None:
        try:
            status, headers = post(base, "/predict/batch", body)
        except OSError as exc:
            outcomes.errors.append(f"{type(exc).__name__}: {exc}")
            return
        outcomes.statuses[status] += 1
        if status == 503:
            outcomes.retry_after.add(headers.get("retry-after"))

    with ThreadPoolExecutor(max_workers=requests) as pool:
        list(pool.map(one, range(requests)))
    return outcomes


def timed_get(base: str, path: str, timeout: float = 5.0) -> tuple[int | None, float]:
    """(status or None, seconds) of one GET."""
    started = time.monotonic()
    try:
        with OPENER.open(f"{base}{path}", timeout=timeout) as response:
            response.read()
            status: int | None = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = None
    return status, time.monotonic() - started


ESTABLISHED = "01"  # /proc/net/tcp's state of an open connection


def tcp_connections() -> list[tuple[int, int, str, str]]:
    """The IPv4 sockets of this machine's network namespace, from /proc/net/tcp: (local
    port, remote port, state, inode) each."""
    table = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(end.rsplit(":", 1)[1], 16) for end in fields[1:3])
        table.append((local, remote, fields[3], fields[9]))
    return table


def server_connections(port: int) -> int:
    """Open connections whose server end is on `port` (what a server on it holds)."""
    return sum(
        1 for local, _, state, _ in tcp_connections() if local == port and state == ESTABLISHED
    )


def socket_owner(pids: Iterable[int], client: socket.socket) -> int | None:
    """Which of `pids` (a server's workers) holds the server end of the IPv4 connection
    `client`: its socket's inode among each process's descriptors."""
    ends = (client.getpeername()[1], client.getsockname()[1])
    inodes = {inode for local, remote, _, inode in tcp_connections() if (local, remote) == ends}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in {f"socket:[{inode}]" for inode in inodes}:
                    return pid
            except OSError:  # closed meanwhile
                continue
    return None


def proc_status(pid: int) -> dict[str, int]:
    """Threads, VmRSS and VmHWM (peak resident, KiB) of a process, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Threads", "VmRSS", "VmHWM"):
            values[name] = int(value.split()[0])
    return values
