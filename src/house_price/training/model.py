"""The regressor: the number of trees chosen by k-fold cross-validation on the train split, the
final model fitted on the whole train split; predict, score."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import KFold

from house_price.core.errors import DataError
from house_price.core.params import Train
from house_price.core.split import ROWS_PER_FOLD, salted_keys


def fold_splits(rows: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) index arrays of a seeded, shuffled k-fold split of `rows` rows:
    every row is held out exactly once. Raises DataError when there are fewer than
    ROWS_PER_FOLD (2) rows per fold (early stopping needs a held-out part of more than one row)."""
    if rows < ROWS_PER_FOLD * folds:
        raise DataError(
            f"train.cv_folds = {folds} needs at least {ROWS_PER_FOLD * folds} train rows, "
            f"got {rows}: lower cv_folds"
        )
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.arange(rows)))


def tree_count(fold_trees: list[int], folds: int) -> int:
    """The number of trees of the final model from each fold's early-stopped count.

    The mean fold count, scaled by k / (k - 1): each fold model saw (k - 1) / k of the rows the
    final model sees, and at a fixed learning rate the useful number of rounds grows with the
    rows. This is a common rule of thumb for refitting on all rows after cross-validation, not a
    derived result; on King County it beat the unscaled mean (BENCHMARKS.md, Training
    quality)."""
    return max(1, round(float(np.mean(fold_trees)) * folds / (folds - 1)))


def fold_fit(
    features: np.ndarray,
    fit_target: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    hyper: dict[str, Any],
    early_stopping_rounds: int,
    seed: int,
    threads: int = 1,
) -> tuple[int, float]:
    """(trees, held-out RMSE on the fit scale) of one fold: fitted on `rows[0]` on `threads`
    threads (0: every core), stopped early on `rows[1]` after `early_stopping_rounds` rounds
    without improvement."""
    fit_rows, held_out = rows
    regressor = xgb.XGBRegressor(
        **{**hyper, "n_jobs": threads},
        random_state=seed,
        early_stopping_rounds=early_stopping_rounds,
        eval_metric="rmse",
    )
    regressor.fit(
        features[fit_rows],
        fit_target[fit_rows],
        eval_set=[(features[held_out], fit_target[held_out])],
        verbose=False,
    )
    return int(regressor.best_iteration) + 1, float(regressor.best_score)


@dataclass(frozen=True)
class CrossValidation:
    """Each fold's early-stopped tree count and held-out RMSE (fit scale), in fold order."""

    fold_trees: list[int]
    fold_rmse: list[float]

    @property
    def rmse(self) -> float:
        """The mean held-out RMSE over the folds: what tuning minimises."""
        return float(np.mean(self.fold_rmse))


def cross_validate(
    features: np.ndarray,
    fit_target: np.ndarray,
    params: Train,
    progress: Callable[[str], None] = lambda line: None,
) -> CrossValidation:
    """k-fold cross-validation of the `train` params on `features` (shape (n, features)) and
    `fit_target` (shape (n,): prediction.TargetScale.to_fit of the prices): each of `cv_folds`
    seeded folds fits on the other folds and stops early on its held-out part (`fold_fit`, at
    most `n_estimators` trees). The folds run one per thread, `n_jobs` at a time (0: every
    core), which on small data beats XGBoost's own threads. Above `cv_max_rows` rows only the
    first fold is fitted, on `n_jobs` threads: its held-out 1/k of the rows is a large
    validation set, and k fits would cost k times the time. `progress` receives one short line
    per fold, in fold order. Raises DataError when there are too few rows for the folds."""
    seed, folds = params.seed, params.cv_folds
    hyper = params.xgboost_params()
    splits = fold_splits(len(features), folds, seed)
    threads = 1
    if len(features) > params.cv_max_rows:
        splits, threads = splits[:1], params.n_jobs
        progress(f"{len(features)} rows > cv_max_rows: the first fold only")
    stopping = params.early_stopping_rounds
    workers = min(len(splits), params.n_jobs or os.cpu_count() or 1)
    result = CrossValidation([], [])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        fitted = pool.map(
            lambda rows: fold_fit(features, fit_target, rows, hyper, stopping, seed, threads),
            splits,
        )
        for index, (trees, rmse) in enumerate(fitted, 1):
            result.fold_trees.append(trees)
            result.fold_rmse.append(rmse)
            progress(f"fold {index}/{folds}: {trees} trees, rmse {rmse:.4f}")
    return result


