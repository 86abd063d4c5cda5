"""Where a CSV's rows are in the file, and what pandas does not say about a CSV it cannot read:
the file's own line of a malformed row (pandas counts rows, not lines: a line break inside a
quoted field makes its "line 8" the file's line 10), and a file delimited by something other
than commas.

A file's lines end at `\\n`, `\\r\\n` or a bare `\\r` (where pandas ends a row, and what
`open(newline="")` splits at). `records` finds the line each row starts on, as pandas'
tokenizer splits rows, by one streaming scan that follows quotes line by line and never holds
a field (a quote left open runs to the end of the file): `io` numbers a frame's rows by it, and
a refusal names the line of a row with too many fields, or of a quote that never closes.

A file whose header and most of its first lines split into the same number of fields at each
`;`, tab or `|`, and its header into fewer at commas, or whose first line is a spreadsheet's
`sep=;`, is refused with a line naming the delimiter, instead of being read as one column. It
is not read with that delimiter: every face (ingest, `profile init`, batch scoring) reads one
file format, comma-separated with decimal points (`parsing.to_numbers`), a profile holds no
delimiter, and a semicolon file usually writes decimal commas (`1,5`) as well (the message
names one).

Standard library only, as `io` is imported where pandas is not.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

DELIMITERS = {";": "semicolons (';')", "\t": "tabs", "|": "pipes ('|')"}
SNIFF_LINES = 20  # the header and the first data lines: enough to see a consistent split
NUMBER_COMMA = re.compile(r"-?\d+,\d+")  # `1,5` or `1,000`: not how numbers are read
EXPECTED = re.compile(r"Expected (\d+) fields in line \d+, saw \d+")  # pandas' words
SEP_LINE = re.compile(r'"?sep=(.)"?', re.IGNORECASE)  # Excel's delimiter line: `sep=;`

# pandas' tokenizer (commas, `"` doubled inside quotes): a field opening with a quote runs to
# the next lone quote, then like an unquoted field to the next comma or line end. A line of
# such fields, each closed or without quotes, is a whole row: counted at C speed.
CLOSED = r'(?:(?:"[^"]*+")++|[^,"\r\n]*+)'
WHOLE_ROW = re.compile(rf"{CLOSED}(?:,{CLOSED})*+(?:\r\n|\r|\n)?")
QUOTED = r'(?:[^"]++|"")*+(?P<close>"[^,\r\n]*+)?'  # after the opening quote
END = r"(?P<end>,|\r\n|\r|\n|\Z)"
FIELD = re.compile(rf'(?:(?P<open>"){QUOTED}|[^,\r\n]*+){END}')
QUOTED_ON = re.compile(rf"(?P<open>){QUOTED}{END}")  # a line inside an open quoted field
BLANKS = " \t"  # a line of these alone is blank (pandas skips it)


class Record(NamedTuple):
    """A row: the lines it starts and ends on, its fields, and the line where a quoted field
    opens that the file never closes (0 for none; only the last row can have one)."""

    line: int
    end: int
    fields: int
    unclosed: int = 0


def _blank(line: str) -> bool:
    return not line.strip(BLANKS + "\r\n")


def _after_cr_blank(line: str) -> str:
    """pandas drops a comma that starts the line after a blank line ending in a bare CR, except
    before blanks and more (it then reads the line again from its start)."""
    rest = line[1:]
    return line if rest.startswith(tuple(BLANKS)) and not _blank(rest) else rest


def _match(pattern: re.Pattern[str], line: str, pos: int = 0) -> re.Match[str]:
    match = pattern.match(line, pos)
    assert match is not None  # each pattern takes an empty field at the line's end
    return match


def _fields_on(line: str, match: re.Match[str]) -> tuple[bool, int, re.Match[str]]:
    """(whether the row ends on `line`, how many of its fields end there, the last field's
    match), from `match`, a field's, on."""
    count = 0
    while match["open"] is None or match["close"] is not None:  # the field ends on this line
        count += 1
        if match["end"] != ",":
            return True, count, match
        match = _match(FIELD, line, match.end())
    return False, count, match


