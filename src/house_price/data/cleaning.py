"""Validation and cleaning of raw rows by the profile's rules. A field becomes a value by
`core.parsing`'s rule; the train/test split is `core.split`.

Rules, in order: a file that does not fit the profile (a missing or repeated column, values of
the wrong type, a column with no values) is rejected as a whole; a field is missing only when
the profile declares its spelling (default: the empty field), and a declared category always
wins over a missing spelling; categories are normalised to their canonical spelling; rows with
a missing, non-finite or out-of-range target, a non-finite or out-of-range feature or an unknown
category are dropped and counted; missing feature values are kept (the fitted transformer
imputes them); exact duplicates are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from house_price.core.dateformats import format_words
from house_price.core.errors import DataError, name_list
from house_price.core.parsing import missing_fields, to_categories, to_dates, to_numbers
from house_price.schema import Column, Profile


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
    values, bad = to_dates(text, missing, column.date_format)
    if bad.any():
        raise DataError(
            f"{source}: column {column.name!r} should be a date in "
            f"{format_words(column.date_format)} but has {int(bad.sum())} value(s) that are "
            f"not, e.g. {text[bad].iloc[0].strip()!r} (line {_example_rows(bad)})"
        )
    return values.dt.normalize()


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
            values = to_categories(text, missing, column).astype("str")
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
