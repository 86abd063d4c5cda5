"""featurize: fit the feature transformer on the train split only.

The test split never reaches `fit`: imputation medians and category fills are train figures,
computed from the split's aggregates (value counts: on the Dask engine, per partition, summed;
house_price.engines.featurize).
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

import joblib

from house_price.core import stage
from house_price.core.io import atomic_path
from house_price.engines import featurize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--transformer", type=Path, required=True)
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    transformer = featurize.for_params(params).fit(args.train, profile)
    with atomic_path(args.transformer) as tmp:
        joblib.dump(transformer, tmp)
    names = transformer.get_feature_names_out()
    print(f"featurize: {len(names)} features from {len(profile.features)} columns")


if __name__ == "__main__":
    stage.run(main)
