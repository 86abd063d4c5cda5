"""Issue 25's drafting kinds, on CSVs read as `profile init` reads them (`read_raw_csv`: rows
indexed by file line): codes with leading zeros (a spreadsheet strips them), date columns in
several formats, and whole-number bounds. Each draft loads with the project's profile loader,
and the pipeline's cleaning and the API's request model read its values alike."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from house_price.core.io import read_raw_csv
from house_price.data.cleaning import clean
from house_price.drafting import Draft, draft_profile, render
from house_price.drafting.bounds import readable_bounds
from house_price.schema import Profile, profile_from_dict
from house_price.serving.batch import RowValidator
from house_price.serving.requests import request_models, row_values

ROWS = 60


def drafted(tmp_path: Path, columns: dict[str, list[str]]) -> tuple[Draft, pd.DataFrame]:
    """The draft of a CSV of `columns` and a price column (rows of ROWS), and its raw rows."""
    rng = np.random.default_rng(25)
    frame = pd.DataFrame(columns)
    frame["price"] = [str(int(value)) for value in rng.integers(100_000, 900_000, len(frame))]
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    raw = read_raw_csv(path)
    draft = draft_profile(raw, "price", name="t", source="data/external/t/t.csv", command="t")
    return draft, raw


def loaded(draft: Draft) -> Profile:
    """The draft as written, loaded by the project's profile loader."""
    from house_price.core.yamlfile import load_yaml

    return profile_from_dict(load_yaml(render(draft)), 2025)


def feature(draft: Draft, name: str) -> dict:
    return next(item for item in draft.profile["features"] if item["name"] == name)


def other(rows: int, seed: int = 0) -> list[str]:
    """A number column to keep a draft valid (a feature besides the one under test)."""
    return [str(value) for value in np.random.default_rng(seed).integers(500, 4000, rows)]


# --- codes with leading zeros ----------------------------------------------------------------


def zips() -> list[str]:
    return (["01002"] * 3 + ["1002"] * 2 + ["01003", "02134", "2134", "98001", "98002"]) * 6


def test_stripped_zip_codes_are_read_as_the_padded_codes(tmp_path: Path) -> None:
    """The issue's example: `01002` and, stripped by a spreadsheet, `1002` were two categories
    without a word."""
    draft, raw = drafted(tmp_path, {"zip": zips(), "sqft": other(ROWS)})
    spec = feature(draft, "zip")
    assert spec["categories"] == ["01002", "01003", "02134", "98001", "98002"]
    assert spec["aliases"] == {"1002": "01002", "1003": "01003", "2134": "02134"}
    warning = (
        "zip: WARNING: 18 codes shorter than the 5 digits of the codes with a leading zero "
        "(e.g. '1002', line 5): read as codes whose leading zeros a spreadsheet stripped "
        "('1002' is '01002'); the aliases map each stripped spelling to its code"
    )
    assert warning in draft.notes
    text = render(draft)
    assert "      - '01002'  # 30 rows" in text
    assert "      '1002': '01002'" in text
    profile = loaded(draft)
    rows, _ = clean(raw, profile, "houses.csv")
    assert set(rows["zip"]) == {"01002", "01003", "02134", "98001", "98002"}
    assert (rows.loc[raw["zip"] == "1002", "zip"] == "01002").all()
    # the API's model reads the stripped spelling as the code, and never a number as a code
    row_model, _ = request_models(profile, 10)
    example = profile.example_row()
    read = row_values(row_model.model_validate({**example, "zip": "1003"}))
    assert read["zip"] == "01003"
    with pytest.raises(ValidationError, match="valid string"):
        row_model.model_validate_json(f'{{"zip": 1002, "sqft": {example["sqft"]}}}')


@pytest.mark.parametrize(
    ("codes", "width"),
    [
        (["01001", "1001", "06037", "6037", "36061", "53033"], 5),  # FIPS county codes
        (["007", "7", "012", "123", "045"], 3),  # a short code
        (["0612", "612", "0700", "1234"], 4),
    ],
)
def test_stripped_codes_of_one_width_are_padded(
    tmp_path: Path, codes: list[str], width: int
) -> None:
    values = (codes * ROWS)[:ROWS]
    draft, raw = drafted(tmp_path, {"county_fips": values, "sqft": other(ROWS)})
    spec = feature(draft, "county_fips")
    assert all(len(code) == width for code in spec["categories"])
    assert set(spec["aliases"]) == {
        code.lstrip("0") for code in spec["categories"] if code[0] == "0"
    }
    assert any(note.startswith("county_fips: WARNING: ") for note in draft.notes)
    rows, _ = clean(raw, loaded(draft), "houses.csv")
    assert list(rows["county_fips"]) == [value.zfill(width) for value in raw["county_fips"]]


