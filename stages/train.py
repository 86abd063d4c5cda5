"""train: fit the XGBoost regressor on the transformed train split, its number of trees chosen by
k-fold cross-validation on that split (one progress line per fold); the params are the `train`
params, overridden by tune's best ones when tuning is on.

Its outputs are deterministic: the MLflow run is made by package, once the model has passed
the gate, so nothing here names a run.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

from house_price import model, stage
from house_price.features import load_transformer
from house_price.io import atomic_path, read_json, read_table, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--tuned", type=Path, required=True, help="tune's best params")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--figures", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()

    rows = read_table(args.train)
    transformer = load_transformer(args.transformer)
    features = transformer.transform(rows)
    target = rows[profile.target.name].to_numpy(float)
    tuned = read_json(args.tuned)["params"]  # empty when tuning is off
    if tuned:
        print(f"train: tuned params {tuned}")
    booster, figures = model.fit(
        features,
        target,
        {**params["train"], **tuned},
        progress=lambda line: print(f"train: {line}", flush=True),
    )
    with atomic_path(args.model) as tmp:
        booster.save_model(tmp)
    write_json(args.figures, figures)
    print(
        f"train: {figures['trees']} trees on {figures['train_rows']} rows "
        f"(cv rmse {figures['cv_rmse_fit_scale']:.4f} on the fit scale)"
    )


if __name__ == "__main__":
    stage.run(main)
