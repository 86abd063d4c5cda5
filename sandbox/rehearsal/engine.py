"""container engine: sandbox/engine.sh up, its env, and the local registry that stands in for
Docker Hub. An engine or registry found running is left running at the end."""

from __future__ import annotations

import os
import re

from servers import engine_env

from .context import ENGINE, IMAGE_NAME, Failure, Run, say

# `up` may build the base image (debootstrap) and waits up to 900 s for the engine's lock.
UP_TIMEOUT = 1200


def start(run: Run) -> None:
    status = run.engine("status", timeout=60, capture=True, echo=False).stdout
    found = bool(re.search(r"^dockerd:\s+running", status, re.M))
    run.engine_started = not found
    run.engine("up", timeout=UP_TIMEOUT)
    say(
        "the Docker engine was running: it stays running"
        if found
        else "started the Docker engine: it is stopped at the end"
    )
    printed = run.engine("env", timeout=30, capture=True, echo=False).stdout
    env = engine_env(printed, os.environ)
    os.environ.clear()
    os.environ.update(env)
    run.docker("version", "-f", "engine {{.Server.Version}}")
    run.engine_ready = True
    run.base_image = os.environ["BASE_IMAGE"]
    run.registry = os.environ["LOCAL_REGISTRY"]
    say(
        f"DOCKER_HOST={os.environ['DOCKER_HOST']}, BASE_IMAGE={run.base_image}, "
        f"LOCAL_REGISTRY={run.registry}"
    )
    if not run.image_exists(run.base_image):
        raise Failure(f"base image {run.base_image} is missing after '{ENGINE.name} up'")
    if run.registry_answers():
        say(f"the local registry already runs on {run.registry} (left running at the end)")
    else:
        run.engine("registry-up", timeout=120)
        run.registry_started = True
    if not run.registry_answers():
        raise Failure(f"the local registry does not answer on http://{run.registry}/v2/")
    run.repo_ref = f"{run.registry}/{run.settings.namespace}/{IMAGE_NAME}"
