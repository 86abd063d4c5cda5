"""package: assemble the model bundle and register it in MLflow.

Runs only after evaluate has passed the quality gate. The bundle (profile, fitted transformer,
model, metadata) is first loaded and self-checked exactly as the API does at start-up, so that
nothing is registered that would not serve; then it is logged to the training run as one pyfunc
model, registered, and the alias is moved to the new version; the same directory is what the
API and image serve.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import platform
from importlib.metadata import version
from pathlib import Path

from house_price import model, stage, tracking
from house_price.api import load_model
from house_price.bundle import METADATA_FILE, content_version, write_bundle
from house_price.drift import write_reference
from house_price.io import atomic_dir, read_json, read_table, write_json

LIBRARIES = ("xgboost", "scikit-learn", "pandas", "numpy", "mlflow", "dvc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)  # drift reference distributions
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--run-info", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    settings = params["mlflow"]
    tracking.connect()

    run = read_json(args.run_info)
    metrics = read_json(args.metrics)
    metadata = {
        "model_name": settings["registered_model"],
        "model_version": content_version(args.transformer, args.model),
        "dataset": profile.name,
        "target": profile.target.name,
        "target_transform": model.target_transform(params["train"]["log_target"]),
        "reference_year": profile.reference_year,
        "metrics": metrics,
        "params": tracking.flatten(params["train"]),
        "lineage": {**tracking.git_state(), "data_md5": read_json(args.manifest)["md5"]},
        "mlflow": {"run_id": run["run_id"], "registered_model": settings["registered_model"]},
        "versions": {"python": platform.python_version()}
        | {name: version(name) for name in LIBRARIES},
    }
    example = read_table(args.test)[profile.feature_names].dropna().head(5)
    with atomic_dir(args.bundle) as bundle:
        write_bundle(bundle, stage.profile_path(params), args.transformer, args.model, metadata)
        write_reference(bundle, args.train)  # drift.json: the train split's bins and shares
        load_model(bundle, threads=1)  # never register what the API would not serve
        registered = tracking.log_bundle(
            run_id=run["run_id"],
            bundle_dir=bundle,
            profile=profile,
            input_example=example,
            metrics={k: v for k, v in metrics.items() if isinstance(v, int | float)},
            registered_model=settings["registered_model"],
            alias=settings["alias"],
        )
        metadata["mlflow"].update(version=registered, alias=settings["alias"])
        write_json(bundle / METADATA_FILE, metadata)
    print(
        f"package: {args.bundle} version {metadata['model_version']}, registered as "
        f"{settings['registered_model']} v{registered} @{settings['alias']}"
    )


if __name__ == "__main__":
    stage.run(main)
