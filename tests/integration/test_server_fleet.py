"""Faults of a running fleet (issue 25), against the real server (`python -m house_price.serve`,
as the image runs it, on loopback) serving the tiny bundle (tests/tiny_bundle.py: no session
pipeline, so this file is in no group):

- the probes answer while every connection slot is held, by idle keep-alive clients (closed,
  the longest idle first, when their slot is needed), by connections that sent nothing, or by
  requests in progress; any other request beyond MAX_CONNECTIONS is a 503 with Retry-After;
- the image's health check (the Dockerfile's and compose's command) asks the address HOST
  names: 127.0.0.2, 127.1.2.3, ::1 and the default;
- a worker of WEB_CONCURRENCY=2 killed with SIGKILL mid-upload: once uvicorn has replaced it,
  /metrics is true again (in flight as it is, no series of the dead pid, its counts kept);
- a SIGHUP restart whose replacement is not ready in time (killed, the restart aborted): its
  model_ready 0 does not stay in /metrics.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_support import ApiServer, Reply, call, post_json, start_api, stop_api
from conftest import REPO
from hostile import partial_body, server_connections, socket_owner, stalled
from prometheus_client.parser import text_string_to_metric_families
from tiny_bundle import TinyPipeline

from house_price.api.routes.health import PROBE_METHODS, PROBE_PATHS

pytestmark = pytest.mark.slow  # real uvicorn servers (on the tiny bundle)

WAIT_S = 60.0  # the longest bounded wait: a worker replaced and started, on a busy machine
PROBES = [(method, path) for path in sorted(PROBE_PATHS) for method in PROBE_METHODS]


def wait_until(what: str, condition: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """`condition()`'s first true value, polled until `timeout` s; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture(scope="module")
def bundle_path(tiny_pipeline: TinyPipeline) -> Path:
    return tiny_pipeline.bundle_dir


@pytest.fixture(scope="module")
def row(tiny_pipeline: TinyPipeline) -> dict[str, Any]:
    return json.loads(json.dumps(tiny_pipeline.bundle.profile.example_row()))


def port_of(api: ApiServer) -> int:
    return int(api.url.rsplit(":", 1)[1])


# --- the probes with every connection slot held ----------------------------------------------


@pytest.fixture(scope="module", params=[1, 4], ids=lambda n: f"MAX_CONNECTIONS={n}")
def limited(
    request: pytest.FixtureRequest, bundle_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiServer, int]]:
    limit = request.param
    log = tmp_path_factory.mktemp("limited") / "serve.log"
    api = start_api(bundle_path, log, env={"MAX_CONNECTIONS": str(limit)})
    try:
        yield api, limit
    finally:
        stop_api(api)


def keep_alive_clients(api: ApiServer, count: int) -> list[http.client.HTTPConnection]:
    """`count` connections, each answered once and then idle, open (keep-alive), in order."""
    clients = []
    for _ in range(count):
        client = http.client.HTTPConnection(*api.url.removeprefix("http://").split(":"), timeout=10)
        client.request("GET", "/livez")
        response = client.getresponse()
        assert response.status == 200
        response.read()
        clients.append(client)
        time.sleep(0.01)  # each idle for longer than the next
    return clients


def closed_by_server(client: http.client.HTTPConnection) -> bool:
    """The server closed this idle connection (an EOF is waiting), without a request sent."""
    assert client.sock is not None
    client.sock.settimeout(0.5)
    try:
        return client.sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def assert_probes_answer(api: ApiServer, times: int = 3) -> None:
    for method, path in PROBES:
        statuses = [call(api.url, method, path, timeout=5).status for _ in range(times)]
        assert statuses == [200] * times, (method, path, statuses)


def assert_refused(reply: Reply, limit: int) -> None:
    assert reply.status == 503, reply
    assert reply.headers["retry-after"] == "1"
    assert reply.headers["connection"] == "close"
    assert reply.json() == {
        "detail": f"all {limit} connections busy (MAX_CONNECTIONS): retry later"
    }


