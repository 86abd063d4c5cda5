"""FastAPI dependencies: what an endpoint needs, declared in its signature
(`model: ModelDep`, `body: JsonBody`), resolved per request from the app's `Serving` state.

A dependency that cannot be met raises `ApiError` with the answer: 503 while no model is
loaded, then 415 for a body that is not JSON, then 413 for one larger than MAX_BODY_BYTES (in
that order: ModelDep resolves before the body is looked at). All are `async`: a plain `def`
dependency would run on the thread pool, a thread hop per request on the hot path."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from house_price.api.batching import MicroBatcher
from house_price.api.core.config import Settings
from house_price.api.metrics import Metrics
from house_price.api.model import Model
from house_price.api.responses import (
    ApiError,
    is_json,
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
    body = await read_body(request, limit)
    if body is None:
        raise ApiError(too_large(limit))
    return body


JsonBody = Annotated[bytes, Depends(get_json_body)]
