"""train: fit the XGBoost regressor on the transformed train split, its number of trees chosen by
k-fold cross-validation on that split (one progress line per fold); the params are the `train`
params, overridden by tune's best ones when tuning is on. The engine fits
(house_price.engines.train): the Dask engine with xgboost.dask on the cluster, recording the
cluster's size.

Its outputs are deterministic: the MLflow run is made by package, once the model has passed
the gate, so nothing here names a run.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

from house_price.core import stage
from house_price.core.io import atomic_path, read_json, write_json
from house_price.engines import train
from house_price.features import load_transformer


def progress(line: str) -> None:
    print(f"train: {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--tuned", type=Path, required=True, help="tune's best params")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--figures", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()

    transformer = load_transformer(args.transformer)
    tuned = read_json(args.tuned)["params"]  # empty when tuning is off
    if tuned:
        print(f"train: tuned params {tuned}")
    settings = params.train.overridden(tuned)
    engine = train.for_params(params)
    booster, figures = engine.fit(args.train, transformer, profile.target.name, settings, progress)
    with atomic_path(args.model) as tmp:
        booster.save_model(tmp)
    write_json(args.figures, figures)
    print(
        f"train: {figures['trees']} trees on {figures['train_rows']} rows "
        f"(cv rmse {figures['cv_rmse_fit_scale']:.4f} on the fit scale)"
    )


if __name__ == "__main__":
    stage.run(main)
