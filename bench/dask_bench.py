"""Dask engine benchmark: the whole pipeline at scale, stage by stage, against the pandas engine.

Runs in temporary clones of the committed project. For each size, the pipeline runs one stage at
a time (`dvc repro --single-item <stage>`, in order), each a separate measured process tree:
wall time, the peak RSS of any single process (the stage's own, or one of its LocalCluster's
workers), and the peak of the tree's summed RSS. The pandas engine runs at the sizes given by
`--pandas-sizes`, in the same run, for the side by side figures. `--write` replaces the Dask
section of BENCHMARKS.md.

    python bench/dask_bench.py                       # 1M and 10M rows (~40 min on 2 cores)
    python bench/dask_bench.py --sizes 1000000,3000000,10000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from pipeline_bench import STAGES, Measured, fresh_clone, run_measured, set_rows, write_section

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Dask engine"
PROCESS_LIMIT_MIB = 2048  # the target: no single process above 2 GiB at 10M rows
TIME_RATIO_LIMIT = 1.5  # the target: dask within 1.5x pandas at 1M rows


def set_engine(repo: Path, engine: str) -> None:
    path = repo / "params.yaml"
    text = path.read_text().replace("\nengine: pandas\n", f"\nengine: {engine}\n")
    path.write_text(text)
    assert yaml.safe_load(path.read_text())["engine"] == engine


def run_pipeline(work: Path, engine: str, rows: int) -> dict[str, Measured]:
    """Each stage's figures, then the whole pipeline's ("total": summed wall, largest peaks)."""
    repo = fresh_clone(work, f"{engine}-{rows}")
    set_rows(repo, rows)
    set_engine(repo, engine)
    stages: dict[str, Measured] = {}
    for stage in STAGES:
        stages[stage] = run_measured(["dvc", "repro", "--single-item", stage], repo)
        figures = stages[stage]
        print(
            f"{engine:6s} {rows:>11,} {stage:9s} {figures.wall:8.1f} s "
            f"{figures.process_mib:7.0f} MiB/process {figures.tree_mib:7.0f} MiB/tree",
            flush=True,
        )
    stages["total"] = Measured(
        sum(m.wall for m in stages.values()),
        max(m.tree_mib for m in stages.values()),
        max(m.process_mib for m in stages.values()),
    )
    shutil.rmtree(repo)
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="rows, Dask engine")
    parser.add_argument("--pandas-sizes", default="1000000", help="rows, pandas engine")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    runs: dict[tuple[str, int], dict[str, Measured]] = {}
    with tempfile.TemporaryDirectory(prefix="dask-bench-") as tmp:
        for engine, sizes in (("pandas", args.pandas_sizes), ("dask", args.sizes)):
            for rows in (int(size) for size in sizes.split(",") if size):
                runs[engine, rows] = run_pipeline(Path(tmp), engine, rows)
    section = report(runs)
    print(section)
    if args.write:
        write_section(REPO / "BENCHMARKS.md", section, SECTION)


def report(runs: dict[tuple[str, int], dict[str, Measured]]) -> str:
    header = (
        f"| engine | rows | {' | '.join(STAGES)} | total wall (s) "
        "| peak RSS, one process (MiB) | peak RSS, tree (MiB) |"
    )
    lines = [
        SECTION,
        "",
        f"`python bench/dask_bench.py` on this machine ({os.cpu_count()} cores), each stage",
        "its own `dvc repro --single-item` process tree; the Dask engine on its default",
        "LocalCluster (2 workers of 1 thread). Stage columns: wall seconds.",
        "",
        header,
        "| --- | ---: |" + " ---: |" * (len(STAGES) + 3),
    ]
    for (engine, rows), stages in runs.items():
        walls = " | ".join(f"{stages[stage].wall:.1f}" for stage in STAGES)
        total = stages["total"]
        lines.append(
            f"| {engine} | {rows:,} | {walls} | {total.wall:.1f} | {total.process_mib:.0f} "
            f"| {total.tree_mib:.0f} |"
        )
    lines += ["", "Targets (same run):", ""]
    dask_sizes = sorted(rows for engine, rows in runs if engine == "dask")
    if dask_sizes:
        largest = runs["dask", dask_sizes[-1]]["total"]
        verdict = "met" if largest.process_mib <= PROCESS_LIMIT_MIB else "NOT met"
        lines.append(
            f"- {dask_sizes[-1]:,} rows, Dask engine, peak RSS of any one process ≤ "
            f"{PROCESS_LIMIT_MIB} MiB: **{largest.process_mib:.0f} MiB** ({verdict}); "
            f"wall {largest.wall:.0f} s"
        )
    if ("dask", 1_000_000) in runs and ("pandas", 1_000_000) in runs:
        ratio = runs["dask", 1_000_000]["total"].wall / runs["pandas", 1_000_000]["total"].wall
        verdict = "met" if ratio <= TIME_RATIO_LIMIT else "NOT met"
        lines.append(
            f"- 1,000,000 rows, Dask engine within {TIME_RATIO_LIMIT}x the pandas engine's "
            f"time: **{ratio:.2f}x** ({verdict})"
        )
    if len(dask_sizes) > 1:
        small, large = (runs["dask", rows]["total"] for rows in (dask_sizes[0], dask_sizes[-1]))
        factor = dask_sizes[-1] / dask_sizes[0]
        lines.append(
            f"- Growth from {dask_sizes[0]:,} to {dask_sizes[-1]:,} rows ({factor:g}x the rows): "
            f"time {large.wall / small.wall:.2f}x, peak RSS of one process "
            f"{large.process_mib / small.process_mib:.2f}x"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
