"""The server as the image runs it (`python -m house_price.serve`, a real uvicorn on a loopback
port) against hostile and awkward clients (issue 12): request-head size and header count
(431), requests not received in time (408), the probes (GET and HEAD), keep-alive across an idle
gap, SIGTERM with a stalled client and a request in flight, concurrent large batches (bounded
threads, 503 with Retry-After, never a dead process), and bad settings (one line, exit 2)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import ApiServer, call, start_api, stop_api
from conftest import stop_process_group
from hostile import (
    concurrent_batches,
    header_flood,
    many_headers,
    partial_body,
    proc_status,
    raw_exchange,
    stalled,
    timed_get,
)

from house_price.api.core.config import Settings
from house_price.serving.bundle import load_bundle

pytestmark = pytest.mark.slow  # the session pipeline run, real uvicorn servers

REQUEST_TIMEOUT_S = 2  # short, so the 408 tests take seconds
PROBES = ("/", "/livez", "/readyz", "/health")


@pytest.fixture(scope="module")
def example(bundle_dir: Path) -> dict:
    return json.loads(json.dumps(load_bundle(bundle_dir).profile.example_row()))


@pytest.fixture(scope="module")
def server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    log = tmp_path_factory.mktemp("limits") / "serve.log"
    api = start_api(bundle_dir, log, env={"REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S)})
    try:
        yield api
    finally:
        stop_api(api)


def worker_pid(api: ApiServer) -> int:
    """With one worker, uvicorn serves in the process we started."""
    return api.process.pid


@pytest.mark.parametrize("size", [64 << 10, 8 << 20, 64 << 20])
def test_oversized_head_is_refused_early(server: ApiServer, size: int) -> None:
    before = proc_status(worker_pid(server))["VmRSS"]
    reply = header_flood(server.url, size)
    assert reply.status == 431, reply
    assert "MAX_HEADER_BYTES" in reply.json()["detail"]
    # Refused after the limit plus at most a few reads, never after reading it all.
    assert reply.sent < 8 << 20, reply.sent
    assert reply.seconds < 2.0, reply.seconds
    after = proc_status(worker_pid(server))["VmRSS"]
    assert after - before < 32 << 10, (before, after)  # KiB: nothing of the flood was kept
    assert timed_get(server.url, "/health")[0] == 200


def test_flood_does_not_block_the_event_loop(server: ApiServer) -> None:
    """/health answers within 1 s while 128 MB headers stream in on other connections."""
    stop = threading.Event()
    replies = []

    def flood() -> None:
        while not stop.is_set():
            replies.append(header_flood(server.url, 128 << 20).status)

    floods = [threading.Thread(target=flood) for _ in range(2)]
    for thread in floods:
        thread.start()
    try:
        timings = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            status, seconds = timed_get(server.url, "/health", timeout=5)
            assert status == 200
            timings.append(seconds)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in floods:
            thread.join(timeout=30)
    assert max(timings) < 1.0, max(timings)
    assert replies
    assert set(replies) == {431}, replies


def test_head_within_limits_is_served(server: ApiServer) -> None:
    """Just under the limit, and a head split into one-byte reads (the end straddling)."""
    head = b"GET /livez HTTP/1.1\r\nHost: test\r\nX-Pad: " + b"a" * (30 << 10) + b"\r\n\r\n"
    assert raw_exchange(server.url, [head]).status == 200
    split = [head[:-200], *(bytes([b]) for b in head[-200:])]
    assert raw_exchange(server.url, split).status == 200
    assert raw_exchange(server.url, [many_headers(90)]).status == 200


def test_pipelined_requests_are_answered_in_order(server: ApiServer, example: dict) -> None:
    """Two requests in one write (HTTP/1.1 pipelining), the second a POST: both answered, in
    order, on the same connection."""
    body = json.dumps(example).encode()
    second = (
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with stalled(server.url, b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n" + second) as sock:
        sock.settimeout(10)
        data = b""
        while piece := sock.recv(65536):
            data += piece
    assert data.count(b"HTTP/1.1 200 OK") == 2, data[:500]
    assert data.index(b'{"status":"alive"}') < data.index(b'"prediction"')


@pytest.mark.parametrize(
    ("count", "limit"),
    [(101, "(MAX_HEADERS)"), (1000, "(MAX_HEADERS)"), (20_000, "(MAX_HEADER_BYTES)")],
)
def test_too_many_headers(server: ApiServer, count: int, limit: str) -> None:
    """Refused by the count, or by the size when that comes first."""
    reply = raw_exchange(server.url, [many_headers(count)])
    assert reply.status == 431
    assert reply.json()["detail"].endswith(limit)


@pytest.mark.parametrize(
    "part",
    [
        b"",
        b"GET /livez HTTP/1.1\r\nHost: te",
        partial_body("/predict"),
        partial_body("/predict/batch"),
    ],
    ids=["nothing", "half a head", "half a body", "half a batch body"],
)
def test_request_not_received_in_time(server: ApiServer, part: bytes) -> None:
    with stalled(server.url, part) as sock:
        sock.settimeout(REQUEST_TIMEOUT_S + 10)
        started = time.monotonic()
        data = sock.recv(65536)
        waited = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    assert b"REQUEST_TIMEOUT_S" in data
    assert REQUEST_TIMEOUT_S - 0.5 < waited < REQUEST_TIMEOUT_S + 3, waited
    assert "Traceback" not in server.log_text()


def test_slow_request_within_time_is_served(server: ApiServer, example: dict) -> None:
    body = json.dumps(example).encode()
    head = (
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    def slowly() -> Iterator[bytes]:
        for piece in (head[:20], head[20:], body[:10], body[10:]):
            time.sleep(0.3)
            yield piece

    reply = raw_exchange(server.url, slowly())
    assert reply.status == 200, reply
    assert reply.json()["prediction"] > 0


@pytest.mark.parametrize("path", PROBES)
def test_probes_answer_get_and_head(server: ApiServer, path: str) -> None:
    got = call(server.url, "GET", path)
    head = call(server.url, "HEAD", path)
    assert got.status == head.status == 200
    assert head.body == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"


def test_probe_semantics_without_a_model(tmp_path: Path) -> None:
    """A missing bundle: alive (no restart would fix it), not ready, / answers."""
    api = start_api(tmp_path / "missing", tmp_path / "serve.log", expect_status=None)
    try:
        assert call(api.url, "GET", "/livez").status == 200
        assert call(api.url, "HEAD", "/livez").status == 200
        for path in ("/readyz", "/health"):
            reply = call(api.url, "GET", path)
            assert reply.status == 503
            assert "missing" in reply.json()["reason"]
            assert call(api.url, "HEAD", path).status == 503
        root = call(api.url, "GET", "/")
        assert root.status == 200
        assert root.json()["ready"] is False
    finally:
        stop_api(api)


def test_keep_alive_survives_an_idle_gap(server: ApiServer) -> None:
    """The same connection, 20 s apart: longer than uvicorn's default 5 s, shorter than the
    default KEEP_ALIVE_S (75 s, above load balancers' 60 s idle timeouts)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/livez")
        assert connection.getresponse().read() == b'{"status":"alive"}'
        local = connection.sock.getsockname()
        time.sleep(20)
        # On the same socket: had the server closed it, the answer would be RemoteDisconnected.
        connection.request("GET", "/livez")
        assert connection.getresponse().status == 200
        assert connection.sock.getsockname() == local
    finally:
        connection.close()


def test_keep_alive_is_a_setting(bundle_dir: Path, tmp_path: Path) -> None:
    api = start_api(bundle_dir, tmp_path / "serve.log", env={"KEEP_ALIVE_S": "1"})
    try:
        with stalled(api.url, b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n") as sock:
            sock.settimeout(10)
            data = b""
            started = time.monotonic()
            while piece := sock.recv(65536):
                data += piece
            assert data.startswith(b"HTTP/1.1 200 ")
            assert 0.5 < time.monotonic() - started < 5  # closed by the server after ~1 s
    finally:
        stop_api(api)


def test_sigterm_finishes_in_flight_and_exits_in_the_window(
    bundle_dir: Path, example: dict, tmp_path: Path
) -> None:
    """A stalled client (half a body) and a 10,000-row batch in flight, then SIGTERM: the batch
    is answered 200, the stalled one 503 at once, the process exits by itself (0, or uvicorn
    re-raising the SIGTERM it caught) well inside a 10 s kill window, and the app's shutdown
    ran."""
    api = start_api(bundle_dir, tmp_path / "serve.log")  # defaults: 30 s request timeout, 7 s
    sock = stalled(api.url, partial_body("/predict"))
    result: dict = {}

    def batch() -> None:
        result["outcome"] = concurrent_batches(api.url, example, 10_000, 1)

    try:
        thread = threading.Thread(target=batch)
        thread.start()
        time.sleep(0.02)
        started = time.monotonic()
        api.process.send_signal(signal.SIGTERM)
        code = api.process.wait(timeout=15)
        stopped = time.monotonic() - started
        thread.join(timeout=30)
        sock.settimeout(5)
        stalled_answer = sock.recv(65536)
    finally:
        sock.close()
        stop_api(api)
    assert code in (0, -signal.SIGTERM), api.log_text()[-2000:]
    assert stopped < 5.0, stopped  # nothing waited for the stalled client
    assert stalled_answer.startswith(b"HTTP/1.1 503 "), stalled_answer[:200]
    assert result["outcome"].statuses == {200: 1}, result["outcome"]
    log = api.log_text()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_concurrent_batches_are_bounded(server: ApiServer, example: dict) -> None:
    """48 concurrent 1,000-row batches: each answered 200 or 503 with Retry-After, the process
    alive, its thread count bounded whatever the load."""
    pid = worker_pid(server)
    before = proc_status(pid)["Threads"]
    outcome = concurrent_batches(server.url, example, 1000, 48)
    after = proc_status(pid)["Threads"]
    assert not outcome.errors, outcome.errors[:3]
    assert set(outcome.statuses) <= {200, 503}, outcome
    assert outcome.statuses[200] >= 5, outcome
    assert outcome.retry_after <= {"1"}, outcome.retry_after
    assert server.alive()
    assert after <= before + 4, (before, after)
    assert timed_get(server.url, "/health")[0] == 200


TIMER = "from {low} to 3153600000 (100 years, the event loop's longest timer)"
FILES = "a connection is a file descriptor, a C int"
SIZE = "from {low} to 9223372036854775807"
CPUS = len(os.sched_getaffinity(0))
WORKERS = f"from 1 to {4 * CPUS} (4 per usable CPU, {CPUS} here)"


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("KEEP_ALIVE_S", "soon", TIMER.format(low=1)),
        # Bound modulo 65536 (99999: 34463) while the log said 99999.
        ("PORT", "99999", "from 0 to 65535"),
        ("PORT", "65536", "from 0 to 65535"),
        ("PORT", "-1", "from 0 to 65535"),
        # XGBoost's nthread is a C int: the model was not served (503), with a BoosterError.
        ("MODEL_THREADS", str(2**31), "from 0 to 2147483647"),
        # pydantic-core's max_length: the model was not served (503), with an OverflowError.
        ("MAX_BATCH_ROWS", str(2**64), "from 1 to 9223372036854775807"),
        ("DRIFT_METRICS", "2", "from 0 to 1"),
        # uvloop cuts a longer timer to 100 years without a word: the server started and
        # served with 10**30, a timer that was not the one asked for.
        ("KEEP_ALIVE_S", str(10**30), TIMER.format(low=1)),
        ("KEEP_ALIVE_S", "3153600001", TIMER.format(low=1)),
        ("REQUEST_TIMEOUT_S", str(10**30), TIMER.format(low=1)),
        ("GRACEFUL_SHUTDOWN_S", str(10**30), TIMER.format(low=0)),
        # No bytes object, header list or count of connections is that large: a limit above
        # it was no limit, and the server started without a word.
        ("MAX_BODY_BYTES", str(10**30), SIZE.format(low=1024)),
        ("MAX_HEADER_BYTES", str(2**63), SIZE.format(low=1024)),
        ("MAX_HEADERS", str(2**63), SIZE.format(low=1)),
        ("MAX_CONNECTIONS", str(2**31), f"from 1 to 2147483647 ({FILES})"),
        # Each batch that waits holds a connection (of MAX_CONNECTIONS, default 512), one runs:
        # more could never wait.
        (
            "MAX_PENDING_BATCHES",
            "512",
            "from 0 to 511 (one batch runs, each one waiting holds one of MAX_CONNECTIONS' "
            "connections)",
        ),
        # A typo forked workers, one process (and one model) each, without end.
        ("WEB_CONCURRENCY", str(4 * CPUS + 1), WORKERS),
        ("WEB_CONCURRENCY", "1000000", WORKERS),
    ],
)
def test_bad_server_setting_is_one_line(name: str, value: str, allowed: str) -> None:
    """Refused before uvicorn starts: one line, exit 2. PORT 0 and its own process group, so
    that a server started by mistake (the bug) listens nowhere in the way and is stopped, with
    its workers, when the bounded wait ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "house_price.serve"],
        env={"PATH": "/usr/bin:/bin", "PORT": "0", name: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        stop_process_group(process)
    assert process.returncode == 2, stderr
    assert stderr.strip() == (
        f"house_price.serve: error: {name}={value!r}: expected an integer {allowed}"
    )


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("PORT", "0", "port"),
        ("PORT", "65535", "port"),
        ("DRIFT_METRICS", "0", "drift_metrics"),
        ("KEEP_ALIVE_S", "3153600000", "keep_alive_s"),
        ("GRACEFUL_SHUTDOWN_S", "0", "graceful_shutdown_s"),
        ("GRACEFUL_SHUTDOWN_S", "3153600000", "graceful_shutdown_s"),
        ("REQUEST_TIMEOUT_S", "3153600000", "request_timeout_s"),
        ("MAX_BODY_BYTES", str(2**63 - 1), "max_body_bytes"),
        ("MAX_HEADER_BYTES", str(2**63 - 1), "max_header_bytes"),
        ("MAX_HEADERS", str(2**63 - 1), "max_headers"),
        ("MAX_CONNECTIONS", str(2**31 - 1), "max_connections"),
        ("MAX_PENDING_BATCHES", "511", "max_pending_batches"),
        ("WEB_CONCURRENCY", str(4 * CPUS), "web_concurrency"),
    ],
)
def test_server_setting_bounds_are_allowed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    """PORT=0: a free port, which uvicorn logs."""
    monkeypatch.setenv(name, value)
    assert int(getattr(Settings.from_env(), field)) == int(value)


def test_the_default_body_limit_stays_within_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAX_BODY_BYTES' default grows with MAX_BATCH_ROWS (1 KiB a row), never past its bound."""
    monkeypatch.setenv("MAX_BATCH_ROWS", str(2**63 - 1))
    assert Settings.from_env().max_body_bytes == 2**63 - 1


