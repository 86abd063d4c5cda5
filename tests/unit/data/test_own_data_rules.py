"""A user's own CSV and profile, unit by unit: each kind of fault of issue 8 (implied missing
spellings, colliding or padded header names, empty columns, non-finite values, too few rows,
YAML 1.1 surprises, bad examples, encoding errors, dates) is either refused with a message that
names the place, or read to the right values. The same inputs through the real pipeline are in
tests/integration/test_own_data.py."""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from house_price.core.errors import DataError, name_list
from house_price.core.io import read_raw_csv
from house_price.core.split import rows_needed, split, split_warnings
from house_price.core.yamlfile import load_yaml
from house_price.data.cleaning import check_columns, clean
from house_price.data.encoding import date_parts
from house_price.features import FeatureTransformer
from house_price.schema import load_profile, profile_from_dict

REPO = Path(__file__).resolve().parents[3]
HEADER = "price,sqft,bedrooms,bathrooms,location,year_built,condition"
ROWS = [
    "300000,1500,3,2,Suburb,1990,Good",
    "350000,1600,3,2,Urban,1991,Fair",
    "400000,1700,4,2.5,Rural,1992,Poor",
]


def houses_spec() -> dict[str, Any]:
    return load_yaml((REPO / "profiles" / "houses.yaml").read_text())


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def csv_text(header: str = HEADER, rows: list[str] = ROWS) -> str:
    return "\n".join([header, *rows]) + "\n"


def cleaned(tmp_path: Path, spec: dict[str, Any], text: str) -> tuple[pd.DataFrame, dict]:
    path = write(tmp_path / "data.csv", text)
    return clean(read_raw_csv(path), profile_from_dict(spec, 2025), str(path))


