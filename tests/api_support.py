"""Helpers for the API tests: a real uvicorn server on a free loopback port, started and stopped
through tests/servers.py (its own process group, bounded waits), and a raw HTTP client (exact
bytes, exact headers, no proxies).

The pipeline outputs come from the shared fixtures of tests/conftest.py: `bundle_dir` (a Path
to a model bundle) and `evaluated_rows` ((test split DataFrame, evaluate-stage predictions))."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from servers import free_port, start_server, stop_process_group

from house_price.schema import Profile

VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0
PARITY_RTOL = 1e-6  # API vs pipeline predictions: the same arithmetic, to float rounding
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def call(
    base: str | Any,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One request with exactly these bytes and headers (http.client adds Content-Length only).
    `base`: a server's URL, or an in-process client (FastAPI's TestClient: the unit tier)."""
    if not isinstance(base, str):
        response = base.request(method, path, content=body, headers=headers or {})
        received = {name.lower(): value for name, value in response.headers.items()}
        return Reply(response.status_code, received, response.content)
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def post_json(base: str | Any, path: str, payload: Any, timeout: float = 60.0) -> Reply:
    body = json.dumps(payload).encode()
    return call(base, "POST", path, body, {"Content-Type": "application/json"}, timeout)


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_api(
    model_dir: Path | str,
    log: Path,
    expect_status: int | None = 200,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
    host: str = "127.0.0.1",
) -> ApiServer:
    """`python -m house_price.serve` (uvicorn, as the image runs it) with MODEL_DIR=model_dir on
    a free port of the loopback address `host`; waits until GET /health answers (with
    `expect_status`, or anything when None). Always stop it with `stop_api`."""
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MAX_", "MODEL_"))},
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MODEL_DIR": str(model_dir),
        "HOST": host,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        **(env or {}),
    }
    command = [str(VENV_BIN / "python"), "-m", "house_price.serve"]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    process = start_server(command, log, f"{url}/health", environment, None, timeout, expect_status)
    return ApiServer(url, process, log)


def stop_api(server: ApiServer) -> None:
    """The uvicorn process group we started, nothing else: TERM, bounded wait, then KILL."""
    stop_process_group(server.process, STOP_TIMEOUT_S)


def request_rows(
    frame: pd.DataFrame, profile: Profile, omit_missing: bool = False
) -> list[dict[str, Any]]:
    """DataFrame rows as JSON rows: ints for int columns, ISO dates, None for missing values
    (or, with `omit_missing`, no field at all in every other row)."""
    rows = []
    for index, record in enumerate(frame[profile.feature_names].to_dict(orient="records")):
        row: dict[str, Any] = {}
        for column in profile.features:
            value = record[column.name]
            if value is None or pd.isna(value):
                if not (omit_missing and index % 2):
                    row[column.name] = None
            elif column.is_date:
                row[column.name] = value.date().isoformat()
            elif column.kind == "int":
                row[column.name] = int(value)
            elif column.kind == "float":
                row[column.name] = float(value)
            else:
                row[column.name] = str(value)
        rows.append(row)
    return rows


def served_predictions(
    model_dir: Path, frame: pd.DataFrame, profile: Profile, log: Path, omit_missing: bool = False
) -> np.ndarray:
    """Every row of `frame` predicted by the real API serving `model_dir` (one /predict/batch
    request, `request_rows` with `omit_missing`); the server is stopped before returning.
    Asserts the request answered 200."""
    server = start_api(model_dir, log)
    try:
        reply = post_json(
            server.url, "/predict/batch", {"rows": request_rows(frame, profile, omit_missing)}
        )
    finally:
        stop_api(server)
    assert reply.status == 200, reply.text
    return np.array(reply.json()["predictions"])


def relative_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-12)))
