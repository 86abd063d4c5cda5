"""DVC experiments on a committed copy of the pipeline: `dvc exp run -S`, promotion in the
registry, the queue with two workers, and `dvc exp show` with the metrics. MLFLOW_TRACKING_URI
is unset (clean_env): every experiment, queued ones too, logs to the workspace's local store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from api_support import call, start_api, stop_api
from conftest import (
    REPO,
    clean_env,
    commit_all,
    hashed_tree_md5s,
    output_mismatches,
    run,
    shared_csv,
)
from servers import (
    JOB_EXECUTION,
    MLFLOW_START_TIMEOUT_S,
    free_port,
    start_server,
    stop_process_group,
)

from house_price.serving.bundle import load_bundle

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


REGISTRY_QUERY = textwrap.dedent(
    """
    import json, sys
    from mlflow import MlflowClient
    client = MlflowClient(sys.argv[1])
    name = sys.argv[2]
    experiment = client.get_experiment_by_name("house-price")
    runs = client.search_runs([experiment.experiment_id])
    print(json.dumps({
        "aliases": client.get_registered_model(name).aliases,
        "versions": {
            v.version: {"run_id": v.run_id, "tags": v.tags, "description": v.description}
            for v in client.search_model_versions(f"name='{name}'")
        },
        "runs": {r.info.run_id: r.data.tags for r in runs},
    }))
    """
)
MODEL = "house-price-houses"


def registry(repo: Path, name: str = MODEL) -> dict[str, Any]:
    """The workspace's local MLflow store: aliases, versions (run, tags, description), runs."""
    uri = f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}"
    return json.loads(run(["python", "-c", REGISTRY_QUERY, uri, name], cwd=repo).stdout)


def registration(repo: Path) -> dict[str, Any]:
    """The MLflow run and version the workspace's bundle names (its registrations/ record)."""
    return load_bundle(repo / "models" / "house-price").registration


def exp_run(repo: Path, name: str, *changes: str) -> str:
    args = [item for change in changes for item in ("-S", change)]
    result = run(["dvc", "exp", "run", *args, "--name", name], cwd=repo)
    return result.stdout + result.stderr


def test_a_worse_experiment_keeps_the_alias_and_a_better_one_takes_it(committed: Path) -> None:
    """Deeper trees (max_depth 8: RMSE ~61,900 against the baseline's ~59,350 on the default
    data) are worse: registered, but the champion stays. Each decision is made on the current
    test split."""
    baseline = json.loads((committed / "metrics.json").read_text())
    log = exp_run(committed, "depth8", "train.max_depth=8")
    for stage in UPSTREAM:
        assert f"Stage '{stage}' didn't change, skipping" in log
        assert f"Running stage '{stage}'" not in log
    for stage in DOWNSTREAM:
        assert f"Running stage '{stage}'" in log
    deep = json.loads((committed / "metrics.json").read_text())
    assert deep["rmse"] > baseline["rmse"], "the deeper model should be the worse one"
    # This store has no champion yet (the session's run went to a server): the first takes it.
    first = registration(committed)
    assert first["promoted"] is True
    assert "@champion moved to v1: no champion yet" in log

    log = exp_run(committed, "depth6", "train.max_depth=6")  # the baseline's params: better
    second = registration(committed)
    assert second["version"] == "2"
    assert second["promoted"] is True, log
    assert re.search(r"@champion moved to v2: rmse \S+ beats the champion v1's", log), log

    log = exp_run(committed, "depth8-again", "train.max_depth=8")
    third = registration(committed)
    assert third["version"] == "3"
    assert third["promoted"] is False
    assert "@champion stays: rmse" in log
    assert "does not beat the champion v2's" in log

    state = registry(committed)
    assert state["aliases"] == {"champion": 2, "challenger": 3}  # MLflow gives ints here
    assert set(state["versions"]) == {"1", "2", "3"}
    for version, record in zip(("1", "2", "3"), (first, second, third), strict=True):
        assert state["versions"][version]["run_id"] == record["run_id"]
    tags = state["versions"]["3"]["tags"]
    assert tags["promoted"] == "false"
    assert tags["champion.version"] == "2"
    assert float(tags["champion.rmse"]) == pytest.approx(baseline["rmse"], rel=1e-9)
    assert float(tags["challenger.rmse"]) == pytest.approx(deep["rmse"], rel=1e-9)
    assert float(tags["promotion.improvement"]) < 0
    assert state["versions"]["3"]["description"] == tags["promotion.reason"]
    # The runs carry the experiment's name and commit; every version's run exists.
    runs = state["runs"]
    assert {runs[record["run_id"]]["dvc_exp_name"] for record in (first, second, third)} == {
        "depth8", "depth6", "depth8-again"
    }  # fmt: skip
    head = run(["git", "rev-parse", "HEAD"], cwd=committed).stdout.strip()
    assert runs[third["run_id"]]["git_commit"] == head
    # The decision's report, read as a file.
    report = json.loads((committed / "reports" / "promotion.json").read_text())
    assert report["promoted"] is False
    assert report["champion"]["version"] == "2"
    assert report["challenger"]["rmse"] == deep["rmse"]
    # `dvc plots diff` draws the experiments side by side (docs/experiments.md).
    diff = json.loads(
        run(["dvc", "plots", "diff", "depth8", "depth6", "--json"], cwd=committed).stdout
    )["data"]
    revisions = diff["plots/predicted_vs_actual.csv"][0]["revisions"]
    assert sorted(revisions) == ["depth6", "depth8"]
    values = diff["plots/predicted_vs_actual.csv"][0]["content"]["data"]["values"]
    assert {value["rev"] for value in values} == {"depth8", "depth6"}
    shown = experiments(committed)
    assert shown["depth8"]["params"]["train"]["max_depth"] == 8
    assert shown["depth8"]["metrics"]["rmse"] == deep["rmse"]

    # `make ui` serves this store: the same aliases over the UI server's REST API.
    port, venv = free_port(), REPO / ".venv"
    command = ["make", "ui", f"UI_PORT={port}", f"VENV={venv}", "-o", f"{venv}/bin/activate"]
    base = f"http://127.0.0.1:{port}"
    ui = start_server(
        command, committed.parent / "ui.log", f"{base}/health", cwd=committed,
        timeout=MLFLOW_START_TIMEOUT_S, env={**os.environ, JOB_EXECUTION: "false"},
    )  # fmt: skip
    try:
        url = f"{base}/api/2.0/mlflow/registered-models/get?name={MODEL}"
        with urllib.request.urlopen(url, timeout=30) as response:
            served = json.load(response)["registered_model"]
    finally:
        stop_process_group(ui)
    assert {item["alias"]: item["version"] for item in served["aliases"]} == {
        "champion": "2", "challenger": "3"
    }  # fmt: skip


