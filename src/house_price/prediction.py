"""The one prediction formula of pipeline and API: a booster's raw output, on the model's fit
scale, back to prices. numpy only (no scikit-learn, no xgboost), so the API can import it."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Predictor(Protocol):
    """A booster as `predict` uses it: `xgboost.Booster`, or the serving path's
    `house_price.booster.ServingBooster` (the same C library, without the Python package)."""

    def inplace_predict(self, data: np.ndarray) -> np.ndarray: ...


def target_transform(log_target: bool) -> str:
    return "log1p" if log_target else "identity"


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


def predict(booster: Predictor, features: np.ndarray, transform: str) -> np.ndarray:
    """Prices, shape (n,), from a feature matrix of shape (n, features)."""
    return from_fit_scale(booster.inplace_predict(features), transform)
