"""FastAPI dependencies: what an endpoint needs, declared in its signature
(`model: ModelDep`, `body: JsonBody`), resolved per request from the app's `Serving` state.

A dependency that cannot be met raises `ApiError` with the answer: 503 while no model is
loaded, then 415 for a body that is not JSON, then 413 for one larger than MAX_BODY_BYTES (in
that order: ModelDep resolves before the body is looked at). POST /predict/batch takes a
`BatchSlot` before its body: 503 with Retry-After when MAX_PENDING_BATCHES wait already. All
are `async`: a plain `def`
dependency would run on the thread pool, a thread hop per request on the hot path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from house_price.api.batching import BatchRunner, MicroBatcher
from house_price.api.core.config import Settings
from house_price.api.metrics import Metrics
from house_price.api.model import Model
from house_price.api.responses import (
    ApiError,
    disconnected,
    is_json,
    overloaded,
    read_body,
    too_large,
    unavailable,
    unsupported,
)


class Serving:
    """The state of one app: its settings and metrics (fixed), and the model and micro-batcher
    that the lifespan sets up (None, with the reason, while the bundle is not served)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: Model | None = None
        self.batcher: MicroBatcher | None = None
        self.batches = BatchRunner(settings.max_pending_batches)
        self.reason = "starting: the model bundle is not loaded yet"


async def get_serving(request: Request) -> Serving:
    return request.app.state.serving


ServingDep = Annotated[Serving, Depends(get_serving)]


async def get_model(serving: ServingDep) -> Model:
    """The loaded model, else 503 with the reason."""
    model = serving.model
    if model is None:
        raise ApiError(unavailable(serving.reason))
    return model


ModelDep = Annotated[Model, Depends(get_model)]


async def get_json_body(request: Request, serving: ServingDep, model: ModelDep) -> bytes:
    """What every prediction request passes first: a loaded model, JSON, a bounded body."""
    if not is_json(request):
        raise ApiError(unsupported(request))
    limit = serving.settings.max_body_bytes
    try:
        body = await read_body(request, limit)
    except ClientDisconnect:  # gone, or cut off by REQUEST_TIMEOUT_S: nobody reads the answer
        raise ApiError(disconnected()) from None
    if body is None:
        raise ApiError(too_large(limit))
    return body


JsonBody = Annotated[bytes, Depends(get_json_body)]


async def get_batch_slot(serving: ServingDep, model: ModelDep) -> AsyncIterator[BatchRunner]:
    """A place in the batch runner for this request, else 503 with Retry-After."""
    runner = serving.batches
    if not runner.admit():
        raise ApiError(overloaded(runner.capacity))
    try:
        yield runner
    finally:
        runner.release()


BatchSlot = Annotated[BatchRunner, Depends(get_batch_slot)]