def test_the_committed_lock_reproduces_on_a_fresh_copy(pipeline_repo: Path) -> None:
    """pipeline_repo is the project's files in a fresh git repository after `dvc repro` (what
    `make run` does once installed): not a byte of dvc.lock changed, although its MLflow run
    (on the session's server) is not the maintainers'."""
    diff = run(["git", "diff", "--exit-code", "--", "dvc.lock"], cwd=pipeline_repo, check=False)
    assert diff.returncode == 0, diff.stdout[-3000:]


def test_make_reset_returns_to_the_committed_baseline(committed: Path, tmp_path: Path) -> None:
    bundle = committed / "models" / "house-price"
    baseline = hashed_tree_md5s(committed, bundle)
    record = load_bundle(bundle).registration
    exp_run(committed, "depth4", "train.max_depth=4")
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=committed).stdout
    assert hashed_tree_md5s(committed, bundle) != baseline

    # The recipe as `make reset` runs it, with this checkout's venv (already installed).
    venv = REPO / ".venv"
    run(["make", "reset", f"VENV={venv}", "-o", str(venv / "bin" / "activate")], cwd=committed)
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=committed).stdout == ""
    assert json.loads(run(["dvc", "status", "--json"], cwd=committed).stdout) == {}
    assert output_mismatches(committed) == []
    assert hashed_tree_md5s(committed, bundle) == baseline
    api = start_api(bundle, tmp_path / "uvicorn.log")
    try:
        assert call(api.url, "GET", "/health").status == 200
        shown = call(api.url, "GET", "/model").json()
    finally:
        stop_api(api)
    # The restored bundle still names the run it was registered as.
    assert shown["mlflow"]["registered"] is True
    assert shown["mlflow"]["run_id"] == record["run_id"]


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


