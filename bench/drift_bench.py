#!/usr/bin/env python3
"""Drift counting on vs off: POST /predict throughput and latency, side by side, in one run.

    python bench/drift_bench.py [--duration 10] [--rounds 3] [--connections 8,64]
                                [--workers 1] [--soak 60] [--model-dir models/house-price]

Two API servers (`python -m house_price.serve`, the same bundle), one with DRIFT_METRICS=1 (the
default: every predicted row counted into the bundle's drift bins) and one with
DRIFT_METRICS=0; `wrk` (one thread, bench/api_bench.py's script) loads them in turns, on, off,
off, on, ..., `--rounds` times at each connection count, so that both see the same machine.
Prints the median requests/s and latency percentiles of each, and on/off (target: >= 95 %).
`--soak N`: then N seconds at 64 connections on the drift-on server: its 5xx count and the
growth of its resident memory (target: no 5xx, < 10 %). Servers are stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

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
from servers import start_api_workers, stop_process_group  # noqa: E402 (shared with the tests)

from house_price.serving.bundle import load_bundle  # noqa: E402

TARGET_RATIO = 0.95


@dataclass
class Target:
    base: str
    path: str = "/predict"


def rss(pid: int) -> int:
    """Resident memory of a server: its process and its workers."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "house-price")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="8,64")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--soak", type=float, default=0, help="seconds at 64 connections")
    args = parser.parse_args()
    ensure_wrk()
    connections = [int(part) for part in args.connections.split(",")]
    profile = load_bundle(args.model_dir).profile
    temp = Path(tempfile.mkdtemp(prefix="drift-bench-"))
    body, lua = temp / "body.json", temp / "post.lua"
    body.write_text(json.dumps(rows_for(profile, 1)[0]))
    lua.write_text(LUA)
    servers = {}
    try:
        for mode, flag in (("on", "1"), ("off", "0")):
            process, url = start_api_workers(
                args.model_dir, temp / f"api-{mode}.log", args.workers, DRIFT_METRICS=flag
            )
            servers[mode] = (process, Target(url))
        medians = in_turns(
            {mode: target for mode, (_, target) in servers.items()}, connections, args.rounds,
            args.duration, args.warmup, lua, body,
        )  # fmt: skip
        print(
            f"POST /predict, {args.workers} worker(s), {args.rounds} x {args.duration:g} s per "
            "cell, medians; drift on and off in turns"
        )
        print_turns(medians, "drift")
        ratios = {
            count: medians[("on", count)]["rps"] / medians[("off", count)]["rps"]
            for count in connections
        }
        for count, ratio in ratios.items():
            verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
            print(f"{count} connections: drift on / off = {ratio:.1%} ({verdict}, target >= 95 %)")
        if args.soak:
            process, target = servers["on"]
            before = rss(process.pid)
            figures = wrk(target, 64, args.soak, lua, body)
            after = rss(process.pid)
            growth = after / before - 1
            print(
                f"soak: {args.soak:g} s at 64 connections, {figures['requests']:,} requests, "
                f"{figures['rps']:,.0f} req/s, non-2xx/errors {figures['errors']}, RSS "
                f"{before / 2**20:.0f} -> {after / 2**20:.0f} MiB ({growth:+.1%}; target < 10 %)"
            )
    finally:
        for process, _ in servers.values():
            stop_process_group(process)
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
