"""The one rule that turns a CSV field into a value (house_price.core.parsing), which cleaning,
batch scoring and `profile init` share. No file, no subprocess."""

from __future__ import annotations

import math

import pandas as pd

from house_price.core.parsing import (
    is_nan_text,
    missing_fields,
    missing_spelled,
    to_categories,
    to_dates,
    to_numbers,
)
from house_price.schema import Column


def text(*values: str) -> pd.Series:
    return pd.Series(values, dtype=object, index=range(2, 2 + len(values)))


def test_a_field_is_missing_by_its_trimmed_spelling_and_a_category_wins() -> None:
    assert missing_spelled(text("", "  ", "NA", "x"), ("",)).tolist() == [True, True, False, False]
    number = Column("x", "float", missing_values=frozenset({"", "NA"}))
    assert missing_fields(text(" NA ", "na", "", "1"), number).tolist() == [
        True,
        False,
        True,
        False,
    ]
    # "NA" is also a category (Namibia): the declared category is a value, not missing
    country = Column("c", "category", categories=("NA", "DE"), missing_values=frozenset({"NA", ""}))
    assert missing_fields(text("NA", "", "DE"), country).tolist() == [False, True, False]


def test_numbers_keep_non_finite_spellings_and_name_the_rest() -> None:
    values, bad = to_numbers(text(" 1.5 ", "inf", "-Inf", "1e400", "NaN", "+nan", "abc", ""))
    assert values.iloc[0] == 1.5
    assert [math.isinf(v) for v in values.iloc[1:4]] == [True, True, True]
    assert values.iloc[4:6].isna().all()
    assert bad.tolist() == [False] * 6 + [True, True]  # "" is no number unless it is missing
    missing = pd.Series([False] * 7 + [True], index=values.index)
    values, bad = to_numbers(
        text(" 1.5 ", "inf", "-Inf", "1e400", "NaN", "+nan", "abc", ""), missing
    )
    assert bad.tolist() == [False] * 6 + [True, False]
    assert math.isnan(values.iloc[7])
    assert [is_nan_text(s) for s in ("nan", " -NaN ", "+nan", "nan1", "")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_dates_are_read_in_the_format_given() -> None:
    values, bad = to_dates(text("2014-10-13", " 20141013T000000 ", "13/10/2014"), None, "ISO8601")
    assert bad.tolist() == [False, False, True]
    assert values.iloc[0] == pd.Timestamp("2014-10-13") == values.iloc[1]
    values, bad = to_dates(text("13/10/2014", "2014-10-13", ""), None, "%d/%m/%Y")
    assert bad.tolist() == [False, True, True]
    missing = pd.Series([False, False, True], index=values.index)
    assert to_dates(text("13/10/2014", "x", ""), missing, "%d/%m/%Y")[1].tolist() == [
        False,
        True,
        False,
    ]


def test_categories_take_their_canonical_spelling() -> None:
    location = Column(
        "l", "category", categories=("Suburb", "Urban"), aliases={"Suburban": "Suburb"}
    )
    raw = text(" suburb ", "SUBURBAN", "Urban", "Atlantis", "")
    missing = pd.Series([False, False, False, False, True], index=raw.index)
    values = to_categories(raw, missing, location)
    assert values.tolist()[:3] == ["Suburb", "Suburb", "Urban"]
    assert values.iloc[3:].isna().all()
