"""docker build (the image job's context: a fresh checkout plus run 2's bundle), run on
--network host, and the workflow's smoke test with the container's logs always shown."""

from __future__ import annotations

import re
import shutil
import time

from servers import free_port

from .context import DOCKER_TIMEOUT, REPO, Run, say, seconds, warn

SMOKE_HEALTH_TIMEOUT = 60
SMOKE_TIMEOUT = 600  # the smoke test as a whole


def build(run: Run) -> None:
    assert run.work is not None
    context = run.work / "image-context"
    run.git(run.work, "clone", "--quiet", "--no-checkout", str(run.clone), str(context))
    run.git(context, "checkout", "--quiet", "--detach", run.commit)
    (context / "models").mkdir(exist_ok=True)
    shutil.copytree(run.clone2 / "models" / "house-price", context / "models" / "house-price")
    run.sha_tag = f"{run.repo_ref}:{run.tag}"
    run.latest_tag = f"{run.repo_ref}:latest"
    run.images += [run.sha_tag, run.latest_tag]
    iid = run.work / "image.id"
    command = [
        "docker", "build", "--progress", "plain", "--network", "host",
        "--build-arg", f"BASE_IMAGE={run.base_image}",
        "--label", f"org.opencontainers.image.source=file://{REPO}",
        "--label", f"org.opencontainers.image.revision={run.sha}",
        "--iidfile", str(iid), "-t", run.sha_tag, "-t", run.latest_tag, str(context),
    ]  # fmt: skip
    run.run(command, run.settings.build_timeout)
    run.image_id = iid.read_text().strip()
    size = int(run.docker("image", "inspect", "-f", "{{.Size}}", run.image_id).strip())
    run.facts["image size"] = f"{size // 1_000_000} MB"
    say(f"built {run.image_id} ({size // 1_000_000} MB) as {run.sha_tag} and :latest")


def container(run: Run, which: str) -> str:
    return f"rehearse-api-{which}-{run.run_id}"


def start(run: Run, which: str, image: str) -> None:
    """The image's own settings decide: PORT (a free port) and HOST (loopback) if it reads them."""
    env_list = run.docker(
        "image", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", image
    )
    entry = run.docker(
        "image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", image
    )
    args: list[str] = []
    if re.search(r"^PORT=", env_list, re.M):
        run.api_port = free_port()
        args += ["-e", f"PORT={run.api_port}"]
        say(f"the image reads PORT: serving on free port {run.api_port}")
    else:
        run.api_port = 8000
        say("the image has no PORT setting: serving on 8000")
    if re.search(r"^HOST=|\$\{?HOST([^A-Za-z0-9_]|$)", env_list + "\n" + entry, re.M):
        args += ["-e", "HOST=127.0.0.1"]
        say("the image reads HOST: binding 127.0.0.1")
    else:
        warn("the image has no HOST setting: on --network host it listens on every interface")
    name = container(run, which)
    run.containers.append(name)
    run.container_t0 = time.monotonic()
    # --network host: the engine runs without a bridge (sandbox/engine), so -p maps nothing;
    # the workflow's -p 127.0.0.1:8000:8000 becomes the host's network here.
    label = f"house-price.rehearsal={run.run_id}"
    run.docker("run", "-d", "--name", name, "--network", "host", "--label", label, *args, image)
    say(f"started container {name} from {image}")


def show_logs(run: Run, name: str) -> None:
    if name in run.logs_shown:
        return
    run.logs_shown.add(name)
    print(f"--- logs of container {name} ---", flush=True)
    result = run.run(["docker", "logs", name], DOCKER_TIMEOUT, capture=True, check=False)
    if result.returncode != 0:
        print(f"(no logs: container {name} absent)", flush=True)
    print(f"--- end of logs of {name} ---", flush=True)


def smoke(run: Run, which: str) -> None:
    """The workflow's smoke test, then its "Container logs" and "Stop the container" steps
    (always); records seconds from docker run to /health 200."""
    name = container(run, which)
    started = time.monotonic()
    smoke_test = str(run.clone / "scripts" / "smoke_test.py")
    url = f"http://127.0.0.1:{run.api_port}"
    try:
        output = run.run(
            [run.tool("python"), smoke_test, url, "--timeout", str(SMOKE_HEALTH_TIMEOUT)],
            SMOKE_TIMEOUT,
            capture=True,
        ).stdout
    finally:
        show_logs(run, name)
        run.docker("rm", "-f", name, check=False)
    match = re.search(r"^\[health\] 200 after ([0-9.]+)s", output, re.M)
    healthy = started - run.container_t0 + (float(match[1]) if match else 0.0)
    say(f"healthy {seconds(healthy)} after docker run")
    run.healthy[which] = seconds(healthy)