def test_codes_of_several_widths_are_kept_as_written_with_a_warning(tmp_path: Path) -> None:
    """FIPS state `01` and county `01001`: a shorter code may be a code of its own, so one
    number written two ways (`1001`, `01001`) stays two categories, with a WARNING."""
    values = (["01", "06", "01001", "1001", "06037", "36"] * 10)[:ROWS]
    draft, raw = drafted(tmp_path, {"fips": values, "sqft": other(ROWS)})
    spec = feature(draft, "fips")
    assert spec["categories"] == ["01", "06", "36", "01001", "1001", "06037"]
    assert "aliases" not in spec
    (warning,) = [note for note in draft.notes if note.startswith("fips:")]
    assert warning == (
        "fips: WARNING: codes of several widths, and 1 number written more than one way (e.g. "
        "'1001', '01001'): each spelling is a category; if they name one code (its zeros "
        "stripped by a spreadsheet, or written as a float), make '1001' an alias of '01001'"
    )
    rows, _ = clean(raw, loaded(draft), "houses.csv")
    assert list(rows["fips"]) == list(raw["fips"])  # as written, never 1.0 or 1001.0


@pytest.mark.parametrize(
    ("codes", "spellings", "advice"),
    [
        # the reviewer's examples: a float export's `1002.0`, a sign: two categories, no word
        (["01002", "1002.0", "02134"], "'01002', '1002.0'", "make '1002.0' an alias of '01002'"),
        (["01002", "+1002", "02134"], "'01002', '+1002'", "make '+1002' an alias of '01002'"),
        (
            ["01002", "1002.00", "1002", "02134"],
            "'1002', '01002', '1002.00'",
            "make '1002' an alias of '01002'",
        ),
        (["001", "1.0", "002"], "'001', '1.0'", "make '1.0' an alias of '001'"),
    ],
)
def test_one_number_spelled_as_a_float_or_signed_is_pointed_out(
    tmp_path: Path, codes: list[str], spellings: str, advice: str
) -> None:
    """Compared as numbers (`parsing.to_numbers`), not as digit strings: each spelling stays a
    category, as written, and the WARNING names the spellings and which to keep."""
    draft, raw = drafted(tmp_path, {"zip": (codes * ROWS)[:ROWS], "sqft": other(ROWS)})
    spec = feature(draft, "zip")
    assert sorted(spec["categories"]) == sorted(set(codes))
    assert "aliases" not in spec
    (warning,) = [note for note in draft.notes if note.startswith("zip:")]
    assert warning == (
        f"zip: WARNING: codes not all digits, and 1 number written more than one way (e.g. "
        f"{spellings}): each spelling is a category; if they name one code (its zeros stripped "
        f"by a spreadsheet, or written as a float), {advice}"
    )
    rows, _ = clean(raw, loaded(draft), "houses.csv")
    assert list(rows["zip"]) == list(raw["zip"])


def test_codes_of_one_width_without_stripping_need_no_alias(tmp_path: Path) -> None:
    values = (["01002", "02134", "98001", "00501"] * 15)[:ROWS]
    draft, _ = drafted(tmp_path, {"zip": values, "sqft": other(ROWS)})
    spec = feature(draft, "zip")
    assert spec["categories"] == ["00501", "01002", "02134", "98001"]
    assert "aliases" not in spec
    assert not [note for note in draft.notes if note.startswith("zip:")]


@pytest.mark.parametrize(
    "make",
    [
        lambda i: f"{i * 7919 % 100000:06d}",  # account numbers, all of one width
        lambda i: f"06{i * 7919 % 100000000:08d}",  # phone-like, 10 digits
    ],
)
def test_distinct_codes_with_leading_zeros_are_identifiers(tmp_path: Path, make) -> None:
    draft, _ = drafted(tmp_path, {"account": [make(i) for i in range(ROWS)], "sqft": other(ROWS)})
    (left,) = [column for column in draft.columns if column.name == "account"]
    assert (left.kind, left.is_feature) == ("id", False)
    assert left.left_out == f"an identifier: codes distinct in {ROWS} of {ROWS} rows: left out"


def test_codes_with_leading_zeros_are_never_drafted_as_numbers(tmp_path: Path) -> None:
    """More distinct codes than a category takes: they were drafted as an int column, 01002
    read as 1002. Now they are left out, saying why."""
    rows = 900
    values = [f"{i % 300:05d}" for i in range(rows)]
    draft, _ = drafted(tmp_path, {"tract": values, "sqft": other(rows)})
    (left,) = [column for column in draft.columns if column.name == "tract"]
    assert (left.kind, left.is_feature) == ("text", False)
    assert "more than 200 for a category, and not numbers" in left.left_out


