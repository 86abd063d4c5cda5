"""The model bundle: one directory, written once by the package stage (`write_bundle`) and read by
one loader (`load_bundle`) wherever it is used: the API, batch scoring, the MLflow model, the
pipeline (a champion's scores) and the tests.

profile.yaml       the dataset profile (the request schema, derived features)
encoder.json       the encoder's parameters (`RowEncoder`), taken from the fitted transformer
model.ubj          the XGBoost booster, predicted through house_price.serving.booster
metadata.json      version, metrics, params, lineage, and `example_prediction`: the pipeline
                   path's prediction (fitted transformer + xgboost) for the profile's example
                   row, which the served model's self-check reproduces through its own paths
drift.json         the drift reference (house_price.serving.drift): the train split's bins
transformer.joblib the feature transformer fitted on the train split: the pipeline's frame path
                   (`Bundle.predict_frame`: a champion's scores, tests), loaded on first use
registrations/     <version>.json: the MLflow run and registered version each content version
                   was logged as (written by package; ignored by DVC, see .dvcignore)

Loading needs numpy, PyYAML and XGBoost's C library only (no pandas, scikit-learn, SciPy or
xgboost Python package) until the transformer is used.

Everything but registrations/ is a deterministic function of the pipeline's inputs, so the
bundle's hash in dvc.lock is the same on every machine; what names a run lives beside it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from house_price.core.errors import BundleError
from house_price.core.io import read_json, write_json
from house_price.core.prediction import TargetScale, predict
from house_price.data.encoding import RowEncoder
from house_price.schema import Profile, load_profile
from house_price.serving.booster import ServingBooster
from house_price.serving.drift import Reference, load_reference, write_reference
from house_price.serving.requests import example_request, request_models

if TYPE_CHECKING:  # the pipeline's libraries: imported where used, the API never needs them
    import pandas as pd

    from house_price.features import FeatureTransformer

PROFILE_FILE = "profile.yaml"
TRANSFORMER_FILE = "transformer.joblib"
ENCODER_FILE = "encoder.json"
MODEL_FILE = "model.ubj"
METADATA_FILE = "metadata.json"
BUNDLE_FILES = (PROFILE_FILE, TRANSFORMER_FILE, ENCODER_FILE, MODEL_FILE, METADATA_FILE)
SERVING_FILES = (PROFILE_FILE, ENCODER_FILE, MODEL_FILE, METADATA_FILE)
# A champion packaged before encoder.json existed still loads: its encoder from its transformer.
LEGACY_FILES = (PROFILE_FILE, TRANSFORMER_FILE, MODEL_FILE, METADATA_FILE)
REGISTRATIONS = "registrations"
EXAMPLE_PREDICTION = "example_prediction"  # the metadata key


def content_version(transformer_path: Path, model_path: Path) -> str:
    """A version that names the fitted content: same transformer and model, same version
    (encoder.json, the example prediction and drift.json are functions of them)."""
    digest = hashlib.sha256()
    for path in (transformer_path, model_path):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def registration_path(directory: Path, model_version: str) -> Path:
    return directory / REGISTRATIONS / f"{model_version}.json"


def read_registration(directory: Path, model_version: str) -> dict[str, Any] | None:
    """What package recorded for this content version: {registered_model, version, run_id,
    experiment_id, tracking_uri, promoted, git_commit, git_dirty}; None when it was never
    registered from this workspace (a bundle from `dvc pull`, say) or the record is unreadable."""
    try:
        record = read_json(registration_path(directory, model_version))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def require_files(directory: Path, names: Iterable[str]) -> None:
    """Raises BundleError naming the files of `names` missing from `directory`."""
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise BundleError(f"{directory}: not a model bundle, missing {', '.join(missing)}")


def unreadable(directory: Path, exc: Exception) -> BundleError:
    """The BundleError for a part that failed to load: its first line only (XGBoost appends a
    native stack trace to its messages)."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return BundleError(f"{directory}: unreadable bundle ({type(exc).__name__}: {first})")


def bundle_scale(
    directory: Path, metadata: Mapping[str, Any], profile: Profile, feature_names: Sequence[str]
) -> TargetScale:
    """The model's target scale: metadata's `target_transform` (log1p or identity) and the
    profile's `target.per` among the matrix's `feature_names`. Raises BundleError when either
    does not fit."""
    transform = metadata.get("target_transform")
    if transform not in ("log1p", "identity"):
        raise BundleError(f"{directory}: target_transform {transform!r} is not log1p or identity")
    try:
        return TargetScale.of(transform == "log1p", profile.target_per, feature_names)
    except ValueError as exc:
        raise BundleError(f"{directory}: {exc}") from None


def fitted_transformer(path: Path, profile: Profile, directory: Path) -> FeatureTransformer:
    """The fitted transformer in `path` (needs pandas and scikit-learn), checked against the
    bundle's profile. Raises BundleError (naming `directory`) when it is unreadable or does not
    match."""
    try:
        from house_price.features import load_transformer

        transformer = load_transformer(path)
    except Exception as exc:  # any unreadable part makes the whole bundle unusable
        raise unreadable(directory, exc) from exc
    if transformer.profile != profile:
        raise BundleError(f"{directory}: transformer does not match {PROFILE_FILE}")
    return transformer


