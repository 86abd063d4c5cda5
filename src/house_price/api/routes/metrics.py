"""GET /metrics: the Prometheus text exposition."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from house_price.api.deps import ServingDep

router = APIRouter()


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus(serving: ServingDep) -> Response:
    """Prometheus text format: requests (count, latency, in flight) per route and status,
    predictions (rows, batch sizes, predicted prices), drift bins with their reference
    shares, the served model version, the process; every worker's, added up."""
    text = await run_in_threadpool(serving.metrics.exposition)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
