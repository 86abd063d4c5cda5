"""Pipeline benchmark: whole-process wall time and peak RSS of `dvc repro`, on this machine.

Runs in a temporary clone of the committed project (so what is measured is what a user
clones) and prints a markdown table; `--write` replaces the pipeline section of BENCHMARKS.md.

Measured, side by side in one run:
  * `dvc repro` with nothing changed, against the same with ruamel's pure-Python YAML parser
    (what DVC uses when ruamel.yaml.clib is not installed) and `dvc version` (DVC's start-up);
  * the full default pipeline with the local MLflow store, and against a real `mlflow server`;
  * how the pipeline grows with the data: 10k, 100k and 1M generated rows, stage by stage.
Peak RSS is the largest sum of RSS over the process tree, sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from servers import clean_env, start_mlflow_server, stop_process_group  # noqa: E402 (shared with the tests)

STAGES = ("ingest", "process", "featurize", "tune", "train", "evaluate", "package")
SECTION = "## Pipeline"
# `dvc <args>` with ruamel.yaml.clib hidden, so ruamel falls back to its pure-Python parser.
DVC_WITH_PURE_YAML = (
    "import sys; sys.modules['_ruamel_yaml'] = None; "
    "from dvc.cli import main; sys.exit(main(sys.argv[1:]))"
)
NOOP = "`dvc repro`, nothing changed (median of 5)"


@dataclass(frozen=True)
class Measured:
    wall: float  # s, the whole process
    tree_mib: float  # peak of the summed RSS of the process and all its descendants
    process_mib: float  # peak RSS of any one process of the tree


def run_measured(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> Measured:
    """Wall time and peak RSS (sampled every 20 ms) of one command and every process it
    starts; fails loudly if it fails."""
    start = time.perf_counter()
    process = psutil.Popen(
        args,
        cwd=cwd,
        env=clean_env(**(extra_env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    tree_peak = process_peak = 0
    while process.poll() is None:
        try:
            sizes = [p.memory_info().rss for p in [process, *process.children(recursive=True)]]
            tree_peak = max(tree_peak, sum(sizes))
            process_peak = max(process_peak, *sizes)
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    output = process.stdout.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{output}")
    return Measured(wall, tree_peak / 2**20, process_peak / 2**20)


def measure(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None):
    """(wall seconds, peak tree RSS in MiB) of one command; fails loudly if it fails."""
    measured = run_measured(args, cwd, extra_env)
    return measured.wall, measured.tree_mib


def set_rows(repo: Path, rows: int) -> None:
    path = repo / "params.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^(  rows: )\d+", rf"\g<1>{rows}", text))
    assert yaml.safe_load(path.read_text())["synthetic"]["rows"] == rows


def fresh_clone(parent: Path, name: str) -> Path:
    target = parent / name
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True, timeout=60)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []

    def record(what: str, wall: float, rss: float) -> None:
        rows.append((what, f"{wall:.2f}", f"{rss:.0f}"))
        print(f"{what:60s} {wall:8.2f} s {rss:8.0f} MiB", flush=True)

    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        work = Path(tmp)
        repo = fresh_clone(work, "default")
        record("full default pipeline, local MLflow store", *measure(["dvc", "repro"], repo))
        alternatives = {
            NOOP: ["dvc", "repro"],
            "`dvc repro`, nothing changed, pure-Python YAML parser (median of 5)": [
                "python",
                "-c",
                DVC_WITH_PURE_YAML,
                "repro",
            ],
            "`dvc version` (DVC start-up floor, median of 5)": ["dvc", "version"],
        }
        runs: dict[str, list[tuple[float, float]]] = {what: [] for what in alternatives}
        for _ in range(5):  # interleaved, so a burst of load hits all alternatives alike
            for what, command in alternatives.items():
                runs[what].append(measure(command, repo))
        for what, figures in runs.items():
            record(what, statistics.median(w for w, _ in figures), max(r for _, r in figures))

        server, url = start_mlflow_server(work, clean_env(), work / "mlflow-server.log")
        try:
            served = fresh_clone(work, "served")
            record(
                "full default pipeline, real `mlflow server`",
                *measure(["dvc", "repro"], served, {"MLFLOW_TRACKING_URI": url}),
            )
        finally:
            stop_process_group(server)

        for size in (int(s) for s in args.sizes.split(",")):
            scaled = fresh_clone(work, f"rows-{size}")
            set_rows(scaled, size)
            total_wall, total_rss = measure(["dvc", "repro"], scaled)
            record(f"{size:,} rows: whole `dvc repro`", total_wall, total_rss)
            shutil.rmtree(scaled / ".dvc" / "cache")
            for stage in STAGES:  # each stage alone, forced, for where the time goes
                record(
                    f"{size:,} rows: stage {stage}",
                    *measure(["dvc", "repro", "--force", "--single-item", stage], scaled),
                )
            shutil.rmtree(scaled)

    cpu = f"{os.cpu_count()} cores"
    table = [
        SECTION,
        "",
        f"`python bench/pipeline_bench.py` on this machine ({cpu}); wall time of the whole",
        "process and peak RSS of its process tree.",
        "",
        "| what | wall (s) | peak RSS (MiB) |",
        "| --- | ---: | ---: |",
        *(f"| {what} | {wall} | {rss} |" for what, wall, rss in rows),
        "",
        "Targets (same run):",
        "",
        *target_lines({what: (float(wall), float(rss)) for what, wall, rss in rows}),
        "",
    ]
    print("\n".join(table))
    if args.write:
        write_section(REPO / "BENCHMARKS.md", "\n".join(table), SECTION)


def target_lines(figures: dict[str, tuple[float, float]]) -> list[str]:
    def check(label: str, key: str, limit: float, index: int = 0, unit: str = "s") -> str:
        if key not in figures:
            return f"- {label}: not measured"
        value = figures[key][index]
        verdict = "met" if value <= limit else "NOT met"
        return f"- {label} ≤ {limit:g} {unit}: **{value:.2f} {unit}** ({verdict})"

    million = "1,000,000 rows: whole `dvc repro`"
    return [
        check("`dvc repro` with nothing changed", NOOP, 1.5),
        check("full default pipeline", "full default pipeline, local MLflow store", 40),
        check("1,000,000 rows end to end", million, 180),
        check("1,000,000 rows peak RSS", million, 4096, index=1, unit="MiB"),
    ]


def write_section(path: Path, section: str, title: str) -> None:
    """Replace (or add) the section headed `title` (`## ...`), leaving the others as they are."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"(?ms)^{re.escape(title)}\n.*?(?=^## |\Z)")
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text + "\n" + section
    path.write_text(text.rstrip() + "\n")


if __name__ == "__main__":
    main()
