"""The local registry (Debian's docker-registry): loopback only, plain HTTP; it stands in for
Docker Hub."""

from __future__ import annotations

import os
import time
import urllib.request

from . import procs
from .config import REGISTRY_BIN, Config
from .procs import Failure, log

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pid(cfg: Config) -> int | None:
    return procs.our_pid(cfg.registry_dir / "registry.pid", str(cfg.registry_config))


def answers(cfg: Config) -> bool:
    try:
        with _OPENER.open(f"http://{cfg.registry_addr}/v2/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def write_config(cfg: Config) -> None:
    storage = cfg.registry_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    draft = cfg.registry_config.with_suffix(".tmp")
    draft.write_text(
        f"""# Written by sandbox/engine; loopback only, plain HTTP.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: {cfg.registry_addr}
  headers:
    X-Content-Type-Options: [nosniff]
"""
    )
    draft.replace(cfg.registry_config)


def up(cfg: Config) -> None:
    if not os.access(REGISTRY_BIN, os.X_OK):
        raise Failure(f"{REGISTRY_BIN} missing; run 'bash sandbox/engine.sh up' first")
    running = pid(cfg)
    if running is not None and answers(cfg):
        log(f"registry already running on {cfg.registry_addr}")
        return
    if answers(cfg):
        raise Failure(
            f"something we did not start already answers on {cfg.registry_addr}; set REGISTRY_PORT"
        )
    if running is not None:  # ours but not answering: restart it
        procs.stop(running, "registry", cfg.stop_timeout)
    pidfile, log_file = cfg.registry_dir / "registry.pid", cfg.registry_dir / "registry.log"
    pidfile.unlink(missing_ok=True)
    write_config(cfg)
    launched = procs.launch(
        pidfile, log_file, [REGISTRY_BIN, "serve", str(cfg.registry_config)], os.environ
    )
    deadline = time.monotonic() + cfg.registry_start_timeout
    while time.monotonic() < deadline and procs.alive(launched):
        if answers(cfg):
            log(f"registry is up on http://{cfg.registry_addr} (log: {log_file})")
            return
        time.sleep(0.25)
    procs.tail(log_file)
    if pid(cfg) is not None:
        procs.stop(launched, "registry", cfg.stop_timeout)
    raise Failure(
        f"registry did not answer on http://{cfg.registry_addr}/v2/ within "
        f"{cfg.registry_start_timeout}s; see {log_file}"
    )


def down(cfg: Config) -> None:
    running = pid(cfg)
    if running is None:
        log("registry not running (ours)")
    else:
        procs.stop(running, "registry", cfg.stop_timeout)
    (cfg.registry_dir / "registry.pid").unlink(missing_ok=True)
