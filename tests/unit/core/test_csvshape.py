"""A CSV that pandas cannot read, or reads as one column (issue 25): the refusal names the
file's own line (pandas counted rows: a line break inside a quoted field, or a blank line, moved
its "line"), and a file delimited by `;`, tab or `|` is refused in one line naming the
delimiter, by the reader every face uses (`read_raw_csv`, and `iter_raw_csv` in chunks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from house_price.core.errors import DataError
from house_price.core.io import iter_raw_csv, read_raw_csv


def refusals(tmp_path: Path, content: str) -> set[str]:
    """The refusal of the whole-file and of the chunked reader (one, when they agree)."""
    path = tmp_path / "houses.csv"
    path.write_bytes(content.encode())
    messages = set()
    for read in (read_raw_csv, lambda p: list(iter_raw_csv(p, 2))):
        with pytest.raises(DataError) as info:
            read(path)
        message = str(info.value)
        assert "\n" not in message
        messages.add(message.removeprefix(f"{path}: "))
    return messages


SEMICOLON = (
    "not a comma-separated CSV: it looks delimited by semicolons (';'): the header and the "
    "first rows split into 3 fields there, the header into 1 at commas; save it as a "
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