# --- dates in several formats --------------------------------------------------------------


def sale_dates(rows: int, seed: int = 1) -> list[dt.date]:
    rng = np.random.default_rng(seed)
    first = dt.date(2014, 5, 2)
    return [first + dt.timedelta(days=int(day)) for day in rng.integers(0, 390, rows)]


def test_iso_and_us_dates_are_one_date_column(tmp_path: Path) -> None:
    """The issue's example: 80 % ISO, 20 % mm/dd/yyyy was a category of date strings (and
    dropped as text past 200 of them)."""
    dates = sale_dates(400)
    text = [day.strftime("%m/%d/%Y" if i % 5 == 0 else "%Y-%m-%d") for i, day in enumerate(dates)]
    draft, raw = drafted(tmp_path, {"sold": text, "sqft": other(400)})
    spec = feature(draft, "sold")
    assert spec["type"] == "date"
    assert spec["format"] == ["%Y-%m-%d", "%m/%d/%Y"]
    assert (
        "sold: dates in 2 formats: %Y-%m-%d (320 rows), %m/%d/%Y (80 rows): a date column "
        "read with all of them" in draft.notes
    )
    assert {"name": "sold_year", "op": "year", "inputs": ["sold"]} in draft.profile["derived"]
    profile = loaded(draft)
    assert profile.feature("sold").date_format == ("%Y-%m-%d", "%m/%d/%Y")
    rows, _ = clean(raw, profile, "houses.csv")
    assert list(rows["sold"].dt.date) == dates


@pytest.mark.parametrize(
    ("formats", "drafted_as"),
    [
        (("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"), ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]),  # with time
        (("%Y%m%dT%H%M%S", "%Y-%m-%d"), ["%Y%m%dT%H%M%S", "%Y-%m-%d"]),  # King County's
        (("%d.%m.%Y", "%Y-%m-%d"), ["%d.%m.%Y", "%Y-%m-%d"]),
        (("%Y-%m-%d", "%d/%m/%Y"), ["%Y-%m-%d", "%d/%m/%Y"]),  # day first: a day past 12 tells
    ],
)
def test_dates_in_two_formats(
    tmp_path: Path, formats: tuple[str, str], drafted_as: list[str]
) -> None:
    dates = sale_dates(ROWS)
    text = [day.strftime(formats[i % 3 == 0]) for i, day in enumerate(dates)]
    draft, raw = drafted(tmp_path, {"date": text, "sqft": other(ROWS)})
    assert feature(draft, "date")["format"] == drafted_as
    assert not [note for note in draft.notes if "WARNING" in note]
    rows, _ = clean(raw, loaded(draft), "houses.csv")
    assert list(rows["date"].dt.date) == dates


def test_a_second_format_that_starts_late_is_found(tmp_path: Path) -> None:
    """Two exports appended: 240 ISO rows, then 60 in mm/dd/yyyy."""
    dates = sale_dates(300)
    text = [day.strftime("%Y-%m-%d" if i < 240 else "%m/%d/%Y") for i, day in enumerate(dates)]
    draft, raw = drafted(tmp_path, {"sold": text, "sqft": other(300)})
    assert feature(draft, "sold")["format"] == ["%Y-%m-%d", "%m/%d/%Y"]
    rows, _ = clean(raw, loaded(draft), "houses.csv")
    assert list(rows["sold"].dt.date) == dates


def test_mixed_dates_with_blanks_are_nullable(tmp_path: Path) -> None:
    dates = sale_dates(ROWS)
    text = [
        "" if i % 7 == 0 else day.strftime("%m/%d/%Y" if i % 4 == 0 else "%Y-%m-%d")
        for i, day in enumerate(dates)
    ]
    draft, raw = drafted(tmp_path, {"sold": text, "sqft": other(ROWS)})
    spec = feature(draft, "sold")
    assert (spec["format"], spec["nullable"]) == (["%Y-%m-%d", "%m/%d/%Y"], True)
    rows, _ = clean(raw, loaded(draft), "houses.csv")
    assert rows["sold"].isna().sum() == 9
    kept = [day for i, day in enumerate(dates) if i % 7]
    assert list(rows["sold"].dropna().dt.date) == kept


