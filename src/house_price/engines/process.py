"""process's engines: clean the raw rows, drop duplicates, split train/test by the seeded hash
of each row's raw line (core.split), and write both splits.

The pandas engine does it on one frame, each split one Parquet file. The Dask engine does it
partition by partition with the same pure functions (cleaning.clean_rows, split.split_keys), each
split a directory of partitions: the same rows on either engine.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from house_price.core import split
from house_price.core.errors import DataError, first_line
from house_price.core.io import (
    RAW_CSV,
    RAW_PARTITIONS,
    SOURCE_INFO,
    atomic_dir,
    read_json,
    read_raw_csv,
)
from house_price.core.params import Params
from house_price.core.params import Process as ProcessParams
from house_price.core.tables import partition_files, table_rows, write_table
from house_price.data import cleaning
from house_price.engines import cluster
from house_price.engines.partitions import compute, delayed, partition_name, write_partition
from house_price.schema import Profile


class Engine(Protocol):
    raw_name: str  # what ingest's raw data is called in the raw directory

    def clean_split(
        self, raw: Path, train: Path, test: Path, profile: Profile, settings: ProcessParams
    ) -> dict[str, Any]:
        """Clean the raw data in the raw directory `raw`, split it by `settings` (test_size,
        seed) and write the splits to `train` and `test`. Returns the cleaning report, as
        `cleaning.clean` makes it. DataError for data that cannot fit (naming the line)."""
        ...


class PandasEngine:
    raw_name = RAW_CSV

    def __init__(self, params: Params) -> None:
        pass

    def clean_split(
        self, raw: Path, train: Path, test: Path, profile: Profile, settings: ProcessParams
    ) -> dict[str, Any]:
        path = raw / self.raw_name
        rows, report = cleaning.clean(read_raw_csv(path), profile, str(path))
        train_rows, test_rows = split.split(rows, settings.test_size, settings.seed, str(path))
        write_table(train, train_rows)
        write_table(test, test_rows)
        return report


class DaskEngine:
    raw_name = RAW_PARTITIONS

    def __init__(self, params: Params) -> None:
        self.settings = params.dask

    def clean_split(
        self, raw: Path, train: Path, test: Path, profile: Profile, settings: ProcessParams
    ) -> dict[str, Any]:
        # Errors name the rows' source (a CSV's lines are the partitions' row numbers).
        source = str(read_json(raw / SOURCE_INFO)["source"])
        with (
            cluster.connect(self.settings),
            atomic_dir(train) as train_parts,
            atomic_dir(test) as test_parts,
            tempfile.TemporaryDirectory(prefix=".buckets.", dir=train.parent) as scratch,
        ):
            return process(
                raw / self.raw_name,
                train_parts,
                test_parts,
                Path(scratch),
                profile,
                settings.test_size,
                settings.seed,
                source,
            )


ENGINES: dict[str, Callable[[Params], Engine]] = {"pandas": PandasEngine, "dask": DaskEngine}


def for_params(params: Params) -> Engine:
    """The implementation of the `engine` param."""
    return ENGINES[params.engine](params)


# --- the Dask engine's work ----------------------------------------------------------------------


def read_raw_partition(path: Path, name: str | None = None) -> pd.DataFrame:
    """A raw partition: every field a string, indexed by the row's source line. DataError
    (naming the file: `name`, else its path) for one that is not a readable Parquet file."""
    import pyarrow as pa

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, pa.ArrowException) as exc:
        raise DataError(
            f"{name or path}: not a readable Parquet partition ({first_line(exc)})"
        ) from None


def _clean_partition(
    path: Path, name: str, profile: Profile, source: str, meta: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any] | None, str | None]:
    """(rows, partial report, None), or (no rows, None, the DataError's message): the caller
    raises the first partition's error, so which one it names does not depend on timing."""
    try:
        return (*cleaning.clean_rows(read_raw_partition(path, name), profile, source), None)
    except DataError as error:
        return meta, None, str(error)


def _first_occurrences(frame: pd.DataFrame, columns: list[str], seed: int) -> pd.DataFrame:
    """One bucket of the duplicate shuffle: each row's first occurrence by line, as the pandas
    engine's `duplicated()` keeps it, the rows then in split-key order (whichever worker sent
    them): a partition's head is a random sample of it, even when the file is sorted."""
    frame = frame.sort_index(kind="stable")
    frame = frame[~frame.duplicated(subset=columns)]
    return frame.iloc[np.argsort(split.split_keys(frame.index.to_numpy(), seed))]


def _split_key_counts(path: Path, seed: int) -> np.ndarray:
    keys = split.split_keys(pd.read_parquet(path).index.to_numpy(), seed)
    return split.key_counts(keys)


def _split_keys_in_bin(path: Path, seed: int, key_bin: int) -> np.ndarray:
    keys = split.split_keys(pd.read_parquet(path).index.to_numpy(), seed)
    return split.keys_in_bin(keys, key_bin)


def _write_split(path: Path, seed: int, threshold: np.uint64, train: Path, test: Path) -> None:
    """One bucket's train and test rows, each written unless it has none (a split's
    partitions then all hold rows, as every stage after expects)."""
    frame = pd.read_parquet(path)
    is_test = split.split_keys(frame.index.to_numpy(), seed) <= threshold
    for rows, target in ((frame[~is_test], train), (frame[is_test], test)):
        if len(rows):
            write_partition(rows.reset_index(drop=True), target)


def process(
    raw: Path,
    train: Path,
    test: Path,
    scratch: Path,
    profile: Profile,
    test_size: float,
    seed: int,
    source: str,
) -> dict[str, Any]:
    """Clean the raw partitions in `raw` (`cleaning.clean_rows` each), drop exact duplicates
    across partitions (a shuffle by the row's values: copies meet in one bucket, where the
    first by line stays), then split by `split.split_keys`, exactly as `split.split`
    does on one frame: the test split is the rows with the `ceil(test_size * rows)` smallest
    keys, found from a histogram of the keys and the keys of one bin. Writes one train and one
    test partition per bucket (`scratch` holds the buckets meanwhile). Returns the cleaning
    report, as `cleaning.clean` makes it. DataError for data that cannot fit (on the first
    partition to find it: the message names the line)."""
    import dask.dataframe as dd

    files = partition_files(raw)
    columns = [column.name for column in profile.columns]
    meta = cleaning.clean_rows(read_raw_partition(files[0]).head(0), profile, source)[0]
    task = delayed(_clean_partition, nout=3)
    cleaned = [task(file.absolute(), str(file), profile, source, meta) for file in files]
    rows = dd.from_delayed([part[0] for part in cleaned], meta=meta, verify_meta=False)
    buckets = rows.shuffle(on=columns, npartitions=len(files)).map_partitions(
        _first_occurrences, columns, seed, meta=meta
    )
    write = buckets.to_parquet(
        scratch.absolute(), write_index=True, compute=False, name_function=partition_name
    )
    with warnings.catch_warnings():
        # One compute for the reports (delayed) and the buckets (an expression): Dask warns that
        # it then materialises the expression's graph, the price of cleaning each partition once.
        warnings.filterwarnings("ignore", "Computing mixed collections", UserWarning)
        errors, reports, _ = compute(
            [[part[2] for part in cleaned], [part[1] for part in cleaned], write]
        )
    for error in errors:  # the first partition's, as one frame would have it (in line order)
        if error:
            raise DataError(error)
    report = cleaning.merge_reports(reports)
    checked = cleaning.check_report(report, source) | {"rows_kept": report["rows_kept"]}
    parts = partition_files(scratch.absolute())
    kept = table_rows(scratch)
    test_rows = split.check_split_rows(kept, test_size, source)
    counts = sum(compute([delayed(_split_key_counts)(part, seed) for part in parts]))
    key_bin, rank = split.threshold_bin(counts, test_rows)
    in_bin = compute([delayed(_split_keys_in_bin)(part, seed, key_bin) for part in parts])
    threshold = split.threshold_key(np.concatenate(in_bin), rank)
    task = delayed(_write_split)
    compute(
        [
            task(part, seed, threshold, train.absolute() / name, test.absolute() / name)
            for part, name in zip(parts, map(partition_name, range(len(parts))), strict=True)
        ]
    )
    return cleaning.finish_report(checked, report["rows_kept"] - kept)
