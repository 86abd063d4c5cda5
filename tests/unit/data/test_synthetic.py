"""The embedded default data: deterministic from its seed, with each kind of dirt the process
stage must handle, and a noise floor that is what the generating process says it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from house_price.core.io import read_raw_csv, write_csv
from house_price.data.cleaning import clean
from house_price.data.synthetic import LOCATION_EFFECT, LOCATION_SHARE, Dirt, generate, log_price
from house_price.schema import load_profile

REPO = Path(__file__).resolve().parents[3]
YEAR = 2025
NO_DIRT = Dirt(missing_rate=0, duplicate_rate=0, messy_category_rate=0, impossible_rate=0)


@pytest.fixture(scope="module")
def houses():
    return load_profile(REPO / "profiles" / "houses.yaml", YEAR)


@pytest.fixture(scope="module")
def default_data():
    """The default params: 5,000 rows, seed 7, noise 0.15, the default rates of dirt."""
    return generate(rows=5000, seed=7, noise_sigma=0.15, reference_year=YEAR, dirt=Dirt())


def test_deterministic_for_a_seed(default_data) -> None:
    again = generate(rows=5000, seed=7, noise_sigma=0.15, reference_year=YEAR, dirt=Dirt())
    pd.testing.assert_frame_equal(again.frame, default_data.frame)
    assert again.noise_floor_rmsle == default_data.noise_floor_rmsle


def test_another_seed_gives_other_data(default_data) -> None:
    other = generate(rows=5000, seed=8, noise_sigma=0.15, reference_year=YEAR, dirt=Dirt())
    assert other.frame.shape == default_data.frame.shape
    assert not other.frame.equals(default_data.frame)
    assert (other.frame["price"].to_numpy() != default_data.frame["price"].to_numpy()).mean() > 0.9


def test_schema_and_size(default_data, houses) -> None:
    frame = default_data.frame
    assert list(frame.columns) == ["price", *houses.feature_names]
    assert len(frame) == 5000 + round(5000 * Dirt().duplicate_rate)  # duplicates are added
    small = generate(rows=1000, seed=1, noise_sigma=0.15, reference_year=YEAR, dirt=NO_DIRT)
    assert len(small.frame) == 1000


def canonical_share(frame: pd.DataFrame, column) -> tuple[int, int]:
    """(rows spelled canonically, rows spelled otherwise but normalising to a category)."""
    values = frame[column.name].dropna()
    canonical = values.isin(column.categories)
    respelled = ~canonical & values.map(column.normalise).notna()
    return int(canonical.sum()), int(respelled.sum())


def test_contains_each_kind_of_dirt(default_data, houses) -> None:
    frame = default_data.frame
    rows = 5000
    # Missing values, about missing_rate of the rows in each of these columns.
    for column in ("price", "bathrooms", "year_built", "condition"):
        assert 0.8 * rows * 0.01 <= frame[column].isna().sum() <= 1.2 * rows * 0.01, column
    assert frame[["sqft", "bedrooms", "location"]].notna().all().all()
    # A few exact duplicates.
    assert frame.duplicated().sum() == round(rows * 0.005)
    # Category spellings that differ in case and whitespace, all normalisable.
    for name in ("location", "condition"):
        column = houses.feature(name)
        canonical, respelled = canonical_share(frame, column)
        assert 0.8 * rows * 0.05 <= respelled <= 1.2 * rows * 0.05, name
        assert canonical + respelled == frame[name].notna().sum(), "an unknown spelling"
    messy = frame["location"][~frame["location"].isin(LOCATION_EFFECT)]
    assert messy.str.contains(r"^\s|\s$").any(), "whitespace variants"
    assert messy.str.strip().str.isupper().any()
    assert messy.str.strip().str.islower().any()
    # Impossible rows: negative sqft, year_built after the reference year.
    impossible = round(rows * 0.003)
    assert (frame["sqft"] < 0).sum() >= impossible // 2
    assert (frame["year_built"] > YEAR).sum() >= impossible - impossible // 2
    assert (frame["sqft"] < 0).sum() + (frame["year_built"] > YEAR).sum() <= impossible + 2


def test_without_dirt_every_row_is_valid(houses) -> None:
    data = generate(rows=3000, seed=3, noise_sigma=0.15, reference_year=YEAR, dirt=NO_DIRT)
    frame = data.frame
    assert not frame.isna().any().any()
    assert not frame.duplicated().any()
    assert set(frame["location"]) == set(LOCATION_EFFECT)
    for column in houses.columns:
        if column.is_category:
            assert frame[column.name].isin(column.categories).all()
        else:
            assert frame[column.name].between(column.minimum, column.maximum).all(), column.name
    shares = frame["location"].value_counts(normalize=True)
    for location, share in zip(LOCATION_EFFECT, LOCATION_SHARE, strict=True):
        assert shares[location] == pytest.approx(share, abs=0.025)


def test_process_repairs_the_dirt(default_data, houses, tmp_path: Path) -> None:
    """Through the CSV, as ingest writes and process reads it: each kind of dirt is counted."""
    path = tmp_path / "data.csv"
    write_csv(path, default_data.frame)
    rows, report = clean(read_raw_csv(path), houses, str(path))
    frame = default_data.frame
    assert report["rows_in"] == len(frame)
    assert report["dropped"]["out_of_bounds_sqft"] == (frame["sqft"] < 0).sum()
    assert report["dropped"]["out_of_bounds_year_built"] == (frame["year_built"] > YEAR).sum()
    assert report["dropped"]["missing_target"] > 0
    assert report["dropped"]["duplicates"] >= frame.duplicated().sum() - 2
    assert report["dropped"]["unknown_location"] == report["dropped"]["unknown_condition"] == 0
    for name in ("location", "condition"):
        assert (
            report["categories_respelled"][name] == canonical_share(frame, houses.feature(name))[1]
        )
        assert rows[name].dropna().isin(houses.feature(name).categories).all()
    assert report["missing_values_kept"]["bathrooms"] > 0
    assert not rows.duplicated().any()
    assert (rows["sqft"] > 0).all()
    assert (rows["year_built"].dropna() <= YEAR).all()


@pytest.mark.parametrize("sigma", [0.05, 0.15, 0.3])
def test_noise_floor_is_the_noise_sigma(sigma: float) -> None:
    data = generate(rows=20_000, seed=11, noise_sigma=sigma, reference_year=YEAR, dirt=Dirt())
    assert data.noise_floor_rmsle == pytest.approx(sigma, rel=0.03)


def test_prices_follow_the_documented_process() -> None:
    """log(price) minus the documented hedonic model is the noise: centred, sd = noise_sigma."""
    sigma = 0.15
    frame = generate(
        rows=20_000, seed=5, noise_sigma=sigma, reference_year=YEAR, dirt=NO_DIRT
    ).frame
    noiseless = log_price(
        frame["sqft"].to_numpy(float),
        frame["bedrooms"].to_numpy(float),
        frame["bathrooms"].to_numpy(float),
        frame["location"].to_numpy(),
        frame["condition"].to_numpy(),
        (YEAR - frame["year_built"]).to_numpy(float),
    )
    residual = np.log(frame["price"].to_numpy()) - noiseless
    assert abs(residual.mean()) < 0.01
    assert residual.std() == pytest.approx(sigma, rel=0.03)
    # The residual is noise: it does not depend on any feature (no term left out of the docs).
    for column in ("sqft", "bedrooms", "bathrooms", "year_built"):
        assert abs(np.corrcoef(residual, frame[column])[0, 1]) < 0.03, column


def test_reference_year_moves_the_construction_years() -> None:
    early = generate(rows=2000, seed=2, noise_sigma=0.15, reference_year=2000, dirt=NO_DIRT)
    late = generate(rows=2000, seed=2, noise_sigma=0.15, reference_year=2025, dirt=NO_DIRT)
    np.testing.assert_array_equal(late.frame["year_built"] - early.frame["year_built"], 25)
    np.testing.assert_array_equal(late.frame["price"], early.frame["price"])  # same ages