def test_probes_answer_with_idle_clients_on_every_slot(
    limited: tuple[ApiServer, int], row: dict[str, Any]
) -> None:
    """The issue's example: as many idle keep-alive clients as MAX_CONNECTIONS made every
    probe 503, 3 times out of 3. Now a request that needs a slot closes the longest idle
    connection (one: the requests come one after another, each freeing its slot): the probes
    and a prediction are answered, and the server holds at most MAX_CONNECTIONS connections."""
    api, limit = limited
    clients = keep_alive_clients(api, limit)
    try:
        assert wait_until(
            "the idle clients held", lambda: server_connections(port_of(api)) == limit
        )
        assert_probes_answer(api)
        assert post_json(api.url, "/predict", row).status == 200
        assert closed_by_server(clients[0])
        assert server_connections(port_of(api)) <= limit
    finally:
        for client in clients:
            client.close()


def test_the_longest_idle_connection_makes_room_first(limited: tuple[ApiServer, int]) -> None:
    """One more connection than MAX_CONNECTIONS: only the longest idle one is closed; the
    others stay open and serve their next request on the same socket."""
    api, limit = limited
    clients = keep_alive_clients(api, limit)
    try:
        assert call(api.url, "GET", "/model").status == 200
        assert closed_by_server(clients[0])
        for client in clients[1:]:
            assert not closed_by_server(client)
            local = client.sock.getsockname()  # type: ignore[union-attr]
            client.request("GET", "/readyz")
            assert client.getresponse().status == 200
            assert client.sock.getsockname() == local  # type: ignore[union-attr]
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    "holding",
    [b"", b"GET /livez HTTP/1.1\r\nHost: te", partial_body("/predict")],
    ids=["connections that sent nothing", "half a head", "uploads half sent"],
)
def test_probes_answer_when_busy_connections_hold_every_slot(
    limited: tuple[ApiServer, int], row: dict[str, Any], holding: bytes
) -> None:
    """Slots held by connections that are not idle (nothing to close): the probes are still
    answered, anything else is a 503 with Retry-After, until a slot is free again."""
    api, limit = limited
    held = [stalled(api.url, holding) for _ in range(limit)]
    try:
        assert wait_until("the slots held", lambda: server_connections(port_of(api)) >= limit)
        assert_probes_answer(api)
        assert_refused(post_json(api.url, "/predict", row), limit)
        assert_refused(call(api.url, "GET", "/model"), limit)
    finally:
        for sock in held:
            sock.close()
    assert wait_until(
        "a slot free again", lambda: post_json(api.url, "/predict", row).status == 200
    )
    assert "Traceback" not in api.log_text()


def test_default_limit_with_512_idle_clients(
    bundle_path: Path, row: dict[str, Any], tmp_path: Path
) -> None:
    """The issue's fleet: a pod holding the default 512 idle connections (a load balancer's
    pool) would have failed its liveness probe and been restarted."""
    api = start_api(bundle_path, tmp_path / "serve.log")
    clients: list[http.client.HTTPConnection] = []
    try:
        clients = keep_alive_clients(api, 512)
        assert_probes_answer(api)
        assert post_json(api.url, "/predict", row).status == 200
    finally:
        for client in clients:
            client.close()
        stop_api(api)


# --- the health check honours HOST ----------------------------------------------------------


