#!/usr/bin/env python3
"""Smoke-test a running house-price API; exit non-zero on the first thing that is wrong.

    python scripts/smoke_test.py BASE_URL [--timeout SECONDS] [--request-timeout SECONDS]

Steps, in order (each failure prints `smoke_test: FAIL [step] ...` and exits 1):

  health         GET /health answers 200 within --timeout (it is 503 until the bundle is
                 loaded and its self-check prediction passed); its JSON is printed
  openapi        GET /openapi.json; the request body of POST /predict carries an example
  predict        POST that example to /predict: 200 and a finite, positive `prediction`
  batch          POST /predict/batch with its own OpenAPI example, if it has one: 200
  invalid        the example with a numeric field set to "not-a-number", and `{}`: both 422
  model          GET /model: 200 with a JSON object
  metrics        GET /metrics: 200 with Prometheus text about HTTP requests

Standard library only. Every request has its own timeout, and environment proxies are ignored
(the target is a local container or server). The workflow, `make rehearse` and the container
tests all call this script, so what passes here is what passes in CI.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from wait_for_http import check_url, positive_float, wait_for

PROG = "smoke_test"
INVALID_VALUE = "not-a-number"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SmokeTestError(Exception):
    """A check failed; `step` names it in the one-line report."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self, limit: int = 300) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= limit else text[:limit] + "..."


def request(method: str, url: str, step: str, timeout: float, payload: Any = None) -> Response:
    """One HTTP request with a timeout. Non-2xx answers are returned, not raised."""
    data = None
    headers = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.1"}
    if payload is not None:
        data = json.dumps(payload).encode("utf-8")
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers.get("Content-Type", ""), resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, exc.headers.get("Content-Type", ""), exc.read())
    except Exception as exc:  # any transport problem is this step's failure
        raise SmokeTestError(
            step, f"{method} {url} got no HTTP answer within {timeout:g}s: {exc}"
        ) from exc


def expect_status(resp: Response, expected: int, step: str, what: str) -> None:
    if resp.status != expected:
        raise SmokeTestError(
            step, f"{what}: expected HTTP {expected}, got {resp.status}: {resp.excerpt()}"
        )


def parse_json(resp: Response, step: str, what: str) -> Any:
    try:
        return json.loads(resp.body)
    except ValueError as exc:
        raise SmokeTestError(
            step, f"{what}: response is not JSON ({exc}): {resp.excerpt()}"
        ) from exc


# --- finding the example request body in the OpenAPI document ------------------------------


def resolve_ref(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """Follow local JSON references (#/components/...) and single-item allOf wrappers."""
    while isinstance(node, dict) and depth < 32:
        depth += 1
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return node
            target: Any = spec
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    return node
                target = target[part]
            node = target
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node
    return node


def first_example(spec: dict[str, Any], holder: Any) -> Any:
    """An example from an OpenAPI media type or a JSON schema, or None.

    Media type: `example`, or `examples` as a map of Example objects ({name: {value: ...}}).
    JSON schema (OpenAPI 3.1 / pydantic v2): `examples` as a list, or legacy `example`.
    """
    holder = resolve_ref(spec, holder)
    if not isinstance(holder, dict):
        return None
    if "example" in holder and holder["example"] is not None:
        return holder["example"]
    examples = holder.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(examples, dict):
        for item in examples.values():
            item = resolve_ref(spec, item)
            if isinstance(item, dict) and "value" in item:
                return item["value"]
    return None


def request_example(spec: dict[str, Any], path: str) -> Any:
    """The example body of POST `path`: media type first, then its (referenced) schema."""
    operation = spec.get("paths", {}).get(path, {}).get("post")
    if not isinstance(operation, dict):
        return None
    body = resolve_ref(spec, operation.get("requestBody", {}))
    media = body.get("content", {}).get("application/json") if isinstance(body, dict) else None
    if not isinstance(media, dict):
        return None
    example = first_example(spec, media)
    if example is None:
        example = first_example(spec, media.get("schema"))
    return example


def find_numeric_path(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """Path to the first int/float leaf (not bool) in a JSON value, depth first."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, child in items:
        found = find_numeric_path(child, (*path, key))
        if found is not None:
            return found
    return None


def with_value(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of document with the leaf at path replaced."""
    result = copy.deepcopy(document)
    target = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return result


def check_prediction(payload: Any, step: str) -> float:
    if not isinstance(payload, dict) or "prediction" not in payload:
        raise SmokeTestError(step, f"response has no 'prediction' field: {payload!r}")
    prediction = payload["prediction"]
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)):
        raise SmokeTestError(step, f"'prediction' is not a number: {prediction!r}")
    if not math.isfinite(prediction) or prediction <= 0:
        raise SmokeTestError(step, f"'prediction' must be finite and > 0, got {prediction!r}")
    return float(prediction)


