"""The served model: a bundle loaded once at start-up, self-checked, with everything the hot path
needs (the request models of its profile, a parallel booster for large batches, the drift
reference). The API, batch scoring and the MLflow model serve through it
(`ServedModel.load`); the package stage loads the bundle it wrote the same way, so it never
registers what the API would not serve."""

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
from house_price.serving.bundle import (
    MODEL_FILE,
    SERVING_FILES,
    Bundle,
    load_bundle,
    require_files,
)
from house_price.serving.drift import Reference
from house_price.serving.limits import DEFAULT_MAX_BATCH_ROWS
from house_price.serving.requests import example_request, request_models

SELF_CHECK_RTOL = 1e-6
PARALLEL_MIN_ROWS = 1000  # from this many rows, XGBoost predicts on MODEL_THREADS threads


@dataclass
class ServedModel:
    """Everything the hot path needs, built once at start-up (`serve_bundle`)."""

    bundle: Bundle  # its booster predicts on one thread: single rows and micro-batches
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

    @classmethod
    def load(
        cls, directory: str | Path, threads: int = 0, max_rows: int = DEFAULT_MAX_BATCH_ROWS
    ) -> ServedModel:
        """The bundle in `directory` loaded (`load_bundle`, its booster on one thread) and
        served (`serve_bundle`), as the API does at start-up. BundleError, whatever is wrong,
        says why the API would answer 503 with it."""
        # encoder.json: without it, a bundle is not served (an old one's transformer would
        # need scikit-learn, which the serving image does not have)
        require_files(Path(directory), SERVING_FILES)
        return serve_bundle(load_bundle(directory, nthread=1), threads, max_rows)


def serve_bundle(
    bundle: Bundle, threads: int = 0, max_rows: int = DEFAULT_MAX_BATCH_ROWS
) -> ServedModel:
    """`bundle` ready to serve and self-checked: request models taking up to `max_rows` rows
    per batch, large batches on `threads` XGBoost threads (0: XGBoost's choice). BundleError,
    whatever is wrong, says why the API would answer 503 with it."""
    try:
        parallel = ServingBooster(bundle.directory / MODEL_FILE, nthread=threads)
        row_model, batch_model = request_models(bundle.profile, max_rows)
        model = ServedModel(
            bundle, parallel, row_model, batch_model, bundle.version, bundle.reference
        )
        _self_check(model)
    except BundleError:
        raise
    except Exception as exc:  # any fault of the bundle: it cannot be served
        raise BundleError(
            f"{bundle.directory}: cannot serve it ({type(exc).__name__}: {exc})"
        ) from exc
    return model


def _self_check(model: ServedModel) -> None:
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
