"""`house-price profile init` (house_price.drafting): a draft profile from a CSV. Unit tests of the
classification rules on small frames, in-process; the real console script (on small CSVs, on
the real data sets, and the whole pipeline on the seed CSV's draft) is tested in
tests/integration/test_profile_init.py. Every draft loads with the project's own profile
loader (house_price.schema.load_profile)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from house_price.core.errors import DataError
from house_price.core.yamlfile import load_yaml
from house_price.data.cleaning import clean
from house_price.drafting import Draft, draft_profile, render
from house_price.drafting.bounds import readable_bounds
from house_price.drafting.columns import draft_column
from house_price.drafting.render import yaml_scalar
from house_price.drafting.rules import (
    LEAK_OUT,
    LEAK_WARN,
)
from house_price.schema import profile_from_dict


def column(values: list[str], name: str = "x"):
    return draft_column(pd.Series(values, dtype=str), name)


def make_draft(frame: pd.DataFrame, target: str = "price") -> Draft:
    text = frame.astype(str).replace({"nan": ""})
    return draft_profile(text, target, name="t", source="data/external/t/t.csv", command="test")


def base_frame(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sqft = rng.integers(800, 4000, rows)
    return pd.DataFrame(
        {
            "price": (sqft * 200 + rng.normal(0, 150_000, rows)).round(-3).clip(50_000),
            "sqft": sqft,
            "bedrooms": rng.integers(1, 6, rows),
        }
    )


# --- column kinds ---------------------------------------------------------------------------


def test_int_and_float() -> None:
    assert column(["3", "4.0", "2", " 5 "]).kind == "int"  # whole values, 4.0 included
    drafted = column(["1.5", "2", "2.25"])
    assert drafted.kind == "float"
    assert drafted.spec["example"] == 2


def test_ids_are_left_out_with_the_reason() -> None:
    ids = column([str(7129300520 + 17 * i) for i in range(30)], name="id")
    assert (ids.kind, ids.is_feature) == ("id", False)
    assert "identifier" in ids.left_out
    assert column([str(i) for i in range(1, 31)], name="n").kind == "id"  # a row number
    assert column([f"a{i:04x}-{i * 7}" for i in range(30)], name="ref").kind == "id"  # text
    # nearly unique numbers without an id-like name are data (prices, areas): kept
    assert column([str(1000 + 37 * i) for i in range(30)], name="sqft").kind == "int"


def test_dates_of_both_forms() -> None:
    iso = column(["2014-10-13", "2015-01-02", "2014-05-20"], name="sold")
    assert iso.spec == {
        "name": "sold",
        "type": "date",
        "format": "%Y-%m-%d",
        "min": "2014-01-01",
        "max": "2015-12-31",
        "example": "2014-10-13",
    }
    compact = column(["20141013T000000", "20150225T000000", "20140502T000000"], name="date")
    assert compact.spec["format"] == "%Y%m%dT%H%M%S"
    assert (compact.spec["min"], compact.spec["example"]) == ("2014-01-01", "2014-10-13")
    assert column(["20141013", "20150225"], name="sale_date").spec["format"] == "%Y%m%d"
    assert column(["20141013", "20150225"], name="amount").kind == "int"  # digits: no date
    ambiguous = column(["01/02/2014", "03/04/2014"], name="when")
    assert ambiguous.spec["format"] == "%d/%m/%Y"
    assert any("%m/%d/%Y" in comment for comment in ambiguous.comments)


def test_numeric_codes_are_categories_of_strings() -> None:
    zips = column(["98178", "98125", "98028", "98125", "98001"] * 4, name="zipcode")
    assert zips.kind == "category"
    assert zips.spec["categories"] == ["98001", "98028", "98125", "98178"]
    assert zips.spec["example"] == "98125"
    assert column(["02134", "10001", "02134"], name="area").kind == "category"  # leading zero
    assert column(["2", "3", "4", "3"], name="bedrooms").kind == "int"


def test_yes_no_and_other_yaml_words_stay_strings() -> None:
    words = ["yes", "no", "on", "off", "null", "None", "true", "1", "1.5", "~", "y", "<1H OCEAN"]
    drafted = column(words * 3, name="flag")
    assert drafted.kind == "category"
    text = "\n".join(f"- {yaml_scalar(word)}" for word in words)
    assert yaml.safe_load(text) == words
    assert yaml_scalar("Suburb") == "Suburb"
    assert yaml_scalar("yes") == "'yes'"
    assert yaml_scalar("%Y%m%d") == "'%Y%m%d'"
    assert yaml_scalar("2014-01-01") == "'2014-01-01'"


def test_messy_spellings_merge_into_the_most_frequent() -> None:
    values = ["Suburb"] * 5 + ["suburb "] * 3 + ["SUBURB"] + ["Urban"] * 2
    drafted = column(values, name="location")
    assert drafted.spec["categories"] == ["Suburb", "Urban"]
    assert drafted.spec["aliases"] == {"suburb ": "Suburb", "SUBURB": "Suburb"}
    assert drafted.category_counts == {"Suburb": 9, "Urban": 2}
    assert "would merge: 'suburb ' (3), 'SUBURB' (1) -> Suburb" in drafted.comments
    assert drafted.spec["example"] == "Suburb"


def test_missing_spellings_are_pointed_out_never_applied() -> None:
    drafted = column(["3", "NA", "4", "NA", "5", "", "2"], name="rooms")
    assert drafted.kind == "int"  # judged on the numbers
    assert drafted.spec["nullable"] is True  # the empty field
    assert any(
        comment.startswith("'NA' appears 2 times: add it to missing_values if it means missing")
        for comment in drafted.comments
    )
    assert "rooms: 'NA' appears 2 times" in drafted.notes[0]
    no_empty = column(["3", "N/A", "4"], name="rooms")
    assert "nullable" not in no_empty.spec  # N/A is not missing until the user says so
    text = column(["Good", "None", "Fair", "Good"], name="condition")
    assert "None" in text.spec["categories"]
    assert any("'None' appears 1 time" in comment for comment in text.comments)


def test_empty_column_is_left_out() -> None:
    drafted = column(["", " ", ""], name="notes")
    assert (drafted.kind, drafted.is_feature) == ("empty", False)
    assert "no values at all" in drafted.left_out
    only_na = column(["NA", "NA", ""], name="pool")
    assert (only_na.kind, only_na.is_feature) == ("empty", False)
    assert "only missing spellings ('NA' (2))" in only_na.left_out


def test_a_column_without_a_header_name_is_left_out() -> None:
    frame = base_frame()
    frame[""] = np.arange(len(frame)) % 7  # a trailing comma in the header, values below
    draft = make_draft(frame)
    assert "" not in [feature["name"] for feature in draft.profile["features"]]
    assert "1 column(s) without a header name: left out" in draft.notes


def test_bounds_have_a_readable_margin() -> None:
    assert readable_bounds(1350, 3850, whole=True) == (1100, 4100)
    assert readable_bounds(249_000, 1_680_000, whole=True) == (100_000, 1_900_000)
    assert readable_bounds(75_000, 7_700_000, whole=True) == (0, 8_500_000)  # not across 0
    assert readable_bounds(0, 1, whole=True) == (0, 1)  # a flag stays a flag
    assert readable_bounds(47.1559, 47.7776, whole=False) == (47.09, 47.84)
    assert readable_bounds(-124.35, -114.31, whole=False) == (-126, -113)
    assert readable_bounds(-3, -1, whole=True) == (-4, 0)  # a margin of at least 1, to 0


# --- the whole draft ------------------------------------------------------------------------


def test_leaks_are_flagged_and_the_surest_left_out(capsys: pytest.CaptureFixture) -> None:
    frame = base_frame(200)
    rng = np.random.default_rng(1)
    frame["tax"] = (frame["price"] * 1.01 + rng.normal(0, 1000, len(frame))).round(2)
    frame["assessed"] = frame["price"] + rng.normal(0, 50_000, len(frame)).round()
    draft = make_draft(frame)
    kinds = {column.name: column.kind for column in draft.columns}
    assert kinds["tax"] == "leak"
    assert "tax" not in [feature["name"] for feature in draft.profile["features"]]
    assert kinds["assessed"] == "int"  # between the two thresholds: kept, with a warning
    assessed = next(column for column in draft.columns if column.name == "assessed")
    assert assessed.comments[0].startswith("WARNING: probable leak?")
    assert any(note.startswith("tax: WARNING: probable leak") for note in draft.notes)
    text = render(draft)
    assert "  # WARNING: probable leak, left out" in text
    assert "  # - {name: tax, type: float" in text  # the line to add it back
    assert LEAK_WARN < LEAK_OUT


def test_derived_features_from_dates_and_year_built() -> None:
    frame = base_frame()
    frame["yr_built"] = np.arange(1950, 1950 + len(frame))
    frame["date"] = ["20141013T000000", "20150225T000000"] * (len(frame) // 2)
    draft = make_draft(frame)
    assert draft.profile["derived"] == [
        {"name": "date_year", "op": "year", "inputs": ["date"]},
        {"name": "date_month", "op": "month", "inputs": ["date"]},
        {"name": "house_age", "op": "age", "inputs": ["yr_built", "date"]},
    ]
    yr_built = next(f for f in draft.profile["features"] if f["name"] == "yr_built")
    assert yr_built["max"] == "reference_year"
    no_date = make_draft(frame.drop(columns="date"))
    assert no_date.profile["derived"] == [
        {"name": "house_age", "op": "age", "inputs": ["yr_built"]}
    ]


def test_rendered_yaml_is_the_profile_and_loads() -> None:
    frame = base_frame()
    frame["location"] = (["Suburb", "suburb ", "Urban", "yes", "<1H OCEAN"] * 8)[: len(frame)]
    frame["notes"] = ""
    frame["year_built"] = np.arange(1960, 1960 + len(frame))
    draft = make_draft(frame)
    text = render(draft)
    assert yaml.safe_load(text) == draft.profile
    assert text.startswith("# Draft profile made by: test\n")
    assert "REVIEW BEFORE USE" in text
    assert "  # notes: no values at all in 40 rows: left out" in text
    assert draft.profile["missing_values"] == [""]
    profile = profile_from_dict(load_yaml(text), reference_year=2025)
    assert profile.feature_names == ["sqft", "bedrooms", "location", "year_built"]
    assert profile.feature("location").normalise("SUBURB") == "Suburb"
    assert profile.feature("location").normalise("yes") == "yes"
    for feature in profile.features:  # every example is inside its own bounds
        if feature.kind == "category":
            assert feature.example in feature.categories
        else:
            assert feature.minimum <= feature.example <= feature.maximum


def test_target_must_be_a_number_column() -> None:
    frame = base_frame()
    frame["price"] = "expensive"
    with pytest.raises(DataError, match="target column 'price' is not a number column"):
        make_draft(frame)


# --- the console script ---------------------------------------------------------------------


def test_a_target_below_zero_drafts_min_0_and_its_rows_are_dropped() -> None:
    frame = base_frame()
    frame.loc[:3, "price"] = [-5000, -5000, 0, 0]
    draft = make_draft(frame)
    assert draft.profile["target"]["min"] == 0
    assert "2 rows below 0: the pipeline drops them" in draft.target.comments
    profile = profile_from_dict(draft.profile, 2025)
    rows, report = clean(frame.astype(str), profile, "t.csv")
    assert report["dropped"]["out_of_bounds_price"] == 2
    assert len(rows) == len(frame) - 2
    assert (rows["price"] >= 0).all()


@pytest.mark.parametrize("largest", [-3, 0])
def test_a_target_with_no_value_above_0_is_refused(largest: int) -> None:
    """Drafting min 0 above a max of -3 would write a profile its own loader refuses; a max of
    0 one that keeps only free houses."""
    frame = base_frame()
    frame["price"] = -frame["price"]
    frame.loc[0, "price"] = largest
    with pytest.raises(DataError, match="target column 'price' has no value above 0"):
        make_draft(frame)


def test_a_target_with_no_finite_value_is_refused_as_such() -> None:
    """All `inf` was refused as "no value above 0: a price is positive"."""
    frame = base_frame(3).astype({"price": str})
    frame["price"] = ["inf", "-inf", "1e400"]
    frame.index += 2  # file lines, as io.read_raw_csv indexes them
    with pytest.raises(DataError) as raised:
        make_draft(frame)
    assert str(raised.value) == (
        "target column 'price' has no finite value (3 non-finite values, e.g. 'inf' (line 2))"
    )


# --- values the pipeline judges: text in the target, non-finite numbers, constants, few rows ---


def test_a_non_finite_feature_value_keeps_the_column_a_number() -> None:
    """One `inf` made a sqft column "an identifier or free text", left out."""
    drafted = column(["1850", "2100", "inf", "1640", " 2400 ", "-inf"] * 3, name="sqft")
    assert (drafted.kind, drafted.is_feature) == ("int", True)
    assert (drafted.spec["min"], drafted.spec["max"]) == (1560, 2480)  # finite data: 1640-2400
    assert "6 non-finite values, e.g. 'inf' (line 2): the pipeline drops such rows" in (
        drafted.comments
    )
    assert column(["inf", "nan"], name="x").kind == "empty"


def test_a_nan_spelling_in_a_number_column_is_said_to_drop_its_row() -> None:
    """`NaN` (a missing spelling) in a number column was said to make the pipeline reject the
    file; parsing.to_numbers reads it as a NaN number and drops its row (non_finite_<col>)."""
    frame = base_frame().astype(str)
    frame.loc[[2, 5], "sqft"] = "NaN"
    frame.loc[7, "sqft"] = " NAN "
    frame.loc[9, "price"] = "NaN"
    draft = make_draft(frame)
    (sqft,) = [c for c in draft.columns if c.name == "sqft"]
    assert (sqft.kind, sqft.is_feature) == ("int", True)
    for spelling, count in (("NaN", "2 times"), ("NAN", "1 time")):
        assert (
            f"{spelling!r} appears {count}: the pipeline reads it as NaN and drops the row; add "
            "it to missing_values and make the column nullable to impute it instead"
        ) in sqft.comments
    assert "rejects the file" not in " ".join(sqft.comments + draft.target.comments)
    assert draft.target.comments[-1] == (
        "'NaN' appears 1 time: the pipeline reads it as NaN and drops the row (in missing_values "
        "too: a row without a target is dropped)"
    )
    rows, report = clean(frame, profile_from_dict(draft.profile, 2025), "t.csv")
    assert report["dropped"]["non_finite_sqft"] == 3
    assert report["dropped"]["non_finite_price"] == 1
    assert len(rows) == len(frame) - 4
    # as the comment says: in missing_values (and nullable) a feature's NaN is imputed instead
    draft.profile["missing_values"] += ["NaN", "NAN"]
    next(f for f in draft.profile["features"] if f["name"] == "sqft")["nullable"] = True
    rows, report = clean(frame, profile_from_dict(draft.profile, 2025), "t.csv")
    assert report["dropped"]["non_finite_sqft"] == 0
    assert report["dropped"]["missing_target"] == 1  # the target's row: dropped either way
    assert report["missing_values_kept"]["sqft"] == 3
    assert len(rows) == len(frame) - 1
    # a column that is already nullable needs only missing_values
    frame.loc[11, "sqft"] = ""
    (sqft,) = [c for c in make_draft(frame).columns if c.name == "sqft"]
    assert (
        "'NaN' appears 2 times: the pipeline reads it as NaN and drops the row; add it to "
        "missing_values to impute it instead" in sqft.comments
    )


def test_mostly_numbers_with_text_names_the_first_line() -> None:
    drafted = column([*(str(n % 5 + 1) for n in range(19)), "about 3"], name="rooms")
    (note,) = drafted.notes
    assert "the others ('about 3' (1); the first on line 19) make it text" in note


def test_one_value_with_others_missing_is_constant_but_two_values_are_not() -> None:
    assert column(["3", "", "3", " 3.0 "], name="floors").notes  # 3 and 3.0: one number
    assert not column(["3", "4", "3"], name="floors").notes
    assert not column(["a", "b", "a"], name="kind").notes
    (merged,) = column(["A", "a ", "A"], name="kind").notes  # spellings of one category
    assert merged.startswith("kind: WARNING: the same value (A) in every row")


def test_one_day_at_different_times_is_a_constant_date() -> None:
    """The pipeline reads dates as days (cleaning.parse_dates normalises them): two times of
    one day are one value, which the text count missed."""
    sold = column(["2014-10-13 08:00:00", "2014-10-13 17:00:00", "2014-10-13 08:00:00"], "sold")
    assert sold.kind == "date"
    (note,) = sold.notes
    assert note.startswith("sold: WARNING: the same value (2014-10-13) in every row")
    assert not column(["2014-10-13 08:00:00", "2014-10-14 08:00:00"], "sold").notes


def test_a_constant_target_is_refused() -> None:
    frame = base_frame()
    frame["price"] = 250_000
    frame.loc[0, "price"] = -5  # dropped by the pipeline
    with pytest.raises(
        DataError,
        match=r"target column 'price' has the same value \(250000\) in all 39 rows the pipeline "
        "keeps: there is nothing to learn",
    ):
        make_draft(frame)