def looks_like_prometheus(text: str) -> bool:
    return "http_request" in text or any(
        line.startswith("# TYPE ") and "http" in line for line in text.splitlines()
    )


# --- the smoke test --------------------------------------------------------------------------


def run(base_url: str, timeout: float, request_timeout: float) -> None:
    base = base_url.rstrip("/")
    check_url(base)

    def url(path: str) -> str:
        return base + path

    # health: bounded wait for 200 (503 while the bundle loads or its self-check fails)
    ready, last, elapsed = wait_for(url("/health"), timeout=timeout, status=200)
    if not ready:
        raise SmokeTestError(
            "health",
            f"GET {url('/health')} did not answer 200 within {timeout:g}s ({last.describe()})",
        )
    resp = request("GET", url("/health"), "health", request_timeout)
    expect_status(resp, 200, "health", "GET /health")
    health = parse_json(resp, "health", "GET /health")
    print(f"[health] 200 after {elapsed:.1f}s: {json.dumps(health, sort_keys=True)}")

    # openapi: the example body of POST /predict
    resp = request("GET", url("/openapi.json"), "openapi", request_timeout)
    expect_status(resp, 200, "openapi", "GET /openapi.json")
    spec = parse_json(resp, "openapi", "GET /openapi.json")
    if not isinstance(spec, dict) or "/predict" not in spec.get("paths", {}):
        raise SmokeTestError("openapi", "/openapi.json has no path /predict")
    example = request_example(spec, "/predict")
    if not isinstance(example, dict) or not example:
        raise SmokeTestError(
            "openapi",
            "POST /predict has no example request body (looked in requestBody.content"
            "['application/json'].example/examples and in its schema's examples/example): "
            f"{example!r}",
        )
    print(f"[openapi] /predict example: {json.dumps(example, sort_keys=True)}")

    # predict: the documented example must be accepted and give a sane price
    resp = request("POST", url("/predict"), "predict", request_timeout, example)
    expect_status(resp, 200, "predict", "POST /predict with the OpenAPI example")
    answer = parse_json(resp, "predict", "POST /predict")
    prediction = check_prediction(answer, "predict")
    print(f"[predict] 200, prediction={prediction:g}: {json.dumps(answer, sort_keys=True)}")

    # batch: its own documented example, when the API documents one
    if "/predict/batch" in spec.get("paths", {}):
        batch_example = request_example(spec, "/predict/batch")
        if batch_example is None:
            print("[batch] skipped: POST /predict/batch documents no example body")
        else:
            resp = request("POST", url("/predict/batch"), "batch", request_timeout, batch_example)
            expect_status(resp, 200, "batch", "POST /predict/batch with the OpenAPI example")
            parse_json(resp, "batch", "POST /predict/batch")
            print(f"[batch] 200: {resp.excerpt(200)}")

    # invalid: wrong types and missing fields are the client's fault (422), never a price
    invalid_bodies: list[tuple[str, Any]] = []
    numeric = find_numeric_path(example)
    if numeric is not None:
        field = ".".join(str(part) for part in numeric)
        invalid_bodies.append(
            (f"{field}={INVALID_VALUE!r}", with_value(example, numeric, INVALID_VALUE))
        )
    invalid_bodies.append(("{}", {}))
    for label, body in invalid_bodies:
        resp = request("POST", url("/predict"), "invalid", request_timeout, body)
        expect_status(resp, 422, "invalid", f"POST /predict with invalid body {label}")
        print(f"[invalid] {label} -> 422")

    # model: metadata about the served bundle
    resp = request("GET", url("/model"), "model", request_timeout)
    expect_status(resp, 200, "model", "GET /model")
    model = parse_json(resp, "model", "GET /model")
    if not isinstance(model, dict):
        raise SmokeTestError("model", f"GET /model: expected a JSON object, got {model!r}")
    print(f"[model] 200: {resp.excerpt(300)}")

    # metrics: Prometheus exposition text
    resp = request("GET", url("/metrics"), "metrics", request_timeout)
    expect_status(resp, 200, "metrics", "GET /metrics")
    if not looks_like_prometheus(resp.text):
        raise SmokeTestError(
            "metrics", f"GET /metrics is not Prometheus text about HTTP requests: {resp.excerpt()}"
        )
    print(f"[metrics] 200, {len(resp.text.splitlines())} lines of Prometheus text")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        help="bound, in seconds, on waiting for GET /health = 200 (default 60)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_float,
        default=15.0,
        help="timeout, in seconds, of every other request (default 15)",
    )
    args = parser.parse_args(argv)
    try:
        run(args.base_url, args.timeout, args.request_timeout)
    except SmokeTestError as failure:
        print(f"{PROG}: FAIL [{failure.step}] {failure.message}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad BASE_URL
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"{PROG}: OK {args.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
