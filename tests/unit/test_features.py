"""Features: fitted on the train split only, never from the target, never from the wall clock,
and the serving `RowEncoder` equal to the fitted transformer bit for bit, also when rebuilt
from the parameters the bundle stores (encoder.json)."""

from __future__ import annotations

import datetime
import json
import pickle
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from house_price.core.split import split
from house_price.data.encoding import RowEncoder
from house_price.features import FeatureTransformer, add_derived
from house_price.schema import load_profile

REPO = Path(__file__).resolve().parents[2]
REFERENCE_YEAR = 2025


def profile(name: str = "houses", reference_year: int = REFERENCE_YEAR):
    return load_profile(REPO / "profiles" / f"{name}.yaml", reference_year)


def houses_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Clean rows of the houses schema with some missing values, as process writes them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sqft": rng.integers(500, 4000, rows).astype(float),
            "bedrooms": rng.integers(1, 6, rows).astype(float),
            "bathrooms": rng.integers(2, 8, rows) / 2,
            "location": rng.choice(["Downtown", "Urban", "Suburb", "Rural", "Waterfront"], rows),
            "year_built": rng.integers(1900, 2024, rows).astype(float),
            "condition": rng.choice(["Poor", "Fair", "Good", "Excellent"], rows),
            "price": rng.lognormal(12.6, 0.4, rows).round(-2),
        }
    )
    for column, every in (("bathrooms", 17), ("year_built", 23)):
        frame.loc[frame.index[::every], column] = np.nan
    frame["condition"] = frame["condition"].astype(object)
    frame.loc[frame.index[::29], "condition"] = np.nan
    return frame


def fitted(frame: pd.DataFrame, reference_year: int = REFERENCE_YEAR) -> FeatureTransformer:
    return FeatureTransformer(profile(reference_year=reference_year)).fit(frame)


def medians(transformer: FeatureTransformer) -> dict[str, float]:
    numeric = transformer.column_transformer_.named_transformers_["numeric"]
    return dict(zip(numeric.feature_names_in_, numeric.statistics_, strict=True))


def test_output_layout() -> None:
    transformer = fitted(houses_frame())
    names = list(transformer.get_feature_names_out())
    assert names[:5] == ["sqft", "bedrooms", "bathrooms", "year_built", "house_age"]
    assert names[5:11] == [f"location_{c}" for c in profile().feature("location").categories]
    assert names[11:] == [f"condition_{c}" for c in profile().feature("condition").categories]
    matrix = transformer.transform(houses_frame(rows=7, seed=3))
    assert matrix.shape == (7, len(names))
    assert matrix.dtype == np.float64
    assert not np.isnan(matrix).any(), "missing values are imputed"


# --- no leakage: fitted on train only ----------------------------------------------------------


def test_imputation_medians_are_the_train_medians() -> None:
    frame = houses_frame(rows=1000)
    train, test = split(frame, 0.2, 42)
    # Make the test rows very different so that full-data and train medians disagree.
    frame_test = test.assign(sqft=test["sqft"] * 10, year_built=test["year_built"] - 100)
    transformer = fitted(train)
    learned = medians(transformer)
    everything = pd.concat([train, frame_test])
    for column in ("sqft", "bedrooms", "bathrooms", "year_built"):
        assert learned[column] == pytest.approx(train[column].median(), abs=0, rel=1e-12)
    assert learned["house_age"] == pytest.approx((REFERENCE_YEAR - train["year_built"]).median())
    assert learned["sqft"] != pytest.approx(everything["sqft"].median())
    assert learned["year_built"] != pytest.approx(everything["year_built"].median())
    category_fill = transformer.column_transformer_.named_transformers_["category"]["impute"]
    assert list(category_fill.statistics_) == [
        train["location"].mode()[0],
        train["condition"].mode()[0],
    ]


def test_changing_test_rows_leaves_the_fitted_transformer_identical() -> None:
    """What featurize does (split, fit on train) gives the same transformer whatever the test
    rows hold: nothing of them reaches `fit`."""
    frame = houses_frame(rows=1000)
    train, test = split(frame, 0.2, 42)
    # The split is positional: mark which positions land in the test split, then change them.
    positions = split(pd.DataFrame({"position": np.arange(len(frame))}), 0.2, 42)[1]["position"]
    changed = frame.copy()
    changed.loc[positions, "sqft"] = 99_999.0
    changed.loc[positions, "year_built"] = np.nan
    changed.loc[positions, "location"] = "Mountain"  # a level the train split never has
    changed_train, changed_test = split(changed, 0.2, 42)
    pd.testing.assert_frame_equal(changed_train, train)
    assert not changed_test.equals(test)

    first, second = fitted(train), fitted(changed_train)
    assert pickle.dumps(first) == pickle.dumps(second)
    probe = houses_frame(rows=50, seed=9)
    np.testing.assert_array_equal(first.transform(probe), second.transform(probe))
    # And the test rows did matter to a fit that (wrongly) saw them:
    assert medians(fitted(changed))["sqft"] != medians(first)["sqft"]