def refused(tmp_path: Path, spec: dict[str, Any], text: str | bytes) -> str:
    path = write(tmp_path / "data.csv", text)
    with pytest.raises(DataError) as info:
        clean(read_raw_csv(path), profile_from_dict(spec, 2025), str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message


def basement_spec(missing_values: list[str] | None = None) -> dict[str, Any]:
    spec = houses_spec()
    if missing_values is not None:
        spec["missing_values"] = missing_values
    spec["features"].append(
        {
            "name": "basement",
            "type": "category",
            "categories": ["None", "Partial", "Full"],
            "example": "None",
            "nullable": True,  # a row without it is kept (imputed), not dropped
        }
    )
    return spec


# --- 1. missing-value spellings are declared, never implied ------------------------------------

PANDAS_DEFAULT_NA = ["None", "NA", "N/A", "NULL", "null", "nan", "NaN", "n/a", "#N/A", "<NA>"]


@pytest.mark.parametrize("spelling", PANDAS_DEFAULT_NA)
def test_a_category_spelled_like_a_missing_value_is_that_category(
    tmp_path: Path, spelling: str
) -> None:
    spec = basement_spec()
    spec["features"][-1]["categories"] = [spelling, "Partial", "Full"]
    spec["features"][-1]["example"] = spelling
    rows = [f"{row},{value}" for row, value in zip(ROWS, [spelling, "Partial", ""], strict=True)]
    frame, report = cleaned(tmp_path, spec, csv_text(HEADER + ",basement", rows))
    assert frame["basement"].tolist()[:2] == [spelling, "Partial"]
    assert pd.isna(frame["basement"].iloc[2])  # only the empty field is missing by default
    assert report["missing_values_kept"]["basement"] == 1


def test_a_declared_category_wins_over_a_declared_missing_spelling(tmp_path: Path) -> None:
    spec = basement_spec(missing_values=["", "NA", "None", "-"])
    rows = [f"{ROWS[0]},None", f"{ROWS[1]}, none ", f"{ROWS[2]},NA"]
    frame, report = cleaned(tmp_path, spec, csv_text(HEADER + ",basement", rows))
    assert frame["basement"].tolist()[:2] == ["None", "None"]
    assert pd.isna(frame["basement"].iloc[2])  # NA is declared missing and is no category
    assert report["dropped"]["unknown_basement"] == 0


def test_missing_spellings_are_profile_wide_and_overridable_per_column(tmp_path: Path) -> None:
    spec = houses_spec()
    spec["missing_values"] = ["", "NA"]
    bathrooms = next(item for item in spec["features"] if item["name"] == "bathrooms")
    bathrooms["missing_values"] = ["", "?"]
    rows = ["300000,NA,3,2,Suburb,1990,Good", *ROWS[1:], "310000,1500,3,?,Urban,NA,Good"]
    _frame, report = cleaned(tmp_path, spec, csv_text(rows=rows))
    assert report["missing_values_kept"] == {
        "sqft": 0, "bedrooms": 0, "bathrooms": 1, "location": 0, "year_built": 1, "condition": 0
    }  # fmt: skip
    assert report["dropped"]["missing_sqft"] == 1  # sqft is not nullable: the row is dropped
    # The override replaces the profile's list for that column: NA is no number there.
    rows[0] = "300000,1500,3,NA,Suburb,1990,Good"
    message = refused(tmp_path, spec, csv_text(rows=rows))
    assert "column 'bathrooms' should be float" in message
    assert "'NA'" in message
    assert "missing_values" in message


@pytest.mark.parametrize("spelling", ["NA", "None", "null", "-", "?"])
def test_an_undeclared_missing_spelling_in_a_number_column_is_refused(
    tmp_path: Path, spelling: str
) -> None:
    rows = [ROWS[0], ROWS[1].replace(",1600,", f",{spelling},")]
    message = refused(tmp_path, houses_spec(), csv_text(rows=rows))
    expected = f"column 'sqft' should be float but has 1 non-numeric value(s), e.g. {spelling!r}"
    assert expected in message
    assert "(line 3)" in message


# --- 2, 3. header names: trimmed on both sides, never repeated ---------------------------------


@pytest.mark.parametrize(
    ("header", "column", "positions"),
    [
        (HEADER + ", sqft", "sqft", "2, 8"),
        (HEADER + ",price", "price", "1, 8"),
        (HEADER.replace("bedrooms", "price "), "price", "1, 3"),
        ("location," + HEADER, "location", "1, 6"),
    ],
)
def test_a_repeated_column_is_refused_by_name(
    tmp_path: Path, header: str, column: str, positions: str
) -> None:
    extra = "," * (header.count(",") - HEADER.count(","))
    rows = [row + extra.replace(",", ",1") for row in ROWS]
    if header.startswith("location,"):
        rows = ["Urban," + row for row in ROWS]
    message = refused(tmp_path, houses_spec(), csv_text(header, rows))
    assert f"column {column!r} appears 2 times in the header (columns {positions})" in message


def test_a_repeated_ignored_column_is_harmless(tmp_path: Path) -> None:
    rows = [row + ",a,b" for row in ROWS]
    frame, report = cleaned(tmp_path, houses_spec(), csv_text(HEADER + ",notes,notes", rows))
    assert report["ignored_columns"] == ["notes"]
    assert len(frame) == 3


def test_padded_names_match_on_both_sides(tmp_path: Path) -> None:
    spec = houses_spec()
    spec["features"][0]["name"] = "LOT SQFT "  # written exactly as the file's header
    spec["target"]["name"] = " price"
    spec["target"]["per"] = " LOT SQFT"  # trimmed, as every name is
    header = HEADER.replace("sqft", "LOT SQFT ").replace("price", "price ")
    frame, _ = cleaned(tmp_path, spec, "\ufeff" + csv_text(header))  # with a byte-order mark
    assert list(frame.columns)[:1] == ["LOT SQFT"]
    assert frame.columns[-1] == "price"
    assert frame["LOT SQFT"].tolist() == [1500.0, 1600.0, 1700.0]


def test_a_missing_column_lists_what_was_found_and_how_many_more(tmp_path: Path) -> None:
    names = [f"col{index}" for index in range(30)]
    frame = pd.DataFrame([["1"] * 30], columns=names)
    with pytest.raises(DataError) as info:
        check_columns(frame, load_profile(REPO / "profiles" / "houses.yaml", 2025), "f.csv")
    found = ", ".join(names[:12])
    assert str(info.value).endswith(f"(found: {found} and 18 more)")
    assert name_list(["a", "b"], 2) == "a, b"
    assert name_list("abc", 1) == "a and 2 more"


# --- 4. a column with no values ----------------------------------------------------------------


@pytest.mark.parametrize("column", ["condition", "sqft", "year_built", "price"])
def test_a_column_with_no_values_is_refused_by_name(tmp_path: Path, column: str) -> None:
    index = HEADER.split(",").index(column)
    rows = []
    for row in ROWS:
        fields = row.split(",")
        fields[index] = ""
        rows.append(",".join(fields))
    message = refused(tmp_path, houses_spec(), csv_text(rows=rows))
    assert f"column {column!r} has no values (all 3 rows are empty" in message


def test_a_column_of_declared_missing_spellings_has_no_values(tmp_path: Path) -> None:
    spec = houses_spec()
    spec["missing_values"] = ["", "n/a"]
    rows = [row.replace(",Good", ",n/a").replace(",Fair", ",N/A ").replace(",Poor", ",")
            for row in ROWS]  # fmt: skip
    spec["missing_values"] = ["", "n/a", "N/A"]
    message = refused(tmp_path, spec, csv_text(rows=rows))
    assert "column 'condition' has no values" in message


def test_values_only_in_dropped_rows_count_as_none(tmp_path: Path) -> None:
    rows = [
        "300000,1500,3,2,Suburb,1990,",
        "350000,1600,3,2,Urban,1991,",
        "9,1,3,2,Urban,1991,Good",
    ]
    message = refused(tmp_path, houses_spec(), csv_text(rows=rows))
    assert "column 'condition' has no values in the 2 rows kept after cleaning" in message


def test_featurize_refuses_a_train_split_without_values(tmp_path: Path) -> None:
    profile = load_profile(REPO / "profiles" / "houses.yaml", 2025)
    frame, _ = cleaned(tmp_path, houses_spec(), csv_text())
    frame["condition"] = np.nan
    with pytest.raises(DataError, match=r"train split \(3 rows\) has no values in .*'condition'"):
        FeatureTransformer(profile).fit(frame)


# --- 5. non-finite values ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "NaN", "nan", "1e400", "-1e999"])
@pytest.mark.parametrize("column", ["price", "sqft", "bathrooms"])
def test_non_finite_values_are_dropped_and_counted(tmp_path: Path, text: str, column: str) -> None:
    index = HEADER.split(",").index(column)
    fields = ROWS[0].split(",")
    fields[index] = text
    rows = [",".join(fields), *ROWS[1:]]
    frame, report = cleaned(tmp_path, houses_spec(), csv_text(rows=rows))
    assert report["dropped"][f"non_finite_{column}"] == 1
    assert len(frame) == 2
    assert np.isfinite(frame[["price", "sqft", "bathrooms"]].to_numpy()).all()


# --- 6. too few rows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test_size", "needed"), [(0.2, 7), (0.5, 10), (0.01, 101), (0.9, 50), (0.34, 8)]
)
def test_rows_needed_leaves_enough_to_train_and_test(test_size: float, needed: int) -> None:
    assert rows_needed(test_size) == needed
    frame = pd.DataFrame({"x": np.arange(needed, dtype=float)})
    train, test = split(frame, test_size, 0)
    assert len(test) >= 2
    assert len(train) >= 5
    with pytest.raises(DataError, match=f"at least {needed} are needed"):
        split(frame.head(needed - 1), test_size, 0, "data.csv")


