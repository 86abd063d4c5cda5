"""`make monitor` (scripts/monitor.py) for real: started as its own process group on free
loopback ports, as a terminal runs it; once the API, Prometheus and Alertmanager answer and
Prometheus scrapes its targets, a SIGINT to the group (what Ctrl-C sends) must stop every
process it started within a bound, free every port, and remove its temporary directory."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from servers import (
    MONITORING_PACKAGES_HINT,
    REPO,
    SERVER_START_TIMEOUT_S,
    VENV_BIN,
    clean_env,
    free_port,
    get_json,
    missing_monitoring_tools,
    stop_process_group,
    wait_for_http,
)

from house_price.api.core.config import WORKERS_PER_CPU, max_workers, usable_cpus

pytestmark = pytest.mark.slow
START_S = 90  # the API's workers load the bundle and self-check; the daemons start
SCRAPE_S = 30  # scrape interval 1s: every target up well within this
STOP_S = 30  # uvicorn's graceful shutdown is 10 s at most; the daemons stop in a second or two


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def targets_up(prometheus: str) -> dict[str, str]:
    """job -> health of each active target, once every target is up (else {})."""
    active = get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
    health = {target["labels"]["job"]: target["health"] for target in active}
    return health if health and set(health.values()) == {"up"} else {}


def test_ctrl_c_stops_everything_it_started(bundle_dir: Path, tmp_path: Path) -> None:
    missing = missing_monitoring_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: `{MONITORING_PACKAGES_HINT}`")
    ports = {name: free_port() for name in ("api", "prometheus", "alertmanager", "webhook")}
    command = [str(VENV_BIN / "python"), str(REPO / "scripts" / "monitor.py")]
    command += ["--model-dir", str(bundle_dir), "--workers", "2", "--interval", "1s"]
    for name, port in ports.items():
        command += [f"--{name}-port", str(port)]
    log = tmp_path / "monitor.log"
    with open(log, "wb") as handle:
        monitor = subprocess.Popen(
            command,
            cwd=REPO,
            env=clean_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a shell's foreground job
        )
    children: list[psutil.Process] = []
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        wait_for_http(f"{urls['api']}/health", START_S, monitor)
        wait_for_http(f"{urls['prometheus']}/-/ready", START_S, monitor)
        wait_for_http(f"{urls['alertmanager']}/-/ready", START_S, monitor)
        deadline = time.monotonic() + SCRAPE_S
        while not (health := targets_up(urls["prometheus"])) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert health == {"house-price-api": "up", "prometheus": "up"}, log.read_text()
        assert get_json(f"{urls['alertmanager']}/api/v2/status")["cluster"]["status"]
        # Everything the script started: uvicorn's supervisor and 2 workers, Prometheus,
        # Alertmanager (each in a process group of its own, so Ctrl-C reaches only monitor.py).
        children = psutil.Process(monitor.pid).children(recursive=True)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        assert "house_price.serve" in names
        assert "prometheus-alertmanager" in names
        assert len(children) >= 5, names
        assert all(listening(port) for port in ports.values())

        started = time.monotonic()
        os.killpg(monitor.pid, signal.SIGINT)  # Ctrl-C: the foreground process group
        assert monitor.wait(timeout=STOP_S) == 0, log.read_text()
        _, alive = psutil.wait_procs(
            children, timeout=max(1.0, STOP_S - (time.monotonic() - started))
        )
        assert not alive, f"still running after Ctrl-C: {[child.pid for child in alive]}"
        elapsed = time.monotonic() - started
        assert elapsed < STOP_S
        left = [name for name, port in ports.items() if listening(port)]
        assert not left, f"ports still listening after Ctrl-C: {left}"
        output = log.read_text()
        assert "monitor: stopped" in output, output
        assert "Traceback" not in output, output
        home = re.search(r"^logs\s+(\S+)/\*\.log", output, re.MULTILINE)
        assert home is not None, output
        assert not Path(home.group(1)).exists()  # its temporary directory is removed
        print(f"\nmake monitor: every process stopped {elapsed:.1f} s after Ctrl-C")
    finally:  # only if an assertion left something running: by pid, bounded
        stop_process_group(monitor)
        for child in children:
            if child.is_running():
                child.terminate()
        psutil.wait_procs([child for child in children if child.is_running()], timeout=10)


def run_monitor(
    ports: dict[str, int], model_dir: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    command = [str(VENV_BIN / "python"), str(REPO / "scripts" / "monitor.py")]
    command += ["--model-dir", str(model_dir), *options]
    for name, port in ports.items():
        command += [f"--{name}-port", str(port)]
    return subprocess.run(
        command, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=START_S
    )


@pytest.mark.parametrize("taken", ["api", "prometheus", "alertmanager", "webhook"])
def test_a_port_in_use_is_one_line_before_anything_starts(bundle_dir: Path, taken: str) -> None:
    """Another server on a port (another `make monitor`, `make serve`) answered the start-up
    probes for ours: the banner was printed, then monitor stopped with exit 0."""
    ports = {name: free_port() for name in ("api", "prometheus", "alertmanager", "webhook")}
    with socket.socket() as other:
        other.bind(("127.0.0.1", ports[taken]))
        other.listen()
        result = run_monitor(ports, bundle_dir)
    assert result.returncode == 1
    assert result.stdout == ""  # no banner, no server started
    assert result.stderr == (
        f"monitor: error: --{taken}-port {ports[taken]}: 127.0.0.1:{ports[taken]} cannot be "
        "listened on (Address already in use): stop what uses it, or choose another port\n"
    )


def test_one_port_for_two_servers_is_refused(bundle_dir: Path) -> None:
    port = free_port()
    ports = {"api": free_port(), "prometheus": port, "alertmanager": free_port(), "webhook": port}
    result = run_monitor(ports, bundle_dir)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"monitor: error: --webhook-port {port}: --prometheus-port has it too; give each "
        "server its own port\n"
    )


@pytest.mark.parametrize("workers", [0, -1, max_workers() + 1])
def test_workers_out_of_range_are_one_line_before_anything_starts(
    bundle_dir: Path, workers: int
) -> None:
    """The API refuses WEB_CONCURRENCY outside 1 to max_workers(), but only once started: the
    banner-less failure came after the start-up wait, in a multi-line message."""
    ports = {name: free_port() for name in ("api", "prometheus", "alertmanager", "webhook")}
    result = run_monitor(ports, bundle_dir, "--workers", str(workers))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"monitor: error: --workers {workers}: the API runs from 1 to {max_workers()} workers "
        f"({WORKERS_PER_CPU} per usable CPU, {usable_cpus()} here)\n"
    )


def test_a_broken_bundle_is_named_at_once(bundle_dir: Path, tmp_path: Path) -> None:
    """The API serves 503 with the reason; monitor waited out its 60 s start-up bound, then
    named a log in the folder it had just removed."""
    broken = tmp_path / "bundle"
    shutil.copytree(bundle_dir, broken)
    (broken / "model.ubj").write_bytes(b"not a model")
    ports = {name: free_port() for name in ("api", "prometheus", "alertmanager", "webhook")}
    started = time.monotonic()
    result = run_monitor(ports, broken)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"monitor: error: the API on http://127.0.0.1:{ports['api']} serves no model: "
        f"{broken}: unreadable bundle"
    ), lines[0]
    assert result.stdout == "monitor: stopped\n"
    assert not [name for name, port in ports.items() if listening(port)]
    assert elapsed < SERVER_START_TIMEOUT_S  # not after the API's start-up bound, as before
    print(f"\nbroken bundle named after {elapsed:.1f} s")
