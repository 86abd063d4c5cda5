"""Champion/challenger: whether a newly registered version (the challenger) takes the alias.

Pure functions: package scores the current champion on the current test split and passes the
figures in; what is decided here is recorded on the model version and in reports/promotion.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from house_price.evaluation.gate import LOWER_IS_BETTER, better


@dataclass(frozen=True)
class Champion:
    """The version the alias points at, scored on the challenger's test split: `metrics` holds
    model.regression_metrics, or is None with `problem` saying why it could not be scored."""

    version: str
    dataset: str
    metrics: Mapping[str, float] | None = None
    problem: str | None = None


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


def decide(
    metric: str,
    challenger: Mapping[str, float],
    champion: Champion | None,
    dataset: str,
    min_improvement: float,
) -> Decision:
    """Promote when there is no champion yet, when the champion cannot score the current test
    split (it cannot serve this data's schema either), or when the challenger beats it by
    `min_improvement` on `metric`. Never across data sets: a champion of another data set
    keeps its alias whatever the figures."""
    if champion is None:
        return Decision(True, "no champion yet", None)
    if champion.dataset != dataset:
        return Decision(
            False,
            f"the champion v{champion.version} is a model of data set {champion.dataset!r}, "
            f"this one of {dataset!r}: give it its own mlflow.registered_model",
            None,
        )
    if champion.metrics is None:
        return Decision(
            True,
            f"the champion v{champion.version} cannot score this test split ({champion.problem})",
            None,
        )
    ours, theirs = challenger[metric], champion.metrics[metric]
    gain = improvement(metric, ours, theirs)
    wins = better(metric, ours, theirs, min_improvement)
    verdict = "beats" if wins else "does not beat"
    return Decision(
        wins,
        f"{metric} {ours:.6g} {verdict} the champion v{champion.version}'s {theirs:.6g} by the "
        f"margin {min_improvement:g} (relative gain {gain:.4%})",
        gain,
    )


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
    challenger: {metric: value}, champion: {version, dataset, metrics|None, problem} | None,
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
    """The report as model-version tags (flat strings): what the MLflow UI shows per version."""
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
    if report["improvement"] is not None:
        tags["promotion.improvement"] = f"{report['improvement']:.6f}"
    for name, scores in report["baselines"].items():
        tags[f"baseline.{name}.{metric}"] = str(scores[metric])
    return tags
