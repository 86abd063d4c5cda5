"""The CI workflow and the scripts it runs.

- The workflow is valid (GitHub's workflow JSON schema), zizmor finds nothing high-severity in
  it, jactionlint (offline actionlint) finds nothing, and hadolint finds no error in the
  Dockerfile.
- A contract test reads .github/workflows/ci.yml and asserts what issue 4 asks for: the job
  graph, the triggers, least privilege, bounded waits, the MLflow version, the two tags, and
  that secrets, login and push never run for a pull request; with a DVC remote, pull before
  and push (main only) after `dvc repro`, and on pull requests the diff against the base.
- scripts/wait_for_http.py and scripts/smoke_test.py are run as subprocesses against real tiny
  HTTP servers on 127.0.0.1, well-behaved and broken, to prove they pass and that they fail.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import CI_DVC_PULL, CI_DVC_PUSH, CI_DVC_REPRO, clean_env, free_port

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
DOCKERFILE = REPO / "Dockerfile"
REQUIREMENTS = REPO / "requirements.txt"
WAIT_SCRIPT = REPO / "scripts" / "wait_for_http.py"
SMOKE_SCRIPT = REPO / "scripts" / "smoke_test.py"

PUSH_TO_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
PUSH_TO_MAIN_FORMS = {
    PUSH_TO_MAIN,
    "github.ref == 'refs/heads/main' && github.event_name == 'push'",
}
IMAGE_NAME = "docker.io/${{ vars.DOCKERHUB_USERNAME }}/house-price-model"

# Oldest acceptable major per action: the majors current when this workflow was written
# (late 2026). Newer majors pass; a downgrade fails.
MIN_MAJOR = {
    "actions/checkout": 6,
    "actions/setup-python": 6,
    "actions/upload-artifact": 7,
    "actions/download-artifact": 8,
    "docker/setup-buildx-action": 4,
    "docker/metadata-action": 6,
    "docker/build-push-action": 7,
    "docker/login-action": 4,
}


# --- helpers ------------------------------------------------------------------------------------


def tool(name: str) -> str:
    """A console script from this interpreter's environment (the project venv), else PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is pinned in requirements-dev.txt)")
    return found


def script_env() -> dict[str, str]:
    return clean_env(no_proxy=True, PYTHONUNBUFFERED="1")


def run_script(script: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=script_env(),
        check=False,
    )


def normalize_expr(value: Any) -> str:
    """`${{ a  &&  b }}` and `a && "b"` style conditions, compared as one canonical string."""
    text = " ".join(str(value).split())
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return text.replace('"', "'")


