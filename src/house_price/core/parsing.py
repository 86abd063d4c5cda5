"""How a CSV field becomes a value: the one rule that cleaning (the pipeline's data), batch
scoring (`house-price predict`) and `house-price profile init` (drafting) apply to text as
`io.read_raw_csv` reads it (every field a string, "" when empty).

- Missing: a field is missing when its trimmed text is one of the column's declared spellings
  (`missing_spelled`; by default only the empty field); in a category column a declared
  category or alias always wins over a missing spelling (`missing_fields`).
- Numbers: the trimmed text as `pd.to_numeric` reads it, as a float. `inf`, `1e400` and the NaN
  spellings (`NAN_TEXT`, in any case) are numbers, not finite ones; any other text is no number.
- Dates: the trimmed text in the column's format (`pd.to_datetime`; "ISO8601" by default), or
  in the first of its formats that reads it (`core.dateformats`: no text reads as two dates).
- Categories: the canonical spelling of a declared category or alias (`Column.normalise`: case
  and runs of whitespace do not count); any other spelling is unknown.

Each takes a Series of text and where the field is missing, and gives NaN (NaT) there; the
parses also say where a present value is no number (no date in the format). What to do about
such a value (reject the file, name it in a row's error, draft another column type) is the
caller's.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from house_price.core.dateformats import DateFormat, formats_of

if TYPE_CHECKING:
    from house_price.schema import Column

NAN_TEXT = frozenset({"nan", "+nan", "-nan"})  # what pandas parses as a NaN number


def missing_spelled(text: pd.Series, spellings: Collection[str]) -> pd.Series:
    """Where the trimmed text is one of `spellings` (themselves trimmed)."""
    return text.str.strip().isin(spellings)


def missing_fields(text: pd.Series, column: Column) -> pd.Series:
    """Where the raw text means "no value" by the column's declared spellings."""
    if column.is_category:  # few distinct values: ask the column once per spelling
        flags = {value: column.means_missing(value) for value in text.unique()}
        return text.map(flags).astype(bool)
    return missing_spelled(text, column.missing_values)


def _none_missing(text: pd.Series, missing: pd.Series | None) -> pd.Series:
    return pd.Series(False, index=text.index) if missing is None else missing


def to_numbers(text: pd.Series, missing: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """(trimmed text -> float, NaN where missing; ±inf and NaN spellings stay non-finite;
    where a present value is no number at all). `missing` None: no field is missing."""
    missing = _none_missing(text, missing)
    stripped = text.str.strip().where(~missing)
    values = pd.to_numeric(stripped, errors="coerce").astype(float)
    nan_text = stripped.str.casefold().isin(NAN_TEXT)
    return values, values.isna() & ~missing & ~nan_text


def is_nan_text(text: str) -> bool:
    """Whether one field is a NaN spelling (`nan`, `+NaN`, ...): a number, not a finite one."""
    return text.strip().casefold() in NAN_TEXT


def to_dates(
    text: pd.Series, missing: pd.Series | None, date_format: DateFormat
) -> tuple[pd.Series, pd.Series]:
    """(trimmed text -> datetime64 in `date_format`, or in the first of its formats that reads
    it, NaT where missing; where a present value is no date in any). `missing` None: no field
    is missing."""
    missing = _none_missing(text, missing)
    first, *others = formats_of(date_format)
    stripped = text.str.strip().where(~missing)
    values = pd.to_datetime(stripped, format=first, errors="coerce")
    for fmt in others:
        unread = values.isna() & ~missing
        if not unread.any():
            break
        read = pd.to_datetime(stripped.where(unread), format=fmt, errors="coerce")
        values = values.where(~unread, read)
    return values, values.isna() & ~missing


def to_categories(text: pd.Series, missing: pd.Series, column: Column) -> pd.Series:
    """Canonical spellings; missing and unknown values become NaN."""
    canonical = {value: column.normalise(value) for value in text[~missing].unique()}
    values = text.where(~missing).map(canonical, na_action="ignore")
    return values.where(values.notna(), np.nan)
