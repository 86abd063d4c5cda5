"""evaluate: score the test split, write metrics and plots, and apply the quality gate.

Predictions go through the same transformer and prediction function as the bundle, and are
kept (artifacts) so that serving can be checked against them row by row. The gate is relative:
the model must beat two baselines fitted on the train split (its median price, and a ridge
regression on the same features), scored on the same test rows; `evaluate.min_r2` adds an
optional absolute floor. The Dask engine scores the test partitions on the cluster and adds up
their error sums (model.error_sums): the same figures, from partitions.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

import pandas as pd
import xgboost as xgb

from house_price.core import prediction, stage
from house_price.core.errors import QualityGateError
from house_price.core.io import atomic_dir, read_json, write_csv, write_json
from house_price.core.tables import read_head, read_table, table_rows, write_table
from house_price.evaluation.gate import (
    fit_baselines,
    gate_failures,
    ordered_metrics,
    plot_rows,
    rounded,
)
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
    log_target = params.train.log_target
    scale = transformer.target_scale(log_target)
    target = profile.target.name
    points = settings.plot_points
    if params.engine == "dask":
        from house_price.engines import cluster, dask_engine  # the Dask engine's only

        with cluster.connect(params.dask) as client:
            # The ridge fits one frame, a random sample of the split; the median is exact.
            sample = stage.train_frame(params, args.train)
            baselines = fit_baselines(
                transformer.transform(sample),
                sample[target].to_numpy(float),
                log_target,
                median=dask_engine.median_target(args.train, target),
            )
            with atomic_dir(args.predictions) as predictions:
                scorer = dask_engine.Scorer(transformer, booster, baselines, target, scale)
                scored = dask_engine.score(client, args.test, scorer, predictions)
        metrics = scored.pop("model")
        actual = read_head(args.test, points)[target].to_numpy(float)
        predicted = read_head(args.predictions, points)["prediction"].to_numpy(float)
    else:
        rows = read_table(args.test)
        test_features = transformer.transform(rows)
        predicted = prediction.predict(booster, test_features, scale)
        actual = rows[target].to_numpy(float)
        metrics = model.regression_metrics(actual, predicted)
        train = stage.train_frame(params, args.train)
        baselines = fit_baselines(
            transformer.transform(train), train[target].to_numpy(float), log_target
        )
        scored = {
            name: model.regression_metrics(actual, prices)
            for name, prices in baselines.predict(test_features).items()
        }
        write_table(args.predictions, pd.DataFrame({"prediction": predicted}))
    floor = read_json(args.source_info)["noise_floor_rmsle"]
    if floor:
        metrics.update(noise_floor_rmsle=floor, rmsle_over_noise_floor=metrics["rmsle"] / floor)
    metrics = rounded(metrics) | {"test_rows": table_rows(args.test)}
    baselines = {name: rounded(figures) for name, figures in scored.items()}
    write_json(args.metrics, ordered_metrics(metrics, baselines), sort_keys=False)
    seed = params.process.seed
    points = plot_rows(actual, predicted, points, seed)
    write_csv(args.plots / "predicted_vs_actual.csv", points[["actual", "predicted"]])
    write_csv(args.plots / "residuals.csv", points[["predicted", "residual"]])
    names = list(transformer.get_feature_names_out())
    importance = pd.DataFrame(model.feature_importance(booster, names))
    write_csv(args.plots / "feature_importance.csv", importance.round(2))

    print("evaluate: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    metric = settings.metric
    print(
        f"evaluate: baselines' {metric}: "
        + ", ".join(f"{name} {scores[metric]}" for name, scores in baselines.items())
    )
    failures = gate_failures(metrics, baselines, settings)
    if failures:
        raise QualityGateError("quality gate failed: " + "; ".join(failures))


if __name__ == "__main__":
    stage.run(main)
