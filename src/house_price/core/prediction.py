"""The one prediction formula of pipeline and API: a booster's raw output, on the model's fit
scale, back to prices. numpy only (no scikit-learn, no xgboost), so the API can import it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Predictor(Protocol):
    """A booster as `predict` uses it: `xgboost.Booster`, or the serving path's
    `house_price.serving.booster.ServingBooster` (the same C library, without the Python
    package)."""

    def inplace_predict(self, data: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class TargetScale:
    """What the model fits in place of the price: log1p(price / size) when `log`, else
    price / size, where size is the feature matrix's column `per_column` (the profile's
    `target.per`, e.g. sqft_living: the model learns a price per square foot) or 1 when None.

    A price per unit of size is how appraisers compare houses; a tree predicts it within the
    range it saw, and the size then carries a house larger than any in the train split to a
    proportionally larger price, which a tree on the price itself cannot reach.

    Sizes and fit-scale values are rounded to float32 on purpose: XGBoost stores features and
    labels as float32, and numpy's log1p/expm1 take AVX-512 (SVML) code on CPUs that have it and
    differ from the scalar code by one float64 ULP in about 1 value in 10; float32 absorbs that,
    so every machine fits and predicts the same bits."""

    log: bool
    per_column: int | None = None

    @classmethod
    def of(cls, log: bool, per: str | None, feature_names: Iterable[str]) -> TargetScale:
        """The scale of a model whose matrix has columns `feature_names`; `per` is the profile's
        `target.per` (None: prices themselves). Raises ValueError when `per` is no column."""
        if per is None:
            return cls(log)
        names = list(feature_names)
        if per not in names:
            raise ValueError(f"target.per: {per!r} is not a column of the model matrix")
        return cls(log, names.index(per))

    @property
    def transform(self) -> str:
        """The bundle metadata's `target_transform`: log1p or identity (the size, if any, is
        named by the bundle's profile)."""
        return "log1p" if self.log else "identity"

    def sizes(self, features: np.ndarray) -> np.ndarray | float:
        """Each row's size, shape (n,), float64 holding float32 values; 1.0 without `per`."""
        if self.per_column is None:
            return 1.0
        column = np.asarray(features)[:, self.per_column]
        return column.astype(np.float32).astype(np.float64)

    def to_fit(self, prices: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The target as the model fits it, shape (n,), float32, from prices, shape (n,), and
        their rows' feature matrix, shape (n, features)."""
        values = np.asarray(prices, dtype=np.float64) / self.sizes(features)
        return (np.log1p(values) if self.log else values).astype(np.float32)

    def to_prices(self, raw: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Prices, shape (n,), float64 holding float32 values, from the model's output on the
        fit scale, shape (n,), and the rows' feature matrix, shape (n, features). The model's
        margin is float32, the precision a prediction has; rounding to it makes the result
        independent of the CPU."""
        raw = np.asarray(raw, dtype=np.float64)
        values = np.expm1(raw) if self.log else raw
        return (values * self.sizes(features)).astype(np.float32).astype(np.float64)


def predict(booster: Predictor, features: np.ndarray, scale: TargetScale) -> np.ndarray:
    """Prices, shape (n,), from a feature matrix of shape (n, features)."""
    return scale.to_prices(booster.inplace_predict(features), features)
