"""Validation and cleaning of raw rows by the profile's rules, and the train/test split.

Rules, in order: a file that does not fit the profile (a missing or repeated column, values of
the wrong type, a column with no values) is rejected as a whole; a field is missing only when
the profile declares its spelling (default: the empty field), and a declared category always
wins over a missing spelling; categories are normalised to their canonical spelling; rows with
a missing, non-finite or out-of-range target, a non-finite or out-of-range feature or an unknown
category are dropped and counted; missing feature values are kept (the fitted transformer
imputes them); exact duplicates are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from house_price.core.errors import DataError, name_list
from house_price.schema import Column, Profile

NAN_TEXT = frozenset({"nan", "+nan", "-nan"})  # what pandas parses as a NaN number
MIN_TEST_ROWS = 2  # R² needs two rows
MIN_TRAIN_ROWS = 5  # early stopping needs a validation slice and rows to fit
SMALL_TEST_ROWS = 30  # below this, test metrics vary a lot from one split to another


def _example_rows(mask: pd.Series, limit: int = 3) -> str:
    """The first file lines where `mask` holds (read_raw_csv indexes rows by file line)."""
    return ", ".join(str(line) for line in mask[mask].index[:limit])


def repeated_columns(names: Iterable[object]) -> dict[str, list[int]]:
    """Header name -> its positions (from 1), for the non-empty names that appear more than
    once (read_raw_csv keeps repeats as written)."""
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(map(str, names), 1):
        positions.setdefault(name, []).append(index)
    return {name: where for name, where in positions.items() if name and len(where) > 1}


def repeated_column_error(source: str, name: str, positions: list[int]) -> DataError:
    return DataError(
        f"{source}: column {name!r} appears {len(positions)} times in the header "
        f"(columns {', '.join(map(str, positions))}); a column must be unique"
    )


def check_columns(
    frame: pd.DataFrame, profile: Profile, source: str, columns: Iterable[Column] | None = None
) -> None:
    """The header holds every one of `columns` (default: the profile's features and target)
    exactly once (names compared trimmed)."""
    required = list(profile.columns if columns is None else columns)
    header = [str(name) for name in frame.columns]
    repeated = repeated_columns(header)
    for column in required:
        if column.name in repeated:
            raise repeated_column_error(source, column.name, repeated[column.name])
    missing = [column.name for column in required if column.name not in header]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))} "
            f"required by profile {profile.name!r} (found: {name_list(header)})"
        )


def missing_fields(text: pd.Series, column: Column) -> pd.Series:
    """Where the raw text means "no value" by the column's declared spellings."""
    if column.is_category:  # few distinct values: ask the column once per spelling
        flags = {value: column.means_missing(value) for value in text.unique()}
        return text.map(flags).astype(bool)
    return text.str.strip().isin(column.missing_values)


def to_numbers(text: pd.Series, missing: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(trimmed text -> float, NaN where missing; ±inf and NaN spellings stay non-finite;
    where a present value is no number at all)."""
    stripped = text.str.strip().where(~missing)
    values = pd.to_numeric(stripped, errors="coerce").astype(float)
    nan_text = stripped.str.casefold().isin(NAN_TEXT)
    return values, values.isna() & ~missing & ~nan_text


def to_dates(text: pd.Series, missing: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """(trimmed text -> datetime64 by the column's format, NaT where missing; where a present
    value is no date in that format)."""
    values = pd.to_datetime(
        text.str.strip().where(~missing), format=column.date_format, errors="coerce"
    )
    return values, values.isna() & ~missing


def parse_numeric(text: pd.Series, missing: pd.Series, column: Column, source: str) -> pd.Series:
    """Text -> float (NaN where missing; ±inf and NaN spellings stay non-finite); any other
    value that is not a number rejects the file."""
    values, bad = to_numbers(text, missing)
    if bad.any():
        example = text[bad].iloc[0].strip()
        raise DataError(
            f"{source}: column {column.name!r} should be {column.kind} but has {int(bad.sum())} "
            f"non-numeric value(s), e.g. {example!r} (line {_example_rows(bad)}); a spelling "
            "that means missing belongs in the profile's missing_values"
        )
    if column.kind == "int":
        fractional = np.isfinite(values) & (values != np.round(values))
        if fractional.any():
            raise DataError(
                f"{source}: column {column.name!r} should be int but has {int(fractional.sum())} "
                f"fractional value(s), e.g. {values[fractional].iloc[0]} "
                f"(line {_example_rows(fractional)})"
            )
    return values


def parse_dates(text: pd.Series, missing: pd.Series, column: Column, source: str) -> pd.Series:
    """Text -> datetime64 days (NaT where missing) by the column's format; any other value
    that is not a date in that format rejects the file."""
    values, bad = to_dates(text, missing, column)
    if bad.any():
        raise DataError(
            f"{source}: column {column.name!r} should be a date in format "
            f"{column.date_format!r} but has {int(bad.sum())} value(s) that are not, e.g. "
            f"{text[bad].iloc[0].strip()!r} (line {_example_rows(bad)})"
        )
    return values.dt.normalize()


def normalise_categories(text: pd.Series, missing: pd.Series, column: Column) -> pd.Series:
    """Canonical spellings; missing and unknown values become NaN."""
    canonical = {value: column.normalise(value) for value in text[~missing].unique()}
    values = text.where(~missing).map(canonical, na_action="ignore")
    return values.where(values.notna(), np.nan)


def out_of_bounds(values: pd.Series, column: Column) -> pd.Series:
    low, high = column.minimum, column.maximum
    if column.is_date:  # date bounds compare as timestamps
        low = None if low is None else pd.Timestamp(low)
        high = None if high is None else pd.Timestamp(high)
    below = values < low if low is not None else False
    above = values > high if high is not None else False
    return values.notna() & (below | above)


def clean_rows(
    raw: pd.DataFrame, profile: Profile, source: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The row-by-row part of `clean`, the same for a whole file or one partition of it: parse,
    normalise and drop invalid rows (duplicates stay). Returns the typed rows (indexed by file
    line, as `raw`) and a partial report that `merge_reports` adds up over partitions and
    `check_report` judges: `present` counts each column's values before drops (it is removed
    from the final report). DataError for a value that cannot fit (it names its line)."""
    check_columns(raw, profile, source)
    declared = [column.name for column in profile.columns]
    frame = pd.DataFrame(index=raw.index)
    report: dict[str, Any] = {
        "rows_in": len(raw),
        "ignored_columns": sorted(set(map(str, raw.columns)) - set(declared)),
        "categories_respelled": {},
        "missing_values_kept": {},
        "dropped": {},
        "present": {},
    }
    drop = pd.Series(False, index=raw.index)
    for column in profile.columns:
        text = raw[column.name]
        missing = missing_fields(text, column)
        if column.is_category:
            values = normalise_categories(text, missing, column).astype("str")
            respelled = values.notna() & (values != text)
            report["categories_respelled"][column.name] = int(respelled.sum())
            invalid = {f"unknown_{column.name}": ~missing & values.isna()}
        else:
            parse = parse_dates if column.is_date else parse_numeric
            values = parse(text, missing, column, source)
            invalid = {}
            if not column.is_date:  # counted before bounds: inf is no out-of-range price
                invalid[f"non_finite_{column.name}"] = ~missing & ~np.isfinite(values)
                values = values.where(np.isfinite(values))
            invalid[f"out_of_bounds_{column.name}"] = out_of_bounds(values, column)
        is_target = column.name == profile.target.name
        if is_target or not column.nullable:
            # a row with no target teaches nothing; a missing feature that is not nullable, the
            # API refuses, so training never imputes one (a cut-short line too)
            invalid[f"missing_{'target' if is_target else column.name}"] = missing
        report["present"][column.name] = int(values.notna().sum())
        for reason, mask in invalid.items():
            report["dropped"][reason] = int((mask & ~drop).sum())
            drop |= mask
        frame[column.name] = values
    frame = frame[~drop]
    for column in profile.features:
        report["missing_values_kept"][column.name] = int(frame[column.name].isna().sum())
    report["rows_kept"] = len(frame)
    return frame, report


def merge_reports(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The partial reports of `clean_rows` over the partitions of one file, added up."""
    merged: dict[str, Any] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict):
                into = merged.setdefault(key, {})
                for name, count in value.items():
                    into[name] = into.get(name, 0) + count
            elif isinstance(value, list):
                merged[key] = sorted(set(merged.get(key, [])) | set(value))
            else:
                merged[key] = merged.get(key, 0) + value
    return merged


def check_report(report: dict[str, Any], source: str) -> dict[str, Any]:
    """The whole file's checks on the merged partial report, and the report without its
    working counts. DataError for a column with no values at all, a feature whose values are
    only in dropped rows, or no rows left."""
    for name, present in report["present"].items():
        if present == 0:
            raise DataError(
                f"{source}: column {name!r} has no values (all {report['rows_in']} rows are "
                "empty or a missing-value spelling); fill it or remove it from the profile"
            )
    kept = report["rows_kept"]
    for name, missing in report["missing_values_kept"].items():
        if kept and missing == kept:
            raise DataError(
                f"{source}: column {name!r} has no values in the {kept} rows kept "
                "after cleaning (its values are only in dropped rows)"
            )
    if kept == 0:
        raise DataError(f"{source}: no valid rows left after cleaning ({report['dropped']})")
    return {key: value for key, value in report.items() if key not in ("present", "rows_kept")}


def finish_report(report: dict[str, Any], duplicates: int) -> dict[str, Any]:
    """The final cleaning report once `duplicates` exact duplicates were dropped."""
    report["dropped"]["duplicates"] = duplicates
    report["rows_out"] = report.pop("rows_kept") - duplicates
    return report


def clean(raw: pd.DataFrame, profile: Profile, source: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate and clean raw text rows (as read_raw_csv gives them: every field a string);
    return typed rows (indexed by file line) and a report of what was done: `clean_rows`, the
    whole file's checks, then exact duplicates dropped (the first occurrence stays).
    DataError for a file that cannot fit."""
    frame, report = clean_rows(raw, profile, source)
    checked = check_report(report, source) | {"rows_kept": report["rows_kept"]}
    duplicated = frame.duplicated()
    return frame[~duplicated], finish_report(checked, int(duplicated.sum()))


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
