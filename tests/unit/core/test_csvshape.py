"""A CSV that pandas cannot read, or reads as one column (issue 25): the refusal names the
file's own line (pandas counted rows: a line break inside a quoted field, or a blank line, moved
its "line"), and a file delimited by `;`, tab or `|` is refused in one line naming the
delimiter, by the reader every face uses (`read_raw_csv`, and `iter_raw_csv` in chunks)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from house_price.core.csvshape import csv_records
from house_price.core.errors import DataError
from house_price.core.io import RAW_CSV_OPTIONS, iter_raw_csv, read_raw_csv


def refusals(tmp_path: Path, content: str | bytes) -> set[str]:
    """The refusal of the whole-file and of the chunked reader (one, when they agree)."""
    path = tmp_path / "houses.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    messages = set()
    for read in (read_raw_csv, lambda p: list(iter_raw_csv(p, 2))):
        with pytest.raises(DataError) as info:
            read(path)
        message = str(info.value)
        assert "\n" not in message
        messages.add(message.removeprefix(f"{path}: "))
    return messages


SEMICOLON = (
    "not a comma-separated CSV: it looks delimited by semicolons (';'): the header and most of "
    "the first rows split into 3 fields there, the header into 1 at commas; save it as a "
    "comma-separated CSV"
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("zip;sqft;price\n01002;1200;300000\n02134;900;250000\n", SEMICOLON),
        ("\ufeffzip;sqft;price\r\n01002;1200;300000\r\n02134;900;250000\r\n", SEMICOLON),
        (  # the example: decimal commas made pandas see 2 fields where 1 was expected
            'zip;sqft;price\n01002;1200;300000\n\n02134;"9\n00";250000\n1;2,5;3\n',
            SEMICOLON + " (and its numbers with a comma, e.g. '2,5', with a decimal point and "
            "no thousands separator)",
        ),
        (
            "zip\tsqft\tprice\n01002\t1,200\t300000\n",
            SEMICOLON.replace("semicolons (';')", "tabs")
            + " (and its numbers with a comma, e.g. '1,200', with a decimal point and no "
            "thousands separator)",
        ),
        (
            "zip|sqft|price\n01002|1200|300000\n",
            SEMICOLON.replace("semicolons (';')", "pipes ('|')"),
        ),
        # most rows, not every one, split as the header: a row ends in `;`, or every row does,
        # or one is short, among the first 20 lines
        ("zip;sqft;price\n01002;1200;300000;\n02134;900;250000\n", SEMICOLON),
        ("zip;sqft;price\r\n01002;1200;300000;\r\n02134;900;250000;\r\n", SEMICOLON),
        ("zip;sqft;price\n" + "01002;1200;300000\n" * 9 + "02134;900\n" * 2 + "1;2;3\n", SEMICOLON),
    ],
)
def test_a_file_delimited_otherwise_is_refused_naming_the_delimiter(
    tmp_path: Path, content: str, message: str
) -> None:
    assert refusals(tmp_path, content) == {message}


@pytest.mark.parametrize(
    "content",
    [
        'zip,note,price\n01002,"a; b",300000\n02134,"c|d",250000\n',  # in quoted text
        "zip,price\n01002,300000\n02134,250000\n",
        "a;b,price\n1;2,3\n4;5,6\n",  # as many fields at commas as at semicolons
        "zip,note\n01002,a;b;c\n02134,d;e;f\n",  # rows split at `;`, the header does not
    ],
)
def test_a_comma_file_with_other_delimiters_in_its_text_is_read(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "houses.csv"
    path.write_text(content)
    assert len(read_raw_csv(path)) == 2


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("a,b\n1,2\n\n\n1,2\n1,2,3\n", 6),  # blank lines before it
        ('a,b\n"x\ny\nz",2\n1,2\n1,2,3\n', 6),  # pandas said line 4: quoted newlines before
        ('a,b\r\n"x\r\ny",2\r\n\r\n1,2,3\r\n', 5),  # CRLF
        ('\ufeffa,b\n1,"2\n3"\n1,2,3\n', 4),  # a byte-order mark
        ('a,b\n1,2\n1,2\n"x\ny",2\n1,2\n\n1,2\n1,2\n1,2,3\n', 10),  # past the first chunk
    ],
)
def test_a_row_with_too_many_fields_is_named_by_its_line(
    tmp_path: Path, content: str, line: int
) -> None:
    assert refusals(tmp_path, content) == {
        f"not a valid CSV (line {line}: 3 fields, where the header has 2)"
    }


def test_a_quote_never_closed_is_named_by_the_line_it_opens(tmp_path: Path) -> None:
    """pandas said "EOF inside string starting at row 4": the file's line is 6."""
    content = 'a,b\n1,2\n\n"x\ny",2\n1,"2\n1,2\n'
    assert refusals(tmp_path, content) == {
        "not a valid CSV (line 6: a quoted field opens there and is never closed)"
    }


