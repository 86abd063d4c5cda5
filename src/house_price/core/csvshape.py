"""What pandas does not say about a CSV it cannot read: the file's own line of a malformed row
(pandas counts rows, not lines: a line break inside a quoted field makes its "line 8" the
file's line 10), and a file delimited by something other than commas.

A file whose first lines split into the same number of fields at each `;`, tab or `|`, and into
fewer at commas, is refused with a line naming the delimiter, instead of being read as one
column (then refused for missing columns, or for pandas' "Expected 1 fields"). It is not read
with that delimiter: every face (ingest, `profile init`, batch scoring) reads one file format,
comma-separated with decimal points (`parsing.to_numbers`), a profile holds no delimiter, and a
semicolon file usually writes decimal commas (`1,5`) as well (the message names one).

Standard library only (csv), as `io` is imported where pandas is not.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

DELIMITERS = {";": "semicolons (';')", "\t": "tabs", "|": "pipes ('|')"}
SNIFF_LINES = 20  # the header and the first data lines: enough to see a consistent split
NUMBER_COMMA = re.compile(r"-?\d+,\d+")  # `1,5` or `1,000`: not how numbers are read
EXPECTED = re.compile(r"Expected (\d+) fields in line \d+, saw \d+")  # pandas' words


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    rows = csv.reader(lines, delimiter=delimiter)
    return [len(row) for row in rows if any(field.strip() for field in row)]


def delimiter_problem(start: bytes, cut: bool) -> str | None:
    """What is wrong with a file (its first bytes `start`, `cut` when there are more) that
    looks delimited by `;`, tab or `|`, in words; None when it does not."""
    lines = start.decode("utf-8-sig", errors="replace").splitlines(keepends=True)
    if cut and len(lines) > 1:
        lines = lines[:-1]  # the last may be cut short
    lines = lines[:SNIFF_LINES]
    commas = _field_counts(lines, ",")
    for delimiter, words in DELIMITERS.items():
        counts = _field_counts(lines, delimiter)
        if not commas or len(set(counts)) != 1 or counts[0] < 2 or counts[0] <= commas[0]:
            continue
        rows = csv.reader(lines, delimiter=delimiter)
        numbers = [f.strip() for row in rows for f in row if NUMBER_COMMA.fullmatch(f.strip())]
        also = ""
        if numbers:
            also = (
                f" (and its numbers with a comma, e.g. {numbers[0]!r}, with a decimal point and "
                "no thousands separator)"
            )
        return (
            f"not a comma-separated CSV: it looks delimited by {words}: the header and the first "
            f"rows split into {counts[0]} fields there, the header into {commas[0]} at commas; "
            f"save it as a comma-separated CSV{also}"
        )
    return None


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(the file line a row starts on, its fields) for the rows that hold more than
    whitespace, as csv reads them (quoted fields may span lines)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        start = 1
        for row in reader:
            if any(field.strip() for field in row):
                yield start, row
            start = reader.line_num + 1


def parser_error_place(path: Path, message: str) -> str:
    """pandas' tokenizer error (`message`) with the file's line in place of pandas' count of
    rows: `line 10: 3 fields, where the header has 2`, `line 6: a quoted field opens there and
    is never closed`; pandas' message when the row cannot be found."""
    expected = EXPECTED.search(message)
    if expected:
        fields = int(expected.group(1))
        for line, row in _rows(path):
            if len(row) > fields:
                return f"line {line}: {len(row)} fields, where the header has {fields}"
    elif "EOF inside string" in message:
        starts = [line for line, _ in _rows(path)]  # the last row runs to the end of the file
        if starts:
            return f"line {starts[-1]}: a quoted field opens there and is never closed"
    return message
