"""cleanup: stop and remove what this run started, each by its own id, whatever happened. An
engine or registry it found running stays, and the engine is checked to still answer."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from servers import stop_process_group

from . import image, registry
from .context import DOCKER_TIMEOUT, Failure, Run, say, warn


def cleanup(run: Run, failed: bool) -> bool:
    """True if everything went."""
    problems: list[str] = []

    def attempt(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except (Failure, OSError, subprocess.SubprocessError) as exc:
            warn(f"{what}: {exc}")
            problems.append(what)

    for child in list(run.children):
        attempt("a command", lambda child=child: stop_process_group(child, timeout=10))
    if run.engine_ready:
        for name in run.containers:
            inspect = ["docker", "container", "inspect", name]
            if run.run(inspect, DOCKER_TIMEOUT, capture=True, check=False, echo=False).returncode:
                continue
            image.show_logs(run, name)
            attempt(f"removing container {name}", lambda n=name: run.docker("rm", "-f", n))
    stop_servers(run, failed, attempt)
    if run.engine_ready:
        for ref in run.images:
            if run.image_exists(ref):
                attempt(f"removing image {ref}", lambda r=ref: run.docker("rmi", r))
        if run.pushed_digest and not run.settings.keep and run.registry_answers():
            attempt("deleting the pushed manifest", lambda: registry.delete_pushed(run))
    if run.registry_started:
        attempt("registry-down", lambda: run.engine("registry-down", timeout=120))
    if run.engine_started:
        say("stopping the Docker engine this rehearsal started")
        attempt("stopping the Docker engine", lambda: run.engine("down", timeout=300))
    elif run.engine_ready:
        answers = run.run(["docker", "info"], 30, capture=True, check=False, echo=False)
        if answers.returncode == 0:
            say("left the Docker engine it found running; it answers")
        else:
            warn("the Docker engine it found no longer answers 'docker info'")
            problems.append("the engine")
    if run.work is not None and run.work.is_dir():
        if run.settings.keep:
            say(f"REHEARSE_KEEP=1: kept {run.work}")
        else:
            work = run.work
            attempt(f"removing {work}", lambda: shutil.rmtree(work))
    return not problems


def stop_servers(run: Run, failed: bool, attempt: Callable[[str, Callable], None]) -> None:
    if run.mlflow is not None:
        if failed and run.step_name.startswith(("mlflow server", "dvc repro")):
            tail = run.mlflow_log.read_text(errors="replace").splitlines()[-30:]
            print("--- last lines of the MLflow server log ---", *tail, sep="\n")
            print("--- end of the MLflow server log ---", flush=True)
        if run.mlflow.poll() is None:
            say(f"stopping the MLflow server (process group {run.mlflow.pid})")
        mlflow = run.mlflow
        attempt("stopping the MLflow server", lambda: stop_process_group(mlflow, 20))
    if run.s3 is not None:
        say(f"stopping the S3 server (process group {run.s3.pid})")
        s3 = run.s3
        attempt("stopping the S3 server", lambda: stop_process_group(s3, 20))
