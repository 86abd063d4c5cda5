"""The serving model: the bundle loaded once at start-up, self-checked, with everything the hot
path needs (the request models of its profile, a parallel booster for large batches, the drift
reference)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from house_price.core.errors import BundleError
from house_price.core.prediction import predict
from house_price.data.encoding import ROW_ENCODER_MAX_ROWS
from house_price.serving.booster import ServingBooster
from house_price.serving.drift import Reference, load_reference
from house_price.serving.files import MODEL_FILE, ServingBundle, load_serving_bundle
from house_price.serving.limits import DEFAULT_MAX_BATCH_ROWS
from house_price.serving.requests import example_request, request_models

SELF_CHECK_RTOL = 1e-6
PARALLEL_MIN_ROWS = 1000  # from this many rows, XGBoost predicts on MODEL_THREADS threads


@dataclass
class Model:
    """Everything the hot path needs, built once at start-up."""

    bundle: ServingBundle  # its booster predicts on one thread: single rows and micro-batches
    parallel: ServingBooster  # the same model on MODEL_THREADS threads, for large batches
    row_model: type[BaseModel]
    batch_model: type[BaseModel]
    version: str
    reference: Reference | None = None  # drift.json: None for a bundle made without it

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Validated rows -> predictions through the bundle's fast encoder."""
        bundle = self.bundle
        if len(rows) < PARALLEL_MIN_ROWS:  # waking threads costs more than it saves below this
            return bundle.predict_rows(rows)
        return predict(self.parallel, bundle.encoder.encode(rows), bundle.scale)


def _load(model_dir: Path, max_rows: int, threads: int) -> Model:
    bundle = load_serving_bundle(model_dir, nthread=1)
    parallel = ServingBooster(bundle.directory / MODEL_FILE, nthread=threads)
    row_model, batch_model = request_models(bundle.profile, max_rows)
    reference = load_reference(bundle.directory)
    model = Model(bundle, parallel, row_model, batch_model, bundle.version, reference)
    _self_check(model)
    return model


def load_model(
    directory: str | Path, threads: int = 0, max_rows: int = DEFAULT_MAX_BATCH_ROWS
) -> Model:
    """The bundle loaded and self-checked as the API loads it at start-up (large batches on
    `threads` XGBoost threads, 0: XGBoost's choice). BundleError, whatever is wrong, says why
    the API would answer 503 with it."""
    try:
        return _load(Path(directory), max_rows, threads)
    except BundleError:
        raise
    except Exception as exc:  # any fault of the bundle: it cannot be served
        raise BundleError(f"{directory}: cannot serve it ({type(exc).__name__}: {exc})") from exc


def _self_check(model: Model) -> None:
    """The documented example must validate, and predict through every path what the pipeline
    path (fitted transformer + xgboost) predicted for it at package time."""
    profile = model.bundle.profile
    try:
        row = example_request(model.row_model, profile)
    except ValidationError as exc:
        raise BundleError(f"self-check: the profile's example row is invalid: {exc}") from exc
    fast = float(model.predict([row])[0])
    many = float(model.predict([row] * (ROW_ENCODER_MAX_ROWS + 1))[-1])
    parallel = float(model.predict([row] * PARALLEL_MIN_ROWS)[-1])
    reference = model.bundle.example_prediction
    if not all(math.isfinite(value) for value in (fast, many, parallel, reference)):
        raise BundleError(f"self-check: non-finite prediction {fast!r}/{many!r}/{reference!r}")
    for value in (fast, many, parallel):
        if abs(value - reference) > SELF_CHECK_RTOL * max(abs(reference), 1.0):
            raise BundleError(f"self-check: fast path {value!r} != pipeline path {reference!r}")
