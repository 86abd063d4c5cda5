"""featurize: fit the feature transformer on the train split only.

The test split never reaches `fit`: imputation medians and category fills are train figures,
computed from the split's aggregates (value counts: on the Dask engine, per partition, summed).
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

import joblib

from house_price.core import stage
from house_price.core.io import atomic_path
from house_price.core.tables import read_table
from house_price.features import FeatureTransformer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()

    if params.engine == "dask":
        from house_price.engines import cluster, dask_engine  # the Dask engine's only

        with cluster.connect(params.dask):
            aggregates = dask_engine.train_aggregates(args.train, profile)
        transformer = FeatureTransformer(profile).fit_aggregates(aggregates)
    else:
        transformer = FeatureTransformer(profile).fit(read_table(args.train))
    with atomic_path(args.transformer) as tmp:
        joblib.dump(transformer, tmp)
    names = transformer.get_feature_names_out()
    print(f"featurize: {len(names)} features from {len(profile.features)} columns")


if __name__ == "__main__":
    stage.run(main)
