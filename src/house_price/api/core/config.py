"""The API's settings, read once from the environment by `Settings.from_env`: the one place
where every environment variable of the server is named, with its default and its bounds.

Model: MODEL_DIR (default models/house-price), MAX_BATCH_ROWS (default 10000), MAX_BODY_BYTES
(default 1 MiB + 1 KiB per batch row), MODEL_THREADS (XGBoost threads for batches of 1,000 rows
or more; default 0: XGBoost's choice, the CPUs the cgroup allows; smaller calls use one thread),
MAX_PENDING_BATCHES (POST /predict/batch calls that may wait while one runs, default 4; beyond
them 503 with Retry-After, before the body is read), DRIFT_METRICS (1, default: count live
inputs into the bundle's drift bins; 0: do not), PROMETHEUS_MULTIPROC_DIR (set by
`python -m house_price.serve` for several workers: /metrics adds up every worker).

Server (`python -m house_price.serve`, the image): HOST (default 127.0.0.1), PORT (8000; 0: a
free port, which uvicorn logs), WEB_CONCURRENCY (uvicorn workers, default 1), KEEP_ALIVE_S
(idle keep-alive timeout, default 75: longer than the 60 s idle timeout of common load
balancers, so the balancer closes first and never reuses a connection the server is closing,
the cause of sporadic 502s), GRACEFUL_SHUTDOWN_S (default 7: in-flight requests get this long
after SIGTERM, well inside the 10 s after which Docker and Cloud Run send SIGKILL),
MAX_HEADER_BYTES (request line and headers, default 32768; larger: 431), MAX_HEADERS (default
100; more: 431), REQUEST_TIMEOUT_S (time to receive one request's headers and body, default 30;
slower: 408), MAX_CONNECTIONS (default 512: connections kept and requests in progress; idle
keep-alive connections closed to make room; beyond: 503, never for a probe; see
house_price/api/protocol.py). A bad value fails at start-up with a
ValueError naming the variable and what is allowed.

Every setting has an upper bound, what its consumer can hold (see the constants below, and the
serving core's in house_price.serving.limits, whose int_env reads them all): a larger value did
not fail, it was silently something else (a PORT taken modulo 65536, a timer cut to uvloop's
100 years) or could not be served (MODEL_THREADS, MAX_BATCH_ROWS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from house_price.serving.limits import (
    DEFAULT_MAX_BATCH_ROWS,
    MAX_SIZE,
    int_env,
    model_threads_env,
)

DEFAULT_MODEL_DIR = "models/house-price"
API_VERSION = "1"
MAX_PORT = 65535  # TCP
# uvloop (the server's event loop) cuts any longer timer to 100 years without a word, so a
# longer KEEP_ALIVE_S, REQUEST_TIMEOUT_S or GRACEFUL_SHUTDOWN_S would not be what runs.
MAX_TIMER_S = 3600 * 24 * 365 * 100
TIMER_WHY = "100 years, the event loop's longest timer"
# A connection is a file descriptor, a C int: no process holds more (Linux's fs.nr_open is
# below it).
MAX_FILES = 2**31 - 1
# Each worker is a process with its own model (~180 MiB at peak) making CPU-bound predictions:
# past about one per CPU, workers add memory and context switches, not throughput. Four per
# usable CPU leaves room for the I/O share (the usual advice, 2 x CPUs + 1, fits) and still
# stops a typo: uvicorn would start WEB_CONCURRENCY=1000000 processes, one after another.
WORKERS_PER_CPU = 4


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which cpusets and `taskset`
    narrow; a CPU quota does not show here)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def max_workers() -> int:
    """The most WEB_CONCURRENCY workers allowed here: WORKERS_PER_CPU per usable CPU."""
    return WORKERS_PER_CPU * usable_cpus()


def multiprocess_dir() -> str | None:
    """prometheus-client's multiprocess directory, when several workers share /metrics."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_body_bytes: int = (1 << 20) + 1024 * DEFAULT_MAX_BATCH_ROWS
    model_threads: int = 0
    max_pending_batches: int = 4
    drift_metrics: bool = True
    multiprocess: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    web_concurrency: int = 1
    keep_alive_s: int = 75
    graceful_shutdown_s: int = 7
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    request_timeout_s: int = 30
    max_connections: int = 512

    @classmethod
    def from_env(cls, model_dir: str | Path | None = None) -> Settings:
        """The settings from the environment; `model_dir` overrides MODEL_DIR."""
        max_rows = int_env("MAX_BATCH_ROWS", DEFAULT_MAX_BATCH_ROWS, 1, MAX_SIZE)
        body_bytes = min((1 << 20) + 1024 * max_rows, MAX_SIZE)
        files = "a connection is a file descriptor, a C int"
        connections = int_env("MAX_CONNECTIONS", 512, 1, MAX_FILES, files)
        # each batch that waits holds one of the connections, and one more runs
        waiting = "one batch runs, each one waiting holds one of MAX_CONNECTIONS' connections"
        workers = f"{WORKERS_PER_CPU} per usable CPU, {usable_cpus()} here"
        return cls(
            model_dir=Path(model_dir or os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR),
            max_batch_rows=max_rows,
            max_body_bytes=int_env("MAX_BODY_BYTES", body_bytes, 1024, MAX_SIZE),
            model_threads=model_threads_env(),
            max_pending_batches=int_env(
                "MAX_PENDING_BATCHES", min(4, connections - 1), 0, connections - 1, waiting
            ),
            drift_metrics=int_env("DRIFT_METRICS", 1, 0, 1) == 1,
            multiprocess=multiprocess_dir() is not None,
            host=os.environ.get("HOST", "").strip() or "127.0.0.1",
            port=int_env("PORT", 8000, 0, MAX_PORT),
            web_concurrency=int_env("WEB_CONCURRENCY", 1, 1, max_workers(), workers),
            keep_alive_s=int_env("KEEP_ALIVE_S", 75, 1, MAX_TIMER_S, TIMER_WHY),
            graceful_shutdown_s=int_env("GRACEFUL_SHUTDOWN_S", 7, 0, MAX_TIMER_S, TIMER_WHY),
            max_header_bytes=int_env("MAX_HEADER_BYTES", 32 * 1024, 1024, MAX_SIZE),
            max_headers=int_env("MAX_HEADERS", 100, 1, MAX_SIZE),
            request_timeout_s=int_env("REQUEST_TIMEOUT_S", 30, 1, MAX_TIMER_S, TIMER_WHY),
            max_connections=connections,
        )
