"""package: assemble the model bundle, log it to MLflow, and promote it only on evidence.

Runs only after evaluate has passed the quality gate. The bundle (profile, fitted transformer,
model, metadata) is deterministic, so its hash in dvc.lock is the same on every machine. It is
loaded and self-checked exactly as the API does at start-up, then logged as one pyfunc model to
a new MLflow run and registered as a new version. The registry's champion is scored on the same
test split; the alias moves only when this version beats it by `mlflow.min_improvement`. The
comparison goes on the model version (tags, description) and into reports/promotion.json; the
run and version go to the bundle's registrations/ (which DVC does not hash) in the workspace,
also when this runs in an experiment's temporary copy. The run is tagged with the engine; on
the Dask engine, the cluster's size is among its training metrics.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import platform
import shutil
import tempfile
from functools import reduce
from importlib.metadata import version
from pathlib import Path

from house_price.core import prediction, stage
from house_price.core.errors import BundleError
from house_price.core.io import atomic_dir, read_json, write_json
from house_price.core.tables import iter_partitions, read_head
from house_price.evaluation.figures import draw_all
from house_price.evaluation.gate import rounded
from house_price.serving.bundle import (
    REGISTRATIONS,
    content_version,
    load_bundle,
    registration_path,
    write_bundle,
)
from house_price.serving.served import ServedModel
from house_price.tracking import promotion
from house_price.tracking import registry as tracking
from house_price.training import model

LIBRARIES = ("xgboost", "scikit-learn", "pandas", "numpy", "mlflow", "dvc")


def score_champion(name: str, alias: str, test: Path, target: str) -> promotion.Champion | None:
    """The champion's figures on this test split, partition by partition (or why it cannot
    score it)."""
    with tempfile.TemporaryDirectory(prefix="champion.") as scratch:
        found = tracking.champion_bundle(name, alias, Path(scratch))
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
        return str(read_json(directory / "metadata.json")["dataset"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)  # drift reference distributions
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--figures", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--plots", type=Path, required=True)  # logged with their figures
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--promotion", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    settings = params["mlflow"]
    name = tracking.registered_model_name(settings["registered_model"], profile.name)
    alias, metric = settings["alias"], params["evaluate"]["metric"]

    metrics = read_json(args.metrics)
    manifest = read_json(args.manifest)
    content = content_version(args.transformer, args.model)
    metadata = {
        "model_name": name,
        "model_version": content,
        "dataset": profile.name,
        "target": profile.target.name,
        # the log part of the model's TargetScale; its size column is the profile's target.per
        "target_transform": prediction.TargetScale(params["train"]["log_target"]).transform,
        "target_per": profile.target_per,
        "reference_year": profile.reference_year,
        "metrics": metrics,
        "params": tracking.flatten(params["train"]),
        "lineage": {"data_md5": manifest["md5"]},
        "mlflow": {"registered_model": name},
        "versions": {"python": platform.python_version()}
        | {library: version(library) for library in LIBRARIES},
    }
    train = stage.train_frame(params, args.train)
    examples = read_head(args.test, 5, complete=profile.feature_names)
    engine = {}  # the pandas engine's runs log the params they always did
    if params["engine"] == "dask":
        engine = {"engine": "dask", "dask": {"sample_rows": params["dask"]["sample_rows"]}}
    with tracking.registry_lock(), atomic_dir(args.bundle) as bundle:
        uri = tracking.connect()
        # one pass, drift.json (the train split's bins and shares) included
        profile_path = stage.profile_path(params)
        write_bundle(bundle, profile_path, args.transformer, args.model, metadata, train)
        ServedModel.load(bundle, threads=1)  # never register what the API would not serve
        run_id = tracking.log_run(
            experiment=settings["experiment"],
            params={key: params[key] for key in ("dataset", "process", "features", "train")}
            | engine,
            tags=tracking.run_tags(profile.name, manifest["md5"])
            | {"model_version": content, "engine": params["engine"]},
            metrics={"training": read_json(args.figures), **metrics},
            plots_dir=args.plots,
            figures=draw_all(args.plots),
        )
        registered = tracking.log_bundle(run_id, bundle, profile, examples, name)
        champion = score_champion(name, alias, args.test, profile.target.name)
        decision = promotion.decide(
            metric, metrics, champion, profile.name, settings["min_improvement"]
        )
        report = promotion.report(
            name, alias, registered, run_id, metric, settings["min_improvement"],
            metrics, metrics["baselines"], champion, decision,
        )  # fmt: skip
        tracking.record_decision(
            name, registered, alias, promotion.version_tags(report), decision.reason,
            decision.promote,
        )  # fmt: skip
        record = {
            "registered_model": name,
            "version": registered,
            "run_id": run_id,
            "tracking_uri": uri,
            "promoted": decision.promote,
            **tracking.git_state(),
        }
        if (args.bundle / REGISTRATIONS).is_dir():  # earlier versions' records stay
            shutil.copytree(args.bundle / REGISTRATIONS, bundle / REGISTRATIONS)
        write_json(registration_path(bundle, content), record)
    workspace = stage.workspace_root()
    if workspace != Path.cwd().resolve():  # an experiment's temporary copy: the workspace's too
        write_json(registration_path(workspace / args.bundle, content), record)
    write_json(args.promotion, report)
    moved = f"@{alias} moved to v{registered}" if decision.promote else f"@{alias} stays"
    print(f"package: {args.bundle} version {content}, registered as {name} v{registered}")
    print(f"package: {moved}: {decision.reason}")


if __name__ == "__main__":
    stage.run(main)
