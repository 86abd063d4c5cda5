"""train: fit the XGBoost regressor on the transformed train split and record an MLflow run.

The tracking store is checked before any work, so an unreachable server fails in seconds.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

import joblib

from house_price import model, stage, tracking
from house_price.io import atomic_path, read_json, read_table, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--run-info", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    uri = tracking.connect()

    rows = read_table(args.train)
    transformer = joblib.load(args.transformer)
    features = transformer.transform(rows)
    target = rows[profile.target.name].to_numpy(float)
    booster, figures = model.fit(features, target, params["train"])
    with atomic_path(args.model) as tmp:
        booster.save_model(tmp)

    manifest = read_json(args.manifest)
    run_id = tracking.start_training_run(
        experiment=params["mlflow"]["experiment"],
        params={
            "dataset": params["dataset"],
            "train": params["train"],
            "process": params["process"],
            "features": params["features"],
        },
        tags=tracking.run_tags(profile.name, manifest["md5"]),
        metrics=figures,
    )
    write_json(args.run_info, {"run_id": run_id, "tracking_uri": uri, **figures})
    print(f"train: {figures['best_iteration'] + 1} trees; MLflow run {run_id} at {uri}")


if __name__ == "__main__":
    stage.run(main)