@pytest.mark.parametrize(
    ("content", "delimiter", "shown"),
    [
        ("sep=;\nzip;sqft;price\n01002;1200;300000\n", "semicolons (';')", "sep=;"),
        ('\ufeff"sep=;"\r\nzip;sqft\r\n01002;1200\r\n', "semicolons (';')", '"sep=;"'),
        ("SEP=|\nzip|sqft\n01002|1200\n", "pipes ('|')", "SEP=|"),
        ("sep=\t\nzip\tsqft\n01002\t1200\n", "tabs", "sep=\t"),
        ("sep=:\nzip:sqft\n01002:1200\n", "':'", "sep=:"),
    ],
)
def test_a_spreadsheets_sep_line_names_the_delimiter(
    tmp_path: Path, content: str, delimiter: str, shown: str
) -> None:
    """Excel's first line `sep=;` says how the file is delimited, whatever its rows look like."""
    assert refusals(tmp_path, content) == {
        f"not a comma-separated CSV: its line 1, {shown!r}, says it is delimited by {delimiter}; "
        "save it as a comma-separated CSV, without that line"
    }


def test_a_sep_line_names_decimal_commas_and_a_comma_sep_line_is_no_header(
    tmp_path: Path,
) -> None:
    assert refusals(tmp_path, "sep=;\nzip;sqft\n01002;1,5\n") == {
        "not a comma-separated CSV: its line 1, 'sep=;', says it is delimited by semicolons "
        "(';'); save it as a comma-separated CSV, without that line (and its numbers with a "
        "comma, e.g. '1,5', with a decimal point and no thousands separator)"
    }
    assert refusals(tmp_path, "sep=,\nzip,sqft\n01002,1200\n") == {
        "line 1 is 'sep=,', a spreadsheet's note of the delimiter, not the header: delete that line"
    }


ROWS = "".join(f"{1000 + i},{200000 + i},98001\n" for i in range(10_000))  # 180,000 characters


@pytest.mark.parametrize(
    ("content", "line"),
    [
        # the reviewer's example: the quote swallows more than Python's csv field limit
        ('sqft,price,zip\n1000,1,98001\n1100,2,98002\n5000,"1200,98001\n' + ROWS, 4),
        ('sqft,price,zip\r\n1000,1,98001\r\n5000,"1200,98001\r\n' + ROWS, 3),  # CRLF
        ('sqft,price,zip\r5000,"1200,98001\r' + ROWS.replace("\n", "\r"), 2),  # bare CRs
        ('sqft,price,zip\n1,2,3\n\n1,"x\ny","5\n' + ROWS, 5),  # on a row's second line
        ('sqft,price,zip\n1,"a ""quoted"" word",2\n3,"4\n' + ROWS, 3),  # after doubled quotes
    ],
)
def test_a_quote_never_closed_in_a_long_file_is_named_by_its_line(
    tmp_path: Path, content: str, line: int
) -> None:
    assert refusals(tmp_path, content) == {
        f"not a valid CSV (line {line}: a quoted field opens there and is never closed)"
    }


@pytest.mark.parametrize(
    ("big", "line"),
    [
        ("x" * 200_000, 3),  # one field longer than Python's csv field limit
        ("x\n" * 100_000, 100_003),  # and spanning 100,001 lines
    ],
)
def test_too_many_fields_after_a_huge_field_is_named_by_its_line(
    tmp_path: Path, big: str, line: int
) -> None:
    assert refusals(tmp_path, f'a,b\n"{big}",1\n1,2\n1,2,3\n') == {
        f"not a valid CSV (line {line + 1}: 3 fields, where the header has 2)"
    }


