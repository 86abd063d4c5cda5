"""Validation and cleaning of raw rows by the profile's rules, and the train/test split.

Rules, in order: a file that does not fit the profile (missing column, non-numeric values in a
numeric column) is rejected as a whole; categories are normalised to their canonical spelling;
rows with a missing or out-of-range target, an out-of-range feature or an unknown category are
dropped and counted; missing feature values are kept (the fitted transformer imputes them);
exact duplicates are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from house_price.errors import DataError
from house_price.schema import Column, Profile


def _example_rows(mask: pd.Series, limit: int = 3) -> str:
    """The first file lines where `mask` holds (read_raw_csv indexes rows by file line)."""
    return ", ".join(str(line) for line in mask[mask].index[:limit])


def check_columns(frame: pd.DataFrame, profile: Profile, source: str) -> None:
    missing = [column.name for column in profile.columns if column.name not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:12]))
        raise DataError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))} "
            f"required by profile {profile.name!r} (found: {found})"
        )


def parse_numeric(raw: pd.Series, column: Column, source: str) -> pd.Series:
    """Text -> float; any value that is present but not a number rejects the file."""
    text = raw.str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna() & (text != "")
    if bad.any():
        example = text[bad].iloc[0]
        raise DataError(
            f"{source}: column {column.name!r} should be {column.kind} but has {int(bad.sum())} "
            f"non-numeric value(s), e.g. {example!r} (line {_example_rows(bad)})"
        )
    values = values.astype(float)
    if column.kind == "int":
        fractional = values.notna() & (values != np.round(values))
        if fractional.any():
            raise DataError(
                f"{source}: column {column.name!r} should be int but has {int(fractional.sum())} "
                f"fractional value(s), e.g. {values[fractional].iloc[0]} "
                f"(line {_example_rows(fractional)})"
            )
    return values


def normalise_categories(raw: pd.Series, column: Column) -> pd.Series:
    """Canonical spellings; a value that is no allowed category becomes missing."""
    canonical = {value: column.normalise(value) for value in raw.dropna().unique()}
    values = raw.map(canonical, na_action="ignore")
    return values.where(values.notna(), np.nan)


def out_of_bounds(values: pd.Series, column: Column) -> pd.Series:
    low = values < column.minimum if column.minimum is not None else False
    high = values > column.maximum if column.maximum is not None else False
    return values.notna() & (low | high)


def clean(raw: pd.DataFrame, profile: Profile, source: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate and clean raw text rows; return typed rows and a report of what was done."""
    check_columns(raw, profile, source)
    declared = [column.name for column in profile.columns]
    frame = pd.DataFrame(index=raw.index)
    report: dict[str, Any] = {
        "rows_in": len(raw),
        "ignored_columns": sorted(set(raw.columns) - set(declared)),
        "categories_respelled": {},
        "missing_values_kept": {},
        "dropped": {},
    }
    drop = pd.Series(False, index=raw.index)
    for column in profile.columns:
        if column.is_category:
            values = normalise_categories(raw[column.name], column)
            respelled = values.notna() & (values != raw[column.name])
            report["categories_respelled"][column.name] = int(respelled.sum())
            invalid = raw[column.name].notna() & values.isna()
            reason = f"unknown_{column.name}"
        else:
            values = parse_numeric(raw[column.name], column, source)
            invalid = out_of_bounds(values, column)
            reason = f"out_of_bounds_{column.name}"
        report["dropped"][reason] = int((invalid & ~drop).sum())
        frame[column.name] = values
        drop |= invalid
    missing_target = frame[profile.target.name].isna() & ~drop
    report["dropped"]["missing_target"] = int(missing_target.sum())
    drop |= missing_target
    frame = frame[~drop]
    for column in profile.features:
        report["missing_values_kept"][column.name] = int(frame[column.name].isna().sum())
    duplicated = frame.duplicated()
    report["dropped"]["duplicates"] = int(duplicated.sum())
    frame = frame[~duplicated].reset_index(drop=True)
    report["rows_out"] = len(frame)
    if frame.empty:
        raise DataError(f"{source}: no valid rows left after cleaning ({report['dropped']})")
    return frame, report


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split  # heavy: only the stage that splits

    train, test = train_test_split(frame, test_size=test_size, random_state=seed, shuffle=True)
    return train.reset_index(drop=True), test.reset_index(drop=True)
