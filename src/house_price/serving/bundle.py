"""The model bundle as the pipeline writes and reads it: the serving files
(house_price.serving.files:
profile.yaml, encoder.json, model.ubj, metadata.json) plus the fitted transformer.

transformer.joblib the feature transformer fitted on the train split (batch scoring of frames,
                   the drift reference, a champion's scores); the API serves from encoder.json,
                   its parameters
registrations/     <version>.json: the MLflow run and registered version each content version
                   was logged as (written by package; ignored by DVC, see .dvcignore)

Everything but registrations/ is a deterministic function of the pipeline's inputs, so the
bundle's hash in dvc.lock is the same on every machine; what names a run lives beside it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from house_price.core.errors import BundleError
from house_price.core.io import write_json
from house_price.core.prediction import TargetScale, predict
from house_price.features import FeatureTransformer, load_transformer
from house_price.schema import Profile
from house_price.serving.files import (
    ENCODER_FILE,
    EXAMPLE_PREDICTION,
    METADATA_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    BundleInfo,
    bundle_scale,
    read_description,
    require_files,
    unreadable,
)
from house_price.serving.requests import example_request, request_models

TRANSFORMER_FILE = "transformer.joblib"
BUNDLE_FILES = (PROFILE_FILE, TRANSFORMER_FILE, ENCODER_FILE, MODEL_FILE, METADATA_FILE)
# What load_bundle reads: a champion packaged before encoder.json existed still scores.
PIPELINE_FILES = (PROFILE_FILE, TRANSFORMER_FILE, MODEL_FILE, METADATA_FILE)


def content_version(transformer_path: Path, model_path: Path) -> str:
    """A version that names the fitted content: same transformer and model, same version
    (encoder.json and the example prediction are functions of them)."""
    digest = hashlib.sha256()
    for path in (transformer_path, model_path):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def write_bundle(
    directory: Path,
    profile_path: Path,
    transformer_path: Path,
    model_path: Path,
    metadata: Mapping[str, Any],
) -> None:
    """Fill `directory` (a fresh, temporary one: see io.atomic_dir) with the bundle files:
    the inputs, encoder.json from the fitted transformer, and `metadata` plus the pipeline
    path's prediction for the profile's example row (what the API's self-check reproduces).
    Raises BundleError when a part is unreadable."""
    for source, name in (
        (profile_path, PROFILE_FILE),
        (transformer_path, TRANSFORMER_FILE),
        (model_path, MODEL_FILE),
    ):
        shutil.copyfile(source, directory / name)
    write_json(directory / METADATA_FILE, dict(metadata))
    bundle = load_bundle(directory, nthread=1)  # BundleError if a part is unreadable
    write_json(directory / ENCODER_FILE, bundle.transformer.row_encoder().to_json())
    example = example_request(request_models(bundle.profile, 1)[0], bundle.profile)
    prediction = float(bundle.predict_frame(pd.DataFrame([example]))[0])
    write_json(directory / METADATA_FILE, {**metadata, EXAMPLE_PREDICTION: prediction})


@dataclass(frozen=True)
class Bundle(BundleInfo):
    directory: Path
    profile: Profile
    transformer: FeatureTransformer
    booster: xgb.Booster
    metadata: dict[str, Any]
    scale: TargetScale

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The pipeline's path: the fitted scikit-learn transformer on a DataFrame."""
        return predict(self.booster, self.transformer.transform(frame), self.scale)


def load_bundle(directory: str | Path, nthread: int | None = None) -> Bundle:
    """The bundle with its fitted transformer and an xgboost booster (on `nthread` threads;
    None: XGBoost's default). Raises BundleError when a part is missing or unreadable."""
    directory = Path(directory)
    require_files(directory, PIPELINE_FILES)
    try:
        metadata, profile = read_description(directory)
        transformer = load_transformer(directory / TRANSFORMER_FILE)
        booster = xgb.Booster(model_file=str(directory / MODEL_FILE))
    except Exception as exc:  # any unreadable part makes the whole bundle unusable
        raise unreadable(directory, exc) from exc
    if transformer.profile != profile:
        raise BundleError(f"{directory}: transformer does not match {PROFILE_FILE}")
    if nthread is not None:
        booster.set_param({"nthread": nthread})
    names = [str(name) for name in transformer.get_feature_names_out()]
    scale = bundle_scale(directory, metadata, profile, names)
    return Bundle(directory, profile, transformer, booster, metadata, scale)