def image_healthcheck() -> list[str]:
    """The Dockerfile's HEALTHCHECK command (exec form), which compose.yaml's must equal."""
    dockerfile = (REPO / "Dockerfile").read_text()
    found = re.search(r"^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert found is not None, "the Dockerfile's HEALTHCHECK has an exec-form CMD"
    command = json.loads(found.group(1))
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert compose["services"]["api"]["healthcheck"]["test"] == ["CMD", *command]
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The image's health check, in the server's environment but for `env`."""
    environment = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
    environment.update(env)
    return subprocess.run(
        [*image_healthcheck(), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("host", ["127.0.0.2", "127.1.2.3", "::1", ""], ids=repr)
def test_healthcheck_asks_where_the_server_listens(
    bundle_path: Path, tmp_path: Path, host: str
) -> None:
    """HOST as the server reads it ("": unset, 127.0.0.1): healthy, for /readyz (the default)
    and /livez; the same check on another address is unhealthy, one line naming the URL."""
    api = start_api(
        bundle_path, tmp_path / "serve.log", env={"HOST": host}, host=host or "127.0.0.1"
    )
    try:
        port = str(port_of(api))
        env = {"PORT": port, **({"HOST": host} if host else {})}
        for args in [(), ("/livez",)]:
            result = healthcheck(env, *args)
            assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), args
        other = "127.0.0.3" if host else "127.0.0.2"  # nothing listens there
        result = healthcheck({"HOST": other, "PORT": port})
        assert result.returncode == 1
        assert result.stdout == ""
        assert re.fullmatch(
            rf"healthcheck: http://{re.escape(other)}:{port}/readyz: .*refused.*\n", result.stderr
        ), result.stderr
    finally:
        stop_api(api)


def test_healthcheck_says_why_a_server_is_not_ready(tmp_path: Path) -> None:
    """No bundle: unhealthy for /readyz with the server's reason in one line; alive for
    /livez."""
    api = start_api(tmp_path / "missing", tmp_path / "serve.log", expect_status=None)
    try:
        env = {"HOST": "127.0.0.1", "PORT": str(port_of(api))}
        ready = healthcheck(env)
        assert ready.returncode == 1
        assert ready.stderr.count("\n") == 1
        assert ready.stderr.startswith(f"healthcheck: {api.url}/readyz answered 503: ")
        assert "missing" in ready.stderr
        assert healthcheck(env, "/livez").returncode == 0
    finally:
        stop_api(api)


# --- a worker killed mid-upload --------------------------------------------------------------


def scrape(api: ApiServer) -> dict[str, list[tuple[dict[str, str], float]]]:
    """/metrics: each sample name -> its (labels, value) samples."""
    reply = call(api.url, "GET", "/metrics", timeout=10)
    assert reply.status == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def workers(metrics: dict[str, list[tuple[dict[str, str], float]]]) -> set[int]:
    """The pids /metrics has process series for (every worker that flushed once)."""
    return {int(labels["pid"]) for labels, _ in metrics.get("process_resident_memory_bytes", [])}


def pids_in(metrics: dict[str, list[tuple[dict[str, str], float]]]) -> set[int]:
    """Every pid that any series of /metrics names."""
    return {
        int(labels["pid"]) for series in metrics.values() for labels, _ in series if "pid" in labels
    }


def value(
    metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(v for found, v in metrics.get(name, []) if labels.items() <= found.items())


def worker_processes(pid: int) -> set[int]:
    """The uvicorn workers that the supervisor `pid` runs (its children but multiprocessing's
    resource tracker)."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            found.add(int(child))
    return found


@pytest.mark.parametrize("victim", ["holding the upload", "the other"])
def test_killed_worker_leaves_true_metrics(bundle_path: Path, tmp_path: Path, victim: str) -> None:
    """WEB_CONCURRENCY=2, an upload half sent, one worker killed with SIGKILL (the one holding
    the upload, or the other). Once uvicorn has replaced it, /metrics says what is true: in
    flight only what is (the scrape itself, and the upload while the survivor holds it), no
    series names the dead pid, and the requests the dead worker counted stay counted."""
    api = start_api(
        bundle_path,
        tmp_path / "serve.log",
        env={"WEB_CONCURRENCY": "2", "REQUEST_TIMEOUT_S": "120"},
    )
    upload = None
    try:
        metrics = wait_until(
            "both workers in /metrics", lambda: (m := scrape(api)) and len(workers(m)) == 2 and m
        )
        started = workers(metrics)
        assert started == worker_processes(api.process.pid)
        for _ in range(20):
            assert call(api.url, "GET", "/livez").status == 200
        upload = stalled(api.url, partial_body("/predict"))
        in_flight = "http_requests_in_flight"  # the scrape counts itself
        wait_until("the upload in flight", lambda: value(scrape(api), in_flight) == 2)
        livez = value(scrape(api), "http_requests_total", handler="/livez")
        holder = socket_owner(started, upload)
        assert holder in started
        killed = holder if victim == "holding the upload" else (started - {holder}).pop()
        os.kill(killed, signal.SIGKILL)

        def replaced() -> Any:
            now = scrape(api)
            ready = value(now, "model_ready") == 1  # the replacement's model loaded too
            return len(workers(now)) == 2 and killed not in pids_in(now) and ready and now

        metrics = wait_until("the killed worker replaced and forgotten", replaced)
        survivors = workers(metrics)
        assert killed not in survivors
        assert survivors == worker_processes(api.process.pid)
        expected = 1 if killed == holder else 2  # the scrape, and the upload if it survived
        assert value(metrics, in_flight) == expected
        assert value(metrics, "http_requests_total", handler="/livez") >= livez
        upload.close()
        wait_until("nothing in flight but the scrape", lambda: value(scrape(api), in_flight) == 1)
    finally:
        if upload is not None:
            upload.close()
        stop_api(api)
    assert "Traceback" not in api.log_text()


def hold_when_ready_to_count(pid: int, metrics_dir: Path, deadline: float) -> bool:
    """Let the stopped worker `pid` run in 5 ms slices until its model_ready file exists (its
    metrics made, its model not loaded yet: ~100 ms of work later); leave it stopped. False if
    it exits or `deadline` (monotonic) passes first."""
    ready_file = metrics_dir / f"gauge_livemin_{pid}.db"
    while time.monotonic() < deadline:
        if ready_file.is_file() and ready_file.stat().st_size > 0:
            return True
        try:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.005)
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            return False
    return False


