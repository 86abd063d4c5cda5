"""JSON responses of the endpoints, the error bodies (422 with one message per field, 413,
415, 503) and `ApiError`, which a dependency raises to answer with one of them."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.responses import Response

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


def _describe(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) if parts else "body"


def error_items(errors: Sequence[Mapping[str, Any]], max_rows: int) -> list[dict[str, Any]]:
    items = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] != ["body"]:  # pydantic's own errors; FastAPI's already start with "body"
            loc.insert(0, "body")
        msg = str(error.get("msg", "invalid"))
        kind = str(error.get("type", "value_error"))
        if kind == "too_long" and loc == ["body", "rows"]:
            got = (error.get("ctx") or {}).get("actual_length")
            msg = f"at most {max_rows} rows per request (MAX_BATCH_ROWS), got {got}"
        elif kind == "too_short" and loc == ["body", "rows"]:
            msg = "at least one row is required"
        elif kind == "multiple_of" and (error.get("ctx") or {}).get("multiple_of") == 1:
            msg = "Input should be a whole number"
        item: dict[str, Any] = {"loc": loc, "msg": f"{_describe(loc)}: {msg}", "type": kind}
        value = error.get("input")
        if value is None or isinstance(value, bool | int | float):
            item["input"] = value if not isinstance(value, float) or math.isfinite(value) else None
        elif isinstance(value, str):
            item["input"] = value[:200]
        ctx = error.get("ctx")
        if ctx:
            item["ctx"] = {key: str(val) for key, val in ctx.items()}
        items.append(item)
    return items


def validation_error(errors: Sequence[Mapping[str, Any]], max_rows: int) -> Response:
    return json_response({"detail": error_items(errors, max_rows)}, status=422)


def is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def unsupported(request: Request) -> Response:
    got = request.headers.get("content-type") or "none"
    return json_response(
        {"detail": f"Content-Type must be application/json, got {got}"[:300]}, status=415
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
