"""runs 1 and 2: the reproduce job's DVC steps with a remote, as on a push to main. Run 1 starts
from an empty remote and pushes; run 2, a second clean clone of the same commit, must run no
stage (everything comes from the remote)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import yaml
from servers import CI_DVC_PULL, CI_DVC_PUSH, CI_DVC_REPRO, s3_remote_options

from .context import Failure, Run, say, seconds
from .s3_server import BUCKET

DVC_TIMEOUT = 600  # remote, pull, push, metrics


def clone_of(run: Run, number: int) -> Path:
    return run.clone if number == 1 else run.clone2


def dvc_env(run: Run, clone: Path) -> dict[str, str]:
    """What the workflow's steps see: the venv first, the clone's package ahead of the venv's
    editable install of this repository."""
    path = f"{run.settings.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHONPATH": str(clone / "src")}


def dvc(run: Run, clone: Path, *args: str, capture: bool = False) -> str:
    command = [run.tool("dvc"), *args]
    return run.run(command, DVC_TIMEOUT, cwd=clone, env=dvc_env(run, clone), capture=capture).stdout


def checkout_2(run: Run) -> None:
    assert run.work is not None
    run.clone2 = run.work / "repo-run2"
    run.git(run.work, "clone", "--quiet", "--no-checkout", str(run.clone), str(run.clone2))
    run.git(run.clone2, "checkout", "--quiet", "--detach", run.commit)


def remote(run: Run, number: int) -> None:
    clone = clone_of(run, number)
    dvc(run, clone, "remote", "add", "--local", "--force", "--default", "ci", f"s3://{BUCKET}/dvc")
    for option, value in s3_remote_options(run.s3_url).items():
        dvc(run, clone, "remote", "modify", "--local", "ci", option, value)


def pull(run: Run, number: int) -> None:
    run.pull_t0 = time.monotonic()
    dvc(run, clone_of(run, number), *CI_DVC_PULL)


def repro(run: Run, number: int) -> None:
    clone = clone_of(run, number)
    env = dvc_env(run, clone)
    where = "import house_price; print(house_price.__file__)"
    package = run.run(
        [run.tool("python"), "-c", where], 60, cwd=clone, env=env, capture=True, echo=False
    ).stdout.strip()
    if not package.startswith(str(clone / "src")):
        raise Failure(f"the stages would import house_price from {package}, not the clone")
    env["MLFLOW_TRACKING_URI"] = run.mlflow_url
    command = [run.tool("dvc"), *CI_DVC_REPRO]
    output = run.run(command, run.settings.repro_timeout, cwd=clone, env=env, capture=True).stdout
    took = seconds(time.monotonic() - run.pull_t0)
    ran = re.findall(r"^Running stage '([^']+)'", output, re.M)
    run.ran[number] = ran
    stages = ", ".join(ran) or "none"
    say(f"run {number}: dvc pull + dvc repro took {took}; stages run: {stages}")
    run.facts[f"run {number}"] = f"{took} pull + repro, ran: {stages}"
    if number == 1:
        differ = lock_differences(run.git(run.clone, "show", "HEAD:dvc.lock"), lock(run.clone))
        if differ:
            say(f"outputs that differ from the committed dvc.lock: {', '.join(differ)}")
        else:
            say("all outputs reproduced the committed dvc.lock bit for bit")
    else:
        check_run_2(run)


def check_run_2(run: Run) -> None:
    if run.ran[2]:
        raise Failure(
            f"run 2 reproduced {', '.join(run.ran[2])}: a fresh clone with the remote run 1 "
            "pushed must reproduce nothing (is dvc.lock committed for this code?)"
        )
    if run.git(run.clone2, "status", "--porcelain", "--", "dvc.lock").strip():
        raise Failure("run 2 changed dvc.lock")
    differ = lock_differences(lock(run.clone), lock(run.clone2))
    if differ:
        raise Failure(f"run 2's outputs differ from run 1's: {', '.join(differ)}")
    say("run 2 reproduced nothing: every output came from the remote, as run 1 made it")


def metrics(run: Run) -> None:
    shown = dvc(run, run.clone, "metrics", "show", "--md", capture=True)
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary, "a") as handle:
            handle.write(shown)
    bundle = run.clone / "models" / "house-price"
    if not bundle.is_dir() or not any(bundle.iterdir()):
        raise Failure("no model bundle in models/house-price after dvc repro")


def push(run: Run) -> None:
    dvc(run, run.clone, *CI_DVC_PUSH)
    if not run.ran[1]:
        say("run 1 ran no stage: the remote already held everything (a rehearsal before?)")


def lock(clone: Path) -> str:
    return (clone / "dvc.lock").read_text()


def lock_differences(old_text: str, new_text: str) -> list[str]:
    def outs(text: str) -> dict[str, str]:
        stages = (yaml.safe_load(text) or {}).get("stages", {})
        return {
            out["path"]: out.get("md5", "")
            for stage in stages.values()
            for out in stage.get("outs", [])
        }

    old, new = outs(old_text), outs(new_text)
    return sorted(path for path in new if old.get(path) != new[path])
