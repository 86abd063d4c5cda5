"""A tiny model bundle built in-process with the package's own functions, for the unit tier: the
pipeline's steps (synthetic generate -> clean -> split -> FeatureTransformer fit -> training fit
-> write_bundle, with its drift reference) on a few hundred rows with a handful of trees. No DVC, no
subprocess, no MLflow: a second or two.

Its registrations/ record is written as package writes one (a made-up run), so GET /model shows
a registered model as the pipeline's bundle does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from house_price.core.io import file_md5, read_raw_csv, write_csv, write_json
from house_price.core.params import Train
from house_price.core.split import split
from house_price.core.tables import write_table
from house_price.data.cleaning import clean
from house_price.data.synthetic import Dirt, generate
from house_price.features import FeatureTransformer
from house_price.schema import Profile, load_profile
from house_price.serving.bundle import (
    Bundle,
    content_version,
    load_bundle,
    registration_path,
    write_bundle,
)
from house_price.serving.metadata import bundle_metadata
from house_price.tracking.registry import registered_model_name
from house_price.training import model

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "houses.yaml"
REFERENCE_YEAR = 2025
ROWS = 600  # before duplicates; about 120 rows in the test split
# More dirt than the default data: the small test split still holds rows with missing values
# (>= 10), respelled categories and dropped rows.
DIRT = Dirt(missing_rate=0.05, duplicate_rate=0.01, messy_category_rate=0.05, impossible_rate=0.01)
TRAIN = Train.model_validate(
    {
        "seed": 42,
        "log_target": True,
        "cv_folds": 2,
        "cv_max_rows": 200_000,
        "early_stopping_rounds": 5,
        "n_estimators": 12,  # a handful of trees
        "learning_rate": 0.3,
        "max_depth": 3,
        "min_child_weight": 1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "tree_method": "hist",
        "n_jobs": 1,
        "max_bin": 64,
    }
)


@dataclass(frozen=True)
class TinyPipeline:
    bundle_dir: Path
    train: pd.DataFrame
    test: pd.DataFrame
    predictions: np.ndarray  # the pipeline path's (fitted transformer + xgboost) on `test`
    test_lines: np.ndarray  # the source CSV's line of each row of `test`
    work: Path  # the splits as process writes them: train.parquet, test.parquet
    data_md5: dict[str, str]  # as process's manifest: raw, train, test

    @property
    def bundle(self) -> Bundle:
        return load_bundle(self.bundle_dir)


def tiny_data(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    """Synthetic houses as generate draws them, dirtier than the default data (DIRT)."""
    return generate(
        rows=rows, seed=seed, noise_sigma=0.15, reference_year=REFERENCE_YEAR, dirt=DIRT
    ).frame


def build_tiny_bundle(
    directory: Path,
    data: pd.DataFrame | None = None,
    split_seed: int = 42,
    test_size: float = 0.2,
) -> TinyPipeline:
    """Run the tiny pipeline in `directory` (work files in it, the bundle in `bundle/`) on
    `data` (default: `tiny_data()`), split by `split_seed` and `test_size`."""
    work = directory / "work"
    work.mkdir(parents=True)
    source = work / "data.csv"  # as ingest writes it and process reads it
    write_csv(source, tiny_data() if data is None else data)
    prepared = prepare(PROFILE, source, split_seed, test_size)
    return train_and_package(directory, prepared)


@dataclass(frozen=True)
class Prepared:
    """What the stages before train make of a CSV: the profile (ingest), the split (process),
    the fitted transformer (featurize)."""

    profile_path: Path
    profile: Profile
    source: Path
    train: pd.DataFrame
    test: pd.DataFrame
    test_lines: np.ndarray  # the source CSV's line of each row of `test`
    transformer: FeatureTransformer


def prepare(
    profile_path: Path, source: Path, split_seed: int = 42, test_size: float = 0.2
) -> Prepared:
    """The stages before train on the CSV `source` with the profile in `profile_path`: clean,
    split (by `test_size` and `split_seed`), the transformer fitted on the train split.
    DataError as those stages raise it."""
    profile = load_profile(profile_path, REFERENCE_YEAR)
    rows, _report = clean(read_raw_csv(source), profile, str(source))
    train, test = split(rows, test_size, split_seed, str(source))
    index = pd.DataFrame({"line": rows.index}, index=rows.index)
    lines = split(index, test_size, split_seed)[1]["line"]
    transformer = FeatureTransformer(profile).fit(train)
    return Prepared(profile_path, profile, source, train, test, lines.to_numpy(), transformer)


def build_bundle(
    directory: Path, profile_path: Path, source: Path, train_params: Train = TRAIN
) -> TinyPipeline:
    """`prepare`, then `train_and_package`."""
    return train_and_package(directory, prepare(profile_path, source), train_params)


def train_and_package(
    directory: Path, prepared: Prepared, train_params: Train = TRAIN
) -> TinyPipeline:
    """The train and package stages on `prepared`: the model (`train_params`), the bundle in
    `directory / "bundle"` (work files in `directory / "work"`)."""
    profile, train, transformer = prepared.profile, prepared.train, prepared.transformer
    features = transformer.transform(train)
    scale = transformer.target_scale(train_params.log_target)
    fit_target = scale.to_fit(train[profile.target.name].to_numpy(float), features)
    booster, _figures = model.fit(features, fit_target, train_params)

    work = directory / "work"
    work.mkdir(parents=True, exist_ok=True)
    write_table(work / "train.parquet", train)
    write_table(work / "test.parquet", prepared.test)
    data_md5 = {name: file_md5(work / f"{name}.parquet") for name in ("train", "test")}
    data_md5["raw"] = file_md5(prepared.source)
    transformer_path, model_path = work / "transformer.joblib", work / "model.ubj"
    joblib.dump(transformer, transformer_path)
    booster.save_model(str(model_path))
    version = content_version(transformer_path, model_path)
    metrics = {"rmse": 1.0, "mae": 1.0, "r2": 0.5, "rmsle": 0.2}
    registered = registered_model_name("house-price-{dataset}", profile.name)
    metadata = bundle_metadata(registered, version, profile, train_params, metrics, data_md5)
    bundle_dir = directory / "bundle"
    bundle_dir.mkdir()
    write_bundle(bundle_dir, prepared.profile_path, transformer_path, model_path, metadata, train)
    record = {
        "registered_model": registered,
        "version": "1",
        "run_id": "0123456789abcdef0123456789abcdef",
        "tracking_uri": "sqlite:///unused/mlflow.db",
        "promoted": True,
        "git_commit": "0" * 40,
        "git_dirty": False,
    }
    write_json(registration_path(bundle_dir, version), record)
    predictions = load_bundle(bundle_dir).predict_frame(prepared.test)
    return TinyPipeline(
        bundle_dir, train, prepared.test, predictions, prepared.test_lines, work, data_md5
    )