def test_a_row_with_too_many_fields_across_lines_says_where_it_ends(tmp_path: Path) -> None:
    assert refusals(tmp_path, 'a,b,c\n1,2,3\n1,"x\n\ny",2,3\n') == {
        "not a valid CSV (line 3: 4 fields, where the header has 3; a quoted field runs on to "
        "line 5)"
    }


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ('a,b\n"x\n\ny",2\n1,2\n', [2, 5]),  # a blank line inside quotes is no blank line
        ('a,b\r"x\r\ry",2\r\r1,2\r', [2, 6]),  # bare CRs end lines, as they end rows
        ('a,b\r\n1,"2\r\n3"\r\n \t \r\n"4",5\r\n', [2, 5]),  # CRLF; a line of blanks
        ('a,b\n1,"2""\n"\n"x"y,"z"\n', [2, 4]),  # a doubled quote; text after a closing one
        ('a,b\n1,2"x\n3,4\n', [2, 3]),  # a quote inside a field opens nothing
    ],
)
def test_rows_are_indexed_by_the_line_they_start_on(
    tmp_path: Path, content: str, lines: list[int]
) -> None:
    path = tmp_path / "houses.csv"
    path.write_bytes(content.encode())
    assert read_raw_csv(path).index.tolist() == lines
    assert [line for chunk in iter_raw_csv(path, 1) for line in chunk.index] == lines


def test_a_bad_byte_is_named_by_its_line_in_a_file_of_bare_crs(tmp_path: Path) -> None:
    """An old Mac export: lines end in a bare CR, text in Mac Roman (0x8e is `é`)."""
    assert refusals(tmp_path, b"a,b\r1,2\r\rcaf\x8e,3\r") == {
        "not a UTF-8 text CSV (line 4, byte 4: invalid start byte)"
    }


def pandas_rows(text: str) -> list[list[str]] | str:
    """pandas' rows of `text`, as read_raw_csv reads them, padded to 16 fields (so that no row
    of the texts below, 15 fields at most, is too wide); or its tokenizer's error."""
    options = {key: value for key, value in RAW_CSV_OPTIONS.items() if key != "encoding"}
    try:
        frame = pd.read_csv(io.StringIO(text), **{**options, "names": range(16)})
    except pd.errors.ParserError as error:
        return str(error)
    return frame.to_numpy().tolist()


def texts(seed: int, count: int, pieces: list[str]) -> Iterator[str]:
    """`count` texts of 1 to 14 `pieces` each."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield "".join(rng.choice(pieces, size=rng.integers(1, 15)))


def test_the_line_scan_splits_rows_where_pandas_does() -> None:
    """`csv_records`, which numbers every face's rows by file line, on 600 short texts of
    commas, quotes, blanks and every line ending: as many rows as pandas reads, each starting
    where its own text (from its line to the next row's) is that row to pandas; a quote never
    closed where pandas finds one."""
    pieces = ["a", "b", ",", ",", '"', '""', '"a"', " ", "\t", "\n", "\r", "\r\n", "x,y"]
    compared = 0
    for text in texts(25, 600, pieces):
        lines = io.StringIO(text, newline="").readlines()
        found = list(csv_records(lines))
        rows = pandas_rows(text)
        if isinstance(rows, str):
            assert "EOF inside string" in rows
            assert found[-1].unclosed, text
            continue
        assert len(found) == len(rows), text
        assert not any(record.unclosed for record in found), text
        ends = [record.line for record in found[1:]] + [len(lines) + 1]
        for record, end, row in zip(found, ends[: len(found)], rows, strict=True):
            before = lines[record.line - 2] if record.line > 1 else ""
            if before.endswith("\r") and not before.strip() and lines[record.line - 1][0] == ",":
                continue  # pandas drops that comma (`_after_cr_blank`) reading the whole text
            assert pandas_rows("".join(lines[record.line - 1 : end - 1])) == [row], text
            compared += 1
    assert compared > 450


def test_the_line_scan_counts_fields_as_pandas_does() -> None:
    """A row wider than the header is the row pandas names, as wide as pandas saw it."""
    options = {key: value for key, value in RAW_CSV_OPTIONS.items() if key != "encoding"}
    checked = 0
    for text in texts(26, 1500, ["a", ",", ",", '"', '""', " ", "\n", "\r", "\r\n"]):
        try:
            pd.read_csv(io.StringIO(text), **options)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            wide = re.search(r"Expected (\d+) fields in line \d+, saw (\d+)", str(error))
        else:
            wide = None
        if wide:
            found = list(csv_records(io.StringIO(text, newline="")))
            header, saw = map(int, wide.groups())
            first = next(record for record in found if record.fields > header)
            assert (found[0].fields, first.fields) == (header, saw), text
            checked += 1
    assert checked > 150
