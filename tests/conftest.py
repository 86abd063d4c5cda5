"""Shared fixtures of every tier: temporary git copies of the repo, a pipeline run once per
session, a real MLflow tracking server on a free loopback port, and the tiny bundle.

The tiers (README: Tests): tests/unit runs in-process only (no subprocess, no server, no DVC):
there `bundle_dir`, `bundle`, `profile` and `evaluated_rows` are the tiny bundle's
(tests/tiny_bundle.py, built in-process once per session), and asking for the pipeline, a
server or MLflow is a collection error. tests/integration runs the real DVC, MLflow and uvicorn
(there those fixtures are the session pipeline's); tests/system the container, the rehearsal,
the DVC remote and monitoring end to end."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from api_support import ApiServer, start_api, stop_api
from servers import (  # noqa: F401 (re-exported for the tests)
    clean_env,
    free_port,
    start_mlflow_server,
    stop_process_group,
)
from tiny_bundle import TinyPipeline, build_tiny_bundle

from house_price.schema import Profile
from house_price.serving.bundle import Bundle, load_bundle

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "system")
# What the unit tier may not ask for: each runs DVC, a server or a subprocess.
NOT_IN_UNIT = {"pipeline_repo", "mlflow_server", "server", "workspace", "forced_repro", "committed"}


def tier_of(path: Path) -> str | None:
    try:
        return Path(path).resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None


# `make test` runs two pytest-xdist workers (-n 2 --dist loadgroup). Each test file is one unit of
# work, on one worker (its module fixtures are made once), except the groups below, each run on one
# worker in order. The files that use the session pipeline form two groups of about equal time, so
# that each worker runs `dvc repro` once, against its own MLflow server, and the two halves run side
# by side; the files that use the Docker engine form one (so that nothing else builds, runs, or
# starts and stops the engine meanwhile; the container tests run the pipeline on a worker that has
# not yet). Work is handed out longest first (the longest job first, so that the two workers end
# together): the two pipeline groups, the files in HEAVY (minutes each), the other integration and
# system files, then the unit tier's, which fill the end. pytest-xdist's own loadgroup cannot be
# used: under pytest 9 its `xdist_group` marks do not reach the scheduler (it sets Item._nodeid,
# which pytest 9 no longer reads), so pytest_xdist_make_scheduler below groups by file. A test that
# uses the session pipeline or the engine outside its group's files is a collection error.
GROUPS = {
    "pipeline-1": {
        "integration/test_api_server.py",
        "integration/test_batch_scoring.py",
        "integration/test_data_shapes.py",
        "integration/test_deps.py",
        "integration/test_drift_reference.py",
        "integration/test_experiments.py",
        "integration/test_params_pipeline.py",
    },
    "pipeline-2": {
        "integration/test_bad_input.py",
        "integration/test_mlflow_model.py",
        "integration/test_own_data.py",
        "integration/test_pipeline.py",
        "integration/test_server_limits.py",
        "integration/test_tracking.py",
        "system/test_monitor_script.py",
        "system/test_monitoring_e2e.py",
    },
    "engine": {"system/test_container.py", "system/test_rehearsal.py"},
}
# Files of several minutes each outside the groups, longest first (`pytest --durations=0`).
HEAVY = (
    "integration/test_quality.py",
    "integration/test_dask_engine.py",
    "integration/test_real_data.py",
    "integration/test_promotion_registry.py",
    "system/test_dvc_remote.py",
)
SESSION_PIPELINE = NOT_IN_UNIT | {"bundle_dir", "bundle", "profile", "evaluated_rows"}


def group_of(path: str) -> str | None:
    """The group of a test file (a path relative to tests/ or ending in it), or None."""
    for name, files in GROUPS.items():
        if any(path == file or path.endswith(f"tests/{file}") for file in files):
            return name
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked with its tier (`-m unit`, ...); a unit test that asks for the
    pipeline, a server or MLflow fails at collection, and so does a test of the session
    pipeline or of the Docker engine outside its group's files."""
    for item in items:
        tier = tier_of(item.path)
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        fixtures = set(getattr(item, "fixturenames", ()))
        if tier == "unit":
            wanted = NOT_IN_UNIT & fixtures
            if wanted:
                raise pytest.UsageError(
                    f"{item.nodeid}: the unit tier runs no pipeline, server or subprocess, "
                    f"but it asks for {', '.join(sorted(wanted))}: move it to tests/integration"
                )
            continue
        group = group_of(Path(item.path).resolve().relative_to(TESTS).as_posix())
        if item.get_closest_marker("container") is not None and group != "engine":
            raise pytest.UsageError(
                f"{item.nodeid}: uses the Docker engine: add its file to "
                "GROUPS['engine'] in tests/conftest.py"
            )
        if fixtures & SESSION_PIPELINE and group is None:
            raise pytest.UsageError(
                f"{item.nodeid}: uses the session pipeline: add its file to "
                "GROUPS['pipeline-1'] or GROUPS['pipeline-2'] in tests/conftest.py"
            )
    items.sort(key=handout_rank)