def test_a_date_that_reads_both_ways_is_pointed_out(tmp_path: Path) -> None:
    """No value tells day-first from month-first: the draft takes one and says which value
    could be the other date."""
    text = (["2015-03-04", "2015-05-06", "03/04/2015", "01/02/2015"] * 15)[:ROWS]
    draft, _ = drafted(tmp_path, {"sold": text, "sqft": other(ROWS)})
    assert feature(draft, "sold")["format"] == ["%Y-%m-%d", "%d/%m/%Y"]
    assert (
        "sold: WARNING: '03/04/2015' (line 4) reads as 2015-04-03 in %d/%m/%Y (chosen) and as "
        "2015-03-04 in %m/%d/%Y, and no value tells which is meant: check it, and change the "
        "format if it is the other"
    ) in draft.notes


def test_dates_in_both_orders_are_left_out(tmp_path: Path) -> None:
    """`17/03/2015` is day first, `03/17/2015` month first: no format list reads the column
    one way (the profile would refuse the two together), so it is left out, saying why."""
    text = (["2015-03-04", "17/03/2015", "03/17/2015", "03/04/2015"] * 15)[:ROWS]
    draft, _ = drafted(tmp_path, {"sold": text, "sqft": other(ROWS)})
    (left,) = [column for column in draft.columns if column.name == "sold"]
    assert not left.is_feature
    assert left.left_out == (
        "WARNING: dates in formats that read one text as two dates ('17/03/2015' (line 3) only "
        "in %d/%m/%Y; '03/17/2015' (line 4) only in %m/%d/%Y): they cannot be read one way: "
        "left out; write the dates in one order (ISO 2015-03-04 is never ambiguous) and draft "
        "again"
    )
    assert f"sold: {left.left_out}" in draft.notes
    loaded(draft)  # the rest of the draft is a valid profile


# --- whole-number bounds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "bounds"),
    [
        (1, 6, (0, 7)),  # the 546-row bedrooms: a 7-bedroom house is no longer refused
        (1, 5, (0, 6)),
        (0, 1, (0, 1)),  # a 0/1 flag stays a flag
        (1, 1, (0, 1)),  # and so does a flag always set: it allowed 2
        (0, 0, (0, 1)),  # or never set: it allowed 0 only
        (2, 3, (1, 4)),
        (7, 7, (6, 8)),  # one value: widened by 1 as well
        (2, 2, (1, 3)),
        (-1, -1, (-2, 0)),
        (150, 150, (130, 170)),  # by 10 % of the value, to the tens
        (-3, -1, (-4, 0)),  # negative: not across 0
        (-5, 3, (-6, 4)),
        (1900, 2015, (1880, 2030)),  # years: 10 % (11.5, rounded up), to the tens
        (1, 30, (0, 33)),  # 3.0000000000000004 is a margin of 3, not 4
        (1350, 3850, (1100, 4100)),
    ],
)
def test_whole_numbers_get_a_margin_of_at_least_one(low: int, high: int, bounds: tuple) -> None:
    assert readable_bounds(low, high, whole=True) == bounds


def test_a_number_that_is_always_0_is_not_bounded_to_0() -> None:
    assert readable_bounds(0.0, 0.0, whole=False) == (0, 1)  # was (0, 0)
    assert readable_bounds(-0.5, 0.0, whole=False) == (-0.55, 0)  # not across 0
    assert readable_bounds(0.0, 0.5, whole=False) == (0, 0.55)


@pytest.mark.parametrize("value", ["0", "1"])
def test_a_flag_with_one_value_is_drafted_as_a_flag(tmp_path: Path, value: str) -> None:
    """`has_garage` 1 in every row was drafted 0 to 2 (0 in every row: 0 to 0): now 0 to 1, as a
    0/1 flag, with the WARNING that it holds one value."""
    draft, _ = drafted(tmp_path, {"has_garage": [value] * ROWS, "sqft": other(ROWS)})
    spec = feature(draft, "has_garage")
    assert (spec["type"], spec["min"], spec["max"]) == ("int", 0, 1)
    assert any(
        note.startswith(f"has_garage: WARNING: the same value ({value}) in every row")
        and "its bounds (0 to 1)" in note
        for note in draft.notes
    )


def test_the_api_takes_one_bedroom_more_than_the_data_shows(tmp_path: Path) -> None:
    bedrooms = [str(1 + i % 6) for i in range(ROWS)]
    draft, _ = drafted(tmp_path, {"bedrooms": bedrooms, "sqft": other(ROWS)})
    assert (feature(draft, "bedrooms")["min"], feature(draft, "bedrooms")["max"]) == (0, 7)
    assert "(whole numbers by at least 1, a 0/1 flag not at all)" in " ".join(draft.header)
    profile = loaded(draft)
    validator = RowValidator(profile)
    good, bad = validator.validate(
        [{"bedrooms": 7.0, "sqft": 1500.0}, {"bedrooms": 8.0, "sqft": 1500.0}]
    )
    assert len(good) == 1
    assert list(bad) == [1]
