"""POST /predict (one row, micro-batched with concurrent requests) and POST /predict/batch."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from house_price.api.deps import BatchSlot, ScoringDep
from house_price.api.responses import json_response, timing, validation_error
from house_price.api.schemas import (
    BatchPredictResponse,
    ErrorResponse,
    PredictResponse,
    ValidationErrorResponse,
)
from house_price.serving.requests import row_values

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Model not loaded."}
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Body larger than MAX_BODY_BYTES."},
    415: {
        "model": ErrorResponse,
        "description": "Content-Type is not application/json, or Content-Encoding not identity.",
    },
    422: {"model": ValidationErrorResponse, "description": "Invalid body; names the field."},
    **UNAVAILABLE,
}

router = APIRouter()


@router.post("/predict", response_model=PredictResponse, responses=BODY_ERRORS)
async def predict_one(scoring: ScoringDep) -> Response:
    """One house (every feature of the profile, raw values) -> its predicted price."""
    started = time.perf_counter()
    serving, model = scoring.serving, scoring.model
    try:
        row = model.row_model.model_validate_json(scoring.body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return validation_error(errors, serving.settings.max_batch_rows, scoring.body)
    # Micro-batched with the concurrent requests (see MicroBatcher).
    value = await serving.batcher.predict(row_values(row))  # type: ignore[union-attr]
    serving.metrics.predict_one.inc()
    payload = {"prediction": value, "model_version": model.version}
    return json_response(payload, headers=timing(started))


BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **BODY_ERRORS,
    503: {
        "model": ErrorResponse,
        "description": "Model not loaded, or MAX_PENDING_BATCHES batches waiting (Retry-After).",
    },
}


@router.post("/predict/batch", response_model=BatchPredictResponse, responses=BATCH_ERRORS)
async def predict_batch(slot: BatchSlot, scoring: ScoringDep) -> Response:
    """`{"rows": [house, ...]}` (1 to MAX_BATCH_ROWS rows) -> predictions in row order."""
    started = time.perf_counter()
    serving, model, body = scoring.serving, scoring.model, scoring.body
    metrics = serving.metrics

    def work() -> Response:
        try:
            batch = model.batch_model.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            return validation_error(errors, serving.settings.max_batch_rows, body)
        rows = batch.rows  # type: ignore[attr-defined]  # plain dicts (BatchRow)
        predictions = model.predict(rows)
        metrics.predict_batch.inc(len(rows))
        metrics.record(metrics.batch_many, rows, predictions)
        payload = {"predictions": predictions.tolist(), "model_version": model.version}
        return json_response(payload, headers=timing(started))

    # Thousands of rows take milliseconds: off the event loop, so /health stays responsive;
    # on the runner's one thread, so concurrent batches never multiply XGBoost's threads.
    return await slot.run(work)
