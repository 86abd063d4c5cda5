"""The evaluate stage's plot tables drawn as figures for the MLflow run (the DVC plots are the
same tables, drawn by `dvc plots`): predicted vs actual with the y = x line, residuals, and
feature importance sorted by total gain. Prices in the data's currency (USD for every shipped
data set). matplotlib (a dependency of MLflow) without a display."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

PRICE_UNIT = "USD"


def predicted_vs_actual(points: pd.DataFrame) -> Figure:
    """Columns `actual`, `predicted` (prices) -> scatter plot with the dashed y = x line over
    the range of both."""
    figure = Figure(figsize=(6, 6), layout="constrained")
    axes = figure.subplots()
    axes.scatter(points["actual"], points["predicted"], s=6, alpha=0.4)
    low = float(min(points["actual"].min(), points["predicted"].min()))
    high = float(max(points["actual"].max(), points["predicted"].max()))
    axes.plot([low, high], [low, high], "k--", linewidth=1, label="y = x (perfect prediction)")
    axes.set(
        xlabel=f"actual price ({PRICE_UNIT})",
        ylabel=f"predicted price ({PRICE_UNIT})",
        title="Predicted vs actual price (test split)",
    )
    axes.legend(loc="upper left")
    return figure


def residuals(points: pd.DataFrame) -> Figure:
    """Columns `predicted`, `residual` (actual - predicted) -> scatter plot around y = 0."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.scatter(points["predicted"], points["residual"], s=6, alpha=0.4)
    axes.axhline(0.0, color="black", linestyle="--", linewidth=1)
    axes.set(
        xlabel=f"predicted price ({PRICE_UNIT})",
        ylabel=f"residual, actual - predicted ({PRICE_UNIT})",
        title="Residuals vs predicted price (test split)",
    )
    return figure


def feature_importance(importance: pd.DataFrame) -> Figure:
    """Columns `feature`, `gain` -> horizontal bars, the largest gain on top."""
    ranked = importance.sort_values(["gain", "feature"], ascending=[False, True])
    figure = Figure(figsize=(7, 0.3 * len(ranked) + 1.2), layout="constrained")
    axes = figure.subplots()
    axes.barh(ranked["feature"], ranked["gain"])
    axes.invert_yaxis()  # the largest first, at the top
    axes.set(
        xlabel="total gain (reduction of the training loss)",
        title="Feature importance by total gain",
    )
    return figure


# Each of the evaluate stage's tables (dvc.yaml `plots:`) and how it is drawn.
DRAW = {
    "predicted_vs_actual.csv": predicted_vs_actual,
    "residuals.csv": residuals,
    "feature_importance.csv": feature_importance,
}


def draw_all(plots_dir: Path) -> dict[str, Figure]:
    """{"<table>.png": figure} for every table of DRAW in `plots_dir`; FileNotFoundError if
    one is missing. A feature's name is read as written: pandas would read `None` or `NA` as a
    missing value, and `2` as a number (a header may be any of them)."""
    return {
        Path(table).with_suffix(".png").name: draw(
            pd.read_csv(plots_dir / table, keep_default_na=False, dtype={"feature": str})
        )
        for table, draw in DRAW.items()
    }
