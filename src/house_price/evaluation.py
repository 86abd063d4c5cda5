"""Scoring the test split: the quality gate and the tables behind the DVC plots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def gate_failures(metrics: Mapping[str, Any], gate: Mapping[str, Any]) -> list[str]:
    """Every way the metrics miss the gate params (empty when the model passes)."""
    failures = []
    if metrics["r2"] < gate["min_r2"]:
        failures.append(f"r2 {metrics['r2']:.4f} < min_r2 {gate['min_r2']}")
    ratio = metrics.get("rmsle_over_noise_floor")
    if ratio is not None and ratio > gate["max_rmsle_over_noise_floor"]:
        failures.append(
            f"rmsle/noise floor {ratio:.3f} > max_rmsle_over_noise_floor "
            f"{gate['max_rmsle_over_noise_floor']}"
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
