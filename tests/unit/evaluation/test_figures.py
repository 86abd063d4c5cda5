"""The figures logged to the MLflow run (house_price.evaluation.figures): the y = x line spans
the data,
importance is drawn largest first, axes carry units."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from house_price.evaluation import figures


def test_predicted_vs_actual_draws_the_identity_line() -> None:
    points = pd.DataFrame({"actual": [100.0, 250.0, 900.0], "predicted": [80.0, 300.0, 1000.0]})
    axes = figures.predicted_vs_actual(points).axes[0]
    (line,) = axes.get_lines()
    assert list(line.get_xdata()) == [80.0, 1000.0]
    assert list(line.get_ydata()) == [80.0, 1000.0]
    assert axes.get_xlabel() == "actual price (USD)"
    assert axes.get_ylabel() == "predicted price (USD)"


def test_importance_is_sorted_by_gain() -> None:
    table = pd.DataFrame({"feature": ["a", "b", "c", "d"], "gain": [1.0, 30.0, 0.0, 30.0]})
    axes = figures.feature_importance(table).axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == ["b", "d", "a", "c"]
    assert axes.yaxis_inverted()  # the first (largest) at the top
    widths = [bar.get_width() for bar in axes.patches]
    assert widths == [30.0, 30.0, 1.0, 0.0]


def test_draw_all_reads_the_evaluate_tables(tmp_path: Path) -> None:
    pd.DataFrame({"actual": [1.0, 2.0], "predicted": [1.5, 2.5]}).to_csv(
        tmp_path / "predicted_vs_actual.csv", index=False
    )
    pd.DataFrame({"predicted": [1.5, 2.5], "residual": [-0.5, -0.5]}).to_csv(
        tmp_path / "residuals.csv", index=False
    )
    with pytest.raises(FileNotFoundError):
        figures.draw_all(tmp_path)
    pd.DataFrame({"feature": ["x"], "gain": [2.0]}).to_csv(
        tmp_path / "feature_importance.csv", index=False
    )
    drawn = figures.draw_all(tmp_path)
    assert sorted(drawn) == ["feature_importance.png", "predicted_vs_actual.png", "residuals.png"]


def test_draw_all_keeps_feature_names_as_written(tmp_path: Path) -> None:
    """Header names pandas reads as missing or as numbers (issue 25: package's importance
    figure ended in matplotlib's TypeError for a feature named `None`)."""
    for table, columns in (("predicted_vs_actual", ["actual", "predicted"]),
                           ("residuals", ["predicted", "residual"])):  # fmt: skip
        pd.DataFrame({name: [1.0, 2.0] for name in columns}).to_csv(
            tmp_path / f"{table}.csv", index=False
        )
    names = ["None", "NA", "null", "nan", "2", "1.5", "true", "#N/A"]
    gains = [float(len(names) - index) for index in range(len(names))]
    pd.DataFrame({"feature": names, "gain": gains}).to_csv(
        tmp_path / "feature_importance.csv", index=False
    )
    axes = figures.draw_all(tmp_path)["feature_importance.png"].axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == names