# --- no feature derived from the target --------------------------------------------------------


def test_the_target_never_reaches_the_features() -> None:
    frame = houses_frame()
    transformer = fitted(frame)
    reference = transformer.transform(frame)
    np.testing.assert_array_equal(transformer.transform(frame.assign(price=1.0)), reference)
    np.testing.assert_array_equal(transformer.transform(frame.drop(columns="price")), reference)
    # Fitting with another target (or none) learns the same state.
    for other in (frame.assign(price=frame["price"] * 7), frame.drop(columns="price")):
        assert pickle.dumps(fitted(other)) == pickle.dumps(transformer)
    assert "price" not in transformer.get_feature_names_out()


# --- no wall clock: house age from the reference-year param ------------------------------------


class _FrozenDateTime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2071, 6, 1, tzinfo=tz)

    @classmethod
    def today(cls):
        return cls(2071, 6, 1)

    @classmethod
    def utcnow(cls):
        return cls(2071, 6, 1)


class _FrozenDate(datetime.date):
    @classmethod
    def today(cls):
        return cls(2071, 6, 1)


def test_house_age_ignores_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = houses_frame()
    before_fit = fitted(frame)
    before = before_fit.transform(frame)

    year_2071 = float(datetime.datetime(2071, 6, 1).timestamp())
    monkeypatch.setattr(datetime, "datetime", _FrozenDateTime)
    monkeypatch.setattr(datetime, "date", _FrozenDate)
    monkeypatch.setattr(time, "time", lambda: year_2071)
    monkeypatch.setattr(time, "time_ns", lambda: int(year_2071 * 1e9))
    real_localtime, real_gmtime = time.localtime, time.gmtime
    monkeypatch.setattr(
        time, "localtime", lambda seconds=None: real_localtime(seconds or year_2071)
    )
    monkeypatch.setattr(time, "gmtime", lambda seconds=None: real_gmtime(seconds or year_2071))
    assert datetime.datetime.now().year == 2071
    assert time.localtime().tm_year == 2071

    after_fit = fitted(frame)
    np.testing.assert_array_equal(after_fit.transform(frame), before)
    np.testing.assert_array_equal(before_fit.transform(frame), before)
    assert pickle.dumps(after_fit) == pickle.dumps(before_fit)


def test_house_age_follows_the_reference_year_param() -> None:
    frame = houses_frame()
    derived_2025 = add_derived(frame, profile(reference_year=2025))
    derived_2030 = add_derived(frame, profile(reference_year=2030))
    np.testing.assert_array_equal(derived_2025["house_age"], 2025 - frame["year_built"])
    np.testing.assert_array_equal(derived_2030["house_age"], derived_2025["house_age"] + 5)
    names = list(fitted(frame).get_feature_names_out())
    age = names.index("house_age")
    matrix_2025 = fitted(frame, 2025).transform(frame)
    matrix_2030 = fitted(frame, 2030).transform(frame)
    # Missing years are imputed with the (shifted) train median: every row moves by 5 years.
    np.testing.assert_array_equal(matrix_2030[:, age] - matrix_2025[:, age], 5.0)
    others = [i for i in range(len(names)) if i != age]
    np.testing.assert_array_equal(matrix_2030[:, others], matrix_2025[:, others])


# --- RowEncoder: the serving fast path ---------------------------------------------------------

HOUSES_ROWS = [
    {"sqft": 1850, "bedrooms": 3, "bathrooms": 2, "location": "Suburb", "year_built": 1995,
     "condition": "Good"},
    {"sqft": 900.5, "bedrooms": 1, "bathrooms": None, "location": "Downtown", "year_built": None,
     "condition": None},
    {"sqft": None, "bedrooms": None, "bathrooms": 1.5, "location": None, "year_built": 2025,
     "condition": "Poor"},
    {"sqft": 2500, "bedrooms": 4, "bathrooms": 3, "location": "Atlantis", "year_built": 1850,
     "condition": "Mint"},  # unknown categories: all zeros, like handle_unknown="ignore"
    {"sqft": float("nan"), "bedrooms": 2, "bathrooms": float("nan"), "location": "Mountain",
     "year_built": float("nan"), "condition": float("nan")},
    {"sqft": 12000, "bedrooms": 8, "bathrooms": 6, "location": "Waterfront", "year_built": 2024,
     "condition": "Excellent"},
]  # fmt: skip


