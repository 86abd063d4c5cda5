"""evaluate's engines: score the model and the baselines on the test split, and keep the
model's predictions (artifacts) so that serving can be checked against them row by row.

The pandas engine scores the split as one frame. The Dask engine scores the test partitions on
the cluster and adds up their error sums (`model.error_sums`): the same figures, from
partitions. Either way the ridge baseline fits the train frame of `engines.sample` (on Dask, a
sample) and the median baseline is the train split's exact median.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from house_price.core import prediction
from house_price.core.io import atomic_dir
from house_price.core.params import Params
from house_price.core.tables import partition_files, read_head, read_table, write_table
from house_price.engines import cluster, sample
from house_price.engines.partitions import compute, delayed, partition_name, write_partition
from house_price.evaluation.gate import Baselines, fit_baselines
from house_price.features import FeatureTransformer, median_of_counts
from house_price.training import model

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client


@dataclass(frozen=True)
class Fitted:
    """What evaluate scores: the fitted transformer and model, the target column, and the
    model's target scale."""

    transformer: FeatureTransformer
    booster: xgb.Booster
    target: str
    scale: prediction.TargetScale


@dataclass(frozen=True)
class Scores:
    model: dict[str, float]  # model.regression_metrics of the model on the test split
    baselines: dict[str, dict[str, float]]  # the same of each baseline, by name
    actual: np.ndarray  # test prices and the model's predictions for the plots: every row
    predicted: np.ndarray  # (pandas) or the first `points` (Dask)


class Engine(Protocol):
    def score(
        self, fitted: Fitted, train: Path, test: Path, predictions: Path, points: int
    ) -> Scores:
        """Score `fitted` and the baselines (fitted on the train split at `train`) on the test
        split at `test`; write the model's predictions to `predictions`."""
        ...


class PandasEngine:
    def __init__(self, params: Params) -> None:
        self.sample = sample.PandasEngine(params)

    def score(
        self, fitted: Fitted, train: Path, test: Path, predictions: Path, points: int
    ) -> Scores:
        rows = read_table(test)
        test_features = fitted.transformer.transform(rows)
        predicted = prediction.predict(fitted.booster, test_features, fitted.scale)
        actual = rows[fitted.target].to_numpy(float)
        train_rows = self.sample.train_frame(train)
        baselines = fit_baselines(
            fitted.transformer.transform(train_rows),
            train_rows[fitted.target].to_numpy(float),
            fitted.scale.log,
        )
        scored = {
            name: model.regression_metrics(actual, prices)
            for name, prices in baselines.predict(test_features).items()
        }
        write_table(predictions, pd.DataFrame({"prediction": predicted}))
        return Scores(model.regression_metrics(actual, predicted), scored, actual, predicted)


class DaskEngine:
    def __init__(self, params: Params) -> None:
        self.settings = params.dask
        self.sample = sample.DaskEngine(params)

    def score(
        self, fitted: Fitted, train: Path, test: Path, predictions: Path, points: int
    ) -> Scores:
        target = fitted.target
        with cluster.connect(self.settings) as client:
            # The ridge fits one frame, a random sample of the split; the median is exact.
            train_rows = self.sample.train_frame(train)
            baselines = fit_baselines(
                fitted.transformer.transform(train_rows),
                train_rows[target].to_numpy(float),
                fitted.scale.log,
                median=median_target(train, target),
            )
            with atomic_dir(predictions) as written:
                scorer = Scorer(fitted, baselines)
                scored = score_partitions(client, test, scorer, written)
        metrics = scored.pop("model")
        actual = read_head(test, points)[target].to_numpy(float)
        predicted = read_head(predictions, points)["prediction"].to_numpy(float)
        return Scores(metrics, scored, actual, predicted)


ENGINES: dict[str, Callable[[Params], Engine]] = {"pandas": PandasEngine, "dask": DaskEngine}


def for_params(params: Params) -> Engine:
    """The implementation of the `engine` param."""
    return ENGINES[params.engine](params)


# --- the Dask engine's work ----------------------------------------------------------------------


def _target_counts(path: Path, target: str) -> pd.Series:
    return pd.read_parquet(path, columns=[target])[target].value_counts()


def median_target(train: Path, target: str) -> float:
    """The exact median of the train split's target, from its value counts per partition."""
    task = delayed(_target_counts)
    counts = compute([task(part, target) for part in partition_files(train.absolute())])
    return median_of_counts(pd.concat(counts).groupby(level=0).sum())


@dataclass(frozen=True)
class Scorer:
    """What scoring a test partition needs: the fitted model and the baselines."""

    fitted: Fitted
    baselines: Baselines


def _score_partition(path: Path, scorer: Scorer, predictions: Path) -> dict[str, dict[str, float]]:
    fitted = scorer.fitted
    rows = pd.read_parquet(path)
    features = fitted.transformer.transform(rows)
    actual = rows[fitted.target].to_numpy(float)
    predicted = prediction.predict(fitted.booster, features, fitted.scale)
    write_partition(pd.DataFrame({"prediction": predicted}), predictions)
    scored = {"model": predicted} | scorer.baselines.predict(features)
    return {name: model.error_sums(actual, prices) for name, prices in scored.items()}


def score_partitions(
    client: Client, test: Path, scorer: Scorer, predictions: Path
) -> dict[str, dict[str, float]]:
    """Predict every test partition (one predictions partition each, in `predictions`) and
    score the model and the baselines: {"model" | baseline name: `model.metrics_from_sums`}."""
    [shared] = client.scatter([scorer], broadcast=True)
    task = delayed(_score_partition)
    sums = compute(
        [
            task(part, shared, predictions.absolute() / partition_name(index))
            for index, part in enumerate(partition_files(test.absolute()))
        ]
    )
    return {
        name: model.metrics_from_sums(reduce(model.merge_error_sums, [s[name] for s in sums]))
        for name in sums[0]
    }
