"""Training quality: the pipeline's model against a plain XGBoost, side by side on every shipped
data set (issue 13).

For each data set, the same steps as the pipeline's stages, through the package's functions:
clean the rows with the profile, split them with `process`'s params (test_size, seed), fit the
feature transformer on the train split, then fit

- the pipeline: `house_price.training.model.fit` with params.yaml's `train` (trees by k-fold
  cross-validation on the train split, final fit on all of it),
- the plain XGBoost of the issue: 1000 trees, learning rate 0.05, depth 6, subsample and
  colsample_bytree 0.8, hist, the same seed,

on the same train matrix, and score both on the same test split, on the price scale. The test
split is only predicted. The pipeline fits its TargetScale (log1p of the price per unit of the
profile's `target.per` when it declares one, e.g. King County's sqft_living); the plain
XGBoost fits the price itself (log1p(price) when `train.log_target`), as a plain model would.

Data sets: houses (synthetic, from params.yaml's `synthetic`), california and kingcounty (their
profiles), seed (the course project's 84 rows, with a profile drafted in memory as
`house-price profile init` would), the CSVs read from --data (default ../shared/data). A data
set whose CSV is absent is skipped with a note.

    python bench/quality_bench.py [--data DIR] [--datasets houses california ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from house_price.core.io import read_raw_csv, write_csv
from house_price.core.params import Params, Train, load_params
from house_price.core.prediction import TargetScale, predict
from house_price.core.split import split
from house_price.data.cleaning import clean
from house_price.data.synthetic import Dirt, generate
from house_price.drafting import draft_profile
from house_price.features import FeatureTransformer
from house_price.schema import Profile, load_profile, profile_from_dict
from house_price.training import model

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
CSV_FILES = {
    "california": "california_housing.csv",
    "kingcounty": "kc_house_data.csv",
    "seed": "seed_house_data.csv",
}
DATASETS = ("houses", "california", "kingcounty", "seed")
# The plain XGBoost (and ../shared/data/README.md's reference row).
PLAIN = {
    "n_estimators": 1000,
    "learning_rate": 0.05,
    "max_depth": 6,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "tree_method": "hist",
}


@dataclass(frozen=True)
class Split:
    """One data set's cleaned train and test rows, its profile, and the synthetic noise floor
    (RMSLE of the noiseless price; None on real data)."""

    profile: Profile
    train: pd.DataFrame
    test: pd.DataFrame
    noise_floor: float | None


def raw_rows(dataset: str, params: Params, data: Path) -> tuple[Path, Profile, float | None]:
    """(raw CSV, profile, noise floor) of a data set, as ingest would give them; the synthetic
    CSV is written to a temporary file. Raises FileNotFoundError when a real CSV is absent."""
    year = params.features.reference_year
    if dataset == "houses":
        settings = params.synthetic
        drawn = generate(
            rows=settings.rows,
            seed=settings.seed,
            noise_sigma=settings.noise_sigma,
            reference_year=year,
            dirt=Dirt.from_params(settings),
        )
        path = Path(tempfile.mkdtemp()) / "houses.csv"
        write_csv(path, drawn.frame)
        return path, load_profile(REPO / "profiles" / "houses.yaml", year), drawn.noise_floor_rmsle
    path = data / CSV_FILES[dataset]
    if not path.is_file():
        raise FileNotFoundError(path)
    if dataset == "seed":
        draft = draft_profile(
            read_raw_csv(path), "price", name="seed", source=str(path), command="quality_bench"
        )
        return path, profile_from_dict(draft.profile, year), None
    return path, load_profile(REPO / "profiles" / f"{dataset}.yaml", year), None


def load_split(dataset: str, params: Params, data: Path) -> Split:
    """The data set's train and test rows, cleaned and split as the process stage does."""
    path, profile, floor = raw_rows(dataset, params, data)
    rows, _ = clean(read_raw_csv(path), profile, str(path))
    settings = params.process
    train, test = split(rows, settings.test_size, settings.seed, str(path))
    return Split(profile, train, test, floor)


def scores(actual: np.ndarray, predicted: np.ndarray, floor: float | None) -> dict[str, float]:
    """regression_metrics, plus RMSLE / noise floor on synthetic data."""
    figures = model.regression_metrics(actual, predicted)
    if floor is not None:
        figures["rmsle_over_floor"] = figures["rmsle"] / floor
    return figures


def compare(data: Split, train_params: Train) -> dict[str, dict[str, Any]]:
    """Test-split scores of the pipeline's model and the plain XGBoost, fitted on the same
    train matrix; each with its fit time in seconds."""
    transformer = FeatureTransformer(data.profile).fit(data.train)
    name = data.profile.target.name
    train_x, test_x = transformer.transform(data.train), transformer.transform(data.test)
    train_y, test_y = data.train[name].to_numpy(float), data.test[name].to_numpy(float)
    scale = transformer.target_scale(train_params.log_target)

    started = time.monotonic()
    fit_y = scale.to_fit(train_y, train_x)
    booster, figures = model.fit(train_x, fit_y, train_params, progress=print)
    pipeline = scores(test_y, predict(booster, test_x, scale), data.noise_floor)
    pipeline.update(seconds=time.monotonic() - started, trees=figures["trees"])

    started = time.monotonic()
    plain_model = xgb.XGBRegressor(
        **PLAIN, n_jobs=train_params.n_jobs, random_state=train_params.seed
    )
    plain_scale = TargetScale(train_params.log_target)
    plain_model.fit(train_x, plain_scale.to_fit(train_y, train_x))
    plain_prices = predict(plain_model.get_booster(), test_x, plain_scale)
    plain = scores(test_y, plain_prices, data.noise_floor)
    plain.update(seconds=time.monotonic() - started, trees=PLAIN["n_estimators"])
    return {"pipeline": pipeline, "plain XGBoost": plain}


def table(results: dict[str, dict[str, dict[str, Any]]], rows: dict[str, tuple[int, int]]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "| data | train / test rows | model | trees | R² | RMSE | RMSLE | RMSLE / floor | fit s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for dataset, models in results.items():
        for label, figures in models.items():
            ratio = figures.get("rmsle_over_floor")
            lines.append(
                f"| {dataset} | {rows[dataset][0]:,} / {rows[dataset][1]:,} | {label} "
                f"| {figures['trees']} | {figures['r2']:.4f} | {figures['rmse']:,.0f} "
                f"| {figures['rmsle']:.4f} | {'' if ratio is None else f'{ratio:.3f}'} "
                f"| {figures['seconds']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder of the CSVs")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    results, rows = {}, {}
    for dataset in args.datasets:
        try:
            data = load_split(dataset, params, args.data)
        except FileNotFoundError as missing:
            print(f"{dataset}: skipped, {missing} is absent", file=sys.stderr)
            continue
        print(f"{dataset}: {len(data.train)} train rows, {len(data.test)} test rows")
        rows[dataset] = (len(data.train), len(data.test))
        results[dataset] = compare(data, params.train)
    print(table(results, rows))


if __name__ == "__main__":
    main()
