"""Batch scoring's row rules are the API's: CSV values, converted as a client would send them,
get the same verdict from the batch validator (house_price.scoring.RowValidator, the API's
batch row type) as the same values sent as JSON to the API's one-row request model. Many
generated good and bad values per column, no bundle needed (fast)."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from house_price.api.schemas import request_models
from house_price.schema import Column, Profile, load_profile
from house_price.scoring import RowValidator, request_rows

PROFILES = Path(__file__).resolve().parents[1] / "profiles"


def profile_of(name: str) -> Profile:
    return load_profile(PROFILES / f"{name}.yaml", 2025)


def example_text(profile: Profile) -> dict[str, str]:
    text = {}
    for column in profile.features:
        value = column.example
        if column.is_date:
            fmt = "%Y-%m-%d" if column.date_format == "ISO8601" else column.date_format
            text[column.name] = value.strftime(fmt)
        else:
            text[column.name] = str(value)
    return text


def number_texts(column: Column, rng: random.Random) -> list[tuple[str, Any]]:
    """(CSV text, the JSON value a client sends for it): None is null/omitted, a str is
    sent as a JSON string (no number)."""
    low = column.minimum if column.minimum is not None else -1e6
    high = column.maximum if column.maximum is not None else 1e6
    cases: list[tuple[str, Any]] = [
        ("", None),
        ("  ", None),
        ("abc", "abc"),
        ("1,5", "1,5"),
        ("inf", float("inf")),
        ("-inf", float("-inf")),
        ("nan", float("nan")),
        ("1e400", float("inf")),
        (repr(float(low)), float(low)),
        (repr(float(high)), float(high)),
        (repr(float(low) - 1), float(low) - 1),
        (repr(float(high) + 0.5), float(high) + 0.5),
    ]
    for _ in range(150):
        value = rng.choice([rng.uniform(low - 10, high + 10), float(rng.randint(-5, 5))])
        value = round(value, rng.choice([0, 0, 1, 3]))
        text = repr(value) if rng.random() < 0.8 else f" {value} "
        cases.append((text, value))
    return cases


def category_texts(column: Column, rng: random.Random) -> list[tuple[str, Any]]:
    names = [*column.categories, *column.aliases, "Atlantis", "Sub urb", "x" * 201, "none"]
    cases: list[tuple[str, Any]] = [("", None), ("   ", None)]
    for _ in range(150):
        name = rng.choice(names)
        name = rng.choice([name, name.upper(), name.lower(), f"  {name} ", name.replace(" ", "  ")])
        cases.append((name, name))
    return cases


def api_verdict(row_model: Any, row: dict[str, Any], column: Column) -> set[str]:
    """The error types of the API's one-row model for `row` sent as JSON ("" when valid)."""
    if row[column.name] is None and not column.nullable:
        row = {key: value for key, value in row.items() if key != column.name}
    body = json.dumps(row, default=str)  # inf and NaN as Infinity and NaN, as JS clients send
    try:
        row_model.model_validate_json(body)
    except ValidationError as exc:
        return {error["type"] for error in exc.errors()}
    return set()


@pytest.mark.parametrize("name", ["houses", "california", "kingcounty"])
def test_batch_verdicts_equal_the_api_verdicts(name: str) -> None:
    profile = profile_of(name)
    row_model, _ = request_models(profile, 10)
    validator = RowValidator(profile)
    base = example_text(profile)
    example_json = json.loads(json.dumps(profile.example_row(), default=str))
    rng = random.Random(7)  # noqa: S311 (test data, not secrets)
    compared = 0
    kinds: dict[str, int] = {}
    for column in profile.features:
        if column.is_date:
            continue  # dates: see the test below (the CSV's format is not the API's)
        make = category_texts if column.is_category else number_texts
        cases = make(column, rng)
        frame = pd.DataFrame([{**base, column.name: text} for text, _ in cases])
        _, bad = validator.validate_frame(frame)
        for index, (text, value) in enumerate(cases):
            expected = api_verdict(row_model, {**example_json, column.name: value}, column)
            got = {error["type"] for error in bad.get(index, [])}
            assert got == expected, (column.name, text, value, bad.get(index))
            compared += 1
            for kind in got or {"valid"}:
                kinds[kind] = kinds.get(kind, 0) + 1
    print(f"\n{name}: {compared} values compared, verdicts {dict(sorted(kinds.items()))}")
    assert compared > 500
    assert kinds["valid"] > 100
    assert sum(kinds.values()) - kinds["valid"] > 100


def test_dates_are_read_in_the_profiles_format_and_checked_by_the_api_rules() -> None:
    profile = profile_of("kingcounty")
    validator = RowValidator(profile)
    base = example_text(profile)
    texts = ["20141013T000000", " 20150101T000000 ", "2014-10-13", "20161013T000000", "", "x"]
    frame = pd.DataFrame([{**base, "date": text} for text in texts])
    rows = request_rows(frame, profile)
    assert rows[0]["date"] == dt.date(2014, 10, 13)
    good, bad = validator.validate(rows)
    assert sorted(bad) == [2, 3, 4, 5]
    assert [error["type"] for error in bad[2]] == ["date_type"]
    assert [error["type"] for error in bad[3]] == ["less_than_equal"]
    assert [error["type"] for error in bad[4]] == ["missing"]
    assert [error["type"] for error in bad[5]] == ["date_type"]
    assert [row["date"] for row in good] == [dt.date(2014, 10, 13), dt.date(2015, 1, 1)]
