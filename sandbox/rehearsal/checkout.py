"""preflight (settings, tools, a fresh runner's environment) and checkout (actions/checkout: a
clean clone of the committed HEAD, or REHEARSE_SOURCE=worktree's copy)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from servers import loopback_env

from .context import REPO, Failure, Run, say

# What the workflow's steps need from the checkout.
REQUIRED = [
    "Dockerfile",
    ".github/workflows/ci.yml",
    "scripts/wait_for_http.py",
    "scripts/smoke_test.py",
    "dvc.yaml",
    "requirements.txt",
]


def preflight(run: Run) -> None:
    settings = run.settings
    if settings.source not in ("head", "worktree"):
        raise Failure(f"REHEARSE_SOURCE must be 'head' or 'worktree', got '{settings.source}'")
    if not re.fullmatch(r"[a-z0-9]+([._-][a-z0-9]+)*", settings.namespace):
        raise Failure(
            f"DOCKERHUB_USERNAME '{settings.namespace}' is not a valid repository namespace"
        )
    tools = ("python", "dvc", "mlflow", "moto_server")
    missing = [t for t in tools if not os.access(run.tool(t), os.X_OK)]
    if missing:
        raise Failure(
            f"no venv with {', '.join(missing)} at {settings.venv} "
            "(run 'make install-dev', or set REHEARSE_VENV)"
        )
    for tool in ("git", "bash"):
        if shutil.which(tool) is None:
            raise Failure(f"'{tool}' is not installed")
    run.git(REPO, "rev-parse", "--verify", "-q", "HEAD")
    # A fresh runner: no tracking server, DVC settings or cloud keys inherited from here;
    # loopback never through a proxy.
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "DVC_", "AWS_")):
            del os.environ[name]
    os.environ.update(
        loopback_env(dict(os.environ)),
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
        PYTHONUNBUFFERED="1",
    )
    run.work = Path(tempfile.mkdtemp(prefix="rehearse.", dir=settings.outer_tmpdir))
    run.run_id = run.work.name
    # What the tools leave in their temporary directory (MLflow's locks, ...) goes too.
    (run.work / "tmp").mkdir()
    os.environ["TMPDIR"] = str(run.work / "tmp")
    say(f"run {run.run_id}, working in {run.work}")


def checkout(run: Run) -> None:
    assert run.work is not None
    run.sha = run.git(REPO, "rev-parse", "HEAD").strip()
    run.clone = run.work / "repo"
    if run.settings.source == "head":
        run.git(REPO, "clone", "--quiet", "--no-checkout", str(REPO), str(run.clone))
        run.git(run.clone, "checkout", "--quiet", "--detach", run.sha)
        run.tag = run.sha[:7]
        subject = run.git(REPO, "log", "-1", "--format=%s", run.sha).strip()
        say(f"clean clone of HEAD {run.sha} ({subject})")
    else:
        copy_worktree(run)
        run.tag = f"{run.sha[:7]}-worktree"
    run.commit = run.git(run.clone, "rev-parse", "HEAD").strip()
    missing = [name for name in REQUIRED if not (run.clone / name).is_file()]
    if missing and run.settings.source == "head":
        raise Failure(
            f"committed HEAD {run.sha[:7]} lacks: {' '.join(missing)} (commit them, or "
            "rehearse the working tree with REHEARSE_SOURCE=worktree)"
        )
    if missing:
        raise Failure(f"the working tree lacks: {' '.join(missing)}")
    say(f"image tags: :{run.tag} and :latest")


def copy_worktree(run: Run) -> None:
    """The working tree's tracked and untracked-but-not-ignored files, committed in the copy."""
    listing = run.git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = [n for n in listing.split("\0") if n and os.path.lexists(REPO / n)]
    for name in names:
        target = run.clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    run.git(run.clone, "init", "-q", "-b", "main")
    run.git(run.clone, "add", "-A", "-f")
    run.git(run.clone, "commit", "-q", "--no-verify", "-m", f"rehearsal: on {run.sha}")
    say(f"REHEARSE_SOURCE=worktree: {len(names)} files of the working tree on HEAD {run.sha}")