def test_the_largest_settings_serve_and_stop(tmp_path: Path) -> None:
    """Every timer and limit at its maximum: the real server starts, answers, and stops at
    SIGTERM within the usual window (no bundle needed: readiness says why)."""
    largest = {
        "KEEP_ALIVE_S": "3153600000",
        "GRACEFUL_SHUTDOWN_S": "3153600000",
        "REQUEST_TIMEOUT_S": "3153600000",
        "MAX_BODY_BYTES": str(2**63 - 1),
        "MAX_HEADER_BYTES": str(2**63 - 1),
        "MAX_HEADERS": str(2**63 - 1),
        "MAX_CONNECTIONS": str(2**31 - 1),
        "MAX_PENDING_BATCHES": str(2**31 - 2),
    }
    api = start_api(tmp_path / "missing", tmp_path / "serve.log", expect_status=None, env=largest)
    idle = stalled(api.url, b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")  # then kept alive
    try:
        assert call(api.url, "GET", "/readyz").status == 503
        assert raw_exchange(api.url, [many_headers(200)]).status == 200  # over the default 100
        idle.settimeout(10)
        assert idle.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        api.process.send_signal(signal.SIGTERM)
        code = api.process.wait(timeout=15)
        assert time.monotonic() - started < 5  # the idle connection is not waited for
    finally:
        idle.close()
        stop_api(api)
    assert code in (0, -signal.SIGTERM), api.log_text()[-2000:]
    assert "Traceback" not in api.log_text()
