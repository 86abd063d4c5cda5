"""JSON responses of the endpoints, the error bodies (422 with one message per field, 413,
415, 503) and `ApiError`, which a dependency raises to answer with one of them."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.responses import Response

JSON_TYPES = ("application/json",)
# What pydantic-core's JSON parser (jiter) says, and only says, of a \ud800-\udfff escape that
# is not half of a high-low pair: read as worded, the first suggests a truncated escape.
SURROGATE_ERROR = re.compile("unexpected end of hex escape|lone leading surrogate in hex escape")
UNPAIRED_SURROGATE = (
    "unpaired surrogate \\u escape (\\ud800-\\udbff must be followed by \\udc00-\\udfff)"
)
NON_FINITE = ("NaN", "Infinity", "-Infinity")


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


def _numbers_as_sent(body: bytes) -> Any:
    """The body parsed again with every number as its JSON text, to name a number that is not
    finite: pydantic-core reads NaN, Infinity and 1e400 alike as float infinities or NaN.
    Error path only: the stdlib's parse takes 1-2x pydantic-core's time. None if it fails."""
    try:
        return json.loads(body, parse_int=str, parse_float=str, parse_constant=str)
    except ValueError:
        return None


def _sent(document: Any, loc: Sequence[Any]) -> str | None:
    """The JSON text at `loc` (["body", ...]) of a `_numbers_as_sent` document."""
    try:
        for key in loc[1:]:
            document = document[key]
    except (LookupError, TypeError):
        return None
    return document if isinstance(document, str) else None


def _shown_number(text: str) -> str:
    if text in NON_FINITE:
        return text
    shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
    return f"{shown}, too large for a 64-bit float"


def error_items(
    errors: Sequence[Mapping[str, Any]], max_rows: int, body: bytes | None = None
) -> list[dict[str, Any]]:
    """One item per error, its message prefixed with the field. With the request's `body`, a
    number that is not finite (or too large for a float) is named as it was sent."""
    items = []
    sent = None
    if body is not None and any(error.get("type") == "finite_number" for error in errors):
        sent = _numbers_as_sent(body)
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] != ["body"]:  # pydantic's own errors; FastAPI's already start with "body"
            loc.insert(0, "body")
        msg = str(error.get("msg", "invalid"))
        kind = str(error.get("type", "value_error"))
        value = error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "too_long" and loc == ["body", "rows"]:
            got = ctx.get("actual_length")
            msg = f"at most {max_rows} rows per request (MAX_BATCH_ROWS), got {got}"
        elif kind == "too_short" and loc == ["body", "rows"]:
            msg = "at least one row is required"
        elif kind == "multiple_of" and ctx.get("multiple_of") == 1:
            msg = "Input should be a whole number"
        elif kind == "date_type":  # a number, true or null: "a valid date" named no format
            msg = "Input should be a valid date, a string in the format YYYY-MM-DD"
        elif kind == "json_invalid" and (words := SURROGATE_ERROR.match(str(ctx.get("error")))):
            ctx = {"error": UNPAIRED_SURROGATE + words.string[words.end() :]}  # " at line ..."
            msg = f"Invalid JSON: {ctx['error']}"
        elif kind == "finite_number" and (text := _sent(sent, loc)) is not None:
            value, msg = text, f"{msg}, got {_shown_number(text)}"
        item: dict[str, Any] = {"loc": loc, "msg": f"{_describe(loc)}: {msg}", "type": kind}
        if value is None or isinstance(value, bool | int | float):
            item["input"] = value if not isinstance(value, float) or math.isfinite(value) else None
        elif isinstance(value, str):
            item["input"] = value[:200]
        if ctx:
            item["ctx"] = {key: str(val) for key, val in ctx.items()}
        items.append(item)
    return items


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
