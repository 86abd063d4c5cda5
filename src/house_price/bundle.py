"""The model bundle: the one directory a serving process needs, and nothing else.

profile.yaml       the dataset profile (schema, categories, derived features)
transformer.joblib the feature transformer fitted on the train split
model.ubj          the XGBoost booster
metadata.json      version, metrics, params, lineage (data hashes, library versions)
registrations/     <version>.json: the MLflow run and registered version each content version
                   was logged as (written by package; ignored by DVC, see .dvcignore)

Everything but registrations/ is a deterministic function of the pipeline's inputs, so the
bundle's hash in dvc.lock is the same on every machine; what names a run lives beside it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from house_price.errors import BundleError
from house_price.features import FeatureTransformer, RowEncoder, load_transformer
from house_price.io import read_json, write_json
from house_price.model import predict
from house_price.schema import Profile, load_profile

PROFILE_FILE = "profile.yaml"
TRANSFORMER_FILE = "transformer.joblib"
MODEL_FILE = "model.ubj"
METADATA_FILE = "metadata.json"
BUNDLE_FILES = (PROFILE_FILE, TRANSFORMER_FILE, MODEL_FILE, METADATA_FILE)
REGISTRATIONS = "registrations"


def content_version(transformer_path: Path, model_path: Path) -> str:
    """A version that names the fitted content: same transformer and model, same version."""
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
    """Fill `directory` (a fresh, temporary one: see io.atomic_dir) with the bundle files."""
    shutil.copyfile(profile_path, directory / PROFILE_FILE)
    shutil.copyfile(transformer_path, directory / TRANSFORMER_FILE)
    shutil.copyfile(model_path, directory / MODEL_FILE)
    write_json(directory / METADATA_FILE, dict(metadata))


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


@dataclass(frozen=True)
class Bundle:
    directory: Path
    profile: Profile
    transformer: FeatureTransformer
    booster: xgb.Booster
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])

    @cached_property
    def registration(self) -> dict[str, Any] | None:
        return read_registration(self.directory, self.version)

    @property
    def target_transform(self) -> str:
        return str(self.metadata["target_transform"])

    @cached_property
    def encoder(self) -> RowEncoder:
        return RowEncoder(self.transformer)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The pipeline's path: the fitted scikit-learn transformer on a DataFrame."""
        return predict(self.booster, self.transformer.transform(frame), self.target_transform)

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The serving fast path: validated rows straight into the model matrix."""
        return predict(self.booster, self.encoder.encode(rows), self.target_transform)


def load_bundle(directory: str | Path, nthread: int | None = None) -> Bundle:
    directory = Path(directory)
    missing = [name for name in BUNDLE_FILES if not (directory / name).is_file()]
    if missing:
        raise BundleError(f"{directory}: not a model bundle, missing {', '.join(missing)}")
    try:
        metadata = read_json(directory / METADATA_FILE)
        profile = load_profile(directory / PROFILE_FILE, int(metadata["reference_year"]))
        transformer = load_transformer(directory / TRANSFORMER_FILE)
        booster = xgb.Booster(model_file=str(directory / MODEL_FILE))
    except Exception as exc:  # any unreadable part makes the whole bundle unusable
        # The first line only: XGBoost appends a native stack trace to its messages.
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise BundleError(
            f"{directory}: unreadable bundle ({type(exc).__name__}: {first})"
        ) from exc
    if transformer.profile != profile:
        raise BundleError(f"{directory}: transformer does not match {PROFILE_FILE}")
    if nthread is not None:
        booster.set_param({"nthread": nthread})
    return Bundle(directory, profile, transformer, booster, metadata)