def handout_rank(item: pytest.Item) -> tuple[int, int]:
    """Where a test's unit of work stands in the hand-out order: the pipeline groups, HEAVY,
    the other integration and system files (the engine group among them), then the unit tier
    (a stable sort keeps each file's order)."""
    relative = Path(item.path).resolve().relative_to(TESTS).as_posix()
    if (group_of(relative) or "").startswith("pipeline"):
        return 0, 0
    if relative in HEAVY:
        return 1, HEAVY.index(relative)
    return (3 if tier_of(item.path) == "unit" else 2), 0


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup: whole files as units of work, and each of GROUPS as one unit."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep the hand-out order of handout_rank

    class FileAndGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return group_of(path) or path

    return FileAndGroupScheduling(config, log)


class SubprocessInUnitTierError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_subprocess_in_the_unit_tier(request: pytest.FixtureRequest, monkeypatch) -> None:
    """tests/unit is in-process: starting any process there fails the test."""
    if tier_of(request.path) != "unit":
        return

    def refuse(self, args, *rest, **kwargs):
        raise SubprocessInUnitTierError(
            f"the unit tier starts no process ({args!r}): move the test to tests/integration"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600, check=True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def project_files() -> list[str]:
    """Tracked files plus new ones not ignored: what a fresh clone would hold once committed."""
    listing = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO
    ).stdout
    return [name for name in listing.split("\0") if name and (REPO / name).is_file()]


def git_copy(destination: Path) -> Path:
    """A fresh git repository holding the project's files in one commit."""
    for name in project_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    run(["git", "init", "-q", "-b", "main"], cwd=destination)
    run(["git", "add", "-A"], cwd=destination)
    run(["git", "commit", "-qm", "test copy"], cwd=destination)
    return destination


def clone_workspace(source: Path, destination: Path) -> Path:
    """A copy of a repo that has run the pipeline, with its DVC cache and outputs."""
    shutil.copytree(source, destination, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
    return destination


@dataclass(frozen=True)
class MlflowServer:
    url: str
    pid: int


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """`mlflow server` with an sqlite backend and served artifacts, on a free loopback port."""
    home = tmp_path_factory.mktemp("mlflow-server")
    process, url = start_mlflow_server(home, clean_env(), home / "server.log")
    try:
        yield MlflowServer(url, process.pid)
    finally:
        stop_process_group(process)


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer) -> Path:
    """A git copy of the project where `dvc repro` ran once on the default data, logging to the
    session's MLflow server. Read-only for tests: copy it (clone_workspace) to change it."""
    repo = git_copy(tmp_path_factory.mktemp("pipeline") / "repo")
    run(["dvc", "repro"], cwd=repo, env=clean_env(MLFLOW_TRACKING_URI=mlflow_server.url))
    return repo


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> TinyPipeline:
    """The tiny bundle (a few hundred synthetic rows, a handful of trees), its splits and the
    pipeline path's predictions of its test split, built in-process (tests/tiny_bundle.py)."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def bundle_dir(request: pytest.FixtureRequest) -> Path:
    """The bundle a test runs against: in tests/unit the tiny bundle, elsewhere the session
    pipeline's."""
    if tier_of(request.path) == "unit":
        return request.getfixturevalue("tiny_pipeline").bundle_dir
    return request.getfixturevalue("pipeline_repo") / "models" / "house-price"


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> Bundle:
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def profile(bundle: Bundle) -> Profile:
    return bundle.profile


@pytest.fixture(scope="module")
def server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """`uvicorn house_price.api:app` on the session's bundle (module-level app, MODEL_DIR from
    the environment), one per test module."""
    api = start_api(bundle_dir, tmp_path_factory.mktemp("api") / "uvicorn.log")
    try:
        yield api
    finally:
        stop_api(api)