def test_one_row_is_refused_saying_how_many_are_needed() -> None:
    with pytest.raises(DataError) as info:
        split(pd.DataFrame({"x": [1.0]}), 0.2, 42, "data/raw/data.csv")
    assert str(info.value) == (
        "data/raw/data.csv: 1 valid row(s) after cleaning; at least 7 are needed "
        "(process.test_size 0.2 must leave >= 2 test rows and >= 5 train rows)"
    )


def test_a_small_test_split_is_warned_about() -> None:
    assert split_warnings(200) == []
    (warning,) = split_warnings(17)
    assert "only 17 rows" in warning
    assert "process.test_size" in warning


# --- 7. profile YAML ---------------------------------------------------------------------------


def test_yes_and_no_stay_text() -> None:
    document = load_yaml("a: [yes, no, on, off, Yes, NO]\nb: true\nc: False\nd: null\n")
    assert document == {"a": ["yes", "no", "on", "off", "Yes", "NO"], "b": True, "c": False,
                        "d": None}  # fmt: skip
    assert yaml.safe_load("a: [yes, no]") == {"a": [True, False]}  # what YAML 1.1 would do


def test_yes_no_categories_load_as_text(tmp_path: Path) -> None:
    text = (REPO / "profiles" / "houses.yaml").read_text() + textwrap.dedent(
        """\
        # appended: a yes/no feature, unquoted
        """
    )
    spec = load_yaml(text)
    spec["features"].append(
        load_yaml("{name: garage, type: category, categories: [yes, no], example: yes}")
    )
    profile = profile_from_dict(spec, 2025)
    assert profile.feature("garage").categories == ("yes", "no")
    assert profile.feature("garage").normalise(" YES ") == "yes"


