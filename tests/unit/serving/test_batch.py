"""Batch scoring's row rules are the API's: CSV values, converted as a client would send them,
get the same verdict from the batch validator (house_price.serving.batch.RowValidator, the API's
batch row type) as the same values sent as JSON to the API's one-row request model. Many
generated good and bad values per column, no bundle needed (fast)."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from house_price.schema import Column, Profile, load_profile, profile_from_dict
from house_price.serving.batch import RowValidator, Scorer, describe_errors, request_rows
from house_price.serving.requests import error_items, request_models

PROFILES = Path(__file__).resolve().parents[3] / "profiles"


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


# --- messages: what is allowed, in one readable line ------------------------------------------


def batch_error(profile: Profile, field: str, text: str) -> str:
    """The batch scoring error of a CSV row that is the example but for `field`."""
    frame = pd.DataFrame([{**example_text(profile), field: text}])
    _, bad = RowValidator(profile).validate_frame(frame)
    raw = {name: str(frame[name].iat[0]) for name in profile.feature_names}
    return describe_errors(bad[0], raw, profile)


def api_errors(profile: Profile, field: str, value: Any) -> list[dict[str, Any]]:
    """The 422 items of POST /predict for the example row but for `field` (the API's own
    request model and error items)."""
    row_model, _ = request_models(profile, 10)
    row = {**json.loads(json.dumps(profile.example_row(), default=str)), field: value}
    with pytest.raises(ValidationError) as caught:
        row_model.model_validate_json(json.dumps(row))
    return error_items(caught.value.errors(include_url=False), 10)


@pytest.mark.parametrize("text", ["2014-13-45", "x", "2014-10-13", "13/10/2014"])
def test_a_bad_date_in_a_csv_names_the_profiles_format(text: str) -> None:
    """The CSV's dates are read in the profile's `format` (King County: 20141013T000000); the
    error said only "Input should be a valid date"."""
    message = batch_error(profile_of("kingcounty"), "date", text)
    assert message == (
        "date: Input should be a date in the profile's format '%Y%m%dT%H%M%S' such as "
        f"'20141013T000000' (got {text!r})"
    )


def test_a_bad_date_in_a_csv_without_a_format_names_iso_8601() -> None:
    raw = yaml.safe_load((PROFILES / "kingcounty.yaml").read_text())
    (date,) = [column for column in raw["features"] if column["name"] == "date"]
    del date["format"]  # the default: any ISO 8601 date
    profile = profile_from_dict(raw, 2025)
    message = batch_error(profile, "date", "13/10/2014")
    assert message == (
        "date: Input should be an ISO 8601 date such as '2014-10-13' (got '13/10/2014')"
    )
    texts = ["2014-10-13", "20141013T000000", "2014-10-13T00:00:00"]  # ISO 8601, all read
    frame = pd.DataFrame([{**example_text(profile), "date": text} for text in texts])
    assert RowValidator(profile).validate_frame(frame)[1] == {}


@pytest.mark.parametrize("value", ["20141013T000000", "x", 20141013, None, True])
def test_a_bad_date_sent_to_the_api_names_yyyy_mm_dd(value: Any) -> None:
    """A date the API refuses names the format it takes, whatever was sent (a number, true or
    null said only "Input should be a valid date")."""
    (item,) = api_errors(profile_of("kingcounty"), "date", value)
    assert item["msg"].startswith("date: Input should be a valid date"), item
    assert "in the format YYYY-MM-DD" in item["msg"], item


def test_a_long_category_list_is_cut_and_says_where_the_rest_is() -> None:
    """King County's 70 zipcodes were all listed, about 1,000 characters in the API's 422 and
    in each bad row of batch scoring."""
    profile = profile_of("kingcounty")
    zipcodes = profile.feature("zipcode").categories
    assert len(zipcodes) == 70
    shown = ", ".join(zipcodes[:12])
    (item,) = api_errors(profile, "zipcode", "99999")
    assert item["msg"] == (
        f"zipcode: Input should be one of: {shown} and 58 more (GET /model lists all 70; case "
        "and spacing are ignored)"
    )
    # the machine-readable context keeps every value: a client may split it on ", "
    assert item["ctx"]["allowed"].split(", ") == list(zipcodes)
    assert item["ctx"]["shown"] == f"{shown} and 58 more"
    message = batch_error(profile, "zipcode", "99999")
    assert message == (
        f"zipcode: Input should be one of: {shown} and 58 more (the model bundle's "
        "profile.yaml lists all 70; case and spacing are ignored) (got '99999')"
    )
    assert len(item["msg"]) < 250
    assert len(message) < 250


def test_a_short_category_list_is_listed_in_full() -> None:
    profile = profile_of("houses")
    location = profile.feature("location")
    assert len(location.categories) <= 12
    (item,) = api_errors(profile, "location", "Atlantis")
    assert item["msg"].startswith(
        f"location: Input should be one of: {', '.join(location.categories)} (case and "
        "spacing are ignored; aliases: "
    )
    assert "more" not in item["msg"]
    assert "in all" not in item["msg"]
    assert batch_error(profile, "location", "Atlantis") == f"{item['msg']} (got 'Atlantis')"


def test_batch_scoring_reports_the_csv_messages() -> None:
    """What `house-price predict` writes for each bad row (house_price.serving.batch.Scorer, with a
    stand-in for the model: only the messages matter here)."""
    profile = profile_of("kingcounty")
    model = SimpleNamespace(
        bundle=SimpleNamespace(profile=profile), predict=lambda rows: np.ones(len(rows))
    )
    base = example_text(profile)
    frame = pd.DataFrame([base, {**base, "date": "2014-10-13"}, {**base, "zipcode": "99999"}])
    frame.index = pd.Index([2, 3, 4])  # file lines, as read_raw_csv numbers them
    scored = Scorer(model).score(frame, "kc.csv")  # type: ignore[arg-type]
    assert scored.errors[0] == ""
    assert scored.errors[1].startswith("date: Input should be a date in the profile's format")
    assert "(the model bundle's profile.yaml lists all 70; " in scored.errors[2]
