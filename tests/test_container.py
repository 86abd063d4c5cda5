"""The serving image, built and run for real on the engine scripts/container_env.sh prepares.

The build context is the session's pipeline repo (`pipeline_repo` from tests/conftest.py): a
fresh copy of the project whose `dvc repro` wrote the bundle the image bakes in. The image is
built with `--build-arg BASE_IMAGE=<the local base image>` and run with host networking on a
free port (`-e PORT`). Checks: /health 200 (time to healthy printed, target <= 5 s), a valid
/predict, a 422, a non-root process, the HEALTHCHECK turning healthy, the image size (<= 300
MB) and its contents (no mlflow, no dvc; xgboost-cpu for its C library only: neither scikit-learn,
SciPy, pandas nor joblib can be imported), and scripts/smoke_test.py. The
container and the image are removed in a finalizer, whatever happens.

Skipped only when the engine cannot be prepared (the reason is given)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from api_support import Reply, call, free_port, post_json

pytestmark = [pytest.mark.container, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CONTAINER_ENV = REPO / "scripts" / "container_env.sh"
SMOKE_TEST = REPO / "scripts" / "smoke_test.py"
MAX_IMAGE_BYTES = 300 * 1000**2  # "300 MB" as `docker images` counts
HEALTHY_TARGET_S = 5.0
HEALTHY_BOUND_S = 60.0
HEALTHCHECK_BOUND_S = 90.0


@dataclass(frozen=True)
class Engine:
    env: dict[str, str]
    base_image: str

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {shlex.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout.strip()


def exported(text: str) -> dict[str, str]:
    """`export NAME=value` lines (as `container_env.sh env` prints them) -> a dict."""
    values = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            values[name] = value
    return values


@pytest.fixture(scope="module")
def engine() -> Engine:
    if not CONTAINER_ENV.is_file():
        pytest.skip(f"{CONTAINER_ENV} is missing")
    try:
        up = subprocess.run(
            ["bash", str(CONTAINER_ENV), "up"], capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired:
        pytest.skip("scripts/container_env.sh up did not finish within 1800 s")
    if up.returncode != 0:
        pytest.skip(f"the container engine could not be prepared: {up.stderr.strip()[-1500:]}")
    printed = subprocess.run(
        ["bash", str(CONTAINER_ENV), "env"], capture_output=True, text=True, timeout=60, check=True
    )
    values = exported(printed.stdout)
    env = {key: value for key, value in os.environ.items() if not key.startswith("DOCKER_")}
    env.update(values)
    for name in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(name, None)
    engine = Engine(env, values.get("BASE_IMAGE", "local/python:3.11"))
    engine.docker("info", "--format", "{{.ServerVersion}}", timeout=60)
    return engine


@dataclass
class Built:
    tag: str
    seconds: float


@pytest.fixture(scope="module")
def image(engine: Engine, pipeline_repo: Path) -> Iterator[Built]:
    assert (pipeline_repo / "models" / "house-price" / "model.ubj").is_file()
    tag = f"house-price-model:test-{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    try:
        engine.docker(
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={engine.base_image}",
            "--tag",
            tag,
            str(pipeline_repo),
            timeout=1800,
        )
        built = Built(tag, time.monotonic() - started)
        print(f"\nimage {tag} built in {built.seconds:.0f} s from {engine.base_image}")
        yield built
    finally:
        engine.docker("image", "rm", "--force", tag, check=False, timeout=300)


@dataclass
class Running:
    name: str
    url: str
    seconds_to_healthy: float


def run_container(engine: Engine, tag: str, names: list[str]) -> Running:
    """`docker run` on a free host port; returns once /health answers 200 (bounded)."""
    port = free_port()
    name = f"house-price-test-{uuid.uuid4().hex[:10]}"
    names.append(name)  # removed by the caller's finalizer, even if this fails
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    # Host networking: bind loopback only (HOST), on a free port (PORT).
    engine.docker(
        "run", "--detach", "--name", name, "--network", "host",
        "-e", "HOST=127.0.0.1", "-e", f"PORT={port}", tag,
    )  # fmt: skip
    last = "no answer"
    while time.monotonic() - started < HEALTHY_BOUND_S:
        try:
            reply = call(url, "GET", "/health", timeout=2)
            if reply.status == 200:
                return Running(name, url, time.monotonic() - started)
            last = f"HTTP {reply.status}: {reply.text[:200]}"
        except OSError as exc:
            last = str(exc)
        state = engine.docker("inspect", "--format", "{{.State.Status}}", name, check=False)
        if state not in ("created", "running"):
            logs = engine.docker("logs", name, check=False)
            raise AssertionError(f"container {name} is {state}:\n{logs}")
        time.sleep(0.05)
    logs = engine.docker("logs", name, check=False)
    raise AssertionError(f"{url}/health not 200 within {HEALTHY_BOUND_S:g} s ({last}):\n{logs}")


@pytest.fixture(scope="module")
def containers(engine: Engine) -> Iterator[list[str]]:
    names: list[str] = []
    try:
        yield names
    finally:
        for name in names:
            engine.docker("rm", "--force", name, check=False, timeout=120)


@pytest.fixture(scope="module")
def container(engine: Engine, image: Built, containers: list[str]) -> Running:
    running = run_container(engine, image.tag, containers)
    print(f"\n/health 200 {running.seconds_to_healthy:.2f} s after docker run")
    return running


def test_health_within_target(
    engine: Engine, image: Built, container: Running, containers: list[str]
) -> None:
    health = call(container.url, "GET", "/health").json()
    assert health["status"] == "ok"
    assert health["model_version"]
    timings = [container.seconds_to_healthy]
    while min(timings) > HEALTHY_TARGET_S and len(timings) < 3:
        # One slow start can be the machine (cold page cache, other jobs): measure again.
        again = run_container(engine, image.tag, containers)
        engine.docker("rm", "--force", again.name, check=False)
        timings.append(again.seconds_to_healthy)
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(
        f"\ntime to healthy after docker run: {', '.join(f'{t:.2f} s' for t in timings)} "
        f"(target {HEALTHY_TARGET_S:g} s; load average {load:.1f} on {cpus} CPUs)"
    )
    if min(timings) > HEALTHY_TARGET_S and load >= cpus:
        pytest.skip(
            f"time to healthy {min(timings):.1f} s > {HEALTHY_TARGET_S:g} s, but the machine is "
            f"oversubscribed (load average {load:.1f} on {cpus} CPUs): not a fair measurement"
        )
    assert min(timings) <= HEALTHY_TARGET_S


def openapi_example(url: str) -> dict[str, object]:
    spec = call(url, "GET", "/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    return body["example"]


def test_predict_and_validation(container: Running) -> None:
    example = openapi_example(container.url)
    reply: Reply = post_json(container.url, "/predict", example)
    assert reply.status == 200, reply.text
    assert reply.json()["prediction"] > 0
    invalid = post_json(container.url, "/predict", {**example, "unknown_field": 1})
    assert invalid.status == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "unknown_field"]
    batch = post_json(container.url, "/predict/batch", {"rows": [example, example]})
    assert batch.status == 200
    assert len(batch.json()["predictions"]) == 2


def test_runs_as_non_root(engine: Engine, image: Built, container: Running) -> None:
    uid = engine.docker("exec", container.name, "id", "-u")
    assert uid.isdigit()
    assert int(uid) != 0
    user = engine.docker("image", "inspect", "--format", "{{.Config.User}}", image.tag)
    assert user
    assert user.split(":")[0] not in ("0", "root")
    print(f"\nprocess uid {uid}, image USER {user}")


def test_healthcheck_turns_healthy(engine: Engine, container: Running) -> None:
    deadline = time.monotonic() + HEALTHCHECK_BOUND_S
    status = ""
    while time.monotonic() < deadline:
        status = engine.docker("inspect", "--format", "{{.State.Health.Status}}", container.name)
        if status == "healthy":
            break
        assert status in ("starting", "healthy"), status
        time.sleep(1)
    assert status == "healthy"


def test_image_size_and_contents(engine: Engine, image: Built) -> None:
    size = int(engine.docker("image", "inspect", "--format", "{{.Size}}", image.tag))
    print(f"\nimage size: {size / 1000**2:.0f} MB (limit {MAX_IMAGE_BYTES / 1000**2:.0f} MB)")
    assert size <= MAX_IMAGE_BYTES
    probe = (
        "import importlib.metadata as m, json; "
        "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))"
    )
    names = json.loads(
        engine.docker("run", "--rm", "--network", "none", image.tag, "python", "-c", probe)
    )
    for absent in ("mlflow", "mlflow-skinny", "dvc", "xgboost", "nvidia-nccl-cu12", "pip", "scipy"):
        assert absent not in names, absent
    for present in ("xgboost-cpu", "fastapi", "uvicorn", "house-price", "prometheus-client"):
        assert present in [name.replace("_", "-") for name in names], present
    absent_modules = ("sklearn", "scipy", "pandas", "joblib")
    probe = (
        "import importlib, json, sys\n"
        "def fails(name):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        return True\n"
        "    return False\n"
        "print(json.dumps({name: fails(name) for name in sys.argv[1:]}))"
    )
    unimportable = json.loads(
        engine.docker(
            "run", "--rm", "--network", "none", image.tag, "python", "-c", probe, *absent_modules
        )
    )
    assert unimportable == dict.fromkeys(absent_modules, True)


def test_smoke_test_script(container: Running) -> None:
    if not SMOKE_TEST.is_file():
        pytest.skip(f"{SMOKE_TEST} is missing")
    result = subprocess.run(
        [sys.executable, str(SMOKE_TEST), container.url, "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(result.stdout[-2000:])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
