"""featurize's engines: fit the feature transformer on the train split.

Imputation medians and category fills are train figures. The pandas engine fits on the split as
one frame; the Dask engine from the split's `Aggregates` (value counts), computed per partition
on the cluster and summed: the same transformer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pandas as pd

from house_price.core.params import Params
from house_price.core.tables import partition_files, read_table
from house_price.engines import cluster
from house_price.engines.partitions import compute, delayed
from house_price.features import Aggregates, FeatureTransformer, aggregate, merge_aggregates
from house_price.schema import Profile


class Engine(Protocol):
    def fit(self, train: Path, profile: Profile) -> FeatureTransformer:
        """The profile's transformer fitted on the train split at `train`."""
        ...


class PandasEngine:
    def __init__(self, params: Params) -> None:
        pass

    def fit(self, train: Path, profile: Profile) -> FeatureTransformer:
        return FeatureTransformer(profile).fit(read_table(train))


class DaskEngine:
    def __init__(self, params: Params) -> None:
        self.settings = params.dask

    def fit(self, train: Path, profile: Profile) -> FeatureTransformer:
        with cluster.connect(self.settings):
            aggregates = train_aggregates(train, profile)
        return FeatureTransformer(profile).fit_aggregates(aggregates)


ENGINES: dict[str, Callable[[Params], Engine]] = {"pandas": PandasEngine, "dask": DaskEngine}


def for_params(params: Params) -> Engine:
    """The implementation of the `engine` param."""
    return ENGINES[params.engine](params)


# --- the Dask engine's work ----------------------------------------------------------------------


def _aggregate_partition(path: Path, profile: Profile) -> Aggregates:
    return aggregate(pd.read_parquet(path), profile)


def train_aggregates(train: Path, profile: Profile) -> Aggregates:
    """The train split's `Aggregates`, summed over its partitions."""
    task = delayed(_aggregate_partition)
    parts = partition_files(train.absolute())
    return merge_aggregates(compute([task(part, profile) for part in parts]))
