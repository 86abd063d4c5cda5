#!/usr/bin/env python3
"""The hardened server (issue 12): its cost on the hot path, and the image under hostile load.

    python bench/hardening_bench.py [--duration 10] [--rounds 3] [--connections 8,64]
                                    [--soak 60] [--skip-throughput] [--skip-soak]

1. Throughput, side by side: `python -m house_price.serve` (the image's server: the limited
   protocol, keep-alive, graceful shutdown, bounded batches) against the server as it was
   (`uvicorn house_price.api:app`, stock httptools protocol), POST /predict with one row, `wrk`
   at each connection count, in turns (hardened, plain, plain, hardened, ...), medians.
   Target: throughput and p99 no worse.
2. Soak: the image built from this checkout, run with `--memory 256m --pids-limit 64`, for
   `--soak` seconds under, all at once: 4 clients posting 10,000-row batches in a loop, a client
   streaming 64 MB headers, one sending 20,000 headers, 16 stalled connections (slowloris)
   reopened as they are refused, `wrk` on /predict at 8 connections, and /health polled every
   0.2 s. Target: no restart (not OOM-killed, still running), no 5xx but the deliberate 503s,
   /health within 1 s throughout.

Servers and the container are started and stopped by this script (tests/servers.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from api_bench import (  # noqa: E402 (the API benchmark's load)
    LUA,
    ensure_wrk,
    in_turns,
    print_turns,
    rows_for,
    wrk,
)
from drift_bench import Target  # noqa: E402
from hostile import (  # noqa: E402 (shared with the tests)
    concurrent_batches,
    header_flood,
    many_headers,
    partial_body,
    raw_exchange,
    stalled,
    timed_get,
)
from servers import (  # noqa: E402
    clean_env,
    free_port,
    prepare_engine,
    start_api_workers,
    start_server,
    stop_process_group,
)

from house_price.serving.bundle import load_bundle  # noqa: E402

ENGINE = ROOT / "sandbox" / "engine.sh"
HEALTH_BOUND_S = 1.0
STALLED = 16


def throughput(args: argparse.Namespace, body: Path, lua: Path, temp: Path) -> None:
    python = str(Path(sys.executable).parent / "python")
    hardened, url = start_api_workers(args.model_dir, temp / "hardened.log")
    port = free_port()
    plain_url = f"http://127.0.0.1:{port}"
    plain = start_server(
        [python, "-m", "uvicorn", "house_price.api:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
         "--no-access-log"],
        temp / "plain.log", f"{plain_url}/health", clean_env(MODEL_DIR=str(args.model_dir)),
    )  # fmt: skip
    servers = {"hardened": Target(url), "plain": Target(plain_url)}
    try:
        medians = in_turns(servers, args.levels, args.rounds, args.duration, 2, lua, body)
    finally:
        stop_process_group(hardened)
        stop_process_group(plain)
    print(f"\nPOST /predict, 1 worker, {args.rounds} x {args.duration:g} s per cell, medians")
    print_turns(medians, "server")
    for count in args.levels:
        hardened_m, plain_m = medians[("hardened", count)], medians[("plain", count)]
        print(
            f"{count} connections: hardened / plain throughput "
            f"{hardened_m['rps'] / plain_m['rps']:.1%}, p99 {hardened_m['p99_ms']:.2f} vs "
            f"{plain_m['p99_ms']:.2f} ms"
        )


def soak(args: argparse.Namespace, row: dict, body: Path, lua: Path) -> None:
    engine = prepare_engine(ENGINE)
    tag = f"house-price-model:bench-{uuid.uuid4().hex[:8]}"
    name = f"house-price-bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    engine.docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={engine.base_image}",
                  "--tag", tag, str(ROOT), timeout=1800)  # fmt: skip
    print(f"\nimage {tag} built in {time.monotonic() - started:.0f} s")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        engine.docker("run", "--detach", "--name", name, "--network", "host",
                      "--memory", "256m", "--pids-limit", "64",
                      "-e", "HOST=127.0.0.1", "-e", f"PORT={port}", tag)  # fmt: skip
        deadline = time.monotonic() + 60
        while timed_get(url, "/health")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"container not ready:\n{engine.logs(name)[-2000:]}")
            time.sleep(0.1)
        stop = threading.Event()
        statuses: dict[str, Counter] = {
            kind: Counter() for kind in ("batch", "flood", "headers", "stalled")
        }
        health: list[float] = []
        health_failures: list[str] = []

        def batches() -> None:
            while not stop.is_set():
                outcome = concurrent_batches(url, row, 10_000, 1)
                statuses["batch"].update(outcome.statuses)
                statuses["batch"].update({"no answer": len(outcome.errors)})

        def floods() -> None:
            while not stop.is_set():
                statuses["flood"][header_flood(url, 64 << 20).status] += 1
                statuses["headers"][raw_exchange(url, [many_headers(20_000)]).status] += 1

        def slowloris() -> None:
            while not stop.is_set():
                sock = stalled(url, partial_body("/predict"))
                sock.settimeout(60)
                try:
                    answer = sock.recv(64)
                    statuses["stalled"][answer[9:12].decode() or "closed"] += 1
                except OSError:
                    statuses["stalled"]["no answer"] += 1
                finally:
                    sock.close()

        def probe() -> None:
            while not stop.is_set():
                status, seconds = timed_get(url, "/health", timeout=5)
                health.append(seconds)
                if status != 200:
                    health_failures.append(str(status))
                time.sleep(0.2)

        threads = [
            *(threading.Thread(target=batches) for _ in range(4)),
            threading.Thread(target=floods),
            *(threading.Thread(target=slowloris) for _ in range(STALLED)),
            threading.Thread(target=probe),
        ]
        for thread in threads:
            thread.start()
        single = wrk(Target(url), 8, args.soak, lua, body)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
        state = json.loads(engine.docker("inspect", "--format", "{{json .State}}", name))
        restarts = engine.docker("inspect", "--format", "{{.RestartCount}}", name)
        peak = engine.memory_peak(name)
        logs = engine.logs(name)
    finally:
        engine.docker("rm", "--force", name, check=False)
        engine.docker("image", "rm", "--force", tag, check=False, timeout=300)
    server_errors = {
        f"{kind} {status}": count
        for kind, counter in statuses.items()
        for status, count in counter.items()
        if isinstance(status, int) and status >= 500 and status != 503
    }
    print(f"soak: {args.soak:g} s, --memory 256m --pids-limit 64")
    for kind, counter in statuses.items():
        print(f"  {kind}: {dict(sorted(counter.items(), key=str))}")
    print(
        f"  /predict (wrk, 8 connections): {single['requests']:,} requests, "
        f"{single['rps']:,.0f} req/s, p99 {single['p99_ms']:.1f} ms, non-2xx/errors "
        f"{single['errors']}"
    )
    print(
        f"  /health: {len(health)} probes, max {max(health):.3f} s, p99 "
        f"{statistics.quantiles(health, n=100)[98]:.3f} s, failures {health_failures[:5]}"
    )
    print(
        f"  container: running {state['Running']}, OOM-killed {state['OOMKilled']}, restarts "
        f"{restarts}, peak memory {peak / 2**20 if peak else float('nan'):.0f} MiB, "
        f"'Traceback' in logs: {'Traceback' in logs}"
    )
    met = (
        state["Running"]
        and not state["OOMKilled"]
        and restarts == "0"
        and not server_errors
        and not health_failures
        and max(health) < HEALTH_BOUND_S
    )
    print(f"  target (no restart, no 5xx but 503, /health < 1 s): {'met' if met else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "house-price")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="8,64")
    parser.add_argument("--soak", type=float, default=60)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-soak", action="store_true")
    args = parser.parse_args()
    args.levels = [int(part) for part in args.connections.split(",")]
    ensure_wrk()
    row = rows_for(load_bundle(args.model_dir).profile, 1)[0]
    temp = Path(tempfile.mkdtemp(prefix="hardening-bench-"))
    body, lua = temp / "body.json", temp / "post.lua"
    body.write_text(json.dumps(row))
    lua.write_text(LUA)
    try:
        if not args.skip_throughput:
            throughput(args, body, lua, temp)
        if not args.skip_soak:
            soak(args, row, body, lua)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