def test_queue_runs_experiments_in_parallel_with_lineage_in_the_workspace(
    committed: Path,
) -> None:
    """Queued experiments run in temporary copies that are deleted afterwards: their MLflow
    runs still land in the workspace's store, their bundles name those runs once applied, and
    a source CSV tracked with `dvc add` (git-ignored, as docs/experiments.md says) is readable
    there."""
    source = committed / "data" / "external" / "kingcounty" / "kc_house_data.csv"
    shutil.copyfile(shared_csv("kc_house_data.csv"), source)
    run(["dvc", "add", str(source.relative_to(committed))], cwd=committed)
    assert (
        run(["git", "check-ignore", "-q", str(source)], cwd=committed, check=False).returncode == 0
    )
    commit_all(committed, "track the King County source with dvc add")
    queued = {
        "lr010": ["train.learning_rate=0.1"],
        "lr002": ["train.learning_rate=0.02"],
        "kc": ["dataset=kingcounty"],
    }
    for name, changes in queued.items():
        args = [item for change in changes for item in ("-S", change)]
        result = run(["dvc", "exp", "run", "--queue", *args, "--name", name], cwd=committed)
        assert "Queued experiment" in result.stdout + result.stderr
    assert set(queue_states(committed)) == set(queued)

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
        print(f"queue of {len(queued)} with -j 2: {time.monotonic() - started:.0f}s")
        if any(state != "Success" for state in states.values()):
            logs = {
                name: run(["dvc", "queue", "logs", name], cwd=committed, check=False).stdout[-3000:]
                for name in queued
            }
            pytest.fail(f"queued experiments failed: {states}\n{logs}")
    finally:
        run(["dvc", "queue", "stop", "--kill"], cwd=committed, timeout=120, check=False)
    assert most_running == 2, "the two workers did not run the experiments side by side"

    shown = experiments(committed)
    for name in ("lr010", "lr002"):
        assert shown[name]["params"]["train"]["learning_rate"] == float(
            queued[name][0].split("=")[1]
        )
        assert {"r2", "rmse", "mae", "rmsle"} <= set(shown[name]["metrics"]), shown[name]
    assert shown["lr010"]["metrics"] != shown["lr002"]["metrics"]
    assert shown["kc"]["metrics"]["r2"] > 0.85
    # Queued runs leave the workspace's outputs alone...
    assert json.loads(run(["dvc", "status", "--json"], cwd=committed).stdout) == {}
    # ... but log to its store: every run is there, under its experiment's name.
    houses, kingcounty = registry(committed), registry(committed, "house-price-kingcounty")
    names = {tags.get("dvc_exp_name"): run_id for run_id, tags in houses["runs"].items()}
    assert set(names) == set(queued)
    # Another data set has its own registered model: the houses' champion is untouched.
    assert kingcounty["aliases"] == {"champion": 1}
    assert kingcounty["versions"]["1"]["run_id"] == names["kc"]
    assert {v["run_id"] for v in houses["versions"].values()} == {names["lr010"], names["lr002"]}
    assert str(houses["aliases"]["champion"]) in houses["versions"]
    # Each applied bundle names its own run, which exists in the workspace's store.
    for name in queued:
        run(["dvc", "exp", "apply", name], cwd=committed)
        record = registration(committed)
        assert record is not None, name
        assert record["run_id"] == names[name], name
        assert record["tracking_uri"] == f"sqlite:///{committed / 'mlruns' / 'mlflow.db'}"


def test_a_queued_experiment_names_git_ignored_data_it_cannot_see(committed: Path) -> None:
    """A source CSV that is only git-ignored is not copied into the temporary copy: ingest
    says so in one line and names both ways to make it visible."""
    source = committed / "data" / "external" / "kingcounty" / "kc_house_data.csv"
    shutil.copyfile(shared_csv("kc_house_data.csv"), source)
    result = run(
        ["dvc", "exp", "run", "--temp", "-S", "dataset=kingcounty", "--name", "kc"],
        cwd=committed,
        check=False,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("ingest: error:")]
    assert result.returncode != 0
    assert errors == [
        "ingest: error: data/external/kingcounty/kc_house_data.csv: not in this experiment's "
        "temporary copy, which holds only what git or DVC tracks: track it with `dvc add "
        "data/external/kingcounty/kc_house_data.csv` (see README), or queue with `dvc exp run "
        "--queue --copy-paths data/external/kingcounty/kc_house_data.csv`"
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_tuning_is_one_param_with_a_child_run_per_trial(committed: Path) -> None:
    """`dvc exp run -S tune.trials=N` tunes on the train split's folds, logs each trial as an
    MLflow child run of one parent, and train fits with the best params found."""
    log = exp_run(committed, "tuned", "tune.trials=3")
    assert "Running stage 'tune'" in log
    assert [f"tune: trial {i}/3" in log for i in (1, 2, 3)] == [True] * 3
    tuned = json.loads((committed / "artifacts" / "tuned.json").read_text())
    assert tuned["trials"] == 3
    assert set(tuned["params"]) == {
        "learning_rate",
        "max_depth",
        "min_child_weight",
        "subsample",
        "colsample_bytree",
        "reg_lambda",
    }
    assert "train: tuned params" in log
    runs = registry(committed)["runs"]
    (parent,) = [run_id for run_id, tags in runs.items() if tags.get("stage") == "tune"]
    children = [tags for tags in runs.values() if tags.get("mlflow.parentRunId") == parent]
    assert len(children) == 3
