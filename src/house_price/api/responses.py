"""JSON responses of the endpoints, the error bodies (422 with one message per field, worded by
house_price.serving.requests.error_items; 413, 415, 503) and `ApiError`, which a dependency
raises to answer with one of them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.responses import Response

from house_price.serving.requests import error_items

JSON_TYPES = ("application/json",)


class ApiError(Exception):
    """Raised by a dependency: the request is answered with `response` (see main.py)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        pydantic_core.to_json(payload),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def validation_error(
    errors: Sequence[Mapping[str, Any]], max_rows: int, body: bytes | None = None
) -> Response:
    return json_response({"detail": error_items(errors, max_rows, body)}, status=422)


def is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def unsupported(request: Request) -> Response:
    got = request.headers.get("content-type") or "none"
    return json_response(
        {"detail": f"Content-Type must be application/json, got {got}"[:300]}, status=415
    )


def encoded(request: Request) -> bool:
    """Whether the body has a Content-Encoding other than identity: gzip and the like are not
    decoded here, and were read as (invalid, or worse, valid) JSON."""
    return any(
        coding.strip() not in ("", "identity")
        for value in request.headers.getlist("content-encoding")
        for coding in value.lower().split(",")
    )


def unsupported_encoding(request: Request) -> Response:
    got = ", ".join(request.headers.getlist("content-encoding"))
    return json_response(
        {"detail": f"Content-Encoding must be identity (an uncompressed body), got {got}"[:300]},
        status=415,
        headers={"Accept-Encoding": "identity"},
    )


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> Response:
    return json_response(
        {"detail": f"request body larger than {limit} bytes (MAX_BODY_BYTES)"}, 413
    )


def unavailable(reason: str) -> Response:
    return json_response({"detail": f"model unavailable: {reason}"}, status=503)


def overloaded(capacity: int) -> Response:
    return json_response(
        {
            "detail": f"overloaded: {capacity} batch requests already running or waiting "
            "(MAX_PENDING_BATCHES + 1); retry later"
        },
        status=503,
        headers={"Retry-After": "1"},
    )


def disconnected() -> Response:
    return json_response({"detail": "request body not received in full"}, status=408)


def timing(started: float) -> dict[str, str]:
    return {"Server-Timing": f"app;dur={(time.perf_counter() - started) * 1000:.3f}"}
