"""Date columns: the formats of DATE_FORMATS that read every value as the pipeline reads dates
(`parsing.to_dates`), and the draft of a date column.

One format when one reads every value; else the fewest formats that read them all between them
(80 % `2015-03-04` and 20 % `03/17/2015`: two), each value read by the first that reads it, as
the pipeline reads a list of formats. Day-first or month-first: a value that only one order
reads (`17/03/2015`) decides; when none does, the draft says which value could be either. A
column whose values need both orders (`17/03/2015` and `03/17/2015`) cannot be read one way:
left out, with a WARNING (the profile would refuse those two formats together).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from house_price.core.dateformats import check_date_formats
from house_price.core.parsing import to_dates
from house_price.drafting.bounds import readable_date_bounds
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import DATE_FORMATS, DIGITS_ONLY_FORMAT, FIRST_YEAR, LAST_YEAR
from house_price.drafting.wording import plural


def read_as(values: pd.Series, fmt: str) -> pd.Series:
    """Each value as a date in `fmt`, NaT where it is none or its year is not FIRST_YEAR to
    LAST_YEAR."""
    dates = to_dates(values, None, fmt)[0]
    return dates.where(dates.dt.year.between(FIRST_YEAR, LAST_YEAR))


def candidate_formats(column: str) -> list[str]:
    return [fmt for fmt in DATE_FORMATS if fmt != DIGITS_ONLY_FORMAT or "date" in column.lower()]


def readings(distinct: pd.Series, column: str) -> dict[str, pd.Series] | None:
    """Format -> each distinct value as a date in it (NaT where it is none), for the formats of
    DATE_FORMATS that read at least one; None when a value is read by none (the first 20 are
    tried first: a text column costs little)."""
    if distinct.empty or not distinct.head(50).str.contains(r"\d").all():
        return None
    formats = candidate_formats(column)
    for sample in (distinct.head(20), distinct):  # every format on all: a file's second
        read = {fmt: read_as(sample, fmt) for fmt in formats}  # format may start at row 10,000
        if not pd.concat([dates.notna() for dates in read.values()], axis=1).any(axis=1).all():
            return None
    return {fmt: dates for fmt, dates in read.items() if dates.notna().any()}


def cover(read: dict[str, pd.Series]) -> list[str]:
    """The fewest formats that read every value between them: greedily, the one that reads
    the most values not yet read (ties: DATE_FORMATS order)."""
    chosen: list[str] = []
    unread = pd.Series(True, index=next(iter(read.values())).index)
    while unread.any():
        best = max(read, key=lambda fmt: int((read[fmt].notna() & unread).sum()))
        chosen.append(best)
        unread &= read[best].isna()
    return chosen


@dataclass(frozen=True)
class Readings:
    """A column's distinct (trimmed) values, each as a date in each format that reads any of
    them (NaT where it does not), and the first line of each value."""

    distinct: pd.Series
    read: dict[str, pd.Series]
    line_of: dict[str, int]

    def shown(self, mask: pd.Series) -> str:
        value = self.distinct[mask].iloc[0]
        return f"{value!r} (line {self.line_of[value]})"


def draft_date(values: pd.Series, name: str) -> ColumnDraft | None:
    """A date column, or None when the formats of DATE_FORMATS do not read every value."""
    text = values.str.strip()
    distinct = pd.Series(list(dict.fromkeys(text)), dtype=object)
    read = readings(distinct, name)
    if read is None:
        return None
    found = Readings(
        distinct, read, dict(zip(text[::-1].tolist(), text.index[::-1].tolist(), strict=True))
    )
    formats = cover(read)
    try:
        date_format = check_date_formats(formats, name)
    except ValueError:
        return both_orders(found, formats, name)
    # each distinct value's format and date, as to_dates reads the list: the first that reads it
    owner = pd.Series(None, index=distinct.index, dtype=object)
    dates = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[ns]")
    for fmt in formats:
        new = owner.isna() & read[fmt].notna()
        owner[new], dates[new] = fmt, read[fmt][new]
    parsed = sorted(text.map(dict(zip(distinct, dates, strict=True))).dt.date)
    first, last = parsed[0], parsed[-1]
    minimum, maximum = readable_date_bounds(first, last)
    spec = {
        "name": name,
        "type": "date",
        "format": date_format if isinstance(date_format, str) else list(date_format),
        "min": minimum,
        "max": maximum,
        "example": parsed[len(parsed) // 2].isoformat(),
    }
    span = f"dates {first.isoformat()} to {last.isoformat()}"
    notes = []
    if len(formats) == 1:
        comments = [f"{span}, read with format {formats[0]}"]
    else:
        rows = Counter(text.map(dict(zip(distinct, owner, strict=True))))
        counted = ", ".join(f"{fmt} ({plural(rows[fmt], 'row')})" for fmt in formats)
        mixed = f"in {len(formats)} formats: {counted}"
        comments = [f"{span} {mixed}; a value is read by the first format that reads it"]
        notes.append(f"{name}: dates {mixed}: a date column read with all of them")
    for fmt in formats:
        more, warnings = alternatives(found, fmt, owner == fmt, dates)
        comments += more + warnings
        notes += [f"{name}: {warning}" for warning in warnings]
    return ColumnDraft(name, "date", spec, comments, notes=notes)


def alternatives(
    found: Readings, fmt: str, mine: pd.Series, dates: pd.Series
) -> tuple[list[str], list[str]]:
    """(a comment on the other formats that read every value `fmt` reads (`mine`) as the same
    dates; a WARNING for each that reads one of them as another date)."""
    same, warnings = [], []
    for other, other_dates in found.read.items():
        if other == fmt or other_dates[mine].isna().any():
            continue
        differ = mine & (other_dates != dates)
        if not differ.any():
            same.append(other)
            continue
        warnings.append(
            f"WARNING: {found.shown(differ)} reads as {dates[differ].iloc[0].date()} in {fmt} "
            f"(chosen) and as {other_dates[differ].iloc[0].date()} in {other}, and no value "
            "tells which is meant: check it, and change the format if it is the other"
        )
    comments = [f"also parses as {', '.join(same)}: check which one is meant"] if same else []
    return comments, warnings


def both_orders(found: Readings, formats: list[str], name: str) -> ColumnDraft:
    """The draft of a column whose values need formats that read one text as two dates (day
    first and month first): left out, with a WARNING naming a value that only each reads."""
    shown = []
    for fmt in [fmt for fmt in formats if any(clash(fmt, other) for other in formats)]:
        only = found.read[fmt].notna()
        for other in formats:
            if other != fmt:
                only &= found.read[other].isna()
        if only.any():
            shown.append(f"{found.shown(only)} only in {fmt}")
    warning = (
        f"WARNING: dates in formats that read one text as two dates ({'; '.join(shown)}): they "
        "cannot be read one way: left out; write the dates in one order (ISO 2015-03-04 is "
        "never ambiguous) and draft again"
    )
    return ColumnDraft(name, "text", left_out=warning, notes=[f"{name}: {warning}"])


def clash(first: str, second: str) -> bool:
    """Whether two formats read one text as two dates (the profile refuses them together)."""
    try:
        check_date_formats(list(dict.fromkeys([first, second])), "")
    except ValueError:
        return True
    return False
