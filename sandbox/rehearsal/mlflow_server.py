"""mlflow server: the workflow runs the official image ghcr.io/mlflow/mlflow:v<pin>, which no
registry reachable from here serves; the same version's `mlflow server` from the venv instead,
with the same options, on a free loopback port."""

from __future__ import annotations

import os
import re

from servers import free_port, spawn

from .context import Failure, Run, say

HEALTH_TIMEOUT = 60  # the workflow's waits
API_TIMEOUT = 30


def start(run: Run) -> None:
    assert run.work is not None
    check_version(run)
    home = run.work / "mlflow"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hosts = f"127.0.0.1,127.0.0.1:{port},localhost,localhost:{port}"
    command = [
        run.tool("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(home / "artifacts"),
        "--allowed-hosts", hosts, "--workers", "1",
    ]  # fmt: skip
    run.mlflow_log = home / "server.log"
    run.mlflow = spawn(command, run.mlflow_log, dict(os.environ), home)
    say(f"mlflow server pid {run.mlflow.pid} on {url} (log: {run.mlflow_log})")
    # The workflow's "Wait for MLflow" step, verbatim but for the port.
    wait = [run.tool("python"), str(run.clone / "scripts" / "wait_for_http.py")]
    run.run([*wait, f"{url}/health", "--timeout", str(HEALTH_TIMEOUT)], 120)
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
    run.run([*wait, search, "--timeout", str(API_TIMEOUT)], 120)
    if run.mlflow.poll() is not None:
        raise Failure("the MLflow server answering is not the one started here (it exited)")
    run.mlflow_url = url


def check_version(run: Run) -> None:
    """The venv and requirements.txt have the workflow's MLflow image's version: checked
    before anything is started."""
    workflow = (run.clone / ".github" / "workflows" / "ci.yml").read_text()
    match = re.search(r"ghcr\.io/mlflow/mlflow:v([0-9][0-9A-Za-z.+-]*)", workflow)
    if not match:
        raise Failure("no ghcr.io/mlflow/mlflow:v<version> image in .github/workflows/ci.yml")
    image, pin = match[0], match[1]
    version = "import importlib.metadata as m; print(m.version('mlflow'))"
    venv_mlflow = run.run(
        [run.tool("python"), "-c", version], 60, capture=True, echo=False
    ).stdout.strip()
    pinned = re.search(r"^mlflow==([^\s;#]+)", (run.clone / "requirements.txt").read_text(), re.M)
    required = pinned[1] if pinned else "?"
    say(f"workflow image {image}, requirements.txt mlflow=={required}, venv mlflow {venv_mlflow}")
    if venv_mlflow != pin:
        raise Failure(f"the venv's mlflow {venv_mlflow} is not the workflow's {image}")
    if required != pin:
        raise Failure(f"requirements.txt pins mlflow=={required}, the workflow runs {image}")
    run.facts["mlflow"] = f"{venv_mlflow} (venv) for {image}"
