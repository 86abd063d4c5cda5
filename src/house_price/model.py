"""The regressor: fit with early stopping on a slice of the train split, predict, score."""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb
from sklearn import metrics

# Keys of the `train` params that configure the procedure; all others go to XGBoost.
PROCEDURE_KEYS = ("log_target", "validation_size", "early_stopping_rounds", "seed")


def target_transform(log_target: bool) -> str:
    return "log1p" if log_target else "identity"


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


def to_fit_scale(target: np.ndarray, log_target: bool) -> np.ndarray:
    """The target as the model fits it, shape (n,), float32 (what XGBoost stores labels as).

    Rounded to float32 on purpose: numpy's log1p/expm1 take AVX-512 (SVML) code on CPUs that
    have it and differ from the scalar code by one float64 ULP in about 1 value in 10; float32
    absorbs that, so every machine fits and predicts the same bits."""
    values = np.asarray(target, dtype=np.float64)
    return (np.log1p(values) if log_target else values).astype(np.float32)


def from_fit_scale(raw: np.ndarray, transform: str) -> np.ndarray:
    """Prices, shape (n,), float64 holding float32 values, from the model's output scale.

    The model's margin is float32, so float32 is the precision a prediction has; rounding to
    it makes the result independent of the CPU (see to_fit_scale)."""
    raw = np.asarray(raw, dtype=np.float64)
    prices = np.expm1(raw) if transform == "log1p" else raw
    return prices.astype(np.float32).astype(np.float64)


def predict(booster: xgb.Booster, features: np.ndarray, transform: str) -> np.ndarray:
    """Prices from a feature matrix; the one prediction function of pipeline and API."""
    return from_fit_scale(booster.inplace_predict(features), transform)


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
