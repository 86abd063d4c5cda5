"""Scoring the test split: the baselines, the quality gate and the tables behind the DVC plots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from house_price.core.params import Evaluate
from house_price.core.prediction import TargetScale

# For each metric of model.regression_metrics: True when lower is better.
LOWER_IS_BETTER = {"rmse": True, "mae": True, "rmsle": True, "r2": False}


# The order of metrics.json, which `dvc metrics show` and `dvc exp show` keep: what a person
# reads first (R², RMSE) leads; the baselines, nested, come last.
METRICS_ORDER = ("r2", "rmse", "mae", "rmsle", "rmsle_over_noise_floor", "noise_floor_rmsle")


def ordered_metrics(
    metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """metrics.json's content: METRICS_ORDER first, then any other figure (test_rows), then
    `baselines` with each baseline's figures in METRICS_ORDER."""

    def order(figures: Mapping[str, Any]) -> dict[str, Any]:
        first = {key: figures[key] for key in METRICS_ORDER if key in figures}
        return first | {key: figures[key] for key in sorted(figures) if key not in first}

    return order(metrics) | {
        "baselines": {name: order(baselines[name]) for name in sorted(baselines)}
    }


def rounded(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Floats to six decimals, what metrics.json keeps: gate and promotion judge the recorded
    figures, so that the same model scores the same on every machine."""
    return {k: round(float(v), 6) if isinstance(v, float) else v for k, v in figures.items()}


def better(metric: str, value: float, reference: float, margin: float = 0.0) -> bool:
    """Whether `value` beats `reference` on `metric` by at least the relative `margin`
    (0.01: 1 % lower RMSE, or 1 % of the remaining gap to a perfect R² of 1).

    Raises KeyError for a metric not in LOWER_IS_BETTER."""
    if LOWER_IS_BETTER[metric]:
        return value < reference * (1.0 - margin)
    return value > reference + margin * (1.0 - reference)


@dataclass(frozen=True)
class Baselines:
    """The two references any model must beat, fitted on the train split (`fit_baselines`)."""

    median: float  # the train split's median price
    linear: Any  # the ridge pipeline, on the fit scale
    low: float  # the train target's range on the fit scale: the ridge output is clipped to it
    high: float
    scale: TargetScale  # what the ridge fits: log1p(price) or the price, never per size

    def predict(self, test_features: np.ndarray) -> dict[str, np.ndarray]:
        """Each baseline's prices, shape (n_test,), for a feature matrix (n_test, features)."""
        raw = np.clip(self.linear.predict(test_features), self.low, self.high)
        return {
            "median": np.full(len(test_features), self.median),
            "linear": self.scale.to_prices(raw, test_features),
        }


def fit_baselines(
    train_features: np.ndarray,
    train_target: np.ndarray,
    log_target: bool,
    median: float | None = None,
) -> Baselines:
    """The baselines:
    - `median`: the train split's median price for every house (`median` when given: the
      Dask engine computes it over all partitions while the ridge sees a sample);
    - `linear`: a ridge regression (alpha 1) on the same feature matrix as the model, missing
      values imputed with the train medians and every column standardised, fitted on
      log1p(price) when `log_target` (else the price); its output is clipped to the train
      target's range on that scale, so that extrapolation cannot overflow expm1. It fits the
      price per house even when the model fits a price per unit of `target.per`: the baseline
      is a plain linear model, a fixed reference for the gate (on the synthetic houses, whose
      generating process is log-linear in size, a ridge per square foot is nearly that process
      and would leave the gate a 1 % margin).
    `train_features`: shape (n, features); `train_target`: prices, shape (n,).
    Deterministic: neither fit draws random numbers."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scale = TargetScale(log_target)
    fit_target = scale.to_fit(train_target, train_features).astype(np.float64)
    linear = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), Ridge(1.0)
    )
    linear.fit(train_features, fit_target)
    if median is None:
        median = float(np.median(np.asarray(train_target, dtype=np.float64)))
    return Baselines(median, linear, fit_target.min(), fit_target.max(), scale)


def gate_failures(
    metrics: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, float]],
    gate: Evaluate,
) -> list[str]:
    """Every way the test metrics miss the gate (empty when the model passes): beat each
    baseline named in `gate.must_beat` on `gate.metric`, and the optional absolute floors
    (`min_r2`; on synthetic data, `max_rmsle_over_noise_floor`)."""
    metric = gate.metric
    failures = [
        f"{metric} {metrics[metric]:.6g} does not beat the {name} baseline's "
        f"{baselines[name][metric]:.6g}"
        for name in gate.must_beat
        if not better(metric, metrics[metric], baselines[name][metric])
    ]
    if gate.min_r2 is not None and metrics["r2"] < gate.min_r2:
        failures.append(f"r2 {metrics['r2']:.4f} < min_r2 {gate.min_r2}")
    ratio = metrics.get("rmsle_over_noise_floor")
    if ratio is not None and ratio > gate.max_rmsle_over_noise_floor:
        failures.append(
            f"rmsle/noise floor {ratio:.3f} > max_rmsle_over_noise_floor "
            f"{gate.max_rmsle_over_noise_floor}"
        )
    return failures


def plot_rows(actual: np.ndarray, predicted: np.ndarray, points: int, seed: int) -> pd.DataFrame:
    """A seeded sample of (actual, predicted, residual): plots stay light at a million rows."""
    frame = pd.DataFrame(
        {"actual": actual, "predicted": predicted, "residual": np.asarray(actual) - predicted}
    )
    if len(frame) > points:
        frame = frame.sample(n=points, random_state=seed).sort_index()
    return frame.round(2)
