"""Run the API with uvicorn: `python -m house_price.serve` (what the image and `make serve` run).

Every setting comes from the environment through the API's `Settings` (see
house_price/api/core/config.py): HOST, PORT, WEB_CONCURRENCY, KEEP_ALIVE_S,
GRACEFUL_SHUTDOWN_S and, in each worker, the request and connection limits of
`house_price.api.protocol` (MAX_CONNECTIONS: there, not uvicorn's limit_concurrency, which
refused the probes while idle keep-alive connections were open) and the model's own settings. A
bad value: one line, exit 2.

With several workers, each worker is its own process: prometheus-client's multiprocess mode
makes /metrics add them all up. Its directory, PROMETHEUS_MULTIPROC_DIR, is emptied here before
the workers start (values of an earlier run must not count), or is a fresh temporary directory,
removed at exit, when unset. A worker that dies without its shutdown (SIGKILL, the OOM killer,
a crash) is replaced by uvicorn's supervisor; `Supervisor` then drops its live gauges too, as
it does for every worker it reaps.

SIGTERM (`docker stop`, Kubernetes): uvicorn stops accepting, lets in-flight requests finish
for up to GRACEFUL_SHUTDOWN_S (default 7, inside the 10 s kill window of Docker and Cloud
Run), then runs the app's shutdown (last metrics flush) and exits 0.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

# Importing it imports neither FastAPI nor XGBoost (house_price.api is lazy): this supervising
# process never serves.
from house_price.api.core.config import Settings

PROTOCOL = "house_price.api.protocol:LimitedHttpToolsProtocol"


class Supervisor(Multiprocess):
    """uvicorn's supervisor of several workers, which also tells prometheus-client when a worker
    is gone. A worker's `live*` gauges (requests in flight, its process metrics, model_ready)
    stay in /metrics until `mark_process_dead(pid)`; the worker calls it in its own shutdown,
    which SIGKILL, the OOM killer or a crash never run: http_requests_in_flight stayed one too
    high for good, and the dead pid's memory was still exported. A SIGHUP replacement that is not
    ready in time is killed by uvicorn before it ever joins `processes`: its model_ready 0 kept
    the fleet's (the minimum) at 0. So after each step of the supervisor's loop, every pid with
    live gauges that is none of its workers now is marked dead, however it went: the supervisor
    has reaped it (a check at scrape time could only guess from a pid, which the system
    reuses)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

    def keep_subprocess_alive(self) -> None:  # a worker died: replaced
        super().keep_subprocess_alive()
        self._forget_the_gone()

    def handle_signals(self) -> None:  # SIGHUP (replace all), SIGTTIN/SIGTTOU (one more/fewer)
        super().handle_signals()
        self._forget_the_gone()

    def _forget_the_gone(self) -> None:
        forget_gone_workers(self.metrics_dir, {process.pid for process in self.processes})


def forget_gone_workers(directory: Path, workers: Collection[int | None]) -> set[int]:
    """`mark_process_dead` for every pid with live gauges in `directory` that is none of
    `workers`; those pids. prometheus-client names a worker's files `<kind>_<pid>.db`, and
    mark_process_dead removes its `gauge_live*_<pid>.db` (its counters stay counted)."""
    named = (path.stem.rpartition("_")[2] for path in directory.glob("gauge_live*_*.db"))
    gone = {int(pid) for pid in named if pid.isdigit()} - set(workers)
    for pid in gone:
        mark_process_dead(pid, str(directory))
    return gone


def run(config: uvicorn.Config) -> None:
    """uvicorn.run's serving, with `Supervisor` for several workers."""
    try:
        if config.workers > 1:
            Supervisor(config, sockets=[config.bind_socket()]).run()
            return
        server = uvicorn.Server(config)
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn re-raises the SIGINT it handled
        return
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def reset_multiprocess_dir(path: Path) -> None:
    """An empty directory for the workers' metric files (earlier runs' files removed)."""
    path.mkdir(parents=True, exist_ok=True)
    for item in path.glob("*.db"):
        item.unlink()


def main() -> None:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"house_price.serve: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    created = None
    if settings.web_concurrency > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            created = tempfile.mkdtemp(prefix="house-price-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
        reset_multiprocess_dir(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    try:
        run(
            uvicorn.Config(
                "house_price.api:app",
                host=settings.host,
                port=settings.port,
                workers=settings.web_concurrency,
                loop="uvloop",
                http=PROTOCOL,
                access_log=False,
                timeout_keep_alive=settings.keep_alive_s,
                timeout_graceful_shutdown=settings.graceful_shutdown_s,
            )
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


if __name__ == "__main__":
    main()
