"""Champion/challenger rules, as pure functions (the real registry is in test_experiments)."""

from __future__ import annotations

import json

import pytest

from house_price.evaluation.gate import better
from house_price.tracking.promotion import (
    MIN_COMPARED_ROWS,
    Champion,
    decide,
    improvement,
    report,
    version_tags,
)

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


def test_on_part_of_the_split_both_models_are_judged_on_those_rows() -> None:
    """The issue's example, California after a change of process.seed: on the whole new test
    split the champion "scored" RMSE 24,062 (most of those rows it had trained on) against the
    challenger's 41,066. On the rows neither trained on, each model's own figures there decide."""
    challenger = {**FIGURES, "rmse": 41066.0}
    held = Champion(
        "3", "california", metrics={**FIGURES, "rmse": 44100.0}, rows=812, test_rows=4128,
        challenger_metrics={**FIGURES, "rmse": 41900.0},
    )  # fmt: skip
    decision = decide("rmse", challenger, held, "california", 0.002)
    assert decision.promote
    assert decision.improvement == pytest.approx(improvement("rmse", 41900.0, 44100.0))
    assert "rmse 41900 beats the champion v3's 44100" in decision.reason
    assert decision.reason.endswith(", on the 812 of 4128 test rows neither was trained on")
    shown = report(
        "house-price-california", "champion", "4", "abc", "rmse", 0.002, challenger, {}, held,
        decision,
    )  # fmt: skip
    assert shown["challenger"]["rmse"] == 41066.0  # its test metrics, as metrics.json
    assert shown["champion"]["rows"] == 812
    tags = version_tags(shown)
    assert tags["challenger.rmse"] == "41900.0"  # the figures compared, on the same rows
    assert tags["champion.rmse"] == "44100.0"
    assert tags["promotion.rows"] == "812"


def test_on_the_whole_split_the_reason_says_so() -> None:
    held = Champion("3", "houses", metrics={**FIGURES, "rmse": 110.0}, rows=987, test_rows=987)
    decision = decide("rmse", FIGURES, held, "houses", 0.01)
    assert decision.promote
    assert decision.reason.endswith("(relative gain 9.0909%), on all 987 test rows")
    assert version_tags(report(
        "m", "champion", "4", "abc", "rmse", 0.01, FIGURES, {}, held, decision
    ))["challenger.rmse"] == "100.0"  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "test_rows", "compared"),
    [
        (MIN_COMPARED_ROWS - 1, 1000, False),
        (MIN_COMPARED_ROWS, 1000, True),
        (0, 1000, False),
        (12, 12, True),  # the whole of a small test split: compared, as evaluate's gate does
        (1, 1, False),  # R² needs two rows
    ],
)
def test_too_few_rows_unseen_by_both_keep_the_champion(
    rows: int, test_rows: int, compared: bool
) -> None:
    held = Champion(
        "5", "houses", metrics={**FIGURES, "rmse": 1e9} if rows else None, rows=rows,
        test_rows=test_rows, challenger_metrics=FIGURES if rows else None,
    )  # fmt: skip
    decision = decide("rmse", FIGURES, held, "houses", 0.0)
    assert decision.promote is compared  # a challenger far better: only too few rows stop it
    if not compared:
        assert decision.reason == (
            f"cannot compare with the champion v5 fairly: only {rows} of the {test_rows} test "
            f"rows were unseen by both models (the champion was trained on the others), fewer "
            f"than {MIN_COMPARED_ROWS}; it keeps the alias (move the alias to this version by "
            "hand if it should serve)"
        )
        assert decision.improvement is None


def test_a_champion_that_cannot_be_compared_keeps_the_alias_and_says_why() -> None:
    why = "it was registered without a record of its training rows"
    held = Champion("2", "houses", test_rows=987, not_compared=why)
    decision = decide("rmse", FIGURES, held, "houses", 0.0)
    assert not decision.promote
    assert decision.reason.startswith(f"cannot compare with the champion v2 fairly: {why}; ")
    tags = version_tags(report("m", "champion", "4", "r", "rmse", 0.0, FIGURES, {}, held, decision))
    assert tags["promoted"] == "false"
    assert "champion.rmse" not in tags
    assert "promotion.rows" not in tags
    # A champion that cannot even serve this split is still replaced.
    broken = Champion("2", "houses", problem="columns are missing: {'garage'}", not_compared=why)
    assert decide("rmse", FIGURES, broken, "houses", 0.0).promote
