"""DVC experiments on a committed copy of the pipeline: `dvc exp run -S`, the queue with two
workers, and `dvc exp show` with the metrics. MLFLOW_TRACKING_URI is unset (clean_env): each
experiment logs to the local store of the directory it runs in."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import clean_env, commit_all, run

pytestmark = pytest.mark.slow

QUEUE_TIMEOUT_S = 900
UPSTREAM = ["ingest", "process", "featurize"]
DOWNSTREAM = ["train", "evaluate", "package"]


@pytest.fixture
def committed(workspace: Path) -> Path:
    """The workspace with the pipeline's results committed: the baseline of experiments."""
    commit_all(workspace, "pipeline results")
    return workspace


def experiments(repo: Path) -> dict[str, dict[str, Any]]:
    """name -> {"params": ..., "metrics": ...} from `dvc exp show --json`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], cwd=repo).stdout)
    found = {}
    for baseline in shown:
        for entry in baseline.get("experiments") or []:
            for revision in entry.get("revs", []):
                data = revision.get("data") or {}
                found[revision.get("name") or revision["rev"]] = {
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": data.get("metrics", {}).get("metrics.json", {}).get("data", {}),
                }
    return found


TAGS_QUERY = textwrap.dedent(
    """
    import json, sys
    from mlflow import MlflowClient
    print(json.dumps(MlflowClient(sys.argv[1]).get_run(sys.argv[2]).data.tags))
    """
)


def test_exp_run_reruns_only_train_and_after(committed: Path) -> None:
    baseline = json.loads((committed / "metrics.json").read_text())
    result = run(
        ["dvc", "exp", "run", "-S", "train.max_depth=4", "--name", "depth4"], cwd=committed
    )
    log = result.stdout + result.stderr
    for stage in UPSTREAM:
        assert f"Stage '{stage}' didn't change, skipping" in log
        assert f"Running stage '{stage}'" not in log
    for stage in DOWNSTREAM:
        assert f"Running stage '{stage}'" in log

    shown = experiments(committed)
    assert shown["depth4"]["params"]["train"]["max_depth"] == 4
    metrics = shown["depth4"]["metrics"]
    assert metrics == json.loads((committed / "metrics.json").read_text())  # applied
    assert {"r2", "rmse", "mae", "rmsle"} <= set(metrics)
    assert metrics["r2"] != baseline["r2"], "a shallower model scores differently"

    # The MLflow run made by the experiment is tagged with its name (DVC_EXP_NAME).
    info = json.loads((committed / "artifacts" / "train_run.json").read_text())
    assert info["tracking_uri"].startswith(f"sqlite:///{committed / 'mlruns'}")
    tags = json.loads(
        run(
            ["python", "-c", TAGS_QUERY, info["tracking_uri"], info["run_id"]], cwd=committed
        ).stdout
    )
    assert tags["dvc_exp_name"] == "depth4"
    assert tags["git_commit"] == run(["git", "rev-parse", "HEAD"], cwd=committed).stdout.strip()


def queue_states(repo: Path) -> dict[str, str]:
    """name -> status from `dvc queue status` (Queued, Running, Success, Failed, ...)."""
    lines = run(["dvc", "queue", "status"], cwd=repo, timeout=120).stdout.splitlines()
    states = {}
    for line in lines[1:]:  # header: Task  Name  Created  Status
        fields = line.split()
        if len(fields) >= 4 and fields[0] != "Worker":
            states[fields[1]] = fields[-1]
        if line.startswith("Worker"):
            break
    return states


def start_workers(repo: Path, log: Path) -> None:
    """`dvc queue start -j 2`. Its output goes to a file, not a pipe: the workers it spawns
    inherit the descriptors, and reading a pipe to its end would wait for them to finish."""
    with open(log, "w") as output:
        started = subprocess.run(
            ["dvc", "queue", "start", "-j", "2"],
            cwd=repo,
            env=clean_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert started.returncode == 0, log.read_text()
    assert "Started '2' new experiments task queue workers" in log.read_text()


def test_queue_runs_two_experiments_in_parallel(committed: Path) -> None:
    names = {"lr010": "0.1", "lr002": "0.02"}
    for name, rate in names.items():
        queued = run(
            ["dvc", "exp", "run", "--queue", "-S", f"train.learning_rate={rate}", "--name", name],
            cwd=committed,
        )
        assert "Queued experiment" in queued.stdout + queued.stderr
    assert set(queue_states(committed)) == set(names)

    started = time.monotonic()
    try:
        start_workers(committed, log=committed.parent / "queue-start.log")
        states: dict[str, str] = {}
        most_running = 0
        while time.monotonic() - started < QUEUE_TIMEOUT_S:
            states = queue_states(committed)
            most_running = max(most_running, list(states.values()).count("Running"))
            if states and all(state in ("Success", "Failed") for state in states.values()):
                break
            time.sleep(2)
        else:
            pytest.fail(f"queue not done in {QUEUE_TIMEOUT_S}s: {states}")
        print(f"queue of 2 with -j 2: {time.monotonic() - started:.0f}s")
        if any(state != "Success" for state in states.values()):
            logs = {
                name: run(["dvc", "queue", "logs", name], cwd=committed, check=False).stdout[-3000:]
                for name in names
            }
            pytest.fail(f"queued experiments failed: {states}\n{logs}")
    finally:
        run(["dvc", "queue", "stop", "--kill"], cwd=committed, timeout=120, check=False)
    assert most_running == 2, "the two workers did not run the experiments side by side"

    shown = experiments(committed)
    for name, rate in names.items():
        assert shown[name]["params"]["train"]["learning_rate"] == float(rate)
        assert {"r2", "rmse", "mae", "rmsle"} <= set(shown[name]["metrics"]), shown[name]
        assert shown[name]["metrics"]["r2"] > 0.8
    assert shown["lr010"]["metrics"] != shown["lr002"]["metrics"]
    # Queued runs leave the workspace alone.
    assert json.loads(run(["dvc", "status", "--json"], cwd=committed).stdout) == {}
