"""evaluate: score the test split, write metrics and plots, and apply the quality gate.

Predictions go through the same transformer and prediction function as the bundle, and are
kept (artifacts) so that serving can be checked against them row by row. The gate is relative:
the model must beat two baselines fitted on the train split (its median price, and a ridge
regression on the same features), scored on the same test rows; `evaluate.min_r2` adds an
optional absolute floor. The scoring is the engine's (house_price.engines.evaluate): the Dask
engine scores the test partitions on the cluster and adds up their error sums
(model.error_sums): the same figures, from partitions.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

import pandas as pd
import xgboost as xgb

from house_price.core import stage
from house_price.core.errors import QualityGateError
from house_price.core.io import read_json, write_csv, write_json
from house_price.core.tables import table_rows
from house_price.engines import evaluate
from house_price.evaluation.gate import gate_failures, ordered_metrics, plot_rows, rounded
from house_price.features import load_transformer
from house_price.training import model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--source-info", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--plots", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    settings = params.evaluate
    transformer = load_transformer(args.transformer)
    booster = xgb.Booster(model_file=str(args.model))
    scale = transformer.target_scale(params.train.log_target)
    fitted = evaluate.Fitted(transformer, booster, profile.target.name, scale)
    engine = evaluate.for_params(params)
    scores = engine.score(fitted, args.train, args.test, args.predictions, settings.plot_points)
    metrics = scores.model
    floor = read_json(args.source_info)["noise_floor_rmsle"]
    if floor:
        metrics.update(noise_floor_rmsle=floor, rmsle_over_noise_floor=metrics["rmsle"] / floor)
    metrics = rounded(metrics) | {"test_rows": table_rows(args.test)}
    baselines = {name: rounded(figures) for name, figures in scores.baselines.items()}
    write_json(args.metrics, ordered_metrics(metrics, baselines), sort_keys=False)
    seed = params.process.seed
    points = plot_rows(scores.actual, scores.predicted, settings.plot_points, seed)
    write_csv(args.plots / "predicted_vs_actual.csv", points[["actual", "predicted"]])
    write_csv(args.plots / "residuals.csv", points[["predicted", "residual"]])
    names = list(transformer.get_feature_names_out())
    importance = pd.DataFrame(model.feature_importance(booster, names))
    write_csv(args.plots / "feature_importance.csv", importance.round(2))

    print("evaluate: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    metric = settings.metric
    print(
        f"evaluate: baselines' {metric}: "
        + ", ".join(f"{name} {figures[metric]}" for name, figures in baselines.items())
    )
    failures = gate_failures(metrics, baselines, settings)
    if failures:
        raise QualityGateError("quality gate failed: " + "; ".join(failures))


if __name__ == "__main__":
    stage.run(main)
