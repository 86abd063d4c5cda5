"""package: assemble the model bundle, log it to MLflow, and promote it only on evidence.

Runs after evaluate's quality gate. The bundle (profile, fitted transformer, model, metadata
naming the params that fitted the model) is deterministic: its dvc.lock hash is the same on every
machine. Self-checked as the API does, it is logged as one pyfunc model to a new MLflow run
(with the keys of its training rows: tracking.trained_rows) and registered as a new version.
Under the registry's promotion lock, it and the champion are scored on the test rows neither
was trained on; the alias moves only on a gain of `mlflow.min_improvement` (tracking.champion;
reports/promotion.json). The run and version go to the bundle's registrations/ (not hashed by
DVC), also from an experiment's temporary copy; on Dask, the cluster's size is a metric.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import shutil
from pathlib import Path

from house_price.core import stage
from house_price.core.io import atomic_dir, read_json, write_json
from house_price.core.tables import read_head
from house_price.engines import sample
from house_price.evaluation.figures import draw_all
from house_price.serving.bundle import (
    REGISTRATIONS,
    content_version,
    registration_path,
    write_bundle,
)
from house_price.serving.metadata import bundle_metadata
from house_price.serving.served import ServedModel
from house_price.tracking import registry as tracking
from house_price.tracking import trained_rows
from house_price.tracking.champion import challenge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # --train: the drift reference's distributions; --tuned: tune's best params (what fitted);
    # --plots: logged with their figures
    files = "test train manifest transformer model tuned figures metrics plots bundle promotion"
    for option in files.split():
        parser.add_argument(f"--{option}", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    settings = params.mlflow
    name = tracking.registered_model_name(settings.registered_model, profile.name)
    # What fitted the model: the train params, tune's best ones in place (none when it is off).
    fitted = params.train.overridden(read_json(args.tuned)["params"])
    metrics = read_json(args.metrics)
    manifest = read_json(args.manifest)
    content = content_version(args.transformer, args.model)
    metadata = bundle_metadata(name, content, profile, fitted, metrics, manifest["md5"])
    engine = sample.for_params(params)
    train = engine.train_frame(args.train)
    examples = read_head(args.test, 5, complete=profile.feature_names)
    trained = trained_rows.of_table(args.train, [column.name for column in profile.columns])
    with tracking.registry_lock(), atomic_dir(args.bundle) as bundle:
        uri = tracking.connect()
        # one pass, drift.json (the train split's bins and shares) included
        profile_path = stage.profile_path(params)
        write_bundle(bundle, profile_path, args.transformer, args.model, metadata, train)
        ServedModel.load(bundle, threads=1)  # never register what the API would not serve
        run_id = tracking.log_run(
            experiment=settings.experiment,
            params=params.run_params(fitted) | engine.run_params(),
            tags=tracking.run_tags(profile.name, manifest["md5"])
            | {"model_version": content, "engine": params.engine},
            metrics={"training": read_json(args.figures), **metrics},
            plots_dir=args.plots,
            figures=draw_all(args.plots),
        )
        tracking.log_trained_rows(run_id, trained)
        registered = tracking.log_bundle(run_id, bundle, profile, examples, name)
        report, decision = challenge(
            name, registered, run_id, params.evaluate.metric, metrics, args.test,
            profile.target.name, profile.name, manifest["md5"]["test"], bundle, settings,
        )  # fmt: skip
        record = {"registered_model": name, "version": registered, "run_id": run_id}
        record |= {"tracking_uri": uri, "promoted": decision.promote, **tracking.git_state()}
        if (args.bundle / REGISTRATIONS).is_dir():  # earlier versions' records stay
            shutil.copytree(args.bundle / REGISTRATIONS, bundle / REGISTRATIONS)
        write_json(registration_path(bundle, content), record)
    workspace = stage.workspace_root()
    if workspace != Path.cwd().resolve():  # an experiment's temporary copy: the workspace's too
        write_json(registration_path(workspace / args.bundle, content), record)
    write_json(args.promotion, report)
    moved = f"moved to v{registered}" if decision.promote else "stays"
    print(f"package: {args.bundle} version {content}, registered as {name} v{registered}")
    print(f"package: @{settings.alias} {moved}: {decision.reason}")


if __name__ == "__main__":
    stage.run(main)
