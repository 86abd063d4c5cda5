"""The probes and what is served: GET|HEAD /livez (liveness), /readyz and /health (readiness),
/ (service info), and GET /model (the bundle's metadata).

Kubernetes asks two questions: is the process alive (else restart it) and may it take traffic
(else take it out of the Service). A missing or broken bundle is a readiness failure, never a
liveness one: restarting would not fix it. HEAD is answered like GET, without the body, for
monitors that probe with HEAD; `/` answers 200 for load balancers whose default health path
it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic_core
from fastapi import APIRouter
from fastapi.responses import Response

from house_price.api.core.config import API_VERSION
from house_price.api.deps import ModelDep, ServingDep
from house_price.api.responses import json_response
from house_price.api.routes.predict import UNAVAILABLE
from house_price.api.schemas import HealthResponse, LivenessResponse, ServiceResponse

PROBE_METHODS = ["GET", "HEAD"]
# Every path registered by `probe`: the server answers them whatever MAX_CONNECTIONS says
# (house_price/api/protocol.py).
PROBE_PATHS: set[str] = set()
ALIVE = pydantic_core.to_json({"status": "alive"})
ENDPOINTS = {
    "liveness": "/livez",
    "readiness": "/readyz",
    "predict": "/predict",
    "predict_batch": "/predict/batch",
    "model": "/model",
    "metrics": "/metrics",
    "docs": "/docs",
}
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": HealthResponse, "description": "Model not ready: why."}
}

router = APIRouter()


def probe(path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the endpoint at `path` for GET and for HEAD as two routes: one route with both
    methods gave both operations one OpenAPI operationId (FastAPI's id names one method)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        PROBE_PATHS.add(path)
        for method in PROBE_METHODS:
            router.add_api_route(path, endpoint, methods=[method], **options)
        return endpoint

    return register


@probe("/livez", response_model=LivenessResponse)
async def livez() -> Response:
    """Liveness: 200 whenever the process answers, model loaded or not."""
    return Response(ALIVE, media_type="application/json")


@probe("/readyz", response_model=HealthResponse, responses=NOT_READY)
@probe("/health", response_model=HealthResponse, responses=NOT_READY)
async def readiness(serving: ServingDep) -> Response:
    """Readiness: 200 once the bundle is loaded and its self-check prediction passed; else 503
    with the reason."""
    model = serving.model
    if model is None:
        return json_response({"status": "unavailable", "reason": serving.reason}, status=503)
    return json_response({"status": "ok", "model_version": model.version})


@probe("/", response_model=ServiceResponse)
async def service(serving: ServingDep) -> Response:
    """200 while the process answers (whether ready or not: see `ready`), with the endpoints."""
    model = serving.model
    return json_response(
        {
            "service": "house-price API",
            "api_version": API_VERSION,
            "ready": model is not None,
            "model_version": model.version if model is not None else None,
            "endpoints": ENDPOINTS,
        }
    )


@router.get("/model", responses=UNAVAILABLE)
async def model_info(model: ModelDep, serving: ServingDep) -> Response:
    """The bundle's metadata: version, metrics, params, lineage (data hashes), the feature
    schema, and `mlflow`: the registered model, and the run, version and git commit this
    content version was registered with (`registered: false` when it never was from the
    workspace the bundle comes from)."""
    profile = model.bundle.profile
    features = [
        {
            "name": column.name,
            "type": column.kind,
            "minimum": column.minimum,
            "maximum": column.maximum,
            "categories": list(column.categories) or None,
            "nullable": column.nullable,
        }
        for column in profile.features
    ]
    metadata = model.bundle.metadata
    registration = model.bundle.registration
    mlflow = {**metadata.get("mlflow", {}), "registered": registration is not None}
    return json_response(
        {
            **metadata,
            "mlflow": mlflow | (registration or {}),
            "features": features,
            "max_batch_rows": serving.settings.max_batch_rows,
        }
    )