@pytest.mark.parametrize(
    ("column", "example", "problem"),
    [
        ("bedrooms", "yes", "features[1] (bedrooms).example: 'yes' is not a finite number"),
        ("bedrooms", True, "features[1] (bedrooms).example: True is not a finite number"),
        ("bedrooms", 2.5, "features[1] (bedrooms).example: 2.5 is not a whole number"),
        ("bedrooms", 99, "features[1] (bedrooms).example: 99 is outside the bounds [0.0, 20.0]"),
        ("sqft", ".nan", "features[0] (sqft).example: '.nan' is not a finite number"),
        ("sqft", float("inf"), "features[0] (sqft).example: inf is not a finite number"),
        ("sqft", None, "features[0] (sqft).example: missing"),
        ("year_built", 2030, "features[4] (year_built).example: 2030 is outside the bounds"),
        ("location", "Atlantis", "features[3] (location).example: 'Atlantis' is not a category"),
        ("location", 3, "features[3] (location).example: 3 is not a category"),
        ("condition", "no", "features[5] (condition).example: 'no' is not a category"),
    ],
)
def test_every_example_is_checked_when_the_profile_loads(
    column: str, example: Any, problem: str
) -> None:
    spec = houses_spec()
    item = next(item for item in spec["features"] if item["name"] == column)
    item["example"] = example
    with pytest.raises(ValueError) as info:  # noqa: PT011 (the message is the point)
        profile_from_dict(spec, 2025)
    assert str(info.value).startswith(problem)


def test_an_unquoted_yes_example_is_refused_by_the_file_loader(tmp_path: Path) -> None:
    text = (REPO / "profiles" / "houses.yaml").read_text().replace("example: 3", "example: yes")
    path = write(tmp_path / "mine.yaml", text)
    with pytest.raises(DataError) as info:
        load_profile(path, 2025)
    assert str(info.value) == (
        f"{path}: features[1] (bedrooms).example: 'yes' is not a finite number (int column)"
    )


def test_an_alias_or_odd_spelling_is_a_valid_category_example() -> None:
    spec = houses_spec()
    spec["features"][3]["example"] = " suburban "
    assert profile_from_dict(spec, 2025).feature("location").example == " suburban "


# --- 9. encoding errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "line", "byte", "reason"),
    [
        (b"\xff", 4001, 17, "invalid start byte"),
        (b"\xe9", 2500, 17, "invalid continuation byte"),  # latin-1 é before a comma
        (b"\xc3", 4001, 17, "invalid continuation byte"),  # a UTF-8 sequence cut short
    ],
)
def test_an_invalid_byte_deep_inside_is_reported_at_its_line_and_byte(
    tmp_path: Path, bad: bytes, line: int, byte: int, reason: str
) -> None:
    rows = [f"{300000 + i},1500,3,2,Suburb,1990,Good" for i in range(5000)]
    data = bytearray(csv_text(rows=rows).encode())
    start = data.index(rows[line - 2].encode())
    data[start + byte - 1 : start + byte - 1] = bad  # before the 17th byte of that line
    path = write(tmp_path / "latin.csv", bytes(data))
    with pytest.raises(DataError) as info:
        read_raw_csv(path)
    assert str(info.value) == (f"{path}: not a UTF-8 text CSV (line {line}, byte {byte}: {reason})")


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + csv_text().encode())
    assert read_raw_csv(path).columns[0] == "price"


def test_short_rows_have_empty_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "short.csv", "a,b,c\n1,2\n1,2,3\n")
    assert read_raw_csv(path).to_numpy().tolist() == [["1", "2", ""], ["1", "2", "3"]]


# --- dates -------------------------------------------------------------------------------------


