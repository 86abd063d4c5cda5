"""tune: optional hyperparameter search (Optuna, seeded) by k-fold cross-validation on the train
split; writes the best params for train. `tune.trials: 0` (the default) turns it off: the file
then holds no params and train uses its own as written.

On the Dask engine, the search runs on the first `dask.sample_rows` rows of the train split, a
random sample (its partitions are in hash order). Each trial is an MLflow child run under one
parent run, in the store package logs to (MLFLOW_TRACKING_URI, else the workspace's mlruns/);
the output file alone is deterministic.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path
from typing import Any

from house_price.core import stage
from house_price.core.io import write_json
from house_price.engines import sample
from house_price.features import load_transformer
from house_price.tracking import registry as tracking
from house_price.training import model, tuning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--tuned", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    trials, seed = params.tune.trials, params.tune.seed
    if trials == 0:
        write_json(args.tuned, {"trials": 0, "params": {}})
        print("tune: off (tune.trials = 0): train uses the train params as written")
        return
    rows = sample.for_params(params).train_frame(args.train)
    transformer = load_transformer(args.transformer)
    features = transformer.transform(rows)
    scale = transformer.target_scale(params.train.log_target)
    fit_target = scale.to_fit(rows[profile.target.name].to_numpy(float), features)

    import mlflow

    tracking.connect()
    experiment_id = tracking.use_experiment(params.mlflow.experiment)
    best_rmse = float("inf")

    def report(number: int, chosen: dict[str, Any], validation: model.CrossValidation) -> None:
        nonlocal best_rmse
        best_rmse = min(best_rmse, validation.rmse)
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"trial {number + 1}", nested=True
        ):
            mlflow.log_params(chosen)
            trees = model.tree_count(validation.fold_trees, len(validation.fold_trees))
            mlflow.log_metrics({"cv_rmse_fit_scale": validation.rmse, "trees": trees})
        print(
            f"tune: trial {number + 1}/{trials}: cv rmse {validation.rmse:.4f} "
            f"(best {best_rmse:.4f})",
            flush=True,
        )

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"tune {profile.name}"):
        mlflow.set_tags({"stage": "tune", "dataset": profile.name})
        logged = {"tune": params.tune.model_dump(), "train": params.train.as_written()}
        mlflow.log_params(tracking.flatten(logged))
        best, rmse = tuning.tune(features, fit_target, params.train, trials, seed, report)
        mlflow.log_params(tracking.flatten({"best": best}))
        mlflow.log_metric("best_cv_rmse_fit_scale", rmse)
    write_json(args.tuned, {"trials": trials, "params": best, "cv_rmse_fit_scale": rmse})
    print(f"tune: best of {trials} trials: cv rmse {rmse:.4f} with {best}")


if __name__ == "__main__":
    stage.run(main)
