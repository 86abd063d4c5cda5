"""process: validate the raw rows against the profile, clean them, split train/test.

Writes the two splits, a manifest with their hashes, and a report of what cleaning did
(rows respelled, dropped and why, duplicates) that DVC shows as metrics.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import sys
from pathlib import Path

from house_price import stage
from house_price.cleaning import clean, split, split_warnings
from house_price.io import file_md5, read_raw_csv, write_json, write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()

    rows, report = clean(read_raw_csv(args.raw), profile, str(args.raw))
    settings = params["process"]
    train, test = split(rows, float(settings["test_size"]), int(settings["seed"]), str(args.raw))
    for warning in split_warnings(len(test)):
        print(f"process: warning: {warning}", file=sys.stderr)
    write_table(args.train, train)
    write_table(args.test, test)
    report.update(train_rows=len(train), test_rows=len(test))
    write_json(args.report, report)
    hashes = {"raw": file_md5(args.raw), "train": file_md5(args.train), "test": file_md5(args.test)}
    write_json(args.manifest, {"dataset": profile.name, "md5": hashes})
    dropped = sum(report["dropped"].values())
    print(
        f"process: {report['rows_in']} rows in, {dropped} dropped, {len(train)} train, "
        f"{len(test)} test"
    )


if __name__ == "__main__":
    stage.run(main)
