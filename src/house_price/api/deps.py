"""FastAPI dependencies: what an endpoint needs, declared in its signature
(`scoring: ScoringDep`, `model: ModelDep`), resolved per request from the app's `Serving` state.

A dependency that cannot be met raises `ApiError` with the answer: 503 while no model is
loaded, then 415 for a body that is not JSON or has a Content-Encoding (gzip and the like are
not read), then 413 for one larger than MAX_BODY_BYTES.
POST /predict/batch takes a `BatchSlot` before its body: 503 with Retry-After when
MAX_PENDING_BATCHES wait already.

Each dependency takes the request only, not other dependencies: FastAPI solves every
sub-dependency again (cached or not) with its own bookkeeping, and the chained version
(model -> serving, body -> model -> serving) cost /predict ~20 % of its throughput. All are
`async`: a plain `def` dependency would run on the thread pool, a thread hop per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from house_price.api.batching import BatchRunner, MicroBatcher
from house_price.api.core.config import Settings
from house_price.api.metrics import Metrics
from house_price.api.responses import (
    ApiError,
    disconnected,
    encoded,
    is_json,
    overloaded,
    read_body,
    too_large,
    unavailable,
    unsupported,
    unsupported_encoding,
)
from house_price.serving.served import ServedModel


class Serving:
    """The state of one app: its settings and metrics (fixed), and the model and micro-batcher
    that the lifespan sets up (None, with the reason, while the bundle is not served)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: ServedModel | None = None
        self.batcher: MicroBatcher | None = None
        self.batches = BatchRunner(settings.max_pending_batches)
        self.reason = "starting: the model bundle is not loaded yet"


def _serving(request: Request) -> Serving:
    return request.app.state.serving


def _loaded(serving: Serving) -> ServedModel:
    """The loaded model, else ApiError 503 with the reason."""
    model = serving.model
    if model is None:
        raise ApiError(unavailable(serving.reason))
    return model


async def get_serving(request: Request) -> Serving:
    return _serving(request)


ServingDep = Annotated[Serving, Depends(get_serving)]


async def get_model(request: Request) -> ServedModel:
    """The loaded model, else 503 with the reason."""
    return _loaded(_serving(request))


ModelDep = Annotated[ServedModel, Depends(get_model)]


@dataclass(frozen=True, slots=True)
class Scoring:
    """What a prediction endpoint needs: the app's state, the loaded model, the JSON body."""

    serving: Serving
    model: ServedModel
    body: bytes


async def get_scoring(request: Request) -> Scoring:
    """What every prediction request passes first: a loaded model, JSON, a bounded body."""
    serving = _serving(request)
    model = _loaded(serving)
    if not is_json(request):
        raise ApiError(unsupported(request))
    if encoded(request):
        raise ApiError(unsupported_encoding(request))
    limit = serving.settings.max_body_bytes
    try:
        body = await read_body(request, limit)
    except ClientDisconnect:  # gone, or cut off by REQUEST_TIMEOUT_S: nobody reads the answer
        raise ApiError(disconnected()) from None
    if body is None:
        raise ApiError(too_large(limit))
    return Scoring(serving, model, body)


ScoringDep = Annotated[Scoring, Depends(get_scoring)]


async def get_batch_slot(request: Request) -> AsyncIterator[BatchRunner]:
    """A place in the batch runner for this request (a loaded model first), else 503 with
    Retry-After."""
    serving = _serving(request)
    _loaded(serving)
    runner = serving.batches
    if not runner.admit():
        raise ApiError(overloaded(runner.capacity))
    try:
        yield runner
    finally:
        runner.release()


BatchSlot = Annotated[BatchRunner, Depends(get_batch_slot)]