def dated_spec(date: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = houses_spec()
    spec["features"].append(
        {"name": "sold", "type": "date", "format": "%d/%m/%Y", "min": dt.date(2000, 1, 1),
         "max": "2025-12-31", "example": "2014-10-13", "nullable": True, **(date or {})}
    )  # fmt: skip
    spec["derived"] = [
        {"name": "sold_year", "op": "year", "inputs": ["sold"]},
        {"name": "sold_month", "op": "month", "inputs": ["sold"]},
        {"name": "age_at_sale", "op": "age", "inputs": ["year_built", "sold"]},
    ]
    return spec


def test_dates_parse_by_the_declared_format_and_derive_year_month_age(tmp_path: Path) -> None:
    rows = [f"{ROWS[0]},13/10/2014", f"{ROWS[1]},", f"{ROWS[2]},1/2/1999"]
    frame, report = cleaned(tmp_path, dated_spec(), csv_text(HEADER + ",sold", rows))
    assert report["dropped"]["out_of_bounds_sold"] == 1  # 1999 is before the min
    assert frame["sold"].iloc[0] == pd.Timestamp("2014-10-13")
    assert pd.isna(frame["sold"].iloc[1])
    profile = profile_from_dict(dated_spec(), 2025)
    transformer = FeatureTransformer(profile).fit(frame)
    names = list(transformer.get_feature_names_out())
    matrix = transformer.transform(frame)
    assert matrix[0, names.index("sold_year")] == 2014
    assert matrix[0, names.index("sold_month")] == 10
    assert matrix[0, names.index("age_at_sale")] == 2014 - 1990
    # The serving encoder takes dates as the API gives them (datetime.date, or None).
    rows_in = [{**frame.iloc[0].to_dict(), "sold": dt.date(2014, 10, 13)},
               {**frame.iloc[1].to_dict(), "sold": None}]  # fmt: skip
    encoder = transformer.row_encoder()
    assert np.array_equal(encoder.encode_rows(rows_in), matrix)
    assert np.array_equal(encoder.encode_columns(rows_in), matrix)


def test_a_value_that_is_no_date_in_the_format_is_refused(tmp_path: Path) -> None:
    rows = [f"{ROWS[0]},13/10/2014", f"{ROWS[1]},2014-10-13", f"{ROWS[2]},"]
    message = refused(tmp_path, dated_spec(), csv_text(HEADER + ",sold", rows))
    assert "column 'sold' should be a date in format '%d/%m/%Y' but has 1 value(s)" in message
    assert "e.g. '2014-10-13' (line 3)" in message


def test_date_parts_of_scalars_and_arrays() -> None:
    year, month = date_parts(dt.date(1960, 3, 31))
    assert (float(year), float(month)) == (1960.0, 3.0)
    years, months = date_parts(pd.Series(pd.to_datetime(["2015-12-31", None])))
    assert years[0] == 2015
    assert months[0] == 12
    assert math.isnan(years[1])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"example": "13/10/2014"}, "features[6] (sold).example: '13/10/2014' is not a date"),
        ({"min": "yesterday"}, "features[6] (sold).min: a date column's bound is a date"),
        ({"example": "1999-01-01"}, "features[6] (sold).example: datetime.date(1999, 1, 1) is "),
    ],
)
def test_date_declaration_mistakes_are_named(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011
        profile_from_dict(dated_spec(change), 2025)
    assert str(info.value).startswith(problem)


def test_a_date_used_by_no_derived_feature_is_refused() -> None:
    spec = dated_spec()
    spec["derived"] = []
    with pytest.raises(ValueError, match="'sold': a date is no model input by itself"):
        profile_from_dict(spec, 2025)


@pytest.mark.parametrize(
    ("derived", "problem"),
    [
        ({"name": "y", "op": "year", "inputs": ["sqft"]}, "year takes [date] columns"),
        ({"name": "r", "op": "ratio", "inputs": ["sqft", "sold"]}, "got [numeric, date]"),
        ({"name": "a", "op": "age", "inputs": ["sold", "year_built"]}, "age takes [numeric]"),
        ({"name": "c", "op": "ratio", "inputs": ["sqft", "location"]}, "got [numeric, category]"),
    ],
)
def test_derived_inputs_must_fit_their_op(derived: dict[str, Any], problem: str) -> None:
    spec = dated_spec()
    spec["derived"].append(derived)
    with pytest.raises(ValueError) as info:  # noqa: PT011
        profile_from_dict(spec, 2025)
    assert problem in str(info.value)
