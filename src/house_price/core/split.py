"""The train/test split: a seeded hash of each row's raw line number, the same on one frame
(`split`) or partition by partition (the Dask engine sums `key_counts`, gathers `keys_in_bin`,
then compares each row's `split_keys` with `threshold_key`), and the row floors it guards: a
row's side depends on nothing but its line and the seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from house_price.core.errors import DataError

MIN_TEST_ROWS = 2  # R² needs two rows
MIN_TRAIN_ROWS = 5  # early stopping needs a validation slice and rows to fit
SMALL_TEST_ROWS = 30  # below this, test metrics vary a lot from one split to another
# The train split's k-fold cross-validation (`model.fold_splits`): early stopping needs a held-out
# part of more than one row. Here, with the other row floors, for `profile init` to name it.
ROWS_PER_FOLD = 2


def split_sizes(rows: int, test_size: float) -> tuple[int, int]:
    """(train, test) row counts as scikit-learn's train_test_split makes them."""
    test = math.ceil(test_size * rows)
    return rows - test, test


def rows_needed(test_size: float) -> int:
    """The fewest rows whose split leaves MIN_TRAIN_ROWS to train and MIN_TEST_ROWS to test."""
    rows = MIN_TEST_ROWS + MIN_TRAIN_ROWS
    while True:
        train, test = split_sizes(rows, test_size)
        if train >= MIN_TRAIN_ROWS and test >= MIN_TEST_ROWS:
            return rows
        rows += 1


def salted_keys(hashes: np.ndarray, seed: int) -> np.ndarray:
    """64-bit `hashes` mixed with the seed's hash and hashed again, shape (n,) uint64: pandas'
    `hash_array` takes no key for numbers, and this gives each seed its own keys."""
    from pandas.util import hash_array

    salt = hash_array(np.array([seed], dtype=np.uint64))[0]
    return hash_array(np.asarray(hashes, dtype=np.uint64) ^ salt)


def split_keys(lines: np.ndarray, seed: int) -> np.ndarray:
    """Each row's split key, shape (n,) uint64: the `salted_keys` of pandas' hash of its raw
    line number. A row's key depends on nothing but its line and the seed, so a partition can
    compute it alone, on any worker."""
    from pandas.util import hash_array

    return salted_keys(hash_array(np.asarray(lines, dtype=np.int64)), seed)


def check_split_rows(rows: int, test_size: float, source: str) -> int:
    """The test split's row count for `rows` valid rows; DataError when too few are left to
    train and test."""
    needed = rows_needed(test_size)
    if rows < needed:
        raise DataError(
            f"{source}: {rows} valid row(s) after cleaning; at least {needed} are needed "
            f"(process.test_size {test_size} must leave >= {MIN_TEST_ROWS} test rows and "
            f">= {MIN_TRAIN_ROWS} train rows)"
        )
    return split_sizes(rows, test_size)[1]


KEY_BIN_BITS = 16  # the split keys' histogram: 65,536 bins by their top bits


def key_counts(keys: np.ndarray) -> np.ndarray:
    """How many of `keys` fall in each histogram bin (by their top KEY_BIN_BITS bits), shape
    (2**KEY_BIN_BITS,): partitions' counts add up."""
    bins = np.asarray(keys, dtype=np.uint64) >> np.uint64(64 - KEY_BIN_BITS)
    return np.bincount(bins.astype(np.int64), minlength=1 << KEY_BIN_BITS)


def threshold_bin(counts: np.ndarray, test_rows: int) -> tuple[int, int]:
    """(the bin holding the `test_rows`-th smallest key, that key's rank among the bin's
    keys from 0), from the summed `key_counts`."""
    ends = np.cumsum(counts)
    key_bin = int(np.searchsorted(ends, test_rows))
    below = int(ends[key_bin - 1]) if key_bin else 0
    return key_bin, test_rows - 1 - below


def keys_in_bin(keys: np.ndarray, key_bin: int) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.uint64)
    return keys[(keys >> np.uint64(64 - KEY_BIN_BITS)) == key_bin]


def threshold_key(bin_keys: np.ndarray, rank: int) -> np.uint64:
    """The largest split key of the test split: the key of `rank` among its bin's keys (all
    partitions' `keys_in_bin`). Keys are distinct, as lines are."""
    return np.sort(bin_keys)[rank]


def split(
    frame: pd.DataFrame, test_size: float, seed: int, source: str = "data"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train/test split of rows indexed by their raw line (as `clean` returns them): the
    `ceil(test_size * rows)` rows with the smallest `split_keys` are the test split (the
    threshold key found as the Dask engine finds it over partitions: a histogram of the keys,
    then the keys of one bin), so the split is the same on one frame or as partitions, and a
    row's side does not depend on the other rows' values. Row order is kept;
    the index is reset. DataError when too few rows are left to train and test."""
    test_rows = check_split_rows(len(frame), test_size, source)
    keys = split_keys(frame.index.to_numpy(), seed)
    key_bin, rank = threshold_bin(key_counts(keys), test_rows)
    test = keys <= threshold_key(keys_in_bin(keys, key_bin), rank)
    return frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)


def split_warnings(test_rows: int) -> list[str]:
    """What a user should know about the split's size (empty when the test split is large)."""
    if test_rows >= SMALL_TEST_ROWS:
        return []
    return [
        f"the test split has only {test_rows} rows: its metrics (R², RMSE) are rough estimates "
        f"(fewer than {SMALL_TEST_ROWS}); more data or a larger process.test_size steadies them"
    ]
