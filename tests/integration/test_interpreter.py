"""A stage run by a Python without the project's packages (what `.venv/bin/dvc repro` does when
the venv is not on PATH: stage commands call `python`) stops with one line saying so, exit 1,
and no ModuleNotFoundError traceback."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SYSTEM_PYTHON = Path("/usr/bin/python3")
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.fixture(scope="module")
def system_python() -> Path:
    if not SYSTEM_PYTHON.is_file():
        pytest.skip(f"{SYSTEM_PYTHON} is absent")
    probe = "import importlib.util as u; print(all(u.find_spec(n) for n in %r))"
    names = ("pandas", "numpy", "sklearn", "xgboost", "pydantic")
    result = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", probe % (names,)], capture_output=True, text=True, timeout=60
    )
    if result.stdout.strip() != "False":
        pytest.skip(f"{SYSTEM_PYTHON} has {', '.join(names)}: it is not a Python without them")
    return SYSTEM_PYTHON


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_under_a_python_without_the_packages(system_python: Path, stage: str) -> None:
    # The stage's own command from dvc.yaml, with `python` resolving to the system one.
    program, *args = shlex.split(STAGES[stage]["cmd"])
    assert program == "python"
    result = subprocess.run(
        [str(system_python), *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"{stage}: error: this Python ({system_python}) lacks the project's packages "
        "(No module named 'house_price', 'pandas'"
    ), lines[0]
    assert lines[0].endswith("run the pipeline with `make run`, or put .venv/bin first on PATH")
