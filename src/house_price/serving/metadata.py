"""metadata.json's content as package assembles it: what the bundle's model is (name, content
version, data set, target and its scale), how well it scored (metrics.json), the params that
fitted it (the `train` params, tune's best ones in place), its lineage and the libraries'
versions. GET /model serves it."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from house_price.core.params import Train
from house_price.core.prediction import TargetScale
from house_price.schema import Profile

LIBRARIES = ("xgboost", "scikit-learn", "pandas", "numpy", "mlflow", "dvc")


def bundle_metadata(
    name: str,
    content: str,
    profile: Profile,
    fitted: Train,
    metrics: Mapping[str, Any],
    data_md5: Mapping[str, str],
) -> dict[str, Any]:
    """The metadata of registered model `name`'s bundle of content version `content`, fitted
    with `fitted` on the data of `data_md5` (the process manifest's hashes)."""
    return {
        "model_name": name,
        "model_version": content,
        "dataset": profile.name,
        "target": profile.target.name,
        # the log part of the model's TargetScale; its size column is the profile's target.per
        "target_transform": TargetScale(fitted.log_target).transform,
        "target_per": profile.target_per,
        "reference_year": profile.reference_year,
        "metrics": dict(metrics),
        "params": fitted.as_written(),
        "lineage": {"data_md5": dict(data_md5)},
        "mlflow": {"registered_model": name},
        "versions": {"python": platform.python_version()}
        | {library: version(library) for library in LIBRARIES},
    }
