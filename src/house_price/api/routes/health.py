"""GET /health (readiness: the bundle loaded and self-checked) and GET /model (its metadata)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from house_price.api.deps import ModelDep, ServingDep
from house_price.api.responses import json_response
from house_price.api.routes.predict import UNAVAILABLE
from house_price.api.schemas import HealthResponse

router = APIRouter()


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Model not ready: why."}},
)
async def health(serving: ServingDep) -> Response:
    """200 once the bundle is loaded and its self-check prediction passed; else 503."""
    model = serving.model
    if model is None:
        return json_response({"status": "unavailable", "reason": serving.reason}, status=503)
    return json_response({"status": "ok", "model_version": model.version})


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
