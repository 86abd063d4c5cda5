"""process: validate the raw rows against the profile, clean them, split train/test.

Writes the two splits, a manifest with their hashes, and a report of what cleaning did (rows
respelled, dropped and why, duplicates). The split is by a seeded hash of each row's raw line
(core.split), so both engines make the same one: the pandas engine on one frame, the Dask
engine partition by partition (each split then a directory of partitions).
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import sys
import tempfile
from pathlib import Path

from house_price.core import stage
from house_price.core.io import (
    RAW_CSV,
    RAW_PARTITIONS,
    SOURCE_INFO,
    atomic_dir,
    file_md5,
    read_json,
    read_raw_csv,
    write_json,
)
from house_price.core.split import split, split_warnings
from house_price.core.tables import table_rows, write_table
from house_price.data.cleaning import clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="ingest's raw directory")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    test_size, seed = float(params["process"]["test_size"]), int(params["process"]["seed"])

    if params["engine"] == "dask":
        from house_price.engines import cluster, dask_engine  # the Dask engine's only

        raw = args.raw / RAW_PARTITIONS
        # Errors name the rows' source (a CSV's lines are the partitions' row numbers).
        source = read_json(args.raw / SOURCE_INFO)["source"]
        with (
            cluster.connect(params["dask"]),
            atomic_dir(args.train) as train,
            atomic_dir(args.test) as test,
            tempfile.TemporaryDirectory(prefix=".buckets.", dir=args.train.parent) as scratch,
        ):
            report = dask_engine.process(
                raw, train, test, Path(scratch), profile, test_size, seed, str(source)
            )
    else:
        raw = args.raw / RAW_CSV
        rows, report = clean(read_raw_csv(raw), profile, str(raw))
        train_rows, test_rows = split(rows, test_size, seed, str(raw))
        write_table(args.train, train_rows)
        write_table(args.test, test_rows)
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