def conjuncts(condition: Any) -> list[str]:
    """The top-level `&&` operands of a condition (parentheses kept whole)."""
    text, parts, depth, start = normalize_expr(condition), [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith("&&", i):
            parts.append(text[start:i].strip())
            start = i + 2
    return [*parts, text[start:].strip()] if text else []


def is_push_to_main(condition: Any) -> bool:
    """Exactly a push to main, possibly narrowed further (`... && vars.X != ''`)."""
    if normalize_expr(condition) in PUSH_TO_MAIN_FORMS:
        return True
    terms = conjuncts(condition)
    required = {"github.event_name == 'push'", "github.ref == 'refs/heads/main'"}
    return required <= set(terms) and not any("||" in term for term in terms)


@pytest.fixture(scope="module")
def workflow_text() -> str:
    assert WORKFLOW.is_file(), f"missing {WORKFLOW.relative_to(REPO)}"
    return WORKFLOW.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def workflow(workflow_text: str) -> dict[str, Any]:
    data = yaml.safe_load(workflow_text)
    assert isinstance(data, dict)
    if True in data and "on" not in data:  # YAML 1.1 reads the key `on` as boolean true
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return workflow["jobs"]


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def step_index(steps: list[dict[str, Any]], predicate: Callable[[dict[str, Any]], bool]) -> int:
    matches = [i for i, step in enumerate(steps) if predicate(step)]
    assert matches, "no step matches"
    return matches[0]


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def uploads(name: str) -> Callable[[dict[str, Any]], bool]:
    """Is the step the upload of artifact `name`?"""
    return lambda s: uses(s, "actions/upload-artifact") and s["with"].get("name") == name


def runs(step: dict[str, Any], needle: str) -> bool:
    return needle in str(step.get("run", ""))


def pinned_mlflow_version() -> str:
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*mlflow\s*==\s*([^\s;#]+)", line, flags=re.IGNORECASE)
        if match:
            return match.group(1)
    pytest.fail("requirements.txt pins no mlflow==<version>")


# --- (a)-(c) the linters ------------------------------------------------------------------------


def lint(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A linter from the venv, offline, with the venv's tools first on PATH (jactionlint runs
    shellcheck on `run:` scripts)."""
    env = script_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [tool(name), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env
    )


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against GitHub's workflow schema (bundled: no network)."""
    return lint("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(path))


def test_workflow_matches_github_schema() -> None:
    result = schema_check(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps:\n      - run: echo hi\n")  # no runs-on
    assert schema_check(broken).returncode != 0


def zizmor_findings(path: Path) -> list[dict[str, Any]]:
    result = lint("zizmor", "--offline", "--format", "json", str(path))
    try:
        findings = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"zizmor gave no JSON (exit {result.returncode}): {result.stderr[-2000:]}")
    assert isinstance(findings, list)
    return findings


def describe_findings(findings: list[dict[str, Any]]) -> str:
    lines = []
    for finding in findings:
        where = [
            loc.get("concrete", {}).get("location", {}).get("start_point", {}).get("row")
            for loc in finding.get("locations", [])
        ]
        lines.append(f"{finding.get('ident')}: {finding.get('desc')} (rows {where})")
    return "\n".join(lines)


def test_zizmor_reports_no_high_severity_finding() -> None:
    findings = zizmor_findings(WORKFLOW)
    high = [f for f in findings if f.get("determinations", {}).get("severity") == "High"]
    assert not high, "zizmor high-severity findings:\n" + describe_findings(high)


def test_zizmor_check_can_fail(tmp_path: Path) -> None:
    """The JSON parsing above is not vacuous: template injection is reported as High."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        '    steps:\n      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    findings = zizmor_findings(bad)
    assert any(
        f.get("ident") == "template-injection"
        and f.get("determinations", {}).get("severity") == "High"
        for f in findings
    ), describe_findings(findings)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    """jactionlint offline (actionlint, with the inputs of the common actions built in)."""
    return lint("jactionlint", "--no-online", "--no-color", str(path))


def test_actionlint_finds_nothing() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_actionlint_can_fail(tmp_path: Path) -> None:
    """An input the action does not have is caught offline, from the action's metadata."""
    text = WORKFLOW.read_text(encoding="utf-8")
    bad = tmp_path / "ci.yml"
    bad.write_text(text.replace("persist-credentials: false", "persist-credential: false", 1))
    result = actionlint(bad)
    assert result.returncode != 0
    assert 'input "persist-credential" is not defined in action "actions/checkout' in result.stdout


def test_hadolint_reports_no_error_on_dockerfile() -> None:
    if not DOCKERFILE.is_file():
        pytest.skip("Dockerfile does not exist yet (written separately; checked once merged)")
    result = subprocess.run(
        [tool("hadolint"), "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    try:
        findings = json.loads(result.stdout or "[]")
    except ValueError:
        pytest.fail(f"hadolint gave no JSON (exit {result.returncode}): {result.stderr}")
    errors = [f for f in findings if f.get("level") == "error"]
    assert not errors, "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in errors)


# --- (d) the workflow contract ------------------------------------------------------------------


def test_triggers(workflow: dict[str, Any]) -> None:
    on = workflow["on"]
    assert isinstance(on, dict)
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on
    assert "workflow_dispatch" in on
    assert "pull_request_target" not in on, "pull_request_target would hand secrets to forks"


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_job_graph(jobs: dict[str, dict[str, Any]]) -> None:
    """`make check` runs first; the pipeline and image jobs need it (and the image the
    pipeline's bundle)."""
    assert {"check", "reproduce", "image"} <= set(jobs)
    assert needs_of(jobs["check"]) == []
    assert "check" in needs_of(jobs["reproduce"])
    assert {"check", "reproduce"} <= set(needs_of(jobs["image"]))
    for name, job in jobs.items():
        assert name == "check" or "check" in needs_of(job), f"job {name} does not need check"


def test_check_job_runs_make_check(jobs: dict[str, dict[str, Any]]) -> None:
    """The check job is `make check` on Python 3.11 (it installs .venv itself), and `make
    check` is the linter, the formatter's check, mypy on src/ and the unit tier."""
    steps = steps_of(jobs["check"])
    assert uses(steps[0], "actions/checkout")
    python = steps[step_index(steps, lambda step: uses(step, "actions/setup-python"))]
    assert python["with"]["python-version"] == "3.11"
    scripts = [str(step["run"]).strip() for step in steps if "run" in step]
    assert scripts == ["make check"], scripts
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^check:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    assert recipe is not None, "no check target in the Makefile"
    commands = [line.strip() for line in recipe.group(1).splitlines()]
    assert commands == [
        "$(BIN)/ruff check .",
        "$(BIN)/ruff format --check .",
        "$(BIN)/mypy",
        "$(BIN)/python -m pytest tests/unit",
    ], commands
    config = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^\[tool\.mypy\][^\[]*^files = \["src"\]', config, re.M | re.S), config


def test_every_job_has_a_timeout(jobs: dict[str, dict[str, Any]]) -> None:
    for name, job in jobs.items():
        minutes = job.get("timeout-minutes")
        assert isinstance(minutes, int), f"job {name} has no timeout-minutes"
        assert 1 <= minutes <= 120, f"job {name}: timeout-minutes={minutes}"


def test_least_privilege_permissions(workflow: dict[str, Any]) -> None:
    assert "permissions" in workflow, "top-level permissions missing"
    assert workflow["permissions"] in ({}, {"contents": "read"})
    for name, job in workflow["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"job {name} declares no permissions mapping"
        granted = {scope: level for scope, level in perms.items() if level != "none"}
        assert all(level == "read" for level in granted.values()), f"job {name}: {perms}"
        assert set(granted) <= {"contents", "actions"}, f"job {name}: {perms}"


def test_concurrency_per_ref_cancels_only_pull_requests(workflow: dict[str, Any]) -> None:
    concurrency = workflow.get("concurrency")
    assert isinstance(concurrency, dict)
    assert "github.ref" in normalize_expr(concurrency["group"])
    assert normalize_expr(concurrency["cancel-in-progress"]) == (
        "github.event_name == 'pull_request'"
    )


def test_environment(workflow: dict[str, Any]) -> None:
    env = workflow.get("env", {})
    assert env.get("MLFLOW_DISABLE_TELEMETRY") == "true"
    assert env.get("DVC_NO_ANALYTICS") == "1"


def test_actions_are_pinned_to_current_majors(
    workflow_text: str, jobs: dict[str, dict[str, Any]]
) -> None:
    seen = set()
    for job in jobs.values():
        for step in steps_of(job):
            if "uses" not in step:
                continue
            action, _, ref = step["uses"].partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{step['uses']} is not pinned to a SHA"
            seen.add(action)
    for line in workflow_text.splitlines():
        match = re.search(r"uses:\s*([\w.-]+/[\w.-]+)@[0-9a-f]{40}\s+#\s*v(\d+)", line)
        if match and match.group(1) in MIN_MAJOR:
            action, major = match.group(1), int(match.group(2))
            assert major >= MIN_MAJOR[action], f"{action} v{major} < v{MIN_MAJOR[action]}"
    missing_comment = [
        line.strip()
        for line in workflow_text.splitlines()
        if re.search(r"uses:\s*\S+@[0-9a-f]{40}\s*$", line)
    ]
    assert not missing_comment, f"SHA pins need a '# vX.Y.Z' comment: {missing_comment}"
    assert set(MIN_MAJOR) <= seen, f"expected actions not used: {set(MIN_MAJOR) - seen}"


def test_checkouts_do_not_persist_credentials(jobs: dict[str, dict[str, Any]]) -> None:
    for name, job in jobs.items():
        for step in steps_of(job):
            if uses(step, "actions/checkout"):
                value = step.get("with", {}).get("persist-credentials")
                assert str(value).lower() == "false", f"job {name}: checkout persists credentials"


def test_no_expressions_inside_run_scripts(jobs: dict[str, dict[str, Any]]) -> None:
    """Template injection: values reach scripts through env:, never through ${{ }} in run:."""
    for name, job in jobs.items():
        for step in steps_of(job):
            assert "${{" not in str(step.get("run", "")), f"job {name}: {step.get('name')}"


def test_reproduce_job(jobs: dict[str, dict[str, Any]]) -> None:
    steps = steps_of(jobs["reproduce"])
    setup = steps[step_index(steps, lambda s: uses(s, "actions/setup-python"))]["with"]
    assert str(setup["python-version"]) == "3.11"
    assert setup["cache"] == "pip"
    assert setup["cache-dependency-path"] == "requirements.txt"

    install = step_index(steps, lambda s: runs(s, "make install"))
    start = step_index(steps, lambda s: runs(s, "docker run") and runs(s, "mlflow server"))
    wait = step_index(
        steps, lambda s: runs(s, "wait_for_http.py") and runs(s, "127.0.0.1:5000/health")
    )
    repro = step_index(steps, lambda s: runs(s, "dvc repro"))
    metrics = step_index(steps, lambda s: runs(s, "dvc metrics show --md"))
    upload = step_index(steps, uploads("model-bundle"))
    assert install < start < wait < repro < metrics < upload

    server = " ".join(steps[start]["run"].split())
    assert "-d" in server.split()
    assert "--name mlflow" in server
    assert "-p 127.0.0.1:5000:5000" in server, "publish the MLflow port on loopback only"
    assert "--backend-store-uri sqlite:" in server
    assert "--serve-artifacts" in server
    assert "--artifacts-destination" in server
    assert "--allowed-hosts" in server

    assert steps[repro].get("env", {}).get("MLFLOW_TRACKING_URI") == "http://127.0.0.1:5000"
    assert '>> "$GITHUB_STEP_SUMMARY"' in steps[metrics]["run"]
    assert steps[upload]["with"]["name"] == "model-bundle"
    assert steps[upload]["with"]["path"] == "models/house-price"


REMOTE_SET = "vars.DVC_REMOTE_URL != ''"


def dvc_command(*args: str) -> str:
    return " ".join([".venv/bin/dvc", *args])


def test_dvc_remote_pull_repro_push(jobs: dict[str, dict[str, Any]]) -> None:
    """With a remote (repository variable DVC_REMOTE_URL): configured with `dvc remote ...
    --local`, credentials from secrets on push to main only, pull of data and run-cache before
    `dvc repro --pull`, push of data and run-cache after it on push to main only. Without the
    variable every remote step is skipped and the pipeline runs as plain `dvc repro`."""
    steps = steps_of(jobs["reproduce"])
    install = step_index(steps, lambda s: runs(s, "make install"))
    remote = step_index(steps, lambda s: runs(s, "dvc remote add --local"))
    credentials = step_index(steps, lambda s: "secrets.DVC_REMOTE" in json.dumps(s))
    anonymous = step_index(steps, lambda s: runs(s, "allow_anonymous_login true"))
    pull = step_index(steps, lambda s: runs(s, dvc_command(*CI_DVC_PULL)))
    repro = step_index(steps, lambda s: runs(s, "dvc repro"))
    push = step_index(steps, lambda s: runs(s, dvc_command(*CI_DVC_PUSH)))
    upload = step_index(steps, uploads("model-bundle"))
    assert install < remote < credentials < pull < repro < push < upload
    assert anonymous < pull

    for index in (remote, credentials, anonymous, pull, push):
        assert REMOTE_SET in conjuncts(steps[index]["if"]), steps[index]["name"]
    # A run that may not read the remote (a pull request, a private remote) does not set it up:
    # it reproduces as without one, and compares with the base without the base's outputs.
    assert normalize_expr(steps[remote]["if"]) == normalize_expr(steps[pull]["if"])
    configure = steps[remote]
    assert normalize_expr(configure["env"]["DVC_REMOTE_URL"]) == "vars.DVC_REMOTE_URL"
    assert "endpointurl" in configure["run"], "S3-compatible stores (MinIO) need an endpoint"
    # Keys: secrets, into .dvc/config.local (git-ignored), on push to main only.
    assert is_push_to_main(steps[credentials]["if"])
    assert set(steps[credentials]["env"].values()) == {
        "${{ secrets.DVC_REMOTE_ACCESS_KEY_ID }}",
        "${{ secrets.DVC_REMOTE_SECRET_ACCESS_KEY }}",
    }
    for line in steps[credentials]["run"].strip().splitlines():
        assert line.startswith(".venv/bin/dvc remote modify --local "), line
    # Anonymous reads (a public remote) only where no credentials are set.
    assert "!(github.event_name == 'push' && github.ref == 'refs/heads/main')" in conjuncts(
        steps[anonymous]["if"]
    )
    # Reproduce: --pull only when the pull step ran; plain `dvc repro` otherwise.
    script = steps[repro]["run"]
    assert dvc_command(*CI_DVC_REPRO) in script
    assert re.search(r"^\s*\.venv/bin/dvc repro\s*$", script, re.M), script
    assert (
        normalize_expr(steps[repro]["env"]["PULLED"]) == f"steps.{steps[pull]['id']}.outputs.pulled"
    )
    assert "pulled=true" in steps[pull]["run"]
    # Push: data and run-cache, push to main only.
    assert is_push_to_main(steps[push]["if"])
    forget = step_index(steps, lambda s: runs(s, "rm -f .dvc/config.local"))
    assert normalize_expr(steps[forget]["if"]) == "always()"


# DVC commands that reach the remote when one is set up: `repro --pull`, and the diffs, which
# read the base branch's outputs from it.
REMOTE_DVC_COMMAND = re.compile(
    r"\bdvc (pull|push|fetch|repro --pull|exp (push|pull)|(metrics|plots) diff)\b"
)


def test_every_step_that_reaches_the_dvc_remote_has_its_own_bound(
    jobs: dict[str, dict[str, Any]],
) -> None:
    """An endpoint that accepts connections and never answers makes `dvc pull` wait for
    minutes without a word (docs/remote.md, "Timeouts"): each such step fails on its own
    timeout, well before the job's, naming the step."""
    bounded = []
    for name, job in jobs.items():
        for step in steps_of(job):
            if REMOTE_DVC_COMMAND.search(str(step.get("run", ""))):
                minutes = step.get("timeout-minutes")
                assert isinstance(minutes, int), f"job {name}: {step['name']!r} has no bound"
                assert 1 <= minutes < job["timeout-minutes"], f"{step['name']!r}: {minutes}"
                bounded.append(step["name"])
    steps = steps_of(jobs["reproduce"])
    for command in (CI_DVC_PULL, CI_DVC_PUSH, CI_DVC_REPRO):
        step = steps[step_index(steps, lambda s, c=command: runs(s, dvc_command(*c)))]
        assert step["name"] in bounded, step["name"]


def test_pull_requests_compare_with_the_base_branch(jobs: dict[str, dict[str, Any]]) -> None:
    steps = steps_of(jobs["reproduce"])
    checkout = steps[step_index(steps, lambda s: uses(s, "actions/checkout"))]
    assert checkout["with"]["fetch-depth"] == 0, "the base branch's commits are needed"
    repro = step_index(steps, lambda s: runs(s, "dvc repro"))
    compare = step_index(steps, lambda s: runs(s, "dvc metrics diff"))
    plots = step_index(steps, uploads("dvc-plots-diff"))
    assert steps[plots]["with"]["path"] == "dvc_plots"
    assert repro < compare < plots
    for index in (compare, plots):
        assert normalize_expr(steps[index]["if"]) == "github.event_name == 'pull_request'"
    step = steps[compare]
    assert normalize_expr(step["env"]["BASE_REF"]) == "github.base_ref"
    script = step["run"]
    assert 'base="origin/$BASE_REF"' in script
    for command in ("dvc metrics diff --md", "dvc params diff --md"):
        assert re.search(re.escape(command) + r'[^\n]*"\$base"', script), command
    assert '>> "$GITHUB_STEP_SUMMARY"' in script
    assert re.search(r'dvc plots diff "\$base" --out dvc_plots', script)
    assert "secrets." not in json.dumps(step) + json.dumps(steps[plots])


def test_mlflow_server_image_matches_the_pinned_client(
    workflow_text: str, jobs: dict[str, dict[str, Any]]
) -> None:
    expected = "v" + pinned_mlflow_version()
    tags = re.findall(r"ghcr\.io/mlflow/mlflow:([\w.\-]+)", workflow_text)
    assert tags, "the workflow names no ghcr.io/mlflow/mlflow image"
    assert set(tags) == {expected}, f"MLflow image tags {tags} != {expected} (requirements.txt)"
    # and the `docker run` really uses that image (literally or through the job's env)
    job = jobs["reproduce"]
    start = next(s for s in steps_of(job) if runs(s, "docker run") and runs(s, "mlflow server"))
    image = f"ghcr.io/mlflow/mlflow:{expected}"
    env = {**job.get("env", {}), **start.get("env", {})}
    refs = {image}
    for name, value in env.items():
        if value == image:
            refs |= {f'"${name}"', f'"${{{name}}}"'}
    assert any(ref in start["run"] for ref in refs), f"docker run does not use {image}"


def test_mlflow_logs_printed_and_container_removed_always(
    jobs: dict[str, dict[str, Any]],
) -> None:
    steps = steps_of(jobs["reproduce"])
    always = [s for s in steps if normalize_expr(s.get("if", "")) == "always()"]
    assert any(runs(s, "docker logs mlflow") for s in always)
    assert any(
        re.search(r"docker (rm -f|stop|kill) mlflow", str(s.get("run", ""))) for s in always
    ), "the MLflow container must be stopped in an `if: always()` step"
    start = step_index(steps, lambda s: runs(s, "docker run") and runs(s, "mlflow server"))
    stop = step_index(
        steps, lambda s: bool(re.search(r"docker (rm -f|stop) mlflow", s.get("run", "")))
    )
    assert stop > start


def test_image_job(jobs: dict[str, dict[str, Any]]) -> None:
    steps = steps_of(jobs["image"])
    download = step_index(steps, lambda s: uses(s, "actions/download-artifact"))
    assert steps[download]["with"]["name"] == "model-bundle"
    assert steps[download]["with"]["path"] == "models/house-price"
    buildx = step_index(steps, lambda s: uses(s, "docker/setup-buildx-action"))
    build = step_index(
        steps,
        lambda s: uses(s, "docker/build-push-action") and "if" not in s,
    )
    options = steps[build]["with"]
    assert str(options.get("load")).lower() == "true"
    assert str(options.get("push", "false")).lower() == "false"
    assert options.get("context") == ".", "path context, so the downloaded bundle is included"
    run = step_index(steps, lambda s: runs(s, "docker run") and runs(s, "--name api"))
    assert "-p 127.0.0.1:8000:8000" in " ".join(steps[run]["run"].split())
    smoke = step_index(steps, lambda s: runs(s, "smoke_test.py"))
    assert "http://127.0.0.1:8000" in steps[smoke]["run"]
    logs = step_index(steps, lambda s: runs(s, "docker logs api"))
    assert normalize_expr(steps[logs].get("if", "")) == "always()"
    login = step_index(steps, lambda s: uses(s, "docker/login-action"))
    assert download < buildx < build < run < smoke < login


def test_login_and_push_run_only_on_push_to_main(jobs: dict[str, dict[str, Any]]) -> None:
    login_steps, push_steps = [], []
    for job in jobs.values():
        for step in steps_of(job):
            if uses(step, "docker/login-action"):
                login_steps.append(step)
            pushes_with_action = uses(step, "docker/build-push-action") and str(
                step.get("with", {}).get("push", "false")
            ).lower() not in ("false", "")
            pushes_with_cli = re.search(
                r"\bdocker\s+(image\s+)?push\b|--push\b", str(step.get("run", ""))
            )
            if pushes_with_action or pushes_with_cli:
                push_steps.append(step)
    assert login_steps, "no docker/login-action step"
    assert push_steps, "no step pushes the image"
    for step in [*login_steps, *push_steps]:
        assert is_push_to_main(step.get("if", "")), (
            f"step {step.get('name')!r} has if: {step.get('if')!r}; "
            f"expected exactly: {PUSH_TO_MAIN}"
        )
    login = login_steps[0]["with"]
    assert normalize_expr(login["username"]) == "vars.DOCKERHUB_USERNAME"
    assert normalize_expr(login["password"]) == "secrets.DOCKERHUB_TOKEN"
    assert login.get("registry", "docker.io") == "docker.io"


def test_two_tags_short_sha_and_latest(jobs: dict[str, dict[str, Any]]) -> None:
    steps = steps_of(jobs["image"])
    meta = steps[step_index(steps, lambda s: uses(s, "docker/metadata-action"))]
    assert " ".join(str(meta["with"]["images"]).split()) == IMAGE_NAME
    rules = []
    for line in str(meta["with"]["tags"]).splitlines():
        if line.strip():
            rules.append(
                dict(part.split("=", 1) if "=" in part else (part, "") for part in line.split(","))
            )
    rules = [{k.strip(): v.strip() for k, v in rule.items()} for rule in rules]
    assert {"type": "sha", "format": "short", "prefix": ""} in rules, rules
    assert {"type": "raw", "value": "latest"} in rules, rules
    assert len(rules) == 2, rules
    # whatever pushes, pushes exactly the tags computed by this step
    meta_ref = f"steps.{meta['id']}.outputs.tags"
    pushers = [
        s
        for s in steps
        if re.search(r"\bdocker\s+push\b", str(s.get("run", "")))
        or (uses(s, "docker/build-push-action") and "if" in s)
    ]
    for step in pushers:
        assert meta_ref in json.dumps(step), f"step {step.get('name')!r} ignores {meta_ref}"


def test_secrets_never_reach_pull_request_runs(
    workflow: dict[str, Any], jobs: dict[str, dict[str, Any]]
) -> None:
    assert "secrets." not in json.dumps(workflow.get("env", {})), "workflow-level env uses secrets"
    for name, job in jobs.items():
        job_rest = {k: v for k, v in job.items() if k != "steps"}
        guarded_job = is_push_to_main(job.get("if", ""))
        if not guarded_job:
            assert "secrets." not in json.dumps(job_rest), f"job {name} uses secrets outside steps"
        for step in steps_of(job):
            if "secrets." in json.dumps(step):
                assert guarded_job or is_push_to_main(step.get("if", "")), (
                    f"job {name}, step {step.get('name')!r} references secrets but can run on a "
                    f"pull request (if: {step.get('if')!r})"
                )


def test_every_wait_has_a_bound(jobs: dict[str, dict[str, Any]]) -> None:
    calls = 0
    for name, job in jobs.items():
        job_seconds = job["timeout-minutes"] * 60
        for step in steps_of(job):
            script = str(step.get("run", ""))
            assert not re.search(r"\bsleep\b", script), (
                f"job {name}: waits go through scripts/wait_for_http.py, not sleep loops"
            )
            for match in re.finditer(r"(wait_for_http|smoke_test)\.py\b([^\n]*)", script):
                calls += 1
                bound = re.search(r"--timeout[ =](\d+(?:\.\d+)?)\b", match.group(2))
                assert bound, f"job {name}: {match.group(0)!r} has no --timeout bound"
                assert 0 < float(bound.group(1)) < job_seconds, match.group(0)
    assert calls >= 2, "expected bounded waits for MLflow and for the API container"


# --- (e) the scripts, against real local HTTP servers ------------------------------------------


Handler = Callable[[str, str, bytes], tuple[int, str, bytes]]


@contextmanager
def http_server(handle: Handler) -> Iterator[str]:
    """Serve `handle(method, path, body) -> (status, content_type, body)` on 127.0.0.1."""

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _respond(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, content_type, payload = handle(self.command, self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _respond  # noqa: N815 - http.server's naming
        do_POST = _respond  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def status_only(status: int) -> Handler:
    return lambda method, path, body: (status, "application/json", b'{"status": "x"}')


def test_wait_for_http_succeeds_when_ready() -> None:
    with http_server(status_only(200)) as base:
        result = run_script(WAIT_SCRIPT, f"{base}/health", "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert "answered 200" in result.stdout


def test_wait_for_http_waits_until_ready() -> None:
    ready_at = time.monotonic() + 1.5

    def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        return (200 if time.monotonic() >= ready_at else 503), "text/plain", b"."

    with http_server(handle) as base:
        result = run_script(WAIT_SCRIPT, f"{base}/health", "--timeout", "20", "--interval", "0.2")
    assert result.returncode == 0, result.stderr


def test_wait_for_http_honours_expected_status() -> None:
    with http_server(status_only(404)) as base:
        result = run_script(WAIT_SCRIPT, f"{base}/gone", "--timeout", "10", "--status", "404")
    assert result.returncode == 0, result.stderr


def test_wait_for_http_fails_within_bound_on_wrong_status() -> None:
    with http_server(status_only(503)) as base:
        url = f"{base}/health"
        started = time.monotonic()
        result = run_script(WAIT_SCRIPT, url, "--timeout", "2", "--interval", "0.2")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 2 + 5, f"took {elapsed:.1f}s for a 2s bound"
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert url in message
    assert "503" in message
    assert "2s" in message


def test_wait_for_http_fails_when_nothing_listens() -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    started = time.monotonic()
    result = run_script(WAIT_SCRIPT, url, "--timeout", "1.5", "--interval", "0.2")
    assert result.returncode == 1
    assert time.monotonic() - started < 1.5 + 5
    assert url in result.stderr
    assert "last error" in result.stderr


def test_wait_for_http_bounds_a_server_that_never_answers() -> None:
    """A listener that accepts and never responds must not outlive the bound."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/health"
        started = time.monotonic()
        result = run_script(WAIT_SCRIPT, url, "--timeout", "2")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 2 + 5, f"took {elapsed:.1f}s for a 2s bound"


@pytest.mark.parametrize(
    "args",
    [["http://127.0.0.1:9/health"], ["file:///etc/passwd", "--timeout", "1"]],
    ids=["no-timeout", "not-http"],
)
def test_wait_for_http_rejects_bad_arguments(args: list[str]) -> None:
    result = run_script(WAIT_SCRIPT, *args)
    assert result.returncode == 2


EXAMPLE = {
    "bedrooms": 3,
    "bathrooms": 2.0,
    "sqft_living": 1800,
    "year_built": 1995,
    "location": "Suburb",
}


@dataclass
class FakeApi:
    """A small stand-in for house_price.api, well-behaved unless told otherwise."""

    health_status: int = 200
    prediction_json: str = "245000.5"
    invalid_status: int | None = None  # None: validate properly (422)
    empty_status: int | None = None
    example_at: str = "schema-examples"  # or media-example, media-examples, nowhere
    model_status: int = 200
    metrics_text: str = (
        "# HELP http_requests_total Total HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="POST",path="/predict",status="200"} 3.0\n'
    )
    requests: list[tuple[str, str]] = field(default_factory=list)

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "required": sorted(EXAMPLE),
            "properties": {
                key: {"type": "string" if isinstance(v, str) else "number"}
                for key, v in EXAMPLE.items()
            },
        }
        media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/House"}}
        if self.example_at == "schema-examples":
            schema["examples"] = [EXAMPLE]
        elif self.example_at == "media-example":
            media["example"] = EXAMPLE
        elif self.example_at == "media-examples":
            media["examples"] = {"typical": {"summary": "a house", "value": EXAMPLE}}
        return {
            "openapi": "3.1.0",
            "paths": {
                "/predict": {"post": {"requestBody": {"content": {"application/json": media}}}},
                "/health": {"get": {}},
            },
            "components": {"schemas": {"House": schema}},
        }

    def valid(self, body: Any) -> bool:
        if not isinstance(body, dict) or set(body) != set(EXAMPLE):
            return False
        for key, value in EXAMPLE.items():
            if isinstance(value, str) != isinstance(body[key], str):
                return False
        return True

    def __call__(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        self.requests.append((method, path))
        json_type = "application/json"
        if method == "GET" and path == "/health":
            payload = {"status": "ok" if self.health_status == 200 else "loading"}
            return self.health_status, json_type, json.dumps(payload).encode()
        if method == "GET" and path == "/openapi.json":
            return 200, json_type, json.dumps(self.openapi()).encode()
        if method == "POST" and path == "/predict":
            data = json.loads(body or b"null")
            if self.valid(data):
                text = f'{{"prediction": {self.prediction_json}, "model_version": "1"}}'
                return 200, json_type, text.encode()
            if data == {} and self.empty_status is not None:
                return self.empty_status, json_type, b'{"prediction": 1.0}'
            if self.invalid_status is not None:
                return self.invalid_status, json_type, b'{"prediction": 1.0}'
            return 422, json_type, b'{"detail": [{"msg": "invalid"}]}'
        if method == "GET" and path == "/model":
            return self.model_status, json_type, b'{"name": "house-price", "version": "1"}'
        if method == "GET" and path == "/metrics":
            return 200, "text/plain; version=0.0.4", self.metrics_text.encode()
        return 404, json_type, b'{"detail": "Not Found"}'


def smoke(api: FakeApi, timeout: str = "10") -> subprocess.CompletedProcess[str]:
    with http_server(api) as base:
        return run_script(SMOKE_SCRIPT, base, "--timeout", timeout, "--request-timeout", "5")


@pytest.mark.parametrize("example_at", ["schema-examples", "media-example", "media-examples"])
def test_smoke_test_passes_against_a_well_behaved_api(example_at: str) -> None:
    api = FakeApi(example_at=example_at)
    result = smoke(api)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prediction=245000" in result.stdout
    assert "smoke_test: OK" in result.stdout
    posted = [path for method, path in api.requests if method == "POST"]
    assert posted.count("/predict") == 3  # the example, one wrong type, and {}


@pytest.mark.parametrize(
    ("api", "step", "evidence"),
    [
        (FakeApi(health_status=503), "health", "503"),
        (FakeApi(prediction_json="-12.5"), "predict", "-12.5"),
        (FakeApi(prediction_json="0"), "predict", "0"),
        (FakeApi(prediction_json="NaN"), "predict", "nan"),
        (FakeApi(prediction_json='"245000"'), "predict", "not a number"),
        (FakeApi(invalid_status=200), "invalid", "got 200"),
        (FakeApi(empty_status=200), "invalid", "{}"),
        (FakeApi(example_at="nowhere"), "openapi", "no example"),
        (FakeApi(model_status=500), "model", "500"),
        (FakeApi(metrics_text="ok\n"), "metrics", "Prometheus"),
    ],
    ids=[
        "health-503",
        "negative-prediction",
        "zero-prediction",
        "nan-prediction",
        "string-prediction",
        "invalid-body-accepted",
        "empty-body-accepted",
        "no-openapi-example",
        "model-500",
        "metrics-not-prometheus",
    ],
)
def test_smoke_test_fails_on_a_broken_api(api: FakeApi, step: str, evidence: str) -> None:
    started = time.monotonic()
    result = smoke(api, timeout="2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 2 + 10
    assert f"FAIL [{step}]" in result.stderr, result.stderr
    assert evidence.lower() in result.stderr.lower(), result.stderr


def test_smoke_test_fails_when_nothing_listens() -> None:
    result = run_script(SMOKE_SCRIPT, f"http://127.0.0.1:{free_port()}", "--timeout", "1.5")
    assert result.returncode == 1
    assert "FAIL [health]" in result.stderr


@pytest.mark.parametrize("script", [WAIT_SCRIPT, SMOKE_SCRIPT], ids=lambda p: p.name)
def test_scripts_use_the_standard_library_only(script: Path) -> None:
    """They run on a bare runner before `make install`, so no third-party import is allowed."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    local = {p.stem for p in script.parent.glob("*.py")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in local or top == "__future__", name
