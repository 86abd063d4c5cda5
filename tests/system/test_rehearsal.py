"""sandbox/rehearsal (`make rehearse`) fails loudly, names the step, and leaves nothing behind.

Every test runs the rehearsal from a throwaway git copy of the project (so that it can commit a
broken file without touching the real repository) with TMPDIR pointing at a private directory,
then checks the exit status, that the last line names the failing step, and that the rehearsal
cleaned up: its temporary directory is gone, no process refers to it, the MLflow and S3 servers
it started are stopped, the local registry is in the state it was found in, no container of
the run is left, and the Docker engine it found still runs and works (`docker run` and `docker
exec`: the engine a rehearsal once started kept its temporary directory inside the rehearsal's,
and `docker exec` failed once that was deleted).

What is tested, from cheap to less cheap:
- --help and bad arguments;
- bad options fail at 'preflight';
- the default source is the committed HEAD, not the working tree (a file that is only in the
  working tree is missing from the clone), and REHEARSE_SOURCE=worktree takes it;
- an mlflow version that differs from the workflow's MLflow image fails at 'mlflow server'
  before anything is started (needs the engine);
- a pipeline that really breaks fails at 'dvc repro (run 1)' after the S3 server and the remote
  were set up, and the MLflow and S3 servers it started are stopped (needs the engine);
- SIGTERM to the script's process group (Ctrl-C, a CI timeout) while it waits for MLflow still
  runs the cleanup (needs the engine).

Not run from here: the full rehearsal (two pipeline runs through the S3 remote, image build,
push, pull, two smoke tests; a few minutes). .ci/run runs it as its own stage (`make rehearse`)
right after `make test`, so running it here too would double the cost for no extra evidence;
its exit status is the test. The tests that need the Docker engine skip when
sandbox/engine.sh has not started it: the test suite does not start an engine as a side
effect (.ci/run starts it before the tests). The one test that needs no engine running (a
rehearsal stops the engine it started) stops a running one first and starts it again after.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import clean_env, engine_env

REPO = Path(__file__).resolve().parents[2]
REHEARSE = [sys.executable, "-m", "sandbox.rehearsal"]  # run in the copy: its own package
ENGINE = REPO / "sandbox" / "engine.sh"
VENV = Path(sys.executable).parent.parent
REGISTRY = "127.0.0.1:5055"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- helpers ---------------------------------------------------------------------------------


def rehearsal_env(tmpdir: Path, **extra: str) -> dict[str, str]:
    settings = {"TMPDIR": str(tmpdir), "REHEARSE_VENV": str(VENV), **extra}
    return clean_env(drop=("REHEARSE_", "DOCKERHUB_USERNAME"), **settings)


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def project_copy(destination: Path) -> Path:
    """A git repository holding the project's files (tracked + untracked, not ignored) in one
    commit: what the repository looks like once everything is committed."""
    listing = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # The Dockerfile is written separately; the failures tested here happen before any build.
    dockerfile = destination / "Dockerfile"
    if not dockerfile.exists():
        dockerfile.write_text("ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n")
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A", "-f")
    git(destination, "commit", "-q", "--no-verify", "-m", "test copy")
    return destination


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)


@dataclass
class Outcome:
    returncode: int
    output: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def value(self, pattern: str) -> str | None:
        match = re.search(pattern, self.output)
        return match.group(1) if match else None


def rehearse(repo: Path, tmpdir: Path, timeout: float = 300, **env: str) -> Outcome:
    result = subprocess.run(
        REHEARSE,
        cwd=repo,
        env=rehearsal_env(tmpdir, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return Outcome(result.returncode, result.stdout)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and alive(int(entry.name)):
            found.append(f"{entry.name}: {cmdline}")
    return found


def registry_answers() -> bool:
    try:
        with _OPENER.open(f"http://{REGISTRY}/v2/", timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


def engine_running() -> bool:
    result = subprocess.run(
        ["bash", str(ENGINE), "status"], capture_output=True, text=True, timeout=60
    )
    return result.returncode == 0 and bool(re.search(r"^dockerd:\s+running", result.stdout, re.M))


def docker_env() -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(ENGINE), "env"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return engine_env(out, os.environ)


def assert_failed_at(outcome: Outcome, step: str) -> None:
    assert outcome.returncode != 0, outcome.output
    assert outcome.last_line.startswith(f"rehearse: FAILED at step '{step}'"), outcome.output


def assert_cleaned_up(
    outcome: Outcome,
    tmpdir: Path,
    registry_before: bool | None = None,
    engine_was_running: bool = False,
) -> None:
    leftovers = list(tmpdir.iterdir())
    assert not leftovers, f"temporary files left: {leftovers}\n{outcome.output}"
    assert not processes_mentioning(str(tmpdir)), outcome.output
    for server in ("mlflow", "s3"):
        pid = outcome.value(rf"{server} server pid (\d+)")
        if pid is not None:
            assert not alive(int(pid)), f"the {server} server {pid} still runs"
    if registry_before is not None:
        assert registry_answers() == registry_before, "the local registry changed state"
    run_id = outcome.value(r"rehearse: run (\S+),")
    if run_id and engine_running():
        containers = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=house-price.rehearsal={run_id}"],
            env=docker_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        assert not containers, f"containers left: {containers}"
    if run_id and engine_was_running:
        assert engine_running(), f"the engine it found is no longer running\n{outcome.output}"
        assert "left the Docker engine it found running" in outcome.output
        assert_engine_works()


def assert_engine_works() -> None:
    """`docker run` and `docker exec` work (exec needs the engine's temporary directory)."""
    env = docker_env()
    base = env.get("BASE_IMAGE", "local/python:3.11")

    def docker(*args: str) -> str:
        result = subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    name = f"rehearsal-check-{os.getpid()}"
    docker("run", "-d", "--name", name, "--network", "none", base, "sleep", "60")
    try:
        assert docker("exec", name, "python3", "-c", "print(6 * 7)") == "42"
    finally:
        docker("rm", "-f", name)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, committed, in a temporary repository. Read-only: copy it to change it."""
    return project_copy(tmp_path_factory.mktemp("rehearsal") / "repo")


@pytest.fixture
def copy(pristine_copy: Path, tmp_path: Path) -> Path:
    destination = tmp_path / "repo"
    shutil.copytree(pristine_copy, destination, symlinks=True)
    return destination


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The rehearsal's TMPDIR: must be empty again when it exits."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture
def engine() -> None:
    if not shutil.which("curl") or not engine_running():
        pytest.skip("the Docker engine is not running (bash sandbox/engine.sh up)")


# --- tests -------------------------------------------------------------------------------------


def test_help_and_arguments() -> None:
    shown = subprocess.run([*REHEARSE, "--help"], cwd=REPO, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "REHEARSE_SOURCE" in shown.stdout
    assert "run 2" in shown.stdout
    extra = subprocess.run([*REHEARSE, "now"], cwd=REPO, capture_output=True, text=True)
    assert extra.returncode == 2
    assert "no arguments expected" in extra.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REHEARSE_SOURCE", "everything"),
        ("REHEARSE_VENV", "/nonexistent/venv"),
        ("DOCKERHUB_USERNAME", "not a name"),
    ],
)
def test_bad_settings_fail_at_preflight(
    copy: Path, scratch: Path, variable: str, value: str
) -> None:
    outcome = rehearse(copy, scratch, timeout=60, **{variable: value})
    assert_failed_at(outcome, "preflight")
    assert_cleaned_up(outcome, scratch)


def test_default_source_is_the_committed_head_and_worktree_is_opt_in(
    copy: Path, scratch: Path
) -> None:
    smoke = copy / "scripts" / "smoke_test.py"
    content = smoke.read_bytes()
    git(copy, "rm", "-q", "scripts/smoke_test.py")
    commit_all(copy, "drop the smoke test")
    smoke.write_bytes(content)  # back in the working tree, not committed

    outcome = rehearse(copy, scratch, timeout=60)
    assert_failed_at(outcome, "checkout")
    assert "lacks: scripts/smoke_test.py" in outcome.output
    assert "REHEARSE_SOURCE=worktree" in outcome.output  # the hint
    assert_cleaned_up(outcome, scratch)

    # The working tree has it; stop right after the checkout (before the engine).
    outcome = rehearse(
        copy, scratch, timeout=60, REHEARSE_SOURCE="worktree", REHEARSE_FAIL_AT="container engine"
    )
    assert_failed_at(outcome, "container engine")
    assert "injected failure" in outcome.output
    head = git(copy, "rev-parse", "HEAD").strip()
    assert f"image tags: :{head[:7]}-worktree and :latest" in outcome.output
    assert_cleaned_up(outcome, scratch)


@pytest.mark.container
def test_mlflow_version_differing_from_the_workflow_image_fails_early(
    engine: None, copy: Path, scratch: Path
) -> None:
    workflow = copy / ".github" / "workflows" / "ci.yml"
    text, count = re.subn(
        r"ghcr\.io/mlflow/mlflow:v[0-9][^\s\"']*",
        "ghcr.io/mlflow/mlflow:v0.0.1",
        workflow.read_text(),
    )
    assert count, "no MLflow image in the workflow"
    workflow.write_text(text)
    commit_all(copy, "another MLflow image")
    registry_before = registry_answers()

    outcome = rehearse(copy, scratch, timeout=300)
    assert_failed_at(outcome, "mlflow server")
    assert "is not the workflow's ghcr.io/mlflow/mlflow:v0.0.1" in outcome.output
    assert outcome.value(r"mlflow server pid (\d+)") is None  # nothing was started
    assert_cleaned_up(outcome, scratch, registry_before, engine_was_running=True)


@pytest.mark.slow
@pytest.mark.container
def test_broken_pipeline_fails_at_dvc_repro_and_stops_the_mlflow_server(
    engine: None, copy: Path, scratch: Path
) -> None:
    ingest = copy / "stages" / "ingest.py"
    ingest.write_text('raise SystemExit("ingest broken on purpose")\n' + ingest.read_text())
    commit_all(copy, "break ingest")
    registry_before = registry_answers()

    outcome = rehearse(copy, scratch, timeout=600)
    assert_failed_at(outcome, "dvc repro (run 1)")
    assert "ingest broken on purpose" in outcome.output  # the stage's own error is shown
    assert "wait_for_http: http://127.0.0.1:" in outcome.output  # the workflow's wait ran
    assert outcome.value(r"mlflow server pid (\d+)") is not None
    assert outcome.value(r"s3 server pid (\d+)") is not None
    assert "stopping the MLflow server" in outcome.output
    assert "stopping the S3 server" in outcome.output
    assert_cleaned_up(outcome, scratch, registry_before, engine_was_running=True)


@pytest.mark.slow
@pytest.mark.container
def test_sigterm_while_waiting_for_mlflow_still_cleans_up(
    engine: None, pristine_copy: Path, scratch: Path
) -> None:
    registry_before = registry_answers()
    process = subprocess.Popen(
        REHEARSE,
        cwd=pristine_copy,
        env=rehearsal_env(scratch),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as under a terminal or a CI runner
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not any("mlflow server pid" in line for line in lines):
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGTERM)
        returncode = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        reader.join(timeout=30)
    outcome = Outcome(returncode, "".join(lines))
    assert returncode == 128 + signal.SIGTERM, outcome.output
    assert_failed_at(outcome, "mlflow server")
    assert_cleaned_up(outcome, scratch, registry_before, engine_was_running=True)


@pytest.mark.container
def test_an_engine_it_started_it_stops(pristine_copy: Path, scratch: Path) -> None:
    """With no engine running, the rehearsal starts one (sandbox/engine.sh up) and, when
    it stops (here: a failure injected right after), stops it again. An engine already running
    (as under .ci/run) is stopped for this test and started again after it, so that the test
    always runs and the machine is left as it was found."""
    if os.geteuid() != 0 or not shutil.which("curl"):
        pytest.skip("engine.sh up needs root and curl")
    found = engine_running()
    if found:
        subprocess.run(["bash", str(ENGINE), "down"], check=True, timeout=300)
    try:
        assert not engine_running()
        outcome = rehearse(pristine_copy, scratch, timeout=1500, REHEARSE_FAIL_AT="mlflow server")
        assert_failed_at(outcome, "mlflow server")
        assert "started the Docker engine: it is stopped at the end" in outcome.output
        assert "stopping the Docker engine this rehearsal started" in outcome.output
        assert not engine_running(), outcome.output
        assert_cleaned_up(outcome, scratch)
    finally:
        if found:
            subprocess.run(["bash", str(ENGINE), "up"], check=True, timeout=1800)
