"""The registry's champion against a newly registered version (the challenger): the champion
scored on the challenger's test split, partition by partition, then the decision
(tracking.promotion, pure) recorded on the new version (tags, description) and the alias moved
when it wins."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import Any

from house_price.core.errors import BundleError
from house_price.core.io import read_json
from house_price.core.params import Mlflow
from house_price.core.tables import iter_partitions
from house_price.evaluation.gate import rounded
from house_price.serving.bundle import METADATA_FILE, load_bundle
from house_price.tracking import promotion, registry
from house_price.training import model


def score_champion(name: str, alias: str, test: Path, target: str) -> promotion.Champion | None:
    """The champion's figures on this test split, partition by partition (or why it cannot
    score it); None when there is no champion."""
    with tempfile.TemporaryDirectory(prefix="champion.") as scratch:
        found = registry.champion_bundle(name, alias, Path(scratch))
        if found is None:
            return None
        champion_version, directory = found
        sums = []
        try:
            champion = load_bundle(directory)
            for rows in iter_partitions(test):
                predicted = champion.predict_frame(rows)
                sums.append(model.error_sums(rows[target].to_numpy(float), predicted))
        except (BundleError, KeyError, ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            dataset = _dataset_of(directory)
            return promotion.Champion(champion_version, dataset, problem=first)
    figures = model.metrics_from_sums(reduce(model.merge_error_sums, sums))
    return promotion.Champion(
        champion_version, str(champion.metadata["dataset"]), metrics=rounded(figures)
    )


def _dataset_of(directory: Path) -> str:
    try:
        return str(read_json(directory / METADATA_FILE)["dataset"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def challenge(
    name: str,
    registered: str,
    run_id: str,
    metric: str,
    metrics: Mapping[str, Any],
    test: Path,
    target: str,
    dataset: str,
    settings: Mlflow,
) -> tuple[dict[str, Any], promotion.Decision]:
    """Score the champion of `name` (its `settings.alias`) on `test`, decide whether version
    `registered` (its run `run_id`, its test `metrics` with their baselines) takes the alias,
    and record the decision in the registry. Returns the report (reports/promotion.json) and
    the decision."""
    alias, margin = settings.alias, settings.min_improvement
    champion = score_champion(name, alias, test, target)
    decision = promotion.decide(metric, metrics, champion, dataset, margin)
    report = promotion.report(
        name, alias, registered, run_id, metric, margin, metrics, metrics["baselines"], champion,
        decision,
    )  # fmt: skip
    registry.record_decision(
        name, registered, alias, promotion.version_tags(report), decision.reason, decision.promote
    )
    return report, decision