def assert_encoder_matches(transformer: FeatureTransformer, rows: list[dict]) -> None:
    columns = transformer.profile.feature_names
    frame = pd.DataFrame(rows, columns=columns)
    for column in transformer.profile.category_features:
        frame[column.name] = frame[column.name].astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "unknown categories ... all zeros"
        expected = transformer.transform(frame)
    encoder = transformer.row_encoder()
    stored = RowEncoder.from_json(json.loads(json.dumps(encoder.to_json())), transformer.profile)
    assert stored == encoder  # the bundle's encoder.json holds every parameter exactly
    for built in (encoder, stored):
        for actual in (built.encode_rows(rows), built.encode_columns(rows)):
            assert actual.shape == expected.shape
            np.testing.assert_array_equal(actual, expected)  # exact, NaN-free on both sides
            assert not np.isnan(actual).any()


def test_row_encoder_equals_the_transformer_on_awkward_rows() -> None:
    transformer = fitted(houses_frame(rows=1000))
    assert_encoder_matches(transformer, HOUSES_ROWS)
    unknown = transformer.row_encoder().encode([HOUSES_ROWS[3]])[0]
    names = list(transformer.get_feature_names_out())
    location = [i for i, name in enumerate(names) if name.startswith("location_")]
    assert unknown[location].tolist() == [0.0] * len(location)
    missing = transformer.row_encoder().encode([HOUSES_ROWS[1]])[0]
    assert missing[names.index("year_built")] == medians(transformer)["year_built"]
    assert missing[names.index("house_age")] == medians(transformer)["house_age"]


def test_row_encoder_equals_the_transformer_on_the_fitted_rows() -> None:
    frame = houses_frame(rows=300, seed=5)
    transformer = fitted(frame)
    rows = [
        {key: (None if pd.isna(value) else value) for key, value in row.items()}
        for row in frame[transformer.profile.feature_names].to_dict("records")
    ]
    assert_encoder_matches(transformer, rows)


def test_row_encoder_ratio_and_projection_features_with_zero_and_missing_inputs() -> None:
    california = profile("california")
    rng = np.random.default_rng(1)
    rows = 200
    frame = pd.DataFrame(
        {name: rng.uniform(1, 5000, rows).round(1) for name in california.numeric_features}
    )
    frame["ocean_proximity"] = rng.choice(
        list(california.feature("ocean_proximity").categories), rows
    )
    frame["median_house_value"] = rng.uniform(1e4, 5e5, rows)
    frame.loc[::13, "total_bedrooms"] = np.nan
    frame.loc[::11, "households"] = 0.0  # ratio -> missing -> imputed
    transformer = FeatureTransformer(california).fit(frame)
    awkward = [
        {**frame.iloc[0].to_dict(), "households": 0.0, "total_rooms": 0.0},
        {**frame.iloc[1].to_dict(), "total_bedrooms": None, "ocean_proximity": "ISLAND"},
        {**frame.iloc[2].to_dict(), "households": None, "ocean_proximity": None},
        {**frame.iloc[3].to_dict(), "ocean_proximity": "ON THE MOON"},
        {**frame.iloc[4].to_dict(), "latitude": None},  # its projections -> missing -> imputed
    ]
    for row in awkward:
        del row["median_house_value"]
    assert_encoder_matches(transformer, awkward)


def test_a_stored_encoder_must_fit_the_profile() -> None:
    transformer = fitted(houses_frame())
    data = transformer.row_encoder().to_json()
    profile = transformer.profile
    with pytest.raises(ValueError, match="encoder format 99"):
        RowEncoder.from_json({**data, "format": 99}, profile)
    with pytest.raises(ValueError, match="numeric columns"):
        RowEncoder.from_json({**data, "numeric": data["numeric"][1:]}, profile)
    with pytest.raises(ValueError, match="categories"):
        RowEncoder.from_json({**data, "categories": data["categories"][::-1]}, profile)
    with pytest.raises(ValueError, match="feature names"):
        RowEncoder.from_json({**data, "feature_names": data["feature_names"][:-1]}, profile)
