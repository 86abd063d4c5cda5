"""A date column's formats: one strptime format, or several for a column written in several
ways (80 % `2015-03-04`, 20 % `03/04/2015` from another export). `parsing.to_dates` reads a
value with the first format of the list that reads it; that is a rule only if no text reads
as two dates, so a list in which one text can (`%d/%m/%Y` and `%m/%d/%Y`: `03/04/2015`) is
refused when the profile loads (`check_date_formats`).

Standard library only: the API, which loads the profile, serves without pandas.
"""

from __future__ import annotations

import datetime as dt
import itertools

ISO8601 = "ISO8601"  # pandas: any ISO 8601 date or date-time (2014-10-13, 2014-10-13T00:00:00)
DateFormat = str | tuple[str, ...]  # one format, or several tried in order
# Dates whose day and month are both 12 or less and differ, and times that differ from every
# date field: the texts a format writes for them read as another date in a format that swaps
# or shifts fields.
PROBES = (dt.datetime(2001, 2, 3, 4, 5, 6), dt.datetime(2012, 11, 10, 9, 8, 7))


def formats_of(date_format: DateFormat) -> tuple[str, ...]:
    return (date_format,) if isinstance(date_format, str) else date_format


def format_words(date_format: DateFormat) -> str:
    """`format '%Y-%m-%d'` or `formats '%Y-%m-%d' or '%m/%d/%Y'`, for a message."""
    formats = formats_of(date_format)
    if len(formats) == 1:
        return f"format {formats[0]!r}"
    return "formats " + " or ".join(map(repr, formats))


def written(date: dt.date, date_format: DateFormat) -> str:
    """`date` as the column's (first) format writes it."""
    first = formats_of(date_format)[0]
    return date.isoformat() if first == ISO8601 else date.strftime(first)


def _read(text: str, fmt: str) -> dt.date | None:
    try:
        if fmt == ISO8601:
            return dt.datetime.fromisoformat(text).date()
        return dt.datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def check_date_formats(formats: list[str], where: str) -> DateFormat:
    """The column's `DateFormat` (a list of one is that format); ValueError naming `where` for
    an empty list, a repeated format, or two formats that read one text as two dates."""
    if not formats:
        raise ValueError(f"{where}: a list of formats needs at least one")
    if len(set(formats)) != len(formats):
        raise ValueError(f"{where}: a format is listed twice ({', '.join(map(repr, formats))})")
    if len(formats) == 1:
        return formats[0]
    for first, second in itertools.permutations(formats, 2):
        for probe in PROBES:
            text = written(probe, first)
            one, other = _read(text, first), _read(text, second)
            if other is not None and other != one:
                raise ValueError(
                    f"{where}: {text!r} reads as {one} in {first!r} and as {other} in "
                    f"{second!r}: a text must be one date only; keep one of the two (a column "
                    "with dates in both orders cannot be read: fix the file)"
                )
    return tuple(formats)
