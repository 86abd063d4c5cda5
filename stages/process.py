"""process: validate the raw rows against the profile, clean them, split train/test.

Writes the two splits, a manifest with their hashes, and a report of what cleaning did (rows
respelled, dropped and why, duplicates). The split is by a seeded hash of each row's raw line
(core.split), so both engines (house_price.engines.process) make the same one: the pandas
engine on one frame, the Dask engine partition by partition (each split then a directory of
partitions).
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import sys
from pathlib import Path

from house_price.core import stage
from house_price.core.io import file_md5, write_json
from house_price.core.split import split_warnings
from house_price.core.tables import table_rows
from house_price.engines import process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="ingest's raw directory")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    engine = process.for_params(params)
    report = engine.clean_split(args.raw, args.train, args.test, profile, params.process)
    raw = args.raw / engine.raw_name
    train_count, test_count = table_rows(args.train), table_rows(args.test)
    for warning in split_warnings(test_count):
        print(f"process: warning: {warning}", file=sys.stderr)
    report.update(train_rows=train_count, test_rows=test_count)
    write_json(args.report, report)
    hashes = {"raw": file_md5(raw), "train": file_md5(args.train), "test": file_md5(args.test)}
    write_json(args.manifest, {"dataset": profile.name, "md5": hashes})
    dropped = sum(report["dropped"].values())
    print(
        f"process: {report['rows_in']} rows in, {dropped} dropped, {train_count} train, "
        f"{test_count} test"
    )


if __name__ == "__main__":
    stage.run(main)
