"""The model bundle as the API serves it, with numpy, PyYAML, pydantic and XGBoost's C library
only (no pandas, scikit-learn, SciPy or xgboost Python package):

profile.yaml   the dataset profile (the request schema, derived features)
encoder.json   the fast encoder's parameters, taken from the fitted transformer at package time
model.ubj      the XGBoost booster, predicted through house_price.serving.booster
metadata.json  version, metrics, params, lineage, and `example_prediction`: the pipeline
               path's prediction (fitted transformer + xgboost) for the profile's example row,
               which the API's self-check reproduces through its own paths

The pipeline's view of the same directory (with the fitted transformer) is
house_price.serving.bundle,
which writes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from house_price.core.errors import BundleError
from house_price.core.io import read_json
from house_price.core.prediction import TargetScale, predict
from house_price.data.encoding import RowEncoder
from house_price.schema import Profile, load_profile
from house_price.serving.booster import ServingBooster

PROFILE_FILE = "profile.yaml"
ENCODER_FILE = "encoder.json"
MODEL_FILE = "model.ubj"
METADATA_FILE = "metadata.json"
SERVING_FILES = (PROFILE_FILE, ENCODER_FILE, MODEL_FILE, METADATA_FILE)
REGISTRATIONS = "registrations"
EXAMPLE_PREDICTION = "example_prediction"  # the metadata key


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


def read_description(directory: Path) -> tuple[dict[str, Any], Profile]:
    """(metadata, profile) of a bundle directory; raises what reading them raises."""
    metadata = read_json(directory / METADATA_FILE)
    return metadata, load_profile(directory / PROFILE_FILE, int(metadata["reference_year"]))


class BundleInfo:
    """What the metadata of a bundle says, for a dataclass with `directory` and `metadata`."""

    directory: Path
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])

    @cached_property
    def registration(self) -> dict[str, Any] | None:
        return read_registration(self.directory, self.version)


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


@dataclass(frozen=True)
class ServingBundle(BundleInfo):
    directory: Path
    profile: Profile
    encoder: RowEncoder
    booster: ServingBooster
    metadata: dict[str, Any]
    scale: TargetScale

    @property
    def example_prediction(self) -> float:
        """The pipeline path's prediction for the profile's example row (package stage)."""
        return float(self.metadata[EXAMPLE_PREDICTION])

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Validated rows straight into the model matrix: prices, shape (len(rows),)."""
        return predict(self.booster, self.encoder.encode(rows), self.scale)


def load_serving_bundle(directory: str | Path, nthread: int = 0) -> ServingBundle:
    """The bundle in `directory`, its booster predicting on `nthread` threads (0: all cores).
    Raises BundleError when a file is missing, unreadable or inconsistent with the others."""
    directory = Path(directory)
    require_files(directory, SERVING_FILES)
    try:
        metadata, profile = read_description(directory)
        encoder = RowEncoder.from_json(read_json(directory / ENCODER_FILE), profile)
        booster = ServingBooster(directory / MODEL_FILE, nthread)
    except Exception as exc:  # any unreadable part makes the whole bundle unusable
        raise unreadable(directory, exc) from exc
    if booster.num_features != encoder.width:
        raise BundleError(
            f"{directory}: {MODEL_FILE} takes {booster.num_features} features, "
            f"{ENCODER_FILE} makes {encoder.width}"
        )
    scale = bundle_scale(directory, metadata, profile, encoder.feature_names)
    return ServingBundle(directory, profile, encoder, booster, metadata, scale)
