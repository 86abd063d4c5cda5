"""Batch scoring benchmark: `house-price predict` on a 1,000,000-row CSV, side by side with the
pipeline's own path on the same file, in the same run.

    python bench/score_bench.py [--bundle models/house-price] [--rows 1000000] [--keep DIR]

Needs a model bundle of the default (synthetic `houses`) profile: `--bundle`, default
models/house-price; when it is absent, `dvc repro` builds it first (as `make run` does).

The CSV is drawn by the synthetic generator (`house_price.data.synthetic.generate`, the params'
dirt rates: missing values, messy category spellings, impossible rows) and written as the
ingest stage writes it. Each contender runs as a whole process, one after the other; wall time
and peak RSS (`resource.getrusage(RUSAGE_CHILDREN)` in a small wrapper process per child):

- `house-price predict`: read_raw_csv, every row validated by the API's row type (pydantic),
  the API's Model.predict (column-wise encoder, XGBoost on all cores), CSV written.
- pipeline path: read_raw_csv, cleaning.clean (file-level checks, bad rows dropped, no per-row
  report), FeatureTransformer.transform, model.predict (XGBoost on all cores), CSV written.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_SECONDS = 60.0

PIPELINE_PATH = """
import sys
import numpy as np
import pandas as pd
from house_price.serving.bundle import load_bundle
from house_price.data.cleaning import clean
from house_price.core.io import atomic_path, read_raw_csv
from house_price.core.prediction import predict

source, output, model_dir = sys.argv[1:]
bundle = load_bundle(model_dir, nthread=0)
raw = read_raw_csv(source)
raw[bundle.profile.target.name] = "1000"  # clean() needs a target; scoring does not
frame, report = clean(raw, bundle.profile, source)
values = predict(bundle.booster, bundle.transformer.transform(frame), bundle.scale)
with atomic_path(output) as tmp:
    pd.DataFrame({"prediction": values}).to_csv(tmp, index=False, lineterminator="\\n")
print(f"{len(values)} rows scored, {report['rows_in'] - len(values)} dropped", file=sys.stderr)
"""


def make_csv(path: Path, rows: int, bundle: Path) -> None:
    from house_price.core.io import write_csv
    from house_price.core.params import load_params
    from house_price.data.synthetic import Dirt, generate
    from house_price.schema import load_profile

    params = load_params(ROOT / "params.yaml")
    reference_year = params.features.reference_year
    profile = load_profile(bundle / "profile.yaml", reference_year)
    if not profile.is_synthetic:
        raise SystemExit(f"{bundle}: the bench needs a bundle of the synthetic default profile")
    synthetic = params.synthetic
    dirt = Dirt(
        missing_rate=synthetic.missing_rate,
        duplicate_rate=0.0,  # exactly `rows` rows
        messy_category_rate=synthetic.messy_category_rate,
        impossible_rate=synthetic.impossible_rate,
    )
    data = generate(rows, 11, synthetic.noise_sigma, reference_year, dirt)
    write_csv(path, data.frame.drop(columns=[profile.target.name]))


# Runs a command and prints its peak RSS (KiB) last: RUSAGE_CHILDREN of this small wrapper
# holds the maximum of its only child, whatever the bench itself ran before.
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def run(label: str, command: list[str]) -> dict[str, object]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - started
    last = (result.stderr.strip().splitlines() or [""])[-1]
    if result.returncode not in (0, 1) or "Traceback" in result.stderr:
        raise SystemExit(f"{label}: exit {result.returncode}\n{result.stderr[-3000:]}")
    return {
        "label": label,
        "seconds": seconds,
        "rss_mib": int(result.stdout.strip().splitlines()[-1]) / 1024,
        "exit": result.returncode,
        "summary": last,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "models" / "house-price")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the CSVs here and keep them")
    args = parser.parse_args()
    if not (args.bundle / "model.ubj").is_file():
        print(f"{args.bundle}: no bundle, running `dvc repro`", file=sys.stderr)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run([str(BIN / "dvc"), "repro"], cwd=ROOT, env=env, check=True)
    with tempfile.TemporaryDirectory(prefix="score-bench-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        source = work / "houses.csv"
        started = time.perf_counter()
        make_csv(source, args.rows, args.bundle)
        made = time.perf_counter() - started
        size = source.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {size:.0f} MiB CSV (generated in {made:.1f} s)")
        contenders = [
            run(
                "pipeline path (read_raw_csv + clean + transform + predict)",
                [
                    str(BIN / "python"),
                    "-c",
                    PIPELINE_PATH,
                    str(source),
                    str(work / "p.csv"),
                    str(args.bundle),
                ],
            ),
            run(
                "`house-price predict` (API row validation + Model.predict)",
                [
                    str(BIN / "house-price"),
                    "predict",
                    "--input",
                    str(source),
                    "--output",
                    str(work / "predictions.csv"),
                    "--model",
                    str(args.bundle),
                ],
            ),
        ]
        scored = pd.read_csv(work / "predictions.csv", usecols=["prediction"])
        good = int(scored["prediction"].notna().sum())
    print(
        f"\n{platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average at start {os.getloadavg()[0]:.2f}\n"
    )
    print("| path | wall s | peak RSS MiB | exit | rows/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for item in contenders:
        rss = f"{item['rss_mib']:,.0f}"
        rate = args.rows / float(item["seconds"])  # type: ignore[arg-type]
        print(f"| {item['label']} | {item['seconds']:.1f} | {rss} | {item['exit']} | {rate:,.0f} |")
    for item in contenders:
        print(f"  {item['label']}: {item['summary']}")
    ours = float(contenders[1]["seconds"])  # type: ignore[arg-type]
    verdict = "met" if ours < TARGET_SECONDS else "MISSED"
    print(
        f"\ntarget: {args.rows:,} rows in < {TARGET_SECONDS:.0f} s: {ours:.1f} s ({verdict}); "
        f"{good:,} rows scored, {args.rows - good:,} bad rows reported"
    )
    return 0 if ours < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
