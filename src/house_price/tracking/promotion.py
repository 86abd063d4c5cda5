"""Champion/challenger: whether a newly registered version (the challenger) takes the alias.

Pure functions: package scores the current champion on the rows of the current test split that
neither model was trained on (tracking.champion) and passes the figures in; what is decided here
is recorded on the model version and in reports/promotion.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from house_price.core.split import MIN_TEST_ROWS, SMALL_TEST_ROWS
from house_price.evaluation.gate import LOWER_IS_BETTER, better

# The fewest rows a comparison on part of the test split may use: below SMALL_TEST_ROWS the
# project calls test metrics rough estimates (core.split), too rough to rank two models. A
# comparison on the whole test split is made whatever its size, as evaluate's gate is.
MIN_COMPARED_ROWS = SMALL_TEST_ROWS


@dataclass(frozen=True)
class Champion:
    """The version the alias points at, scored on the rows of the challenger's test split that
    neither was trained on: `metrics` holds model.regression_metrics on those `rows` (of the
    split's `test_rows`; None: unknown, the whole split), and `challenger_metrics` the
    challenger's on the same rows when they are not the whole split (None: its test metrics).
    `metrics` is None with `problem` saying why the champion could not score the split, or
    with `not_compared` saying why no row can be shown unseen by both."""

    version: str
    dataset: str
    metrics: Mapping[str, float] | None = None
    problem: str | None = None
    rows: int | None = None
    test_rows: int | None = None
    challenger_metrics: Mapping[str, float] | None = None
    not_compared: str | None = None


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    improvement: float | None  # relative gain on the metric over the champion (0.01: 1 %)


def improvement(metric: str, challenger: float, champion: float) -> float:
    """Relative gain: the share of the champion's error removed (lower-is-better metrics), or of
    its remaining gap to a perfect R² of 1 (r2). Positive: the challenger is better.
    The scale matches evaluation.better's margin."""
    if LOWER_IS_BETTER[metric]:
        return (champion - challenger) / champion if champion else 0.0
    gap = 1.0 - champion
    return (challenger - champion) / gap if gap else 0.0


def enough_rows(rows: int, test_rows: int) -> bool:
    """Whether `rows` of a test split of `test_rows` rows are enough to compare two models on:
    the whole split, or at least MIN_COMPARED_ROWS (and MIN_TEST_ROWS, for R²) of it."""
    return rows >= MIN_TEST_ROWS and (rows == test_rows or rows >= MIN_COMPARED_ROWS)


def _kept(champion: Champion, why: str) -> Decision:
    return Decision(
        False,
        f"cannot compare with the champion v{champion.version} fairly: {why}; it keeps the "
        "alias (move the alias to this version by hand if it should serve)",
        None,
    )


def decide(
    metric: str,
    challenger: Mapping[str, float],
    champion: Champion | None,
    dataset: str,
    min_improvement: float,
) -> Decision:
    """Promote when there is no champion yet, when the champion cannot score the current test
    split (it cannot serve this data's schema either), or when the challenger beats it by
    `min_improvement` on `metric`, on rows neither was trained on. Never across data sets (a
    champion of another data set keeps its alias whatever the figures), nor without a fair
    comparison: when too few rows, or none that can be shown, were unseen by both, the champion
    keeps the alias and the reason says why."""
    if champion is None:
        return Decision(True, "no champion yet", None)
    if champion.dataset != dataset:
        return Decision(
            False,
            f"the champion v{champion.version} is a model of data set {champion.dataset!r}, "
            f"this one of {dataset!r}: give it its own mlflow.registered_model",
            None,
        )
    if champion.problem is not None:
        return Decision(
            True,
            f"the champion v{champion.version} cannot score this test split ({champion.problem})",
            None,
        )
    if champion.not_compared is not None:
        return _kept(champion, champion.not_compared)
    rows, test_rows = champion.rows, champion.test_rows
    if rows is not None and test_rows is not None and not enough_rows(rows, test_rows):
        return _kept(
            champion,
            f"only {rows} of the {test_rows} test rows were unseen by both models (the champion "
            f"was trained on the others), fewer than {MIN_COMPARED_ROWS}",
        )
    if champion.metrics is None:
        raise ValueError(f"the champion v{champion.version} has no figures and no reason why")
    ours = (champion.challenger_metrics or challenger)[metric]
    theirs = champion.metrics[metric]
    gain = improvement(metric, ours, theirs)
    wins = better(metric, ours, theirs, min_improvement)
    verdict = "beats" if wins else "does not beat"
    return Decision(
        wins,
        f"{metric} {ours:.6g} {verdict} the champion v{champion.version}'s {theirs:.6g} by the "
        f"margin {min_improvement:g} (relative gain {gain:.4%}){_scored_on(rows, test_rows)}",
        gain,
    )


def _scored_on(rows: int | None, test_rows: int | None) -> str:
    if rows is None or test_rows is None:
        return ""
    if rows == test_rows:
        return f", on all {rows} test rows"
    return f", on the {rows} of {test_rows} test rows neither was trained on"


def report(
    registered_model: str,
    alias: str,
    version: str,
    run_id: str,
    metric: str,
    min_improvement: float,
    challenger: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, float]],
    champion: Champion | None,
    decision: Decision,
) -> dict[str, Any]:
    """The comparison as reports/promotion.json: numbers for `dvc metrics show`, the rest for
    people. Shape: {registered_model, alias, version, run_id, metric, min_improvement,
    challenger: {metric: value} (its test metrics), champion: {version, dataset, metrics|None,
    problem, rows, test_rows, challenger_metrics|None, not_compared} | None (the figures
    compared: champion.metrics and challenger_metrics, or challenger when those are None),
    baselines: {name: {metric: value}}, improvement, promoted, reason}."""
    return {
        "registered_model": registered_model,
        "alias": alias,
        "version": version,
        "run_id": run_id,
        "metric": metric,
        "min_improvement": min_improvement,
        "challenger": {key: challenger[key] for key in LOWER_IS_BETTER},
        "champion": None if champion is None else asdict(champion),
        "baselines": dict(baselines),
        "improvement": decision.improvement,
        "promoted": decision.promote,
        "reason": decision.reason,
    }


def version_tags(report: Mapping[str, Any]) -> dict[str, str]:
    """The report as model-version tags (flat strings): what the MLflow UI shows per version.
    `challenger.<metric>` and `champion.<metric>` are the figures compared, on the same rows
    (`promotion.rows` of them)."""
    metric = report["metric"]
    tags = {
        "promoted": str(report["promoted"]).lower(),
        "promotion.metric": metric,
        "promotion.min_improvement": str(report["min_improvement"]),
        "promotion.reason": report["reason"],
        f"challenger.{metric}": str(report["challenger"][metric]),
    }
    champion = report["champion"]
    if champion is not None:
        tags["champion.version"] = champion["version"]
        if champion["metrics"] is not None:
            tags[f"champion.{metric}"] = str(champion["metrics"][metric])
        if champion["challenger_metrics"] is not None:  # the challenger on the same rows
            tags[f"challenger.{metric}"] = str(champion["challenger_metrics"][metric])
        if champion["rows"] is not None:
            tags["promotion.rows"] = str(champion["rows"])
    if report["improvement"] is not None:
        tags["promotion.improvement"] = f"{report['improvement']:.6f}"
    for name, scores in report["baselines"].items():
        tags[f"baseline.{name}.{metric}"] = str(scores[metric])
    return tags
