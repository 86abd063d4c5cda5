"""Our dockerd: started by hand with its own roots and socket, no bridge, no iptables; stopped by
its pidfile, with whatever outlived it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from . import mounts, procs
from .config import DOCKER_CLIENT, DOCKERD_BIN, SYSTEM_PATH, Config
from .procs import Failure, log

# Unix socket paths are limited to 107 bytes; containerd's, under the exec root, is the longest.
SOCKET_SUFFIX = 35


def pid(cfg: Config) -> int | None:
    return procs.our_pid(cfg.state / "dockerd.pid", str(cfg.sock))


def answers(cfg: Config) -> bool:
    """`docker info`, bounded: a wedged daemon can hang the client."""
    try:
        result = subprocess.run(
            [DOCKER_CLIENT, "info"], env=cfg.docker_env(), capture_output=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def version(cfg: Config) -> str:
    result = subprocess.run(
        [DOCKER_CLIENT, "version", "-f", "{{.Server.Version}}"],
        env=cfg.docker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout.strip() or "?"


def start(cfg: Config) -> None:
    log_file = cfg.state / "dockerd.log"
    deadline = time.monotonic() + cfg.dockerd_start_timeout
    if pid(cfg) is not None:
        while time.monotonic() < deadline:
            if answers(cfg):
                return
            time.sleep(0.5)
        raise Failure(f"our dockerd runs but does not answer 'docker info'; see {log_file}")
    # dockerd 20.10 silently attaches to a system containerd whose socket exists: that would be
    # driving a daemon we did not start.
    if Path("/run/containerd/containerd.sock").is_socket():
        raise Failure(
            "a system containerd is running (/run/containerd/containerd.sock); our dockerd "
            "would use it. Stop it first."
        )
    if len(str(cfg.exec_root)) + SOCKET_SUFFIX > 107:
        raise Failure(
            f"CONTAINER_STATE_DIR '{cfg.state}' is too long for unix socket paths "
            "(keep it under ~65 chars)"
        )
    # Its temporary files (and runc exec's) in the state dir, never the caller's TMPDIR, which
    # the caller may delete while the engine runs.
    tmpdir = cfg.state / "tmp" / "dockerd"
    for folder in (cfg.state / "data", cfg.exec_root, cfg.bin_dir, tmpdir):
        folder.mkdir(parents=True, exist_ok=True)
    clear_stale_pidfiles(cfg)
    config = cfg.state / "daemon.json"  # our own, so /etc/docker/daemon.json cannot change us
    if not config.exists():
        config.write_text("{}\n")
    log(f"starting dockerd (log: {log_file})")
    # The launch pidfile spots an early death: dockerd writes --pidfile only later.
    command = [
        DOCKERD_BIN,
        "--config-file", str(config),
        "--data-root", str(cfg.state / "data"),
        "--exec-root", str(cfg.exec_root),
        "--pidfile", str(cfg.state / "dockerd.pid"),
        "-H", f"unix://{cfg.sock}",
        # No traffic but the host's network (loopback and the package registries).
        "--bridge=none", "--iptables=false", "--ip6tables=false",
        "--ip-forward=false", "--ip-masq=false",
    ]  # fmt: skip
    env = {**os.environ, "PATH": SYSTEM_PATH, "TMPDIR": str(tmpdir)}
    launched = procs.launch(cfg.state / "dockerd.launch.pid", log_file, command, env)
    deadline = time.monotonic() + cfg.dockerd_start_timeout
    while time.monotonic() < deadline:
        if answers(cfg):
            log(f"dockerd is up ({version(cfg)})")
            return
        if not procs.alive(launched):
            procs.tail(log_file)
            reap_leftovers(cfg)  # e.g. the data root it had already bind-mounted
            raise Failure(f"dockerd exited during startup; see {log_file}")
        time.sleep(0.5)
    procs.tail(log_file)
    if procs.is_ours(launched, str(cfg.sock)):  # leave no hung engine behind
        procs.stop(launched, "dockerd", cfg.stop_timeout)
    reap_leftovers(cfg)
    raise Failure(
        f"dockerd did not answer 'docker info' within {cfg.dockerd_start_timeout}s; see {log_file}"
    )


def stop(cfg: Config) -> None:
    running = pid(cfg)
    if running is None:
        log("dockerd not running (ours)")
    else:
        procs.stop(running, "dockerd", cfg.stop_timeout)
    reap_leftovers(cfg)


def clear_stale_pidfiles(cfg: Config) -> None:
    """State of a dead dockerd of ours. Its containerd lingers as a zombie for a while, and a new
    dockerd that finds containerd.pid naming it waits for it until it gives up ("timeout waiting
    for containerd to start"): stop a live orphan, drop the pidfiles. Shims of surviving
    containers stay: the new containerd reconnects to them."""
    containerd = cfg.exec_root / "containerd"
    orphan = procs.our_pid(containerd / "containerd.pid", str(containerd))
    if orphan is not None:
        procs.stop(orphan, "containerd", cfg.stop_timeout)
    for path in (
        containerd / "containerd.pid",
        cfg.state / "dockerd.pid",
        cfg.state / "dockerd.launch.pid",
        cfg.sock,
    ):
        path.unlink(missing_ok=True)


def reap_leftovers(cfg: Config) -> None:
    """Whatever outlived a dockerd that had to be killed: containers, their shims, mounts."""
    clear_stale_pidfiles(cfg)
    runc_root = cfg.exec_root / "runtime-runc" / "moby"
    if runc_root.is_dir():
        runc = ["runc", "--root", str(runc_root)]
        env = {"PATH": SYSTEM_PATH}
        listed = subprocess.run([*runc, "list", "-q"], capture_output=True, text=True, env=env)
        for container in listed.stdout.split():
            log(f"force-removing leftover container {container}")
            subprocess.run([*runc, "delete", "--force", container], capture_output=True, env=env)
    shim_marker = f"-address {cfg.exec_root}/containerd/containerd.sock"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and procs.is_ours(int(entry.name), shim_marker):
            procs.stop(int(entry.name), "containerd-shim", cfg.stop_timeout)
    mounts.unmount_all(cfg.state)
