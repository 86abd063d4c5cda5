"""Champion/challenger rules, as pure functions (the real registry is in test_experiments)."""

from __future__ import annotations

import json

import pytest

from house_price.evaluation.gate import better
from house_price.tracking.promotion import Champion, decide, improvement, report, version_tags

FIGURES = {"rmse": 100.0, "mae": 80.0, "rmsle": 0.2, "r2": 0.90}


def champion(**metrics: float) -> Champion:
    return Champion("3", "houses", metrics={**FIGURES, **metrics})


@pytest.mark.parametrize(
    ("metric", "challenger", "held", "margin", "promoted"),
    [
        ("rmse", 99.0, 100.0, 0.005, True),  # 1 % better, margin 0.5 %
        ("rmse", 99.6, 100.0, 0.005, False),  # 0.4 % better: inside the margin
        ("rmse", 100.0, 100.0, 0.0, False),  # a tie never promotes
        ("rmse", 101.0, 100.0, 0.0, False),  # worse
        ("mae", 79.0, 80.0, 0.01, True),
        ("rmsle", 0.21, 0.2, 0.0, False),
        ("r2", 0.91, 0.90, 0.05, True),  # removes 10 % of the gap to 1
        ("r2", 0.902, 0.90, 0.05, False),  # removes 2 % of the gap
        ("r2", 0.89, 0.90, 0.0, False),
    ],
)
def test_the_challenger_must_beat_the_champion_by_the_margin(
    metric: str, challenger: float, held: float, margin: float, promoted: bool
) -> None:
    decision = decide(
        metric, {**FIGURES, metric: challenger}, champion(**{metric: held}), "houses", margin
    )
    assert decision.promote is promoted
    assert decision.improvement == pytest.approx(improvement(metric, challenger, held))
    assert ("beats" if promoted else "does not beat") in decision.reason
    assert "champion v3" in decision.reason


def test_improvement_is_relative_and_signed() -> None:
    assert improvement("rmse", 90.0, 100.0) == pytest.approx(0.10)
    assert improvement("rmse", 110.0, 100.0) == pytest.approx(-0.10)
    assert improvement("r2", 0.95, 0.90) == pytest.approx(0.5)
    assert improvement("r2", 0.85, 0.90) == pytest.approx(-0.5)
    # `better` and `improvement` share one scale: better by m <=> improvement > m.
    for metric, ours, theirs in [("rmse", 95.0, 100.0), ("r2", 0.93, 0.9)]:
        gain = improvement(metric, ours, theirs)
        assert better(metric, ours, theirs, gain * 0.99)
        assert not better(metric, ours, theirs, gain * 1.01)


def test_no_champion_promotes() -> None:
    decision = decide("rmse", FIGURES, None, "houses", 0.01)
    assert decision.promote
    assert decision.reason == "no champion yet"


def test_a_champion_of_another_data_set_keeps_its_alias() -> None:
    other = Champion("7", "california", metrics={**FIGURES, "rmse": 1e9})
    decision = decide("rmse", FIGURES, other, "houses", 0.0)
    assert not decision.promote
    assert "'california'" in decision.reason
    assert "mlflow.registered_model" in decision.reason


def test_a_champion_that_cannot_score_this_split_is_replaced() -> None:
    broken = Champion("2", "houses", problem="columns are missing: {'garage'}")
    decision = decide("rmse", FIGURES, broken, "houses", 0.01)
    assert decision.promote
    assert "cannot score" in decision.reason
    assert "garage" in decision.reason


def test_the_report_and_the_version_tags_carry_the_comparison() -> None:
    held = champion(rmse=110.0)
    decision = decide("rmse", FIGURES, held, "houses", 0.01)
    baselines = {"median": {**FIGURES, "rmse": 300.0}, "linear": {**FIGURES, "rmse": 150.0}}
    shown = report(
        "house-price-houses", "champion", "4", "abc", "rmse", 0.01, FIGURES | {"test_rows": 9},
        baselines, held, decision,
    )  # fmt: skip
    assert json.loads(json.dumps(shown)) == shown  # plain JSON, as dvc metrics show reads it
    assert shown["promoted"] is True
    assert shown["challenger"] == FIGURES
    assert shown["champion"]["metrics"]["rmse"] == 110.0
    assert shown["improvement"] == pytest.approx(10 / 110)
    tags = version_tags(shown)
    assert tags == {
        "promoted": "true",
        "promotion.metric": "rmse",
        "promotion.min_improvement": "0.01",
        "promotion.reason": decision.reason,
        "challenger.rmse": "100.0",
        "champion.version": "3",
        "champion.rmse": "110.0",
        "promotion.improvement": f"{10 / 110:.6f}",
        "baseline.median.rmse": "300.0",
        "baseline.linear.rmse": "150.0",
    }
    assert all(isinstance(value, str) for value in tags.values())
