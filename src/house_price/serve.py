"""Run the API with uvicorn: `python -m house_price.serve` (what the image and `make serve` run).

Every setting comes from the environment through the API's `Settings` (see
house_price/api/core/config.py): HOST, PORT, WEB_CONCURRENCY, KEEP_ALIVE_S,
GRACEFUL_SHUTDOWN_S, MAX_CONNECTIONS and, in each worker, the request limits of
`house_price.api.protocol` and the model's own settings. A bad value: one line, exit 2.

With several workers, each worker is its own process: prometheus-client's multiprocess mode
makes /metrics add them all up. Its directory, PROMETHEUS_MULTIPROC_DIR, is emptied here before
the workers start (values of an earlier run must not count), or is a fresh temporary directory,
removed at exit, when unset.

SIGTERM (`docker stop`, Kubernetes): uvicorn stops accepting, lets in-flight requests finish
for up to GRACEFUL_SHUTDOWN_S (default 7, inside the 10 s kill window of Docker and Cloud
Run), then runs the app's shutdown (last metrics flush) and exits 0.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import uvicorn

# Importing it imports neither FastAPI nor XGBoost (house_price.api is lazy): this supervising
# process never serves.
from house_price.api.core.config import Settings

PROTOCOL = "house_price.api.protocol:LimitedHttpToolsProtocol"


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
        uvicorn.run(
            "house_price.api:app",
            host=settings.host,
            port=settings.port,
            workers=settings.web_concurrency,
            loop="uvloop",
            http=PROTOCOL,
            access_log=False,
            timeout_keep_alive=settings.keep_alive_s,
            timeout_graceful_shutdown=settings.graceful_shutdown_s,
            limit_concurrency=settings.max_connections,
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


if __name__ == "__main__":
    main()
