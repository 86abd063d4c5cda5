"""A bad param in params.yaml stops the first stage of the real pipeline (`dvc exp run`) with
one line naming the param, the value and what is allowed, and `house-price check` finds what no
stage would read. The unit cases (every param's type and bounds, the messages) are in
tests/unit/core/test_params.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, assert_one_line_error, git_copy, run

# --- the real pipeline: the first stage that runs stops, before any work ------------------------

PIPELINE_CASES = {
    # -S value: (the first stage to run, what its one line says)
    "process.test_size=0": (
        "process",
        "process.test_size = 0 is not allowed: a number > 0 and < 1",
    ),
    # tune reads the train params too (its trials start from them): it runs first
    "train.max_depth=-1": (
        "tune",
        "train.max_depth = -1 is not allowed: an integer >= 1 and <= 30",
    ),
    "train.learning_rate=0": (
        "tune",
        "train.learning_rate = 0 is not allowed: a number > 0 and <= 1",
    ),
}


def assert_first_stage_fails(result, stage: str, problem: str) -> None:
    assert_one_line_error(result, stage, "params.yaml", None, re.escape(problem))
    ran = re.findall(r"Running stage '(\w+)'", result.stdout)
    assert ran == [stage], result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(PIPELINE_CASES))
def test_exp_run_with_a_bad_param_stops_the_first_stage(workspace: Path, setting: str) -> None:
    stage, problem = PIPELINE_CASES[setting]
    result = run(["dvc", "exp", "run", "-S", setting], cwd=workspace, check=False)
    assert_first_stage_fails(result, stage, problem)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("train.max_depth=-1", PIPELINE_CASES["train.max_depth=-1"][1]),
        ("+train.max_dept=3", "train.max_dept is not a known param (train takes seed, "),
    ],
)
def test_bad_train_param_stops_ingest_in_a_fresh_copy(
    tmp_path: Path, setting: str, problem: str
) -> None:
    """Nothing ran yet: ingest is the first stage, and it checks the whole file."""
    repo = git_copy(tmp_path / "repo")
    result = run(["dvc", "exp", "run", "-S", setting], cwd=repo, check=False)
    assert_first_stage_fails(result, "ingest", problem)
    assert not (repo / "data" / "raw" / "data.csv").exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda text: text + "datset: seed\n", "params.yaml: datset is not a known param"),
        (lambda text: text.replace("dataset: houses", "dataset: nothere"), "has no profiles/"),
        (lambda text: text.replace("  workers: 2", "  workers: -1"), "dask.workers = -1"),
    ],
)
def test_house_price_check_finds_what_no_stage_would_read(
    tmp_path: Path, change: Any, problem: str
) -> None:
    """`dvc repro` runs no stage when the pipeline is up to date: `house-price check` (which
    `make run` runs first) reads the params and the profile anyway."""
    command = [str(Path(sys.executable).parent / "house-price"), "check", "--params"]
    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    good = subprocess.run([*command, str(params)], cwd=REPO, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "profiles/houses.yaml are valid" in good.stderr
    params.write_text(change((REPO / "params.yaml").read_text()))
    bad = subprocess.run([*command, str(params)], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("house-price: error: ")
    assert problem in line