@pytest.fixture(scope="module")
def evaluated_rows(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, np.ndarray]:
    """The test split and the evaluate stage's prediction for each of its rows (in tests/unit,
    the tiny bundle's test split and its pipeline-path predictions)."""
    if tier_of(request.path) == "unit":
        tiny = request.getfixturevalue("tiny_pipeline")
        return tiny.test, tiny.predictions
    pipeline_repo = request.getfixturevalue("pipeline_repo")
    test = pd.read_parquet(pipeline_repo / "data" / "processed" / "test.parquet")
    predictions = pd.read_parquet(pipeline_repo / "artifacts" / "test_predictions.parquet")
    return test, predictions["prediction"].to_numpy()


@pytest.fixture
def workspace(pipeline_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the pipeline repo (outputs, lock and DVC cache) to change freely."""
    return clone_workspace(pipeline_repo, tmp_path / "repo")


def shared_csv(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(
            f"{path} is absent: the real data sets live outside the repo (see docs/own-data.md)"
        )
    return path


# --- helpers for the pipeline tests (DVC outputs, params, git) ---------------------------------


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lock_outs(repo: Path) -> dict[str, str]:
    """Every stage output recorded in dvc.lock: path -> md5 (a `.dir` hash for directories)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    stages = lock["stages"].values()
    return {out["path"]: out["md5"] for stage in stages for out in stage.get("outs", [])}


def cached_dir_listing(repo: Path, dir_md5: str) -> dict[str, str]:
    """relpath -> md5 of the files of a directory output, from its `.dir` entry in the cache
    (`dir_md5` as dvc.lock records it, ending in `.dir`)."""
    entry = repo / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    return {item["relpath"]: item["md5"] for item in json.loads(entry.read_text())}


def tree_md5s(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): md5_of(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def hashed_tree_md5s(repo: Path, directory: Path) -> dict[str, str]:
    """tree_md5s of what DVC hashes in `directory`: without what the repo's .dvcignore names
    (the bundle's registrations/)."""
    import pathspec  # DVC's own dependency, for the same gitignore-style rules

    ignored = pathspec.PathSpec.from_lines(
        "gitwildmatch", (repo / ".dvcignore").read_text().splitlines()
    )
    prefix = directory.relative_to(repo).as_posix()
    return {
        name: md5
        for name, md5 in tree_md5s(directory).items()
        if not ignored.match_file(f"{prefix}/{name}")
    }


def output_mismatches(repo: Path, paths: list[str] | None = None) -> list[str]:
    """The outputs (all of dvc.lock's, or `paths`) whose content differs from dvc.lock."""
    recorded = lock_outs(repo)
    problems = []
    for name in paths or list(recorded):
        path, expected = repo / name, recorded[name]
        if expected.endswith(".dir"):
            if not path.is_dir():
                problems.append(f"{name}: missing directory")
            elif hashed_tree_md5s(repo, path) != cached_dir_listing(repo, expected):
                problems.append(f"{name}: directory content differs from dvc.lock")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif md5_of(path) != expected:
            problems.append(f"{name}: md5 {md5_of(path)} != dvc.lock {expected}")
    return problems


def set_params(repo: Path, **changes: Any) -> None:
    """Edit params.yaml in a copy: set_params(repo, **{"evaluate.min_r2": 0.999})."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", message, "--allow-empty"], cwd=repo)


def git_head(repo: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def assert_one_line_error(result, stage: str, file: str, column: str | None, problem: str):
    """A failed `dvc repro`/`dvc exp run`: exactly one `<stage>: error: <file>: ` line matching
    `problem` (naming `column`), DVC's one summary line for the stage, and no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{stage}: error: ")]
    assert len(errors) == 1, result.stderr
    message = errors[0]
    assert message.startswith(f"{stage}: error: {file}: "), message
    assert re.search(problem, message), message
    if column is not None:
        assert f"'{column}'" in message
    # Everything else on stderr is DVC's: its summary of the failed stage, and its warnings
    # (e.g. "WARNING: 'data/raw/data.csv' is empty.").
    others = [line for line in result.stderr.splitlines() if line.strip() and line != message]
    dvc_errors = [line for line in others if line.startswith("ERROR: ")]
    assert len(dvc_errors) == 1, result.stderr
    assert dvc_errors[0].startswith(f"ERROR: failed to reproduce '{stage}': "), result.stderr
    assert all(line.startswith(("ERROR: ", "WARNING: ")) for line in others), result.stderr
