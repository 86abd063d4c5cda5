"""Which rows a model was trained on, by their values, so that a later challenger can score
the champion only on rows neither model saw, whatever seed, test size or data file made the
two splits.

A row's key is a 64-bit hash of its cleaned values in the named columns (the profile's
columns, as process wrote the splits): the same row has the same key in any split of any run,
and a missing value has one key whatever spelled it. package records the sorted keys of the
train split with the model's MLflow run (ARTIFACT), with the columns they cover and the keys
of a fixed frame (the hashing's fingerprint: keys computed by another hashing would match
nothing, and every row would pass for unseen). A false match (two rows with one key) only
leaves a row out of the comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from house_price.core.tables import iter_partitions

ARTIFACT = "lineage/trained_rows.npz"  # in the model's MLflow run
# One value of each kind the splits hold (number, text, date, missing), to fingerprint the
# hashing itself.
_PROBE = pd.DataFrame(
    {
        "number": [1.5, None, -0.0, 1e300],
        "text": ["Suburb", None, "", "é"],
        "date": pd.to_datetime(["2014-12-09", "NaT", "1970-01-01", "2262-04-11"]),
    }
)


@dataclass(frozen=True)
class TrainedRows:
    """The train split's row keys (sorted, distinct), the columns they hash, in order, and the
    hashing's fingerprint when they were made."""

    keys: np.ndarray
    columns: tuple[str, ...]
    fingerprint: np.ndarray


def _canonical(column: pd.Series) -> pd.Series:
    """One representation per value whatever the dtype the split was read with: numbers as
    float64 (an int64 column and a float64 one with missing values agree), dates as
    nanoseconds, anything else as text (missing: None)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.Series(column.to_numpy("datetime64[ns]").view("int64"))
    if pd.api.types.is_numeric_dtype(column):
        return pd.Series(column.to_numpy(dtype="float64", na_value=np.nan))
    return pd.Series(column.astype(object).where(column.notna(), None).to_numpy())


def row_keys(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Each row's key over `columns`, shape (rows,) uint64. KeyError for a missing column."""
    canonical = pd.DataFrame({str(i): _canonical(frame[name]) for i, name in enumerate(columns)})
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy(np.uint64)


def fingerprint() -> np.ndarray:
    return row_keys(_PROBE, list(_PROBE.columns))


def of_table(path: Path, columns: Sequence[str]) -> TrainedRows:
    """The keys of a table's rows (a file, or a directory of partitions, read one at a time)."""
    keys = [row_keys(rows, columns) for rows in iter_partitions(path)]
    return TrainedRows(np.unique(np.concatenate(keys)), tuple(columns), fingerprint())


def write(path: Path, rows: TrainedRows) -> None:
    with open(path, "wb") as handle:
        np.savez(
            handle,
            keys=rows.keys,
            columns=np.array(rows.columns, dtype=str),
            fingerprint=rows.fingerprint,
        )


def read(path: Path) -> TrainedRows:
    """ValueError or KeyError for a file that is not one `write` made."""
    with np.load(path, allow_pickle=False) as stored:
        columns = tuple(str(name) for name in stored["columns"])
        return TrainedRows(
            stored["keys"].astype(np.uint64), columns, stored["fingerprint"].astype(np.uint64)
        )


def unseen(frame: pd.DataFrame, trained: TrainedRows) -> np.ndarray:
    """Which rows of `frame` are not among `trained`'s, shape (rows,) bool. KeyError when the
    frame lacks one of its columns."""
    return ~np.isin(row_keys(frame, trained.columns), trained.keys)
