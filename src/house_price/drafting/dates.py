"""Date columns: the formats of DATE_FORMATS that read every value as the pipeline reads dates
(`parsing.to_dates`), and the draft of a date column."""

from __future__ import annotations

import pandas as pd

from house_price.core.parsing import to_dates
from house_price.drafting.bounds import readable_date_bounds
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import DATE_FORMATS, DIGITS_ONLY_FORMAT, FIRST_YEAR, LAST_YEAR


def date_formats(values: pd.Series, column: str) -> list[str]:
    """The formats of DATE_FORMATS that parse every (distinct) value, in that order."""
    distinct = list(dict.fromkeys(values.str.strip()))
    if not distinct or not all(any(ch.isdigit() for ch in value) for value in distinct[:50]):
        return []
    found = []
    for fmt in DATE_FORMATS:
        if fmt == DIGITS_ONLY_FORMAT and "date" not in column.lower():
            continue
        if parses(distinct[:20], fmt) and parses(distinct, fmt):
            found.append(fmt)
    return found


def parses(values: list[str], fmt: str) -> bool:
    """Whether every value is a date in `fmt`, of a year from FIRST_YEAR to LAST_YEAR."""
    dates, bad = to_dates(pd.Series(values, dtype=object), None, fmt)
    return not bad.any() and bool(dates.dt.year.between(FIRST_YEAR, LAST_YEAR).all())


def draft_date(values: pd.Series, name: str) -> ColumnDraft | None:
    """A date column, or None when no format of DATE_FORMATS reads every value."""
    formats = date_formats(values, name)
    if not formats:
        return None
    fmt = formats[0]
    parsed = sorted(to_dates(values, None, fmt)[0].dt.date)
    first, last = parsed[0], parsed[-1]
    minimum, maximum = readable_date_bounds(first, last)
    spec = {
        "name": name,
        "type": "date",
        "format": fmt,
        "min": minimum,
        "max": maximum,
        "example": parsed[len(parsed) // 2].isoformat(),
    }
    comments = [f"dates {first.isoformat()} to {last.isoformat()}, read with format {fmt}"]
    if len(formats) > 1:
        comments.append(f"also parses as {', '.join(formats[1:])}: check which one is meant")
    return ColumnDraft(name, "date", spec, comments)
