"""The API's settings, read once from the environment by `Settings.from_env`.

MODEL_DIR (default models/house-price), MAX_BATCH_ROWS (default 10000), MAX_BODY_BYTES (default
1 MiB + 1 KiB per batch row), MODEL_THREADS (XGBoost threads for batches of 1,000 rows or more;
default 0: XGBoost's choice, the CPUs the cgroup allows; smaller calls use one thread),
DRIFT_METRICS (1, default: count live inputs into the bundle's drift bins; 0: do not),
PROMETHEUS_MULTIPROC_DIR (set by `python -m house_price.serve` for several workers:
prometheus-client's multiprocess mode, /metrics adds up every worker). A bad value fails at
start-up with a ValueError naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL_DIR = "models/house-price"
DEFAULT_MAX_BATCH_ROWS = 10_000
API_VERSION = "1"


def int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected an integer >= {minimum}") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r}: expected an integer >= {minimum}")
    return value


def multiprocess_dir() -> str | None:
    """prometheus-client's multiprocess directory, when several workers share /metrics."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_body_bytes: int = (1 << 20) + 1024 * DEFAULT_MAX_BATCH_ROWS
    model_threads: int = 0
    drift_metrics: bool = True
    multiprocess: bool = False

    @classmethod
    def from_env(cls, model_dir: str | Path | None = None) -> Settings:
        """The settings from the environment; `model_dir` overrides MODEL_DIR."""
        max_rows = int_env("MAX_BATCH_ROWS", DEFAULT_MAX_BATCH_ROWS, 1)
        return cls(
            model_dir=Path(model_dir or os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR),
            max_batch_rows=max_rows,
            max_body_bytes=int_env("MAX_BODY_BYTES", (1 << 20) + 1024 * max_rows, 1024),
            model_threads=int_env("MODEL_THREADS", 0, 0),
            drift_metrics=int_env("DRIFT_METRICS", 1, 0) > 0,
            multiprocess=multiprocess_dir() is not None,
        )
