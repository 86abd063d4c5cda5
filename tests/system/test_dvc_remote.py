"""A team's DVC remote on an S3 API (issue 11): a real S3-compatible server (moto in server mode)
on a loopback port, `dvc-s3`, and fresh git clones, as a teammate or CI would have them.

The origin repository tracks a user's own CSV with `dvc add` (data/external/mydata/), runs the
whole pipeline on it (MLflow: the clone's local store) and commits; runs one experiment
(train.max_depth=4) in a temporary copy; only then commits the team's remote, as docs/remote.md
sets it up: URL and endpoint in .dvc/config (`dvc remote add -d`, `dvc remote modify
endpointurl`, as for MinIO), the keys never in the repository. It pushes git to a local bare
repository and the data and run-cache to the bucket, and shares the experiment, which is older
than the remote, with `dvc exp push` and the whole remote in its .dvc/config.local (the page's
way for history from before the remote).

What the tests show, each in a fresh clone of the bare repository:
- `dvc pull` gives the same CSV, data, model and bundle as the origin (equal hashes), with the
  keys only in an AWS profile (a credentials file and AWS_PROFILE), nothing in .dvc/;
- CI's `dvc pull --run-cache --allow-missing && dvc repro --pull` on the unchanged pipeline runs
  no stage, within 10 s;
- the run-cache (entries pulled, their outputs fetched by `dvc repro --pull`) restores the
  experiment's train and evaluate stages without running them, and `package` runs: its output
  is `persist: true`, which DVC never keeps in the run-cache; `dvc metrics diff HEAD~1` and `dvc
  params diff HEAD~1` against the commit from before the remote show its real values;
- `dvc exp pull` brings the experiment that `dvc exp push` sent; `dvc exp apply` gives its
  outputs, bit for bit, and the remote stays usable;
- with the timeouts of docs/remote.md a pull from an endpoint that never answers fails within a
  minute, and what DVC says for a missing bucket, refused keys, a refused connection and a
  silent endpoint, and for no keys at all, is what docs/remote.md's troubleshooting table quotes.
tests/integration/test_remote_config.py shows, without a remote server, why the keys stay out
of .dvc/config.local unless the whole remote is there.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import (
    REPO,
    commit_all,
    git_copy,
    hashed_tree_md5s,
    lock_outs,
    md5_of,
    output_mismatches,
    run,
    set_params,
)
from docs_blocks import bash_block, run_lines
from servers import (
    CI_DVC_PULL,
    CI_DVC_PUSH,
    CI_DVC_REPRO,
    S3_TEST_CREDENTIALS,
    VENV_BIN,
    clean_env,
    free_port,
    loopback_env,
    s3_remote_options,
    start_s3_server,
    start_server,
    stop_process_group,
)
from test_own_data import OWN_CSV, default_profile

pytestmark = pytest.mark.slow

BUCKET = "house-price-dvc"
PULL_AND_REPRO_BOUND_S = 10
STAGES = ["ingest", "process", "featurize", "tune", "train", "evaluate", "package"]
EXPERIMENT = "deep"


def dvc_env(credentials: bool = True, **extra: str) -> dict[str, str]:
    """A user's shell: the venv first, no tracking server, loopback never proxied; the S3 keys
    in the environment, or (credentials=False) from nowhere but what `extra` names."""
    env = loopback_env(clean_env())
    for name in S3_TEST_CREDENTIALS:
        env.pop(name, None)
    if credentials:
        env.update(S3_TEST_CREDENTIALS)
    else:  # not this machine's ~/.aws, nor a cloud's instance metadata
        nowhere = "/nonexistent/aws"
        env.update(AWS_SHARED_CREDENTIALS_FILE=nowhere, AWS_CONFIG_FILE=nowhere)
        env.update(AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="us-east-1")
    env.update(extra)
    return env


def dvc(
    repo: Path, *args: str, credentials: bool = True, **extra: str
) -> subprocess.CompletedProcess[str]:
    return run(["dvc", *args], cwd=repo, env=dvc_env(credentials, **extra))


def whole_remote_in_config_local(repo: Path, endpoint: str) -> None:
    """docs/remote.md's block for history from before the remote, run as written but for the
    test bucket and endpoint: the whole remote in .dvc/config.local."""
    block = bash_block(REPO / "docs" / "remote.md", "Older revisions and `.dvc/config.local`")
    replace = {"s3://my-bucket/house-price": f"s3://{BUCKET}/cache"}
    replace["https://minio.example.com:9000"] = endpoint
    run_lines(block, repo, dvc_env(), replace)


@dataclass(frozen=True)
class Origin:
    repo: Path
    bare: Path
    experiment_lock: dict[str, str]  # the experiment's outputs (path -> md5)
    metrics: dict[str, float]  # the pipeline's, at the commit from before the remote


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("s3")
    process, url = start_s3_server(home, home / "moto.log", buckets=(BUCKET,))
    try:
        yield url
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory, s3: str) -> Origin:
    base = tmp_path_factory.mktemp("team")
    repo = git_copy(base / "origin")
    # A CSV of the user's own: here the default data's raw file, under a profile naming it.
    dvc(repo, "repro", "ingest")
    csv = repo / OWN_CSV
    csv.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "data" / "raw" / "data.csv", csv)
    (repo / "profiles" / "mydata.yaml").write_text(yaml.safe_dump(default_profile()))
    set_params(repo, dataset="mydata")
    dvc(repo, "add", OWN_CSV)
    dvc(repo, "repro")
    commit_all(repo, "own data tracked by DVC, and its pipeline")
    metrics = json.loads((repo / "metrics.json").read_text())
    dvc(repo, "exp", "run", "--temp", "--name", EXPERIMENT, "-S", "train.max_depth=4")
    # docs/remote.md's remote set-up, committed: URL and endpoint, no keys.
    dvc(repo, "remote", "add", "--default", "storage", f"s3://{BUCKET}/cache")
    dvc(repo, "remote", "modify", "storage", "endpointurl", s3)
    commit_all(repo, "the team's remote")
    dvc(repo, *CI_DVC_PUSH)  # outputs, and the run-cache of every stage run here

    bare = base / "shared.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], cwd=base)
    run(["git", "remote", "add", "origin", str(bare)], cwd=repo)
    run(["git", "push", "-q", "origin", "main"], cwd=repo)

    # The experiment is older than the remote: its own .dvc/config names none, so its data
    # reaches the bucket only with the whole remote in .dvc/config.local.
    whole_remote_in_config_local(repo, s3)
    pushed = dvc(repo, "exp", "push", "origin", EXPERIMENT)  # git refs and the experiment's data
    assert "failed to collect" not in pushed.stderr, pushed.stderr
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=repo).stdout
    ref = next(r for r in refs.split() if r.endswith(f"/{EXPERIMENT}"))
    lock = yaml.safe_load(run(["git", "show", f"{ref}:dvc.lock"], cwd=repo).stdout)
    outs = {o["path"]: o["md5"] for stage in lock["stages"].values() for o in stage["outs"]}
    return Origin(repo, bare, outs, metrics)


def fresh_clone(origin: Origin, destination: Path) -> Path:
    run(["git", "clone", "-q", str(origin.bare), str(destination)], cwd=destination.parent)
    return destination


def stages_run(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def test_pull_into_a_fresh_clone_gives_the_same_data_model_and_bundle(
    origin: Origin, tmp_path: Path
) -> None:
    clone = fresh_clone(origin, tmp_path / "clone")
    # docs/remote.md's keys: an AWS profile (here a credentials file of the test's own), not .dvc/.
    keys = {k: v for k, v in s3_remote_options("").items() if k != "endpointurl"}
    profile = tmp_path / "aws-credentials"
    profile.write_text("[team]\n" + "".join(f"aws_{k} = {v}\n" for k, v in keys.items()))
    aws = {"AWS_SHARED_CREDENTIALS_FILE": str(profile), "AWS_PROFILE": "team"}
    dvc(clone, "pull", credentials=False, **aws)

    assert output_mismatches(clone) == []
    for path in lock_outs(origin.repo):
        if (origin.repo / path).is_dir():
            ours = hashed_tree_md5s(clone, clone / path)
            assert ours == hashed_tree_md5s(origin.repo, origin.repo / path), path
        else:
            assert md5_of(clone / path) == md5_of(origin.repo / path), path
    assert md5_of(clone / OWN_CSV) == md5_of(origin.repo / OWN_CSV)
    assert "models/house-price" in lock_outs(clone)
    # Nothing of the keys reaches git.
    assert run(["git", "status", "--porcelain"], cwd=clone).stdout == ""
    assert not (clone / ".dvc" / "config.local").exists()
    committed = run(["git", "show", "HEAD:.dvc/config"], cwd=clone).stdout
    assert "endpointurl" in committed
    assert not set(keys) & set(committed.replace("=", " ").split()), committed


def test_unchanged_pipeline_after_pull_runs_no_stage_within_10_s(
    origin: Origin, tmp_path: Path
) -> None:
    clone = fresh_clone(origin, tmp_path / "clone")
    started = time.monotonic()
    pulled = dvc(clone, *CI_DVC_PULL)
    repro = dvc(clone, *CI_DVC_REPRO)
    elapsed = time.monotonic() - started
    print(
        f"\nfresh clone, warm remote: `dvc {' '.join(CI_DVC_PULL)} && dvc {' '.join(CI_DVC_REPRO)}`"
        f" took {elapsed:.1f} s"
    )

    assert stages_run(repro.stdout) == [], repro.stdout
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in repro.stdout, repro.stdout
    assert run(["git", "status", "--porcelain"], cwd=clone).stdout == ""  # dvc.lock as committed
    assert output_mismatches(clone) == []
    assert "fetched" in pulled.stdout
    assert elapsed <= PULL_AND_REPRO_BOUND_S, f"{elapsed:.1f} s > {PULL_AND_REPRO_BOUND_S} s"


def test_run_cache_restores_the_experiment_but_package_runs(origin: Origin, tmp_path: Path) -> None:
    """The experiment's params in a fresh clone: train and evaluate come from the run-cache
    (pushed by the origin), bit for bit; package's output is `persist: true`, so DVC keeps no
    run-cache for it and it runs (it registers the bundle in this clone's MLflow store)."""
    clone = fresh_clone(origin, tmp_path / "clone")
    dvc(clone, *CI_DVC_PULL)
    set_params(clone, **{"train.max_depth": 4})
    repro = dvc(clone, *CI_DVC_REPRO)  # --pull: the outputs of a run-cache hit come from the remote

    for stage in ["train", "evaluate"]:
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in repro.stdout
    assert stages_run(repro.stdout) == ["package"], repro.stdout
    assert lock_outs(clone) == origin.experiment_lock
    assert output_mismatches(clone) == []
    # The commit from before the remote is read with its real values (keys in the environment).
    metrics = json.loads(dvc(clone, "metrics", "diff", "HEAD~1", "--json").stdout)["metrics.json"]
    ours = json.loads((clone / "metrics.json").read_text())
    for name in ("r2", "rmse", "mae", "rmsle"):
        assert metrics[name]["old"] == pytest.approx(origin.metrics[name], rel=1e-9), name
        assert metrics[name]["new"] == pytest.approx(ours[name], rel=1e-9), name
    assert metrics["rmse"]["old"] != metrics["rmse"]["new"]
    params = json.loads(dvc(clone, "params", "diff", "HEAD~1", "--json").stdout)["params.yaml"]
    assert params == {"train.max_depth": {"old": 6, "new": 4, "diff": -2}}, params


def test_exp_push_and_pull_share_an_experiment(origin: Origin, s3: str, tmp_path: Path) -> None:
    """The experiment is older than the remote: with the whole remote in .dvc/config.local
    (docs/remote.md), `dvc exp pull` brings its data, and after `dvc exp apply` (which brings
    back its .dvc/config, without the remote) DVC still reaches the remote."""
    clone = fresh_clone(origin, tmp_path / "clone")
    whole_remote_in_config_local(clone, s3)
    listed = ("exp", "list", "--all-commits", "--name-only")  # its baseline is HEAD~1
    assert dvc(clone, *listed).stdout.split() == []
    dvc(clone, "exp", "pull", "origin", EXPERIMENT)
    assert dvc(clone, *listed).stdout.split() == [EXPERIMENT]

    dvc(clone, "exp", "apply", EXPERIMENT)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    assert params["train"]["max_depth"] == 4
    assert lock_outs(clone) == origin.experiment_lock
    assert output_mismatches(clone) == []  # the experiment's outputs came with it
    assert "storage" not in (clone / ".dvc" / "config").read_text()
    assert json.loads(dvc(clone, "status", "--cloud", "--json").stdout) == {}  # all on the remote


# --- docs/remote.md's timeouts and troubleshooting table -----------------------------------------

# What DVC says when the remote fails, as docs/remote.md's table quotes it.
REMOTE_FAILURES = {
    "missing-bucket": "The specified bucket does not exist",
    "refused-keys": "An error occurred (403) when calling the HeadObject operation: Forbidden",
    "refused-connection": "Could not connect to the endpoint URL",
    "silent-endpoint": "Read timeout on endpoint URL",
    "no-credentials": "Unable to locate credentials",
}
# DVC's exit code for each: 255 is its "unexpected error" (docs/remote.md's table says which)
REMOTE_FAILURE_EXIT = {"missing-bucket": 255}
TEST_TIMEOUT_S = "2"  # the docs' timeout options, with seconds a test can wait for
SILENT_PULL_BOUND_S = 60


def remote_section() -> str:
    """docs/remote.md, the page on the remote: its set-up, timeouts and troubleshooting table."""
    page = (REPO / "docs" / "remote.md").read_text()
    assert page.startswith("# A team's remote (DVC on S3)\n"), page[:80]
    return page


def docs_timeouts() -> tuple[list[str], dict[str, str]]:
    """docs/remote.md's `dvc remote modify storage <option> <seconds>` timeout options (committed
    for the team, never in .dvc/config.local) and the environment it sets (botocore's attempts)."""
    section = remote_section()
    options = re.findall(r"^dvc remote modify storage (\w+_timeout) \d+\b", section, re.M)
    attempts = re.search(r"^export AWS_MAX_ATTEMPTS=(\d+)\b", section, re.M)
    assert sorted(options) == ["connect_timeout", "read_timeout"], options
    assert attempts is not None
    return options, {"AWS_MAX_ATTEMPTS": attempts.group(1)}


def repo_to_pull(repo: Path) -> Path:
    """A DVC repository tracking two files (so DVC lists the remote, as for any real project),
    with neither the files nor the cache: `dvc pull` must reach the remote."""
    repo.mkdir()
    run(["git", "init", "-q"], cwd=repo)
    dvc(repo, "init", "-q")
    for name in ("a.csv", "b.csv"):
        (repo / name).write_text(f"x\n{name}\n")
    dvc(repo, "add", "a.csv", "b.csv")
    shutil.rmtree(repo / ".dvc" / "cache")
    for name in ("a.csv", "b.csv"):
        (repo / name).unlink()
    return repo


@contextmanager
def failing_endpoint(failure: str, s3: str, home: Path) -> Iterator[str]:
    """An S3 endpoint that fails as `failure` says."""
    if failure in ("missing-bucket", "no-credentials"):
        yield s3  # moto, which has no bucket of that name (and asks for no key)
    elif failure == "refused-keys":
        # moto with authentication on: it knows no key, as S3 does not know a wrong one
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        env = loopback_env(clean_env(INITIAL_NO_AUTH_ACTION_COUNT="0"))
        process = start_server(command, home / "moto-auth.log", f"{url}/moto-api/", env, home)
        try:
            yield url
        finally:
            stop_process_group(process)
    elif failure == "refused-connection":
        # bound, never listening: the kernel refuses each connection, and no other process
        # can take the port meanwhile
        with socket.socket() as bound:
            bound.bind(("127.0.0.1", 0))
            yield f"http://127.0.0.1:{bound.getsockname()[1]}"
    else:  # a listener whose kernel accepts connections, and nobody ever answers them
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("failure", list(REMOTE_FAILURES))
def test_docs_say_what_dvc_says_when_the_remote_fails(
    failure: str, s3: str, tmp_path: Path
) -> None:
    """A remote set up as docs/remote.md says (timeouts included) that fails: DVC's message is
    the one its table explains, and a silent endpoint fails within a minute (without the
    timeouts botocore and s3fs wait about 25 minutes)."""
    message = REMOTE_FAILURES[failure]
    rows = [line for line in remote_section().splitlines() if line.startswith("| `")]
    assert any(message in row.split(" | ")[0] for row in rows), f"no table row quotes {message!r}"
    options, environment = docs_timeouts()
    repo = repo_to_pull(tmp_path / "repo")
    dvc(repo, "remote", "add", "--default", "storage", "s3://no-such-bucket/cache")
    for option in options:
        dvc(repo, "remote", "modify", "storage", option, TEST_TIMEOUT_S)
    with failing_endpoint(failure, s3, tmp_path) as endpoint:
        dvc(repo, "remote", "modify", "storage", "endpointurl", endpoint)
        started = time.monotonic()
        result = subprocess.run(
            ["dvc", "pull"],
            cwd=repo,
            env=dvc_env(failure != "no-credentials", **environment),
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == REMOTE_FAILURE_EXIT.get(failure, 1), result.stderr
    assert message in result.stderr, result.stderr
    if failure == "silent-endpoint":
        assert f'"{endpoint}/no-such-bucket/' in result.stderr, result.stderr
        assert elapsed < SILENT_PULL_BOUND_S, f"{elapsed:.0f} s"
