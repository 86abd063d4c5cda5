"""A date column's formats: one strptime format, or several for a column written in several
ways (80 % `2015-03-04`, 20 % `03/04/2015` from another export). `parsing.to_dates` reads a
value with the first format of the list that reads it; that is a rule only if no text reads
as two dates, so a list in which one text can (`%d/%m/%Y` and `%m/%d/%Y`: `03/04/2015`) is
refused when the profile loads (`check_date_formats`). So is a format that pandas cannot read
(`%Q`), one that loses a date (`%Y-%m`: no day) and one with a time zone (`%z`, `%Z`: pandas
reads such dates zone-aware, which no bound or other format compares with).

Standard library only: the API, which loads the profile, serves without pandas.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

ISO8601 = "ISO8601"  # pandas: any ISO 8601 date or date-time (2014-10-13, 2014-10-13T00:00:00)
DateFormat = str | tuple[str, ...]  # one format, or several tried in order
# Dates whose day and month are both 12 or less and differ, and times that differ from every
# date field: the texts a format writes for them read as another date in a format that swaps
# or shifts fields.
PROBES = (dt.datetime(2001, 2, 3, 4, 5, 6), dt.datetime(2012, 11, 10, 9, 8, 7))
DIRECTIVE = re.compile(r"%(.)")  # `%%` is a literal percent sign, `%%z` no zone


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


def check_format(fmt: str, where: str) -> None:
    """ValueError naming `where` for a format with a time zone, one that cannot be read, or one
    that reads the dates it writes as other dates (it lacks a year, month or day)."""
    if fmt == ISO8601:
        return
    if {"z", "Z"} & set(DIRECTIVE.findall(fmt)):
        raise ValueError(
            f"{where}: {fmt!r} has a time zone (%z or %Z): dates are read without one (pandas "
            "reads them zone-aware, which bounds and other formats are not); write the dates "
            "without their zone"
        )
    for probe in PROBES:
        try:
            text = probe.strftime(fmt)
            read = dt.datetime.strptime(text, fmt).date()
        except (ValueError, re.error) as error:  # a bad directive; a field written twice
            problem = f"{fmt!r} is not a date format that can be read ({error})"
            raise ValueError(f"{where}: {problem}") from None
        if read != probe.date():
            raise ValueError(
                f"{where}: {fmt!r} writes {probe.date()} as {text!r}, which reads back as {read}: "
                "a format holds a whole date (a year, month and day, or a year and day of it)"
            )


def check_date_formats(formats: str | list[str], where: str) -> DateFormat:
    """The column's `DateFormat` (a list of one is that format); ValueError naming `where` for
    a format `check_format` refuses, an empty list, a repeated format, or two formats that read
    one text as two dates."""
    if isinstance(formats, str):
        check_format(formats, where)
        return formats
    if not formats:
        raise ValueError(f"{where}: a list of formats needs at least one")
    if len(set(formats)) != len(formats):
        raise ValueError(f"{where}: a format is listed twice ({', '.join(map(repr, formats))})")
    for fmt in formats:
        check_format(fmt, where)
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