def test_a_replacement_not_ready_in_time_leaves_true_metrics(
    bundle_path: Path, row: dict[str, Any], tmp_path: Path
) -> None:
    """SIGHUP replaces the workers one by one. A replacement that is not ready within uvicorn's
    5 s (here: stopped once its metrics exist, before its model loads) is killed and the restart
    aborted, before it ever counts as a worker: its model_ready 0 held the fleet's (the minimum)
    at 0 for good. Now it is forgotten like any reaped worker: model_ready 1, no file of its
    pid, the two workers serving on."""
    metrics_dir = tmp_path / "metrics"
    api = start_api(
        bundle_path,
        tmp_path / "serve.log",
        env={"WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    )
    replacement = None
    try:
        wait_until(
            "both workers in /metrics, ready",
            lambda: len(workers(m := scrape(api))) == 2 and value(m, "model_ready") == 1,
        )
        started = worker_processes(api.process.pid)
        os.kill(api.process.pid, signal.SIGHUP)
        replacement = wait_until(
            "a replacement started", lambda: worker_processes(api.process.pid) - started
        ).pop()
        os.kill(replacement, signal.SIGSTOP)
        assert hold_when_ready_to_count(replacement, metrics_dir, time.monotonic() + 4), (
            "the replacement made its metrics within uvicorn's 5 s"
        )
        assert value(scrape(api), "model_ready") == 0  # a worker not ready: the minimum, 0
        log = wait_until(
            "the restart aborted",
            lambda: "aborting the restart" in (text := api.log_text()) and text,
        )
        assert f"New child process [{replacement}] was not ready in time" in log
        wait_until(
            "the replacement forgotten",
            lambda: not list(metrics_dir.glob(f"gauge_live*_{replacement}.db")),
            timeout=10,
        )
        metrics = scrape(api)
        assert value(metrics, "model_ready") == 1
        assert replacement not in pids_in(metrics)
        assert worker_processes(api.process.pid) == started
        assert post_json(api.url, "/predict", row).status == 200
    finally:
        if replacement is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(replacement, signal.SIGCONT)  # if it is still there: let it exit
        stop_api(api)
    assert "Traceback" not in api.log_text()