@dataclass(frozen=True)
class Bundle:
    """A bundle directory's contents, loaded by `load_bundle`."""

    directory: Path
    profile: Profile
    encoder: RowEncoder
    booster: ServingBooster
    metadata: dict[str, Any]
    scale: TargetScale
    reference: Reference | None  # drift.json: None for a bundle made without it

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])

    @cached_property
    def registration(self) -> dict[str, Any] | None:
        return read_registration(self.directory, self.version)

    @property
    def example_prediction(self) -> float:
        """The pipeline path's prediction for the profile's example row (package stage)."""
        return float(self.metadata[EXAMPLE_PREDICTION])

    @cached_property
    def transformer(self) -> FeatureTransformer:
        """The fitted transformer, loaded on first use (pandas, scikit-learn). BundleError when
        transformer.joblib is missing, unreadable or does not match the profile."""
        require_files(self.directory, (TRANSFORMER_FILE,))
        return fitted_transformer(self.directory / TRANSFORMER_FILE, self.profile, self.directory)

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Validated rows straight into the model matrix: prices, shape (len(rows),)."""
        return predict(self.booster, self.encoder.encode(rows), self.scale)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The pipeline's path: the fitted scikit-learn transformer on a DataFrame."""
        return predict(self.booster, self.transformer.transform(frame), self.scale)


def load_bundle(directory: str | Path, nthread: int = 0) -> Bundle:
    """The bundle in `directory`, its booster predicting on `nthread` threads (0: XGBoost's
    choice, all cores). Raises BundleError when a file is missing, unreadable or inconsistent
    with the others."""
    directory = Path(directory)
    legacy = not (directory / ENCODER_FILE).is_file() and (directory / TRANSFORMER_FILE).is_file()
    require_files(directory, LEGACY_FILES if legacy else SERVING_FILES)
    transformer = None
    try:
        metadata = read_json(directory / METADATA_FILE)
        profile = load_profile(directory / PROFILE_FILE, int(metadata["reference_year"]))
        if legacy:
            transformer = fitted_transformer(directory / TRANSFORMER_FILE, profile, directory)
            encoder = transformer.row_encoder()
        else:
            encoder = RowEncoder.from_json(read_json(directory / ENCODER_FILE), profile)
        booster = ServingBooster(directory / MODEL_FILE, nthread)
        reference = load_reference(directory)
    except BundleError:
        raise
    except Exception as exc:  # any unreadable part makes the whole bundle unusable
        raise unreadable(directory, exc) from exc
    if booster.num_features != encoder.width:
        raise BundleError(
            f"{directory}: {MODEL_FILE} takes {booster.num_features} features, "
            f"{ENCODER_FILE} makes {encoder.width}"
        )
    scale = bundle_scale(directory, metadata, profile, encoder.feature_names)
    bundle = Bundle(directory, profile, encoder, booster, metadata, scale, reference)
    if transformer is not None:
        bundle.__dict__["transformer"] = transformer  # loaded already: the cached property's
    return bundle


def write_bundle(
    directory: Path,
    profile_path: Path,
    transformer_path: Path,
    model_path: Path,
    metadata: Mapping[str, Any],
    train: pd.DataFrame,
) -> None:
    """Fill `directory` (a fresh, temporary one: see io.atomic_dir) with the bundle in one pass,
    each file written once, everything computed from the fitted transformer and model: the
    inputs copied; encoder.json from the transformer; metadata.json, `metadata` plus the
    pipeline path's prediction (fitted transformer + xgboost) for the profile's example row;
    drift.json, the distributions of `train` (the train split's rows, or a random sample of
    them on the Dask engine) and of the pipeline path's predictions on them.
    Raises BundleError when a part is unreadable or the parts do not fit together."""
    import pandas as pd
    import xgboost as xgb

    try:
        profile = load_profile(profile_path, int(metadata["reference_year"]))
        booster = xgb.Booster(model_file=str(model_path))
    except Exception as exc:  # any unreadable part makes the whole bundle unusable
        raise unreadable(directory, exc) from exc
    booster.set_param({"nthread": 1})
    transformer = fitted_transformer(transformer_path, profile, directory)
    names = [str(name) for name in transformer.get_feature_names_out()]
    scale = bundle_scale(directory, metadata, profile, names)

    def pipeline_path(frame: pd.DataFrame) -> np.ndarray:
        return predict(booster, transformer.transform(frame), scale)

    row_model, _ = request_models(profile, 1)
    example = example_request(row_model, profile)
    prediction = float(pipeline_path(pd.DataFrame([example]))[0])
    features = train[profile.feature_names]
    for source, name in (
        (profile_path, PROFILE_FILE),
        (transformer_path, TRANSFORMER_FILE),
        (model_path, MODEL_FILE),
    ):
        shutil.copyfile(source, directory / name)
    write_json(directory / ENCODER_FILE, transformer.row_encoder().to_json())
    write_json(directory / METADATA_FILE, {**metadata, EXAMPLE_PREDICTION: prediction})
    write_reference(directory, profile, features, pipeline_path(features))
