"""Parquet tables, as the stages pass them on: one file (the pandas engine's), or a directory
of partitions (the Dask engine's), read in partition order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from house_price.core.io import atomic_path


def write_table(path: str | Path, frame: pd.DataFrame) -> None:
    """Parquet keeps dtypes exact and is fast at a million rows; written atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow")


def read_table(path: str | Path) -> pd.DataFrame:
    """A Parquet table: one file, or a directory of partitions (the Dask engine's) read in
    partition order."""
    files = partition_files(path)
    if len(files) == 1:
        return pd.read_parquet(files[0], engine="pyarrow")
    return pd.concat([pd.read_parquet(file, engine="pyarrow") for file in files], ignore_index=True)


def partition_files(path: str | Path) -> list[Path]:
    """The Parquet files of a table: the file itself, or a directory's `*.parquet` files in
    name order (the Dask engine names them part-00000.parquet, part-00001.parquet, ...)."""
    path = Path(path)
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def table_rows(path: str | Path) -> int:
    """A table's row count, from its Parquet footers (no data read)."""
    return sum(pq.ParquetFile(file).metadata.num_rows for file in partition_files(path))


def iter_partitions(path: str | Path) -> Iterator[pd.DataFrame]:
    """A table's partitions, one frame at a time: memory holds one partition."""
    for file in partition_files(path):
        yield pd.read_parquet(file, engine="pyarrow")


def read_head(path: str | Path, rows: int, complete: Sequence[str] | None = None) -> pd.DataFrame:
    """The first `rows` rows of a table (all of them when it has fewer), reading only the
    partitions they are in. With `complete`, only those columns, and only the rows with a value
    in every one of them (e.g. the MLflow model's input examples). The Dask engine's splits are
    in hash order, so their head is a random sample."""
    parts, count = [], 0
    for part in iter_partitions(path):
        if complete is not None:
            part = part[list(complete)].dropna()
        parts.append(part.head(rows - count))
        count += len(parts[-1])
        if count >= rows:
            break
    return pd.concat(parts, ignore_index=True)
