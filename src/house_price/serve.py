"""Run the API with uvicorn: `python -m house_price.serve` (what the image and `make serve` run).

Environment: HOST (default 127.0.0.1), PORT (8000), WEB_CONCURRENCY (uvicorn workers, default
1), and the API's own settings (MODEL_DIR, ...). With several workers, each worker is its own
process: prometheus-client's multiprocess mode makes /metrics add them all up. Its directory,
PROMETHEUS_MULTIPROC_DIR, is emptied here before the workers start (values of an earlier run
must not count), or is a fresh temporary directory, removed at exit, when unset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn


def reset_multiprocess_dir(path: Path) -> None:
    """An empty directory for the workers' metric files (earlier runs' files removed)."""
    path.mkdir(parents=True, exist_ok=True)
    for item in path.glob("*.db"):
        item.unlink()


def _count(name: str, default: int) -> int:
    # Not the API's int_env: importing house_price.api here would import the whole app (FastAPI,
    # XGBoost, prometheus-client) in this supervising process, which never serves.
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit():
        raise SystemExit(f"house_price.serve: error: {name}={raw!r}: expected an integer >= 0")
    return int(raw)


def main() -> None:
    workers = max(_count("WEB_CONCURRENCY", 1), 1)
    host = os.environ.get("HOST", "127.0.0.1")
    port = _count("PORT", 8000)
    created = None
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            created = tempfile.mkdtemp(prefix="house-price-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
        reset_multiprocess_dir(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    try:
        uvicorn.run(
            "house_price.api:app",
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


if __name__ == "__main__":
    main()
