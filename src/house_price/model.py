"""The regressor: fit with early stopping on a slice of the train split, predict, score."""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb
from sklearn import metrics

from house_price.prediction import to_fit_scale

# Keys of the `train` params that configure the procedure; all others go to XGBoost.
PROCEDURE_KEYS = ("log_target", "validation_size", "early_stopping_rounds", "seed")


def fit(
    features: np.ndarray, target: np.ndarray, params: dict[str, Any]
) -> tuple[xgb.Booster, dict[str, float]]:
    """Train on `features`; the last `validation_size` of a seeded shuffle picks the number of
    trees (early stopping). Returns the booster cut at its best iteration and its figures."""
    seed = int(params["seed"])
    fit_target = to_fit_scale(target, params["log_target"])
    order = np.random.default_rng(seed).permutation(len(features))
    n_validation = max(1, round(len(features) * float(params["validation_size"])))
    fit_rows, validation_rows = order[n_validation:], order[:n_validation]
    hyper = {key: value for key, value in params.items() if key not in PROCEDURE_KEYS}
    regressor = xgb.XGBRegressor(
        **hyper,
        random_state=seed,
        early_stopping_rounds=int(params["early_stopping_rounds"]),
        eval_metric="rmse",
    )
    regressor.fit(
        features[fit_rows],
        fit_target[fit_rows],
        eval_set=[(features[validation_rows], fit_target[validation_rows])],
        verbose=False,
    )
    best = int(regressor.best_iteration)
    booster = regressor.get_booster()[: best + 1]
    return booster, {
        "best_iteration": best,
        "validation_rmse_fit_scale": float(regressor.best_score),
        "train_rows": len(fit_rows),
        "validation_rows": len(validation_rows),
    }


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return {
        "rmse": float(metrics.root_mean_squared_error(actual, predicted)),
        "mae": float(metrics.mean_absolute_error(actual, predicted)),
        "r2": float(metrics.r2_score(actual, predicted)),
        # RMSLE is undefined for negative predictions; a price below 0 is scored as 0.
        "rmsle": float(metrics.root_mean_squared_log_error(actual, np.clip(predicted, 0.0, None))),
    }


def feature_importance(booster: xgb.Booster, names: list[str]) -> list[dict[str, Any]]:
    """Total gain per feature (features never used in a split score 0), largest first."""
    gain = booster.get_score(importance_type="total_gain")
    rows = [
        {"feature": name, "gain": float(gain.get(f"f{index}", 0.0))}
        for index, name in enumerate(names)
    ]
    return sorted(rows, key=lambda row: (-row["gain"], row["feature"]))
