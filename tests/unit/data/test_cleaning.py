"""Validation and cleaning by the profile's rules, the raw CSV reader's errors, and the split.

Each DataError must name the file, the column (where there is one) and the problem, since the
stage prints it as its one-line error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from house_price.core.io import DataError, read_raw_csv
from house_price.core.split import split
from house_price.data.cleaning import clean
from house_price.schema import load_profile

REPO = Path(__file__).resolve().parents[3]
HEADER = ["price", "sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]
CLEAN_ROW = ["300000", "1500", "3", "2", "Suburb", "1990", "Good"]


@pytest.fixture(scope="module")
def houses():
    return load_profile(REPO / "profiles" / "houses.yaml", 2025)


def raw_frame(rows: list[list[str | None]], extra: dict[str, list[str]] | None = None):
    """Text columns, "" for an empty field (None here): what read_raw_csv returns."""
    frame = pd.DataFrame(rows, columns=HEADER, dtype=object).fillna("")
    for name, values in (extra or {}).items():
        frame[name] = values
    return frame


DIRTY = [
    ["300000", "1500", "3", "2", "Suburb", "1990", "Good"],  # 0 clean
    ["350000", "1600", "3", "2", " suburb ", "1991", "GOOD"],  # 1 two respellings
    ["400000", "1700", "4", "2.5", "SUBURBAN", "1992", "Fair"],  # 2 alias respelled
    ["250000", "-1200", "2", "1", "Urban", "1980", "Poor"],  # 3 negative sqft
    ["260000", "1200", "2", "1", "Urban", "2031", "Poor"],  # 4 built after 2025
    ["270000", "1300", "2", "1", "Atlantis", "1980", "Poor"],  # 5 unknown location
    [None, "1400", "2", "1", "Rural", "1970", "Fair"],  # 6 missing target
    ["280000", "1450", "2", None, "Rural", "1975", None],  # 7 missing features: kept
    ["300000", "1500", "3", "2", "Suburb", "1990", "Good"],  # 8 exact duplicate of 0
    ["350000", "1600", "3", "2", "Suburb", "1991", "Good"],  # 9 duplicate of 1 once cleaned
    ["290000", "-5", "2", "1", "Atlantis", "1980", "Poor"],  # 10 two faults: counted once
    ["500", "1500", "3", "2", "Urban", "1990", "Good"],  # 11 price below the bound
    ["310000", " 1550 ", "3.0", "2", "Mountain ", " 1985", "excellent"],  # 12 fixable spacing
]


def test_cleaning_counts_on_a_dirty_frame(houses) -> None:
    rows, report = clean(raw_frame(DIRTY, {"listing_id": [str(i) for i in range(13)]}), houses, "x")
    assert report["rows_in"] == 13
    assert report["ignored_columns"] == ["listing_id"]
    assert report["categories_respelled"] == {"location": 3, "condition": 2}  # 1, 2, 12 / 1, 12
    assert report["dropped"] == {
        "out_of_bounds_sqft": 2,  # 3 and 10 (10's unknown location is not counted again)
        "non_finite_sqft": 0,
        "missing_sqft": 0,
        "out_of_bounds_bedrooms": 0,
        "non_finite_bedrooms": 0,
        "missing_bedrooms": 0,
        "out_of_bounds_bathrooms": 0,
        "non_finite_bathrooms": 0,
        "unknown_location": 1,  # 5
        "missing_location": 0,
        "out_of_bounds_year_built": 1,  # 4
        "non_finite_year_built": 0,
        "unknown_condition": 0,
        "out_of_bounds_price": 1,  # 11
        "non_finite_price": 0,
        "missing_target": 1,  # 6
        "duplicates": 2,  # 8, and 9 which only matches 1 after normalisation
    }
    assert report["missing_values_kept"] == {
        "sqft": 0,
        "bedrooms": 0,
        "bathrooms": 1,
        "location": 0,
        "year_built": 0,
        "condition": 1,
    }
    assert report["rows_out"] == len(rows) == 5
    json.dumps(report)  # plain ints: DVC reads it as metrics

    assert list(rows.columns) == [*HEADER[1:], "price"]  # declared columns only: features, target
    assert rows["price"].tolist() == [300000.0, 350000.0, 400000.0, 280000.0, 310000.0]
    assert rows["location"].tolist() == ["Suburb", "Suburb", "Suburb", "Rural", "Mountain"]
    assert rows["condition"].tolist()[:3] == ["Good", "Good", "Fair"]
    assert rows.index.tolist() == [0, 1, 2, 7, 12], "rows keep their raw index (the line)"
    assert pd.isna(rows.loc[7, "condition"])
    assert pd.isna(rows.loc[7, "bathrooms"])
    assert rows.loc[12, ["sqft", "bedrooms", "year_built"]].tolist() == [1550.0, 3.0, 1985.0]
    for name in ("sqft", "bedrooms", "bathrooms", "year_built", "price"):
        assert rows[name].dtype == np.float64


def test_cleaning_a_clean_frame_changes_nothing(houses) -> None:
    frame = raw_frame([CLEAN_ROW, ["410000", "2100", "4", "3", "Urban", "2005", "Excellent"]])
    rows, report = clean(frame, houses, "x")
    assert len(rows) == 2
    assert sum(report["dropped"].values()) == 0
    assert sum(report["categories_respelled"].values()) == 0


def test_no_valid_rows_left_is_an_error(houses) -> None:
    with pytest.raises(DataError, match=r"data/raw/data.csv: no valid rows left"):
        clean(
            raw_frame([["1", "-3", "2", "1", "Urban", "1990", "Good"]]), houses, "data/raw/data.csv"
        )


# --- DataError messages: file, column, problem -------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_rows(*rows: list[str]) -> list[str]:
    return [",".join(HEADER), *(",".join(row) for row in rows)]


def error_for(path: Path, houses) -> str:
    with pytest.raises(DataError) as info:
        clean(read_raw_csv(path), houses, str(path))
    message = str(info.value)
    assert "\n" not in message, "the stage prints the error as one line"
    assert str(path) in message
    return message


def test_missing_column_is_named(tmp_path: Path, houses) -> None:
    path = write_lines(tmp_path / "no_condition.csv", [",".join(HEADER[:-1]), "1,2,3,4,Urban,1990"])
    message = error_for(path, houses)
    assert "missing column(s) 'condition'" in message
    assert "profile 'houses'" in message
    assert "found: price, sqft" in message


def test_non_numeric_value_is_named_with_its_line(tmp_path: Path, houses) -> None:
    path = write_lines(
        tmp_path / "typo.csv",
        csv_rows(CLEAN_ROW, CLEAN_ROW, ["300000", "12OO", "3", "2", "Urban", "1990", "Good"]),
    )
    message = error_for(path, houses)
    assert "column 'sqft' should be float" in message
    assert "1 non-numeric value(s)" in message
    assert "'12OO'" in message
    assert "(line 4)" in message
    assert "12OO" in path.read_text().splitlines()[3]  # line 4 of the file, counting from 1


def test_a_column_of_text_is_rejected_as_a_whole(tmp_path: Path, houses) -> None:
    rows = [[*CLEAN_ROW[:5], word, CLEAN_ROW[6]] for word in ("old", "new", "older", "newer")]
    message = error_for(write_lines(tmp_path / "words.csv", csv_rows(*rows)), houses)
    assert "column 'year_built' should be int but has 4 non-numeric value(s), e.g. 'old'" in message
    assert "(line 2, 3, 4)" in message  # the first three lines


def test_fractional_int_is_named_with_its_line(tmp_path: Path, houses) -> None:
    path = write_lines(
        tmp_path / "half_bedroom.csv",
        csv_rows(CLEAN_ROW, ["300000", "1500", "2.5", "2", "Urban", "1990", "Good"]),
    )
    message = error_for(path, houses)
    assert "column 'bedrooms' should be int but has 1 fractional value(s), e.g. 2.5" in message
    assert "(line 3)" in message


def test_empty_file(tmp_path: Path, houses) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert error_for(path, houses).endswith(": file is empty")


def test_blank_lines_only(tmp_path: Path, houses) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n\n  \n")
    assert "file is empty (no header row)" in error_for(path, houses)


def test_header_only(tmp_path: Path, houses) -> None:
    path = write_lines(tmp_path / "header.csv", [",".join(HEADER)])
    assert "no data rows (header only)" in error_for(path, houses)


@pytest.mark.parametrize(
    "payload",
    [
        bytes(range(256)) * 8,
        b"\x1f\x8b\x08\x00" + bytes(range(128, 256)) * 4,  # a gzip header, then high bytes
        "price,sqft\n1,2\n".encode("utf-16"),
    ],
    ids=["bytes", "gzip", "utf16"],
)
def test_binary_file(tmp_path: Path, houses, payload: bytes) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(payload)
    # Either the decoder or the tokenizer gives up first; both say it is no CSV.
    assert re.search(r": not a (UTF-8 text|valid) CSV \(", error_for(path, houses))


def test_ragged_rows_are_not_a_csv(tmp_path: Path, houses) -> None:
    path = write_lines(tmp_path / "ragged.csv", ["a,b", "1,2", "1,2,3,4"])
    assert "not a valid CSV" in error_for(path, houses)


def test_file_not_found(tmp_path: Path, houses) -> None:
    path = tmp_path / "nowhere" / "data.csv"
    assert error_for(path, houses).endswith(": file not found")


def test_reader_keeps_text_and_strips_header_names(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "spaced.csv", ["", " price , location", "0100,  Urban "])
    frame = read_raw_csv(path)
    assert list(frame.columns) == ["price", "location"]
    assert frame.iloc[0].tolist() == ["0100", "  Urban "]  # text: validation decides


# --- the split ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numbered() -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(1000), "x": np.arange(1000) * 2.0})


def test_split_is_deterministic_for_a_seed(numbered: pd.DataFrame) -> None:
    train, test = split(numbered, 0.2, 42)
    again_train, again_test = split(numbered.copy(), 0.2, 42)
    pd.testing.assert_frame_equal(train, again_train)
    pd.testing.assert_frame_equal(test, again_test)
    assert (len(train), len(test)) == (800, 200)
    assert set(train["id"]).isdisjoint(test["id"])
    assert set(train["id"]) | set(test["id"]) == set(range(1000))
    # Rows keep their order, but the test rows are drawn from the whole file, not a block.
    assert test["id"].is_monotonic_increasing
    assert test["id"].min() < 20
    assert test["id"].max() > 980
    assert max(np.diff(test["id"])) < 50
    _, other_test = split(numbered, 0.2, 43)
    assert set(other_test["id"]) != set(test["id"])


def test_line_numbers_count_a_leading_blank_line(tmp_path: Path, houses) -> None:
    lines = ["", ",".join(HEADER), ",".join(["300000", "big", *CLEAN_ROW[2:]])]
    path = write_lines(tmp_path / "leading_blank.csv", lines)
    assert "(line 3)" in error_for(path, houses)


def test_a_row_missing_a_required_feature_is_dropped_as_the_api_refuses_it(
    houses, tmp_path: Path
) -> None:
    """Only `nullable: true` features are imputed; a row without sqft, bedrooms or location is
    dropped and counted, never trained on with a made-up value. A line cut short (fewer fields
    than the header; pandas fills the rest with nothing) is one such row."""
    csv = tmp_path / "cut.csv"
    lines = [",".join(HEADER), ",".join(CLEAN_ROW)]
    lines += ["310000,,3,2,Urban,1990,Good", "320000,1500,,2,Urban,1990,Good"]
    lines += ["330000,1500,3,2,,1990,Good", "340000,1500,3", "350000,1500,3,2,Urban"]
    csv.write_text("\n".join(lines) + "\n")
    rows, report = clean(read_raw_csv(csv), houses, str(csv))
    assert report["dropped"]["missing_sqft"] == 1
    assert report["dropped"]["missing_bedrooms"] == 1
    assert report["dropped"]["missing_location"] == 2  # the third row, and the line cut short
    # a line cut short after location misses only nullable features: imputed, as the API does
    assert rows["price"].tolist() == [300000.0, 350000.0]
    assert report["missing_values_kept"]["year_built"] == 1


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"\0" * 64, 1),  # NULs only: once "no data rows (header only)"
        (b"PK\x03\x04\x14\x00\x06\x00", 1),  # an .xlsx (a zip)
        (b"PAR1\x15\x04\x15\x00", 1),  # a .parquet
        (b"price,sqft\n300000,1500\n310000\x00,1600\n", 3),  # a NUL inside a text file
    ],
)
def test_a_binary_file_is_named_as_one(tmp_path: Path, houses, content: bytes, line: int) -> None:
    path = tmp_path / "houses.csv"
    path.write_bytes(content)
    assert error_for(path, houses).endswith(
        f": not a UTF-8 text CSV (a NUL byte on line {line}: a binary file such as .xlsx, "
        ".parquet or .gz, or UTF-16 text? save it as a UTF-8 CSV)"
    )
