"""bash sandbox/engine.sh ACTION: see the package's docstring."""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import sys
import time
from typing import TextIO

from . import __doc__ as usage
from . import base_image, dockerd, packages, registry
from .config import DOCKER_CLIENT, Config
from .procs import Failure, log

ACTIONS = ("up", "packages", "env", "registry-up", "registry-down", "down", "status")
LOCK_WAIT_S = 900


def take_lock(cfg: Config) -> TextIO:
    """Serialise the actions that change state between concurrent callers (tests, CI, the
    rehearsal, other checkouts sharing the state dir). Held while the returned file is open."""
    cfg.state.mkdir(parents=True, exist_ok=True)
    handle = open(cfg.state / "lock", "w")  # noqa: SIM115 (the caller holds it)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise Failure(f"timed out waiting for {cfg.state / 'lock'}") from None
            time.sleep(0.5)


def print_env(cfg: Config) -> None:
    # BuildKit works with Debian's 20.10 client and engine, from the local base image, without
    # a registry. (A `# syntax=` line in a Dockerfile would pull a frontend from Docker Hub.)
    path = os.environ.get("PATH", "")
    print(f"export DOCKER_HOST={shlex.quote(f'unix://{cfg.sock}')}")
    print("export DOCKER_BUILDKIT=1")
    print("unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH")
    # bin/docker -> Debian's client, ahead of /usr/local/bin/docker.
    if str(cfg.bin_dir) not in path.split(os.pathsep):
        print(f"export PATH={shlex.quote(f'{cfg.bin_dir}{os.pathsep}{path}')}")
    print(f"export BASE_IMAGE={shlex.quote(cfg.base_image)}")
    print(f"export LOCAL_REGISTRY={shlex.quote(cfg.registry_addr)}")


def link_client(cfg: Config) -> None:
    link = cfg.bin_dir / "docker"
    cfg.bin_dir.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and os.readlink(link) == DOCKER_CLIENT):
        link.unlink(missing_ok=True)
        link.symlink_to(DOCKER_CLIENT)


def status(cfg: Config) -> None:
    print(f"state dir:  {cfg.state}")
    engine = dockerd.pid(cfg)
    if engine is None:
        print("dockerd:    stopped")
    else:
        print(f"dockerd:    running (pid {engine}, unix://{cfg.sock}, "
              f"engine {dockerd.version(cfg)})")  # fmt: skip
        size = subprocess.run(
            [DOCKER_CLIENT, "image", "inspect", "-f", "{{.Size}}", cfg.base_image],
            env=cfg.docker_env(), capture_output=True, text=True,
        )  # fmt: skip
        if size.returncode == 0:
            print(f"base image: {cfg.base_image} present ({int(size.stdout) / 1e6:.0f} MB)")
        else:
            print(f"base image: {cfg.base_image} absent")
        running = subprocess.run(
            [DOCKER_CLIENT, "ps", "-q"], env=cfg.docker_env(), capture_output=True, text=True
        )
        print(f"containers: {len(running.stdout.split())} running")
    served = registry.pid(cfg)
    if served is None:
        print("registry:   stopped")
    else:
        print(f"registry:   running (pid {served}, http://{cfg.registry_addr})")


def act(action: str, cfg: Config) -> None:
    if action == "env":
        print_env(cfg)
        return
    if action == "status":
        status(cfg)
        return
    if action in ("up", "packages") and os.geteuid() != 0:
        raise Failure("must run as root (apt, dockerd, debootstrap)")
    with take_lock(cfg):
        if action in ("up", "packages"):
            packages.ensure()
        if action == "up":
            link_client(cfg)
            dockerd.start(cfg)
            base_image.ensure(cfg)
        elif action == "registry-up":
            registry.up(cfg)
        elif action == "registry-down":
            registry.down(cfg)
        elif action == "down":
            registry.down(cfg)
            dockerd.stop(cfg)


def main(argv: list[str]) -> int:
    # A closed pipe (`status | head`) ends us quietly, as it would a shell script.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if argv in (["-h"], ["--help"]):
        print(usage)
        return 0
    if len(argv) != 1 or argv[0] not in ACTIONS:
        log(f"ERROR: usage: bash sandbox/engine.sh {'|'.join(ACTIONS)}")
        return 1
    try:
        act(argv[0], Config.from_env())
    except Failure as exc:
        log(f"ERROR: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