def csv_records(lines: Iterable[str]) -> Iterator[Record]:
    """The rows of a CSV given as its lines (each with its line break), blank lines skipped."""
    start = fields = opened = number = 0
    cr_blank = False
    for number, line in enumerate(lines, 1):
        if cr_blank and line.startswith(","):
            line = _after_cr_blank(line)
        cr_blank = False
        if opened:
            match = _match(QUOTED_ON, line)
        elif _blank(line):
            cr_blank = line.endswith("\r")
            continue
        elif '"' not in line:
            yield Record(number, number, line.count(",") + 1)
            continue
        elif WHOLE_ROW.fullmatch(line):  # the commas outside the quotes part the fields
            yield Record(number, number, "".join(line.split('"')[::2]).count(",") + 1)
            continue
        else:
            start, fields, match = number, 0, _match(FIELD, line)
        ended, count, last = _fields_on(line, match)
        fields += count
        if ended:
            yield Record(start, number, fields)
            opened = 0
        elif last.re is FIELD:  # a quoted field opens on this line and runs on
            opened = number
    if opened:
        yield Record(start, number, fields + 1, opened)


def records(path: Path) -> Iterator[Record]:
    """The rows of the CSV file at `path`, as `csv_records`."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from csv_records(handle)


def parser_error_place(path: Path, message: str) -> str:
    """pandas' tokenizer error (`message`) with the file's line in place of pandas' count of
    rows: `line 10: 3 fields, where the header has 2`, `line 6: a quoted field opens there and
    is never closed`; pandas' message when the row cannot be found."""
    expected = EXPECTED.search(message)
    if not expected and "EOF inside string" not in message:
        return message
    for record in records(path):
        if expected and record.fields > int(expected.group(1)):
            runs = (
                f"; a quoted field runs on to line {record.end}" if record.end > record.line else ""
            )
            return (
                f"line {record.line}: {record.fields} fields, where the header has "
                f"{expected.group(1)}{runs}"
            )
        if record.unclosed:
            return f"line {record.unclosed}: a quoted field opens there and is never closed"
    return message


def _split(lines: list[str], delimiter: str) -> list[list[str]]:
    rows = csv.reader(lines, delimiter=delimiter)
    return [row for row in rows if any(field.strip() for field in row)]


def _width(row: list[str]) -> int:
    """Fields up to the last with text: `1;2;3;` is 3 wide, as its header `a;b;c`."""
    return max(i for i, field in enumerate(row, 1) if field.strip())


def _decimal_commas(rows: list[list[str]]) -> str:
    numbers = [f.strip() for row in rows for f in row if NUMBER_COMMA.fullmatch(f.strip())]
    if not numbers:
        return ""
    return (
        f" (and its numbers with a comma, e.g. {numbers[0]!r}, with a decimal point and no "
        "thousands separator)"
    )


def _sep_line_problem(sep: re.Match[str], rows: list[str]) -> str:
    """A file opening with a spreadsheet's `sep=X` line (`rows`: the lines after it)."""
    delimiter = sep.group(1)
    if delimiter == ",":
        return (
            f"line 1 is {sep.group(0)!r}, a spreadsheet's note of the delimiter, not the header: "
            "delete that line"
        )
    words = DELIMITERS.get(delimiter, repr(delimiter))
    return (
        f"not a comma-separated CSV: its line 1, {sep.group(0)!r}, says it is delimited by "
        f"{words}; save it as a comma-separated CSV, without that line"
        f"{_decimal_commas(_split(rows, delimiter))}"
    )


def delimiter_problem(start: bytes, cut: bool) -> str | None:
    """What is wrong with a file (its first bytes `start`, `cut` when there are more) that
    opens with a `sep=` line, or looks delimited by `;`, tab or `|`, in words; None when it
    does neither."""
    lines = io.StringIO(start.decode("utf-8-sig", errors="replace"), newline="").readlines()
    if cut and len(lines) > 1:
        lines = lines[:-1]  # the last may be cut short
    lines = lines[:SNIFF_LINES]
    sep = SEP_LINE.fullmatch(lines[0].rstrip("\r\n")) if lines else None
    if sep:
        return _sep_line_problem(sep, lines[1:])
    commas = _split(lines, ",")
    for delimiter, words in DELIMITERS.items():
        rows = _split(lines, delimiter)
        if not rows or not commas:
            continue
        # the header's width, if most rows have it (one may be short, or end in a `;`)
        header, at_commas = _width(rows[0]), _width(commas[0])
        usual = Counter(map(_width, rows)).most_common(1)[0][0]
        if header != usual or header < 2 or header <= at_commas:
            continue
        return (
            f"not a comma-separated CSV: it looks delimited by {words}: the header and most of "
            f"the first rows split into {header} fields there, the header into {at_commas} at "
            f"commas; save it as a comma-separated CSV{_decimal_commas(rows)}"
        )
    return None
