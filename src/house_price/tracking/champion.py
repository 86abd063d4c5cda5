"""The registry's champion against a newly registered version (the challenger), under the
registry's promotion lock: both scored on the rows of the challenger's test split that neither
was trained on, partition by partition, then the decision (tracking.promotion, pure) recorded on
the new version (tags, description) and the alias moved when it wins.

Which rows: the whole split when it is the champion's own test split (the same file, by its
hash in the champion's lineage); else the rows whose values are not among the champion's
training rows (tracking.trained_rows, recorded with its run). A champion registered before
those were recorded cannot be compared on another split: the decision says so."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from house_price.core.errors import BundleError
from house_price.core.io import read_json
from house_price.core.params import Mlflow
from house_price.core.tables import iter_partitions
from house_price.evaluation.gate import rounded
from house_price.serving.bundle import METADATA_FILE, Bundle, load_bundle
from house_price.tracking import promotion, registry, trained_rows
from house_price.tracking.promotion_lock import Lease, promotion_lock
from house_price.training import model


def _figures(sums: list[dict[str, float]]) -> dict[str, Any] | None:
    merged = reduce(model.merge_error_sums, sums)
    return rounded(model.metrics_from_sums(merged)) if merged["rows"] else None


def _unseen_rule(
    files: registry.ChampionFiles, metadata: Mapping[str, Any], test_md5: str
) -> tuple[trained_rows.TrainedRows | None, str | None]:
    """(None, None): every test row is unseen by the champion (its own test split); (its
    training rows, None): those rows are not; (None, why): no row can be shown unseen."""
    if metadata.get("lineage", {}).get("data_md5", {}).get("test") == test_md5:
        return None, None
    if files.trained_rows is None:
        return None, (
            "it was registered without a record of its training rows (before they were "
            "recorded) and its test split is not this one, so no row of this one can be shown "
            "to be unseen by it"
        )
    try:
        trained = trained_rows.read(files.trained_rows)
    except (OSError, ValueError, KeyError) as exc:
        return None, f"its record of training rows cannot be read ({exc})"
    if not np.array_equal(trained.fingerprint, trained_rows.fingerprint()):
        return None, (
            "its training rows were recorded with another hashing of the values (another "
            "pandas?), so they cannot be matched with this test split's"
        )
    return trained, None


def _score(
    champion: Bundle, challenger: Path, test: Path, target: str, trained: Any
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, int, int]:
    """(champion's figures, challenger's, rows, test rows) on the rows `trained` leaves
    unseen (every row when it is None; then no challenger figures: its test metrics are the
    ones). The champion predicts every row, so one that cannot serve the split says so."""
    ours, theirs, rows, total = [], [], 0, 0
    other = None if trained is None else load_bundle(challenger)
    for part in iter_partitions(test):
        predicted = champion.predict_frame(part)
        keep = np.ones(len(part), bool) if other is None else trained_rows.unseen(part, trained)
        actual = part[target].to_numpy(float)
        theirs.append(model.error_sums(actual[keep], predicted[keep]))
        if other is not None and keep.any():
            ours.append(model.error_sums(actual[keep], other.predict_frame(part[keep])))
        rows, total = rows + int(keep.sum()), total + len(part)
    return _figures(theirs), (_figures(ours) if ours else None), rows, total


def score_champion(
    name: str, alias: str, test: Path, target: str, test_md5: str, challenger: Path
) -> promotion.Champion | None:
    """The champion's figures, and the challenger's (its bundle in `challenger`), on the rows
    of this test split (its data md5: `test_md5`) that neither was trained on, or why they
    cannot be compared; None when there is no champion."""
    with tempfile.TemporaryDirectory(prefix="champion.") as scratch:
        files = registry.champion_files(name, alias, Path(scratch))
        if files is None:
            return None
        version = files.version
        try:
            champion = load_bundle(files.bundle)
        except BundleError as exc:
            return promotion.Champion(version, _dataset_of(files.bundle), problem=_first(exc))
        dataset = str(champion.metadata["dataset"])
        trained, why = _unseen_rule(files, champion.metadata, test_md5)
        try:  # with `why` too: a champion that cannot serve this split is replaced
            theirs, ours, rows, total = _score(champion, challenger, test, target, trained)
        except (BundleError, KeyError, ValueError, TypeError) as exc:
            return promotion.Champion(version, dataset, problem=_first(exc))
    if why is not None:
        return promotion.Champion(version, dataset, test_rows=total, not_compared=why)
    return promotion.Champion(
        version, dataset, metrics=theirs, rows=rows, test_rows=total, challenger_metrics=ours
    )


def _first(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _dataset_of(directory: Path) -> str:
    try:
        return str(read_json(directory / METADATA_FILE)["dataset"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def _still_current(
    decision: promotion.Decision, name: str, alias: str, compared: str | None, lease: Lease
) -> promotion.Decision:
    """The decision to promote, unless the alias moved since the comparison (by hand) or the
    lock was lost (held past its lease): then the alias is left alone and the reason says so."""
    if not decision.promote:
        return decision
    now = registry.alias_version(name, alias)
    if now != compared:
        was, moved = (f"v{version}" if version else "no version" for version in (compared, now))
        return promotion.Decision(
            False,
            f"@{alias} moved to {moved} while this version was compared with {was}; run package "
            f"again to compare with {moved} (it would have been: {decision.reason})",
            decision.improvement,
        )
    if not lease.held():
        return promotion.Decision(
            False,
            f"the promotion lock was lost (held past its lease); run package again (it would "
            f"have been: {decision.reason})",
            decision.improvement,
        )
    return decision


def challenge(
    name: str,
    registered: str,
    run_id: str,
    metric: str,
    metrics: Mapping[str, Any],
    test: Path,
    target: str,
    dataset: str,
    test_md5: str,
    bundle: Path,
    settings: Mlflow,
) -> tuple[dict[str, Any], promotion.Decision]:
    """Under `name`'s promotion lock: score the champion of `name` (its `settings.alias`) and
    version `registered` (its bundle in `bundle`, its run `run_id`, its test `metrics` with
    their baselines) on the rows of `test` (data md5 `test_md5`) neither was trained on,
    decide whether the version takes the alias, and record the decision in the registry.
    Returns the report (reports/promotion.json) and the decision."""
    alias, margin = settings.alias, settings.min_improvement
    with promotion_lock(name) as lease:
        champion = score_champion(name, alias, test, target, test_md5, bundle)
        decision = promotion.decide(metric, metrics, champion, dataset, margin)
        compared = None if champion is None else champion.version
        decision = _still_current(decision, name, alias, compared, lease)
        report = promotion.report(
            name, alias, registered, run_id, metric, margin, metrics, metrics["baselines"],
            champion, decision,
        )  # fmt: skip
        registry.record_decision(
            name, registered, alias, promotion.version_tags(report), decision.reason,
            decision.promote,
        )  # fmt: skip
    return report, decision
