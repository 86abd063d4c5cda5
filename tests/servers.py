"""Real servers for the tests and the benchmarks: free loopback ports, bounded waits, and
stopping exactly the process group we started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
MLFLOW_START_TIMEOUT_S = 90
MODEL_SERVE_START_TIMEOUT_S = 180


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a user has after activating the venv, without any tracking server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_flags(port: int) -> list[str]:
    """`--host 127.0.0.1 --port <port> --workers 1`, as `mlflow server` and uvicorn take them."""
    return ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Until `url` answers 200; fails after `timeout` s, or as soon as `process` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout}s ({last})")


def stop_process_group(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def start_group(
    command: list[str], ready_url: str, timeout: float, cwd: Path, env: dict[str, str], log
) -> subprocess.Popen:
    """`command` in its own process group (its workers stop with it, `stop_process_group`);
    returns once `ready_url` answers 200, or stops it and fails after `timeout` s."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_http(ready_url, timeout, process)
    except BaseException:
        stop_process_group(process)
        raise
    return process


def start_mlflow_server(home: Path, env: dict[str, str], log) -> tuple[subprocess.Popen, str]:
    """`mlflow server` (sqlite backend, served artifacts, one worker) on a free loopback port,
    in its own process group (its workers stop with it); returns once /health answers."""
    port = free_port()
    command = [
        str(VENV_BIN / "mlflow"),
        "server",
        *loopback_flags(port),
        "--backend-store-uri",
        f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination",
        str(home / "artifacts"),
        "--serve-artifacts",
    ]
    url = f"http://127.0.0.1:{port}"
    return start_group(command, f"{url}/health", MLFLOW_START_TIMEOUT_S, home, env, log), url


def start_model_server(
    model_uri: str, cwd: Path, env: dict[str, str], log
) -> tuple[subprocess.Popen, str]:
    """`mlflow models serve -m model_uri --env-manager local` (one worker) on a free loopback
    port, in its own process group; returns once /ping answers."""
    port = free_port()
    command = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    return start_group(command, f"{url}/ping", MODEL_SERVE_START_TIMEOUT_S, cwd, env, log), url