def fit(
    features: np.ndarray,
    fit_target: np.ndarray,
    params: Train,
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[xgb.Booster, dict[str, Any]]:
    """Train on `features` (shape (n, features)) and `fit_target` (shape (n,): the prices on
    the model's fit scale, prediction.TargetScale.to_fit):
    `cross_validate` on these rows, `tree_count` from the folds' counts, then the final model
    with that many trees on all rows (`n_jobs` threads). Returns the booster and its figures
    (RMSE on the fit scale). Raises DataError when there are too few rows for the folds."""
    folds = params.cv_folds
    validation = cross_validate(features, fit_target, params, progress)
    trees = tree_count(validation.fold_trees, folds)
    final = xgb.XGBRegressor(
        **{**params.xgboost_params(), "n_estimators": trees}, random_state=params.seed
    )
    final.fit(features, fit_target)
    return final.get_booster(), training_figures(validation, trees, folds, len(features))


def training_figures(
    validation: CrossValidation, trees: int, folds: int, rows: int
) -> dict[str, Any]:
    """What train records of a fit (training.json; logged to the MLflow run)."""
    return {
        "trees": trees,
        "cv_rmse_fit_scale": validation.rmse,
        "cv_rmse_fit_scale_sd": float(np.std(validation.fold_rmse)),
        "cv_folds": folds,
        "fold_trees_mean": float(np.mean(validation.fold_trees)),
        "train_rows": rows,
    }


def fold_ids(frame: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Each row's cross-validation fold (0 to folds - 1), shape (n,), from a seeded hash of its
    values (rows are distinct once duplicates are dropped): the Dask engine's folds, the same on
    any partitioning."""
    from pandas.util import hash_pandas_object

    keys = salted_keys(hash_pandas_object(frame, index=False).to_numpy(), seed)
    return (keys % np.uint64(folds)).astype(np.int64)


def error_sums(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The sufficient statistics of `regression_metrics` for one set of rows (a whole split or
    one partition), shapes (n,): the row count, the actual prices' mean and sum of squared
    deviations from it, and the sums of squared, absolute and squared log errors (a price
    below 0 is scored as 0: RMSLE is undefined for it)."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    errors = actual - predicted
    rows = len(actual)
    mean = float(actual.mean()) if rows else 0.0
    log_errors = np.log1p(actual) - np.log1p(np.clip(predicted, 0.0, None))
    return {
        "rows": rows,
        "mean": mean,
        "m2": float(np.sum((actual - mean) ** 2)),
        "squared": float(np.sum(errors**2)),
        "absolute": float(np.sum(np.abs(errors))),
        "squared_log": float(np.sum(log_errors**2)),
    }


def merge_error_sums(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    """The `error_sums` of two sets of rows together: sums add; the mean and m2 combine by
    Chan, Golub and LeVeque's pairwise update ("Updating formulae and a pairwise algorithm for
    computing sample variances", 1979), which keeps m2 accurate at any row count."""
    rows = first["rows"] + second["rows"]
    if not first["rows"] or not second["rows"]:
        return dict(first if first["rows"] else second)
    delta = second["mean"] - first["mean"]
    merged = {key: first[key] + second[key] for key in ("squared", "absolute", "squared_log")}
    return merged | {
        "rows": rows,
        "mean": first["mean"] + delta * second["rows"] / rows,
        "m2": first["m2"] + second["m2"] + delta**2 * first["rows"] * second["rows"] / rows,
    }


def metrics_from_sums(sums: dict[str, float]) -> dict[str, float]:
    """RMSE, MAE, R² and RMSLE from `error_sums`: the formulas of scikit-learn's metrics
    (R² = 1 - squared / m2; with no variance in the actual prices, 1.0 for a perfect fit and
    0.0 otherwise, as `r2_score` gives with force_finite)."""
    rows = sums["rows"]
    if sums["m2"] > 0:
        r2 = 1.0 - sums["squared"] / sums["m2"]
    else:
        r2 = 1.0 if sums["squared"] == 0 else 0.0
    return {
        "rmse": float(np.sqrt(sums["squared"] / rows)),
        "mae": sums["absolute"] / rows,
        "r2": float(r2),
        "rmsle": float(np.sqrt(sums["squared_log"] / rows)),
    }


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE (price units), R² and RMSLE of `predicted` against `actual`, shapes (n,):
    `metrics_from_sums` of `error_sums`, the same arithmetic the Dask engine adds up over
    partitions."""
    return metrics_from_sums(error_sums(actual, predicted))


def feature_importance(booster: xgb.Booster, names: list[str]) -> list[dict[str, Any]]:
    """Total gain per feature (features never used in a split score 0), largest first."""
    gain = booster.get_score(importance_type="total_gain")
    rows = [
        {"feature": name, "gain": float(gain.get(f"f{index}", 0.0))}
        for index, name in enumerate(names)
    ]
    return sorted(rows, key=lambda row: (-row["gain"], row["feature"]))
