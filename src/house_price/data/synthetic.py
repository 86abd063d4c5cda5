"""The embedded default data: a synthetic house market with a known generating process.

Hedonic model (log-linear, the standard form for house prices):

    log(price) = log(BASE_PRICE)
                 + 0.85 * log(sqft / 1500)          # size elasticity
                 + 0.03 * (bedrooms - 3)            # extra bedrooms at equal size
                 + 0.06 * (bathrooms - 2)
                 + LOCATION_EFFECT[location]
                 + CONDITION_EFFECT[condition]
                 - 0.004 * min(age, 80) + 0.002 * max(age - 80, 0)   # depreciation, then vintage
                 + epsilon,   epsilon ~ Normal(0, noise_sigma)

so the noise is multiplicative, and no model can beat an RMSLE of about `noise_sigma` on clean
rows: `noise_floor_rmsle` records the exact figure for the generated rows. After the clean rows
are drawn, the dirt that a process stage must handle is added: missing values, exact duplicates,
category spellings that differ in case and whitespace, and impossible rows (negative sqft,
year_built after the reference year). Each block of BLOCK_ROWS houses is drawn, dirt included,
from its own seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from house_price.core.params import Synthetic

BASE_PRICE = 320_000.0
LOCATION_EFFECT = {
    "Downtown": 0.35,
    "Urban": 0.15,
    "Suburb": 0.0,
    "Rural": -0.30,
    "Waterfront": 0.55,
    "Mountain": -0.05,
}
LOCATION_SHARE = [0.12, 0.25, 0.33, 0.15, 0.05, 0.10]
LOCATION_MEDIAN_SQFT = {  # denser places have smaller homes
    "Downtown": 1100,
    "Urban": 1400,
    "Suburb": 1900,
    "Rural": 2100,
    "Waterfront": 2300,
    "Mountain": 1800,
}
CONDITION_EFFECT = {"Poor": -0.25, "Fair": -0.10, "Good": 0.0, "Excellent": 0.12}
# Houses are drawn in blocks of this many, each from its own seeded generator: a data set of any
# size is the same whether it is drawn in one process or as partitions on many workers.
BLOCK_ROWS = 100_000


@dataclass(frozen=True)
class Dirt:
    """Rates of each kind of dirt, as fractions of the rows."""

    missing_rate: float = 0.01
    duplicate_rate: float = 0.005
    messy_category_rate: float = 0.05
    impossible_rate: float = 0.003

    @classmethod
    def from_params(cls, settings: Synthetic) -> Dirt:
        """The rates the `synthetic` params set."""
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SyntheticData:
    frame: pd.DataFrame
    noise_floor_rmsle: float  # RMSLE of the noiseless price against the noisy one, clean rows


def log_price(
    sqft: np.ndarray,
    bedrooms: np.ndarray,
    bathrooms: np.ndarray,
    location: np.ndarray,
    condition: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    """The noiseless log price of the hedonic model above."""
    location_effect = pd.Series(location).map(LOCATION_EFFECT).to_numpy(float)
    condition_effect = pd.Series(condition).map(CONDITION_EFFECT).to_numpy(float)
    return (
        np.log(BASE_PRICE)
        + 0.85 * np.log(sqft / 1500.0)
        + 0.03 * (bedrooms - 3)
        + 0.06 * (bathrooms - 2)
        + location_effect
        + condition_effect
        - 0.004 * np.minimum(age, 80)
        + 0.002 * np.maximum(age - 80, 0)
    )


def _clean_houses(rng: np.random.Generator, rows: int, reference_year: int) -> pd.DataFrame:
    locations = np.array(list(LOCATION_EFFECT))
    location = rng.choice(locations, size=rows, p=LOCATION_SHARE)
    median_sqft = pd.Series(location).map(LOCATION_MEDIAN_SQFT).to_numpy(float)
    sqft = np.clip(np.round(median_sqft * rng.lognormal(0.0, 0.35, rows)), 350, 12_000)
    bedrooms = np.clip(np.round(sqft / 650 + rng.normal(0.3, 0.7, rows)), 1, 8).astype(int)
    bathrooms = np.clip(np.round((bedrooms * 0.6 + rng.normal(0.3, 0.5, rows)) * 2) / 2, 1, 6)
    year_built = reference_year - np.minimum(rng.gamma(2.0, 20.0, rows).astype(int), 150)
    age = reference_year - year_built
    # Older houses are more often in worse condition.
    condition_score = rng.normal(0, 1, rows) - age / 60
    condition = np.select(
        [condition_score < -1.6, condition_score < -0.6, condition_score < 0.9],
        ["Poor", "Fair", "Good"],
        "Excellent",
    )
    return pd.DataFrame(
        {
            "sqft": sqft.astype(int),
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "location": location,
            "year_built": year_built.astype(int),
            "condition": condition,
        }
    )


def _messy_spelling(rng: np.random.Generator, values: pd.Series) -> pd.Series:
    styles = rng.integers(0, 4, len(values))
    spelled = np.where(styles == 0, values.str.lower(), values.str.upper())
    spelled = np.where(styles == 2, "  " + values.str.lower() + " ", spelled)
    spelled = np.where(styles == 3, " " + values + "  ", spelled)
    return pd.Series(spelled, index=values.index)


def _pick(rng: np.random.Generator, rows: int, rate: float) -> np.ndarray:
    return rng.choice(rows, size=round(rows * rate), replace=False)


def add_dirt(rng: np.random.Generator, frame: pd.DataFrame, dirt: Dirt, reference_year: int):
    """Return a dirty copy: what a raw export of a real listing system looks like."""
    frame = frame.astype({"sqft": "float", "year_built": "float", "bathrooms": "float"})
    frame["price"] = frame["price"].astype(float)
    rows = len(frame)
    for column in ("location", "condition"):
        index = frame.index[_pick(rng, rows, dirt.messy_category_rate)]
        frame.loc[index, column] = _messy_spelling(rng, frame.loc[index, column])
    for column in ("bathrooms", "year_built", "condition", "price"):
        frame.loc[frame.index[_pick(rng, rows, dirt.missing_rate)], column] = np.nan
    impossible = _pick(rng, rows, dirt.impossible_rate)
    half = len(impossible) // 2
    frame.loc[frame.index[impossible[:half]], "sqft"] *= -1
    frame.loc[frame.index[impossible[half:]], "year_built"] = reference_year + rng.integers(
        1, 30, len(impossible) - half
    )
    duplicates = frame.iloc[np.sort(_pick(rng, rows, dirt.duplicate_rate))]
    frame = pd.concat([frame, duplicates], ignore_index=True)
    # Shuffle so that duplicates are not all at the end.
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def block_rows(rows: int) -> list[int]:
    """How many houses each block draws: BLOCK_ROWS each, the last one the rest."""
    full, rest = divmod(rows, BLOCK_ROWS)
    return [BLOCK_ROWS] * full + ([rest] if rest else [])


def raw_block_rows(rows: int, dirt: Dirt) -> list[int]:
    """How many raw rows each block holds once its duplicates are added (`add_dirt`)."""
    return [size + round(size * dirt.duplicate_rate) for size in block_rows(rows)]


def generate_block(
    block: int, rows: int, seed: int, noise_sigma: float, reference_year: int, dirt: Dirt
) -> SyntheticData:
    """Block `block` of a data set: `rows` houses (before duplicates are added), drawn from its
    own generator, so any block can be drawn alone, in any order, on any worker. Block 0 draws
    from `seed` itself (a data set of up to BLOCK_ROWS houses is the one generated before
    blocks existed); block k >= 1 from the seed's (k - 1)th spawned SeedSequence, NumPy's
    independent streams for parallel work."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block - 1,) if block else ())
    rng = np.random.default_rng(sequence)
    houses = _clean_houses(rng, rows, reference_year)
    noiseless = log_price(
        houses["sqft"].to_numpy(float),
        houses["bedrooms"].to_numpy(float),
        houses["bathrooms"].to_numpy(float),
        houses["location"].to_numpy(),
        houses["condition"].to_numpy(),
        (reference_year - houses["year_built"]).to_numpy(float),
    )
    price = np.round(np.exp(noiseless + rng.normal(0.0, noise_sigma, rows)), -2)
    floor = float(np.sqrt(np.mean((np.log1p(price) - np.log1p(np.exp(noiseless))) ** 2)))
    houses.insert(0, "price", price)
    return SyntheticData(add_dirt(rng, houses, dirt, reference_year), floor)


def noise_floor(blocks: list[tuple[int, float]]) -> float:
    """The data set's RMSLE floor from each block's (houses, floor): the root of the mean
    square over all houses."""
    squares = sum(rows * floor**2 for rows, floor in blocks)
    return float(np.sqrt(squares / sum(rows for rows, _ in blocks)))


def generate(
    rows: int, seed: int, noise_sigma: float, reference_year: int, dirt: Dirt
) -> SyntheticData:
    """Draw `rows` houses (before duplicates are added), deterministically from `seed`: the
    blocks of `block_rows`, one after the other (the Dask engine writes each as a partition)."""
    sizes = block_rows(rows)
    blocks = [
        generate_block(index, size, seed, noise_sigma, reference_year, dirt)
        for index, size in enumerate(sizes)
    ]
    frame = pd.concat([block.frame for block in blocks], ignore_index=True)
    floor = noise_floor(
        [(size, block.noise_floor_rmsle) for size, block in zip(sizes, blocks, strict=True)]
    )
    return SyntheticData(frame, floor)
