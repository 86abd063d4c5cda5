"""The app factory: settings, metrics, the lifespan that loads the bundle, the routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np
import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

from house_price.api.batching import MicroBatcher
from house_price.api.core.config import API_VERSION, Settings
from house_price.api.deps import Serving
from house_price.api.metrics import FLUSH_INTERVAL_S, Metrics, MetricsMiddleware
from house_price.api.responses import ApiError, validation_error
from house_price.api.routes import docs, health, metrics, predict
from house_price.core.errors import BundleError
from house_price.serving.served import ServedModel

SCHEMA_REF = "#/components/schemas/{model}"
THREADPOOL_TOKENS = 4  # anyio's default is 40 threads

# A child of uvicorn's logger: under uvicorn the reason a bundle did not load is printed in
# uvicorn's format; elsewhere it still reaches stderr through logging's last-resort handler.
log = logging.getLogger("uvicorn.error.house_price")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Loads the bundle (a broken one leaves the app serving 503 with the reason), flushes
    the metrics about once a second, and at shutdown stops the batcher and flushes."""
    serving: Serving = app.state.serving
    settings, metrics = serving.settings, serving.metrics

    def predict_micro_batch(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        predictions = serving.model.predict(rows)  # type: ignore[union-attr]
        metrics.record(metrics.batch_one, rows, predictions)
        return predictions

    # The app's thread pool (/metrics, the flush, static files) bounded: see BatchRunner.
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADPOOL_TOKENS
    try:
        # On the batch runner's thread: the self-check's parallel prediction creates the one
        # OpenMP team that every large batch reuses (a failure to create it fails here).
        serving.model = await serving.batches.run(
            lambda: ServedModel.load(
                settings.model_dir, settings.model_threads, settings.max_batch_rows
            )
        )
        serving.batcher = MicroBatcher(predict_micro_batch)
        # Start-up objects (modules, the model) are long-lived: keep them out of the
        # collector's generations, so that a full collection never stalls a request.
        gc.collect()
        gc.freeze()
    except BundleError as exc:  # the process must serve (503) whatever is wrong with it
        serving.model = None
        serving.reason = str(exc)
        metrics.model_ready.set(0)
        log.error("model not loaded, /health answers 503: %s", serving.reason)
    else:
        metrics.loaded(serving.model, drift=settings.drift_metrics)
        log.info(
            "model %s loaded from %s, self-check passed", serving.model.version, settings.model_dir
        )
    app.openapi_schema = None  # regenerate with the request bodies of this bundle
    flusher = asyncio.create_task(_flush_every_second(metrics))
    try:
        yield
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        if serving.batcher is not None:
            serving.batcher.close()
        serving.batches.close()
        metrics.stopped()


async def _flush_every_second(metrics: Metrics) -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        await run_in_threadpool(metrics.flush)  # binning a second's rows: off the loop


async def _api_error(request: Request, exc: Exception) -> Response:
    return exc.response  # type: ignore[attr-defined]  # an ApiError


async def _invalid_request(request: Request, exc: Exception) -> Response:
    max_rows = request.app.state.serving.settings.max_batch_rows
    return validation_error(exc.errors(), max_rows)  # type: ignore[attr-defined]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request bodies of the served bundle's profile."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            servers=app.servers,
        )
        model = app.state.serving.model
        if model is not None:
            _openapi_bodies(schema, model)
        app.openapi_schema = schema
    return app.openapi_schema


def _openapi_bodies(schema: dict[str, Any], model: ServedModel) -> None:
    """Request bodies generated at start-up, so the OpenAPI document shows the real schema."""
    refs, definitions = models_json_schema(
        [(model.row_model, "validation"), (model.batch_model, "validation")],
        ref_template=SCHEMA_REF,
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(
        definitions.get("$defs", {})
    )
    # validated by the self-check
    example = pydantic_core.to_jsonable_python(model.bundle.profile.example_row())
    bodies = {
        "/predict": (refs[(model.row_model, "validation")], example),
        "/predict/batch": (refs[(model.batch_model, "validation")], {"rows": [example, example]}),
    }
    for path, (ref, value) in bodies.items():
        schema["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref, "example": value}},
        }


def create_app(model_dir: str | Path | None = None) -> FastAPI:
    """The API for the bundle in `model_dir` (default: $MODEL_DIR, else models/house-price)."""
    settings = Settings.from_env(model_dir)
    app = FastAPI(
        title="House price API",
        version=API_VERSION,
        description=(
            "Predicts house prices with the model bundle of the DVC pipeline. Request bodies are "
            "generated from the bundle's dataset profile; see the schemas below."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by routes.docs, with local assets
        redoc_url=None,
        # Prometheus metrics below; FastAPI's own OpenTelemetry hooks would only add overhead.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.serving = Serving(settings, Metrics(multiprocess=settings.multiprocess))
    app.add_middleware(MetricsMiddleware, metrics=app.state.serving.metrics)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.include_router(health.router)
    app.include_router(predict.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)  # with docs_url=None, redoc_url=None above
    return app
