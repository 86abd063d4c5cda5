"""The serving API in-process (FastAPI's TestClient, the ASGI app without a server) on the tiny
bundle built in the session (tests/tiny_bundle.py): health and start-up, predictions, limits,
metadata and metrics, the OpenAPI document and docs pages, validation messages, and parity with
the pipeline path (the fitted transformer and xgboost) on every row of the tiny test split.

What needs a real uvicorn server, a subprocess or the session pipeline is in
tests/integration/test_api_server.py; the server's protocol limits in
tests/integration/test_server_limits.py.

Fixtures from tests/conftest.py (the unit tier's): `bundle_dir` (the tiny bundle), `bundle`,
`profile` and `evaluated_rows` (the tiny test split and the pipeline path's prediction for each
of its rows)."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import re
import shutil
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import (
    PARITY_RTOL,
    call,
    post_json,
    relative_difference,
    request_rows,
)
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from house_price.api import create_app
from house_price.api.batching import LINGER_PASSES, MicroBatcher
from house_price.schema import Profile
from house_price.serving.bundle import Bundle, load_bundle

with warnings.catch_warnings():  # "use httpx2 instead of httpx": the TestClient works with both
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

JSON = {"Content-Type": "application/json"}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example(profile: Profile) -> dict[str, Any]:
    return profile.example_row()


@pytest.fixture(scope="module")
def client(bundle_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(bundle_dir)) as test_client:
        yield test_client


def errors_of(reply: Any) -> list[dict[str, Any]]:
    payload = reply.json()
    assert isinstance(payload["detail"], list), payload
    return payload["detail"]


# --- health and start-up -------------------------------------------------------------------------


def test_health_is_200_with_the_model_version(client: TestClient, bundle: Bundle) -> None:
    reply = call(client, "GET", "/health")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "model_version": bundle.version}


def corrupt(bundle_dir: Path, target: Path, file: str, content: bytes) -> Path:
    shutil.copytree(bundle_dir, target)
    (target / file).write_bytes(content)
    return target


@pytest.mark.parametrize(
    ("file", "content", "reason"),
    [
        ("encoder.json", b"{not json", "unreadable bundle"),
        ("metadata.json", b"{not json", "unreadable bundle"),
        ("profile.yaml", b"name: [unclosed", "unreadable bundle"),
    ],
)
def test_corrupt_bundle_parts_answer_503(
    bundle_dir: Path, tmp_path: Path, file: str, content: bytes, reason: str
) -> None:
    broken = corrupt(bundle_dir, tmp_path / "bundle", file, content)
    with TestClient(create_app(broken)) as test_client:
        health = test_client.get("/health")
        assert health.status_code == 503
        assert reason in health.json()["reason"]
        assert test_client.post("/predict", json={}).status_code == 503


def test_unknown_target_transform_answers_503(bundle_dir: Path, tmp_path: Path) -> None:
    metadata = json.loads((bundle_dir / "metadata.json").read_text())
    content = json.dumps({**metadata, "target_transform": "sqrt"}).encode()
    broken = corrupt(bundle_dir, tmp_path / "bundle", "metadata.json", content)
    with TestClient(create_app(broken)) as test_client:
        health = test_client.get("/health")
    assert health.status_code == 503
    assert "target_transform 'sqrt' is not log1p or identity" in health.json()["reason"]


def test_failed_self_check_is_503(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/health is 200 only once the documented example validated and predicted."""
    example = load_bundle(bundle_dir).profile.example_row()
    name = next(iter(example))
    monkeypatch.setattr(Profile, "example_row", lambda self: {**example, name: "not a value"})
    with TestClient(create_app(bundle_dir)) as test_client:
        health = test_client.get("/health")
    assert health.status_code == 503
    assert "self-check" in health.json()["reason"]
    assert name in health.json()["reason"]


# --- predictions -------------------------------------------------------------------------------


def test_predict_example(client: TestClient, bundle: Bundle, example: dict[str, Any]) -> None:
    reply = post_json(client, "/predict", example)
    assert reply.status == 200, reply.text
    payload = reply.json()
    assert set(payload) == {"prediction", "model_version"}
    assert payload["model_version"] == bundle.version
    assert math.isfinite(payload["prediction"])
    assert payload["prediction"] > 0
    expected = bundle.predict_frame(pd.DataFrame([example]))[0]
    assert payload["prediction"] == pytest.approx(expected, rel=PARITY_RTOL)
    assert reply.headers["server-timing"].startswith("app;dur=")


def test_batch_keeps_order(
    client: TestClient, evaluated_rows: tuple[pd.DataFrame, np.ndarray], profile: Profile
) -> None:
    test, _ = evaluated_rows
    complete = test[test[profile.feature_names].notna().all(axis=1)]
    rows = request_rows(complete.head(50), profile)
    forward = post_json(client, "/predict/batch", {"rows": rows})
    backward = post_json(client, "/predict/batch", {"rows": rows[::-1]})
    assert forward.status == backward.status == 200
    predictions = forward.json()["predictions"]
    assert len(predictions) == len(rows)
    assert backward.json()["predictions"] == predictions[::-1]
    singles = [post_json(client, "/predict", row).json()["prediction"] for row in rows[:10]]
    assert relative_difference(np.array(singles), np.array(predictions[:10])) <= PARITY_RTOL


def test_concurrent_single_requests_get_their_own_predictions(
    client: TestClient, evaluated_rows: tuple[pd.DataFrame, np.ndarray], profile: Profile
) -> None:
    """Concurrent /predict calls are micro-batched into one model call: each must still get
    the prediction of its own row."""
    test, expected = evaluated_rows
    mask = test[profile.feature_names].notna().all(axis=1).to_numpy()
    rows = request_rows(test[mask].head(200), profile)
    with ThreadPoolExecutor(max_workers=32) as pool:
        replies = list(pool.map(lambda row: post_json(client, "/predict", row), rows))
    assert all(reply.status == 200 for reply in replies)
    got = np.array([reply.json()["prediction"] for reply in replies])
    assert relative_difference(got, expected[mask][: len(rows)]) <= PARITY_RTOL


def test_micro_batcher_lingers_for_requests_arriving_over_loop_passes() -> None:
    """Requests sent one event-loop pass apart (as responses free clients one by one) join
    the same batch while each pass brings another; small batches run on the loop's thread,
    a lone request is answered at once, and results stay in request order."""
    calls: list[tuple[int, int]] = []

    def double(rows: Any) -> np.ndarray:
        calls.append((len(rows), threading.get_ident()))
        return np.array([2.0 * row["x"] for row in rows])

    async def scenario() -> tuple[list[float], list[float], int]:
        batcher = MicroBatcher(double)
        try:
            alone = [await batcher.predict({"x": 7})]
            tasks = []
            for index in range(20):
                tasks.append(asyncio.ensure_future(batcher.predict({"x": index})))
                await asyncio.sleep(0)  # the next request arrives one pass later
            staggered = list(await asyncio.gather(*tasks))
        finally:
            batcher.close()
        return alone, staggered, threading.get_ident()

    alone, staggered, loop_thread = asyncio.run(scenario())
    assert alone == [14.0]
    assert calls[0][0] == 1
    assert staggered == [2.0 * i for i in range(20)]
    sizes = [size for size, _ in calls[1:]]
    assert sum(sizes) == 20
    assert len(sizes) <= 3  # one call per request without the linger
    assert max(sizes) >= LINGER_PASSES
    assert {thread for _, thread in calls} == {loop_thread}  # <= INLINE_MAX_ROWS: on the loop


def test_micro_batcher_coalesces_and_propagates_errors() -> None:
    calls: list[int] = []

    def double(rows: Any) -> np.ndarray:
        calls.append(len(rows))
        if any(row["x"] < 0 for row in rows):
            raise ValueError("negative")
        return np.array([2.0 * row["x"] for row in rows])

    async def scenario() -> tuple[list[float], list[BaseException | float]]:
        batcher = MicroBatcher(double)
        try:
            values = await asyncio.gather(*(batcher.predict({"x": i}) for i in range(100)))
            failed = await asyncio.gather(
                batcher.predict({"x": 1}), batcher.predict({"x": -1}), return_exceptions=True
            )
        finally:
            batcher.close()
        return values, failed

    values, failed = asyncio.run(scenario())
    assert values == [2.0 * i for i in range(100)]
    assert sum(calls[:-1]) == 100  # the last call is the failing pair
    assert len(calls) < 100  # coalesced: fewer model calls than requests
    assert all(isinstance(item, ValueError) for item in failed)


def test_batch_limit_is_configurable(
    bundle_dir: Path, example: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BATCH_ROWS", "5")
    with TestClient(create_app(bundle_dir)) as test_client:
        assert test_client.post("/predict/batch", json={"rows": [example] * 5}).status_code == 200
        reply = test_client.post("/predict/batch", json={"rows": [example] * 6})
    assert reply.status_code == 422
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["body", "rows"]
    assert "at most 5 rows" in error["msg"]
    assert "MAX_BATCH_ROWS" in error["msg"]
    assert "input" not in error  # the rows are not echoed back


def test_batch_default_limit(client: TestClient, example: dict[str, Any]) -> None:
    reply = post_json(client, "/predict/batch", {"rows": [example] * 10_001})
    assert reply.status == 422
    assert "at most 10000 rows" in errors_of(reply)[0]["msg"]
    assert len(reply.body) < 2000
    reply = post_json(client, "/predict/batch", {"rows": [example] * 10_000})
    assert reply.status == 200
    assert len(reply.json()["predictions"]) == 10_000


def test_empty_batch_and_bare_list_are_422(client: TestClient, example: dict[str, Any]) -> None:
    empty = client.post("/predict/batch", json={"rows": []})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["msg"] == "rows: at least one row is required"
    bare = client.post("/predict/batch", json=[example])  # documented format: {"rows": [...]}
    assert bare.status_code == 422
    assert client.post("/predict/batch", json={}).status_code == 422


def test_batch_errors_name_the_row_and_field(client: TestClient, example: dict[str, Any]) -> None:
    rows = [example, {**example, "location": "Atlantis"}]
    reply = client.post("/predict/batch", json={"rows": rows})
    assert reply.status_code == 422
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["body", "rows", 1, "location"]
    assert error["msg"].startswith("rows.1.location: ")


# --- model metadata and metrics ------------------------------------------------------------------


def test_model_metadata(client: TestClient, bundle: Bundle) -> None:
    reply = call(client, "GET", "/model")
    assert reply.status == 200
    payload = reply.json()
    metadata = bundle.metadata
    assert payload["model_version"] == bundle.version
    assert payload["metrics"] == metadata["metrics"]
    assert payload["params"] == metadata["params"]
    assert payload["lineage"]["data_md5"] == metadata["lineage"]["data_md5"]
    # The run, version and commit it was registered with, from registrations/ beside it.
    registration = bundle.registration
    assert payload["mlflow"] == {
        "registered_model": "house-price-houses", "registered": True, **registration
    }  # fmt: skip
    assert set(registration) >= {"run_id", "version", "git_commit", "tracking_uri"}
    assert [item["name"] for item in payload["features"]] == bundle.profile.feature_names
    assert payload["max_batch_rows"] == 10_000


def test_metrics(client: TestClient, example: dict[str, Any], bundle: Bundle) -> None:
    assert post_json(client, "/predict", example).status == 200
    assert post_json(client, "/predict/batch", {"rows": [example] * 3}).status == 200
    assert post_json(client, "/predict", {"nope": 1}).status == 422
    assert call(client, "GET", "/no/such/path/12345").status == 404
    reply = call(client, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    for line in (
        "# TYPE http_requests_total counter",
        'http_requests_total{handler="/predict",method="POST",status="200"}',
        'http_requests_total{handler="/predict",method="POST",status="422"}',
        'http_requests_total{handler="/predict/batch",method="POST",status="200"}',
        'http_requests_total{handler="<unmatched>",method="GET",status="404"}',
        "# TYPE http_request_duration_seconds histogram",
        'http_request_duration_seconds_bucket{handler="/predict",le="0.005",method="POST",status="200"}',
        'model_predictions_total{endpoint="/predict"}',
        'model_predictions_total{endpoint="/predict/batch"}',
        f'version="{bundle.version}"',
        "model_ready 1.0",
    ):
        assert line in text, line
    assert "/no/such/path" not in text  # route templates, never raw paths
    batch_count = next(
        line
        for line in text.splitlines()
        if line.startswith('model_predictions_total{endpoint="/predict/batch"}')
    )
    assert float(batch_count.split()[-1]) >= 3


def app_routes(routes: Any) -> Iterator[Any]:
    """Every route of an app, those of its included routers too (FastAPI lists an included
    router as one entry)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from app_routes(included.routes)
        else:
            yield route


def requests_counted(text: str) -> dict[tuple[str, str, str], float]:
    """http_requests_total of a /metrics text: (handler, method, status) -> count."""
    pattern = re.compile(
        r'^http_requests_total\{handler="([^"]*)",method="([^"]*)",status="([^"]*)"\} (\S+)$'
    )
    found = (pattern.match(line) for line in text.splitlines())
    return {match.groups()[:3]: float(match.group(4)) for match in found if match}


def test_every_route_is_counted_under_its_own_handler(bundle_dir: Path) -> None:
    """/openapi.json was counted as `<unmatched>`, among the real 404s (issue 25). Every path
    the app serves, each method it answers there, is counted under its route template; a path
    no route serves (a near miss too: another case, a trailing part, an unknown asset) under
    `<unmatched>` with its 404, and only those."""
    app = create_app(bundle_dir)
    served = [
        (path, method)
        for route in app_routes(app.routes)
        for method in sorted(route.methods)
        if method in {"GET", "HEAD"} and "{" not in (path := route.path)
    ]
    assert ("/openapi.json", "GET") in served
    assert ("/openapi.json", "HEAD") in served
    assert {"/docs", "/redoc", "/docs/oauth2-redirect", "/livez"} <= {p for p, _ in served}
    misses = ["/no/such/path", "/OPENAPI.json", "/openapi.json/x", "/openapi.yaml", "/doc"]
    with TestClient(app) as test_client:
        for path, method in served:
            assert call(test_client, method, path).status == 200, (method, path)
        assert call(test_client, "GET", "/docs/assets/nope.js").status == 404  # a route's 404
        for path in misses:
            assert call(test_client, "GET", path).status == 404, path
        counted = requests_counted(call(test_client, "GET", "/metrics").text)
    for path, method in served:
        if path != "/metrics":  # counted once its own answer is out
            assert counted.get((path, method, "200")) == 1, (path, method, counted)
    assert counted[("/docs/assets/{name}", "GET", "404")] == 1
    unmatched = {key: count for key, count in counted.items() if key[0] == "<unmatched>"}
    assert unmatched == {("<unmatched>", "GET", "404"): len(misses)}


def openapi_servers(app: Any, root_path: str) -> tuple[Any, dict[tuple[str, str, str], float]]:
    """(the `servers` of GET /openapi.json, the requests /metrics counted) of `app` behind a
    proxy's path prefix `root_path`, with a request for a path no route serves in between."""
    with TestClient(app, root_path=root_path) as test_client:
        servers = call(test_client, "GET", "/openapi.json").json().get("servers")
        assert call(test_client, "GET", "/no/such/path").status == 404
        metrics = call(test_client, "GET", "/metrics")
    return servers, requests_counted(metrics.text) if metrics.status == 200 else {}


@pytest.mark.parametrize("root_path", ["/prefix", "/prefix/", "/a/b", ""])
def test_openapi_behind_a_proxy_prefix_is_fastapis_own(bundle_dir: Path, root_path: str) -> None:
    """GET /openapi.json is FastAPI's own route (a copy of it dropped FastAPI's checks, issue
    25): behind a proxy's path prefix its `servers` are a plain FastAPI app's, the prefix
    without its trailing slash; it is counted under handler="/openapi.json", never the prefixed
    path, and a path no route serves under `<unmatched>`."""
    expected, _ = openapi_servers(FastAPI(), root_path)
    assert expected == ([{"url": root_path.rstrip("/")}] if root_path else None)
    servers, counted = openapi_servers(create_app(bundle_dir), root_path)
    assert servers == expected
    assert counted[("/openapi.json", "GET", "200")] == 1
    assert {key: n for key, n in counted.items() if key[0] != "/openapi.json"} == {
        ("<unmatched>", "GET", "404"): 1
    }


@pytest.mark.parametrize("root_path", ["/prefix", "/prefix/", "/a/b"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_behind_a_proxy_prefix(bundle_dir: Path, root_path: str, page: str) -> None:
    """The pages load the document and their assets through the prefix, joined as FastAPI's
    own pages join it (one slash)."""
    root = root_path.rstrip("/")
    with TestClient(create_app(bundle_dir), root_path=root_path) as test_client:
        html = call(test_client, "GET", page).text
    spec = re.search(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)
    assert spec is not None, html
    assert spec.group(1) == f"{root}/openapi.json"
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert urls
    assert all(url.startswith(f"{root}/docs/assets/") for url in urls), urls


@pytest.mark.parametrize(
    ("servers", "root_path_in_servers"),
    [
        ([{"url": "/prefix"}], True),  # the prefix is listed already: not twice
        ([{"url": "https://api.example"}], True),  # the prefix first, then the app's
        ([], False),  # the app asks for no prefix in `servers`
        ([{"url": "https://api.example"}], False),
    ],
)
def test_openapi_servers_follow_fastapis_settings(
    bundle_dir: Path, servers: list[dict[str, str]], root_path_in_servers: bool
) -> None:
    reference = FastAPI(servers=servers, root_path_in_servers=root_path_in_servers)
    expected, _ = openapi_servers(reference, "/prefix")
    app = create_app(bundle_dir)
    app.servers, app.root_path_in_servers = servers, root_path_in_servers
    assert openapi_servers(app, "/prefix")[0] == expected
    assert [entry["url"] for entry in expected or []].count("/prefix") == root_path_in_servers


def test_openapi_documents_valid_examples(client: TestClient) -> None:
    spec = call(client, "GET", "/openapi.json").json()
    for path in ("/predict", "/predict/batch"):
        body = spec["paths"][path]["post"]["requestBody"]
        media = body["content"]["application/json"]
        assert body["required"] is True
        assert media["schema"]["$ref"].startswith("#/components/schemas/")
        reply = post_json(client, path, media["example"])
        assert reply.status == 200, (path, reply.text)
    schemas = spec["components"]["schemas"]
    for name in ("PredictRequest", "BatchRow"):
        assert schemas[name]["additionalProperties"] is False
        assert all("examples" in prop for prop in schemas[name]["properties"].values())
        assert schemas[name]["examples"]
    assert schemas["BatchPredictRequest"]["properties"]["rows"]["maxItems"] == 10_000
    docs = call(client, "GET", "/docs")
    assert docs.status == 200
    assert b"swagger" in docs.body.lower()


def test_openapi_operation_ids_are_unique(bundle_dir: Path) -> None:
    """GET and HEAD of a probe are two operations, each with its own operationId, and
    generating the document warns of no duplicate (a fresh app: it is generated once)."""
    with (
        TestClient(create_app(bundle_dir)) as test_client,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        spec = test_client.get("/openapi.json").json()
    assert not [
        str(warning.message) for warning in caught if "Operation ID" in str(warning.message)
    ]
    ids = [
        operation["operationId"] for item in spec["paths"].values() for operation in item.values()
    ]
    assert len(ids) == len(set(ids)), sorted(ids)
    for path in ("/", "/livez", "/readyz", "/health"):
        assert set(spec["paths"][path]) == {"get", "head"}, path


ASSET_KINDS = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_docs_pages_work_offline(client: TestClient, page: str, assets: set[str]) -> None:
    """The page names no other host (no CDN: it works without internet); every script,
    stylesheet and icon it loads is served here, byte for byte the pinned package's file."""
    reply = call(client, "GET", page)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    html = reply.text
    assert not re.search(r"https?://|cdn|googleapis", html), html
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert {url.rsplit("/", 1)[-1] for url in urls} == assets, urls
    package = files("fastapi_offline") / "static"
    for url in urls:
        assert url.startswith("/docs/assets/"), url  # a path on this server
        asset = call(client, "GET", url)
        assert asset.status == 200, url
        assert ASSET_KINDS[Path(url).suffix] in asset.headers["content-type"], asset.headers
        assert asset.body == (package / url.rsplit("/", 1)[-1]).read_bytes(), url
    spec = re.search(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)
    assert spec is not None, html
    assert spec.group(1) == "/openapi.json"
    assert call(client, "GET", spec.group(1)).status == 200
    if page == "/docs":
        assert call(client, "GET", "/docs/oauth2-redirect").status == 200
    assert call(client, "GET", "/docs/assets/..%2Fcore.py").status == 404
    # Assets are counted under their route template, never their raw path.
    metrics = call(client, "GET", "/metrics").text
    assert 'http_requests_total{handler="/docs/assets/{name}",method="GET",status="200"}' in metrics
    assert "favicon.png" not in metrics


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [" suburb ", "SUBURB", "suburb", "Suburban", "  sUbUrBaN "])
def test_category_spellings_are_normalised(
    client: TestClient, example: dict[str, Any], spelling: str
) -> None:
    canonical = client.post("/predict", json={**example, "location": "Suburb"})
    reply = client.post("/predict", json={**example, "location": spelling})
    assert reply.status_code == 200, reply.text
    assert reply.json()["prediction"] == canonical.json()["prediction"]


def test_unknown_category_lists_the_allowed_values(
    client: TestClient, example: dict[str, Any], profile: Profile
) -> None:
    reply = client.post("/predict", json={**example, "location": "Atlantis"})
    assert reply.status_code == 422
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["body", "location"]
    assert error["msg"].startswith("location: Input should be one of: ")
    for category in profile.feature("location").categories:
        assert category in error["msg"]
    assert error["input"] == "Atlantis"


def test_unknown_field_is_rejected(client: TestClient, example: dict[str, Any]) -> None:
    reply = client.post("/predict", json={**example, "garage": 2})
    assert reply.status_code == 422
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["body", "garage"]
    assert error["type"] == "extra_forbidden"
    assert error["msg"].startswith("garage: ")


def test_missing_and_out_of_bounds_fields_are_named(
    client: TestClient, example: dict[str, Any], profile: Profile
) -> None:
    column = next(column for column in profile.features if column.minimum is not None)
    missing = next(name for name in profile.feature_names if name != column.name)
    row = {key: value for key, value in example.items() if key != missing}
    row[column.name] = column.minimum - 1
    reply = client.post("/predict", json=row)
    assert reply.status_code == 422
    fields = {error["loc"][-1]: error for error in reply.json()["detail"]}
    assert fields[missing]["type"] == "missing"
    assert fields[missing]["msg"] == f"{missing}: Field required"
    assert fields[column.name]["type"] == "greater_than_equal"
    assert fields[column.name]["msg"].startswith(f"{column.name}: ")


def test_int_fields_take_whole_numbers(
    client: TestClient, example: dict[str, Any], profile: Profile
) -> None:
    """JSON Schema's "integer" (what the OpenAPI says) includes 3.0; 3.5 and "3" are not."""
    name = numeric_field(profile, "int")
    value = int(example[name])
    reference = client.post("/predict", json=example).json()["prediction"]
    assert client.post("/predict", json={**example, name: float(value)}).json()["prediction"] == (
        reference
    )
    for bad, message in ((value + 0.5, "Input should be a whole number"), (str(value), "number")):
        reply = client.post("/predict", json={**example, name: bad})
        assert reply.status_code == 422
        (error,) = reply.json()["detail"]
        assert error["loc"] == ["body", name]
        assert message in error["msg"]


def numeric_field(profile: Profile, kind: str = "float") -> str:
    return next(column.name for column in profile.features if column.kind == kind)


BAD_VALUES = [
    pytest.param(b"NaN", id="NaN"),
    pytest.param(b"Infinity", id="Infinity"),
    pytest.param(b"-Infinity", id="-Infinity"),
    pytest.param(b"1e400", id="1e400"),
    pytest.param(b"-1e400", id="-1e400"),
    pytest.param(b"1e308", id="1e308"),
    pytest.param(b"9" * 5000, id="5000-digit-int"),
    pytest.param(b"1" + b"0" * 400 + b".5", id="400-digit-float"),
    pytest.param(b'"1850"', id="numeric-string"),
    pytest.param(b'"NaN"', id="nan-string"),
    pytest.param(b"true", id="bool"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[1850]", id="array"),
    pytest.param(b'{"a": 1}', id="object"),
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_numbers_are_422_naming_the_field(
    client: TestClient, example: dict[str, Any], profile: Profile, value: bytes
) -> None:
    name = numeric_field(profile)
    body = json.dumps({**example, name: "PLACEHOLDER"}).encode()
    body = body.replace(b'"PLACEHOLDER"', value)
    reply = call(client, "POST", "/predict", body, JSON)
    assert reply.status == 422, reply.text
    (error,) = errors_of(reply)
    # Numbers JSON cannot hold (5000 digits) fail while parsing: then the body is named.
    assert error["loc"] in (["body", name], ["body"]), error
    assert error["msg"].startswith(f"{name}: " if error["loc"] == ["body", name] else "body: ")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("1e400", "1e400, too large for a 64-bit float"),
        ("-1e400", "-1e400, too large for a 64-bit float"),
        ("9" * 500, "99999999999999999999... (500 characters), too large for a 64-bit float"),
    ],
)
def test_non_finite_numbers_are_named_as_sent(
    client: TestClient, example: dict[str, Any], profile: Profile, value: str, shown: str
) -> None:
    """pydantic-core reads them all as NaN or infinities: the error names what was sent."""
    name = numeric_field(profile)
    for path, payload, loc in (
        ("/predict", {**example, name: "PLACEHOLDER"}, [name]),
        (
            "/predict/batch",
            {"rows": [example, {**example, name: "PLACEHOLDER"}]},
            ["rows", 1, name],
        ),
    ):
        body = json.dumps(payload).replace('"PLACEHOLDER"', value)
        reply = client.post(path, content=body, headers=JSON)
        assert reply.status_code == 422, reply.text
        (error,) = errors_of(reply)
        assert error["loc"] == ["body", *loc]
        field = ".".join(map(str, loc))
        assert error["msg"] == f"{field}: Input should be a finite number, got {shown}"
        assert error["input"] == value[:200]


@pytest.mark.parametrize(
    "escape", [r"\ud800", r"\udbff", r"\udc00", r"\udfff\udc00", r"\ud800\u0041", r"\ud800\ud800"]
)
def test_unpaired_surrogate_is_named(
    client: TestClient, example: dict[str, Any], profile: Profile, escape: str
) -> None:
    name = next(column.name for column in profile.features if column.is_category)
    body = json.dumps({**example, name: "PLACEHOLDER"}).replace("PLACEHOLDER", escape)
    reply = client.post("/predict", content=body, headers=JSON)
    assert reply.status_code == 422, reply.text
    (error,) = errors_of(reply)
    assert error["loc"] == ["body"]
    assert error["msg"].startswith(
        "body: Invalid JSON: unpaired surrogate \\u escape (\\ud800-\\udbff must be followed by "
        "\\udc00-\\udfff) at line 1 column "
    ), error["msg"]


def test_surrogate_pair_is_one_character(
    client: TestClient, example: dict[str, Any], profile: Profile
) -> None:
    name = next(column.name for column in profile.features if column.is_category)
    body = json.dumps({**example, name: "PLACEHOLDER"}).replace("PLACEHOLDER", r"\ud83d\ude00")
    (error,) = errors_of(client.post("/predict", content=body, headers=JSON))
    assert error["loc"] == ["body", name]  # the JSON parsed: the category is what is wrong
    assert error["input"] == "\U0001f600"


@pytest.mark.parametrize(
    ("encoding", "compressed"),
    [
        ("gzip", True),
        ("gzip", False),
        ("GZIP", False),
        ("br", False),
        ("identity, gzip", False),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_encoded_bodies_are_415(
    client: TestClient, example: dict[str, Any], path: str, encoding: str, compressed: bool
) -> None:
    """A body is read as sent: one with a Content-Encoding (gzip, or just labelled so) is
    refused, never read as JSON."""
    body = json.dumps(example if path == "/predict" else {"rows": [example]}).encode()
    body = gzip.compress(body) if compressed else body
    reply = call(client, "POST", path, body, {**JSON, "Content-Encoding": encoding})
    assert reply.status == 415, reply.text
    assert reply.json()["detail"] == (
        f"Content-Encoding must be identity (an uncompressed body), got {encoding}"
    )
    assert reply.headers["accept-encoding"] == "identity"


def test_identity_encoding_is_accepted(client: TestClient, example: dict[str, Any]) -> None:
    body = json.dumps(example).encode()
    for encoding in ("identity", "Identity"):
        headers = {**JSON, "Content-Encoding": encoding}
        assert call(client, "POST", "/predict", body, headers).status == 200


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b'{"sqft": ', JSON, id="truncated-json"),
        pytest.param(b"{'sqft': 1}", JSON, id="single-quotes"),
        pytest.param(b"", JSON, id="empty-body"),
        pytest.param(b"\xff\xfe\x00{", JSON, id="invalid-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, JSON, id="deep-nesting"),
        pytest.param(b"null", JSON, id="null-body"),
        pytest.param(b"[]", JSON, id="array-body"),
        pytest.param(b'"text"', JSON, id="string-body"),
        pytest.param(b"{}", JSON, id="empty-object"),
        pytest.param(b'{"sqft": 1850}', {"Content-Type": "text/plain"}, id="text-plain"),
        pytest.param(b'{"sqft": 1850}', {}, id="no-content-type"),
        pytest.param(
            b"sqft=1850", {"Content-Type": "application/x-www-form-urlencoded"}, id="form"
        ),
        pytest.param(b'{"sqft": 1850}', {"Content-Type": "application/xml"}, id="xml"),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_malformed_requests_are_4xx(
    client: TestClient, path: str, body: bytes, headers: dict[str, str]
) -> None:
    reply = call(client, "POST", path, body, headers)
    assert 400 <= reply.status < 500, reply.text
    if headers.get("Content-Type") != "application/json":
        assert reply.status == 415
        assert "application/json" in reply.json()["detail"]
    else:
        assert reply.status == 422
        for error in errors_of(reply):
            assert error["loc"][0] == "body"
            assert error["msg"].split(":", 1)[0]  # "<field>: ..." or "body: ..."


def test_json_with_charset_is_accepted(client: TestClient, example: dict[str, Any]) -> None:
    body = json.dumps(example).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert call(client, "POST", "/predict", body, headers).status == 200


def test_oversized_body_is_413(
    bundle_dir: Path, example: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "4096")
    with TestClient(create_app(bundle_dir)) as test_client:
        reply = test_client.post("/predict/batch", json={"rows": [example] * 100})
        assert test_client.post("/predict/batch", json={"rows": [example]}).status_code == 200
    assert reply.status_code == 413
    assert "MAX_BODY_BYTES" in reply.json()["detail"]


# --- parity ------------------------------------------------------------------------------------


def test_parity_with_the_evaluate_stage_through_the_api(
    client: TestClient, evaluated_rows: tuple[pd.DataFrame, np.ndarray], profile: Profile
) -> None:
    """Every test-split row goes through POST /predict/batch and POST /predict; both match the
    evaluate stage's predictions. A missing value of a nullable column travels as null or as
    an omitted field (every other row), and is imputed as the pipeline imputes it."""
    test, expected = evaluated_rows
    incomplete = int(test[profile.feature_names].isna().any(axis=1).sum())
    rows = request_rows(test, profile, omit_missing=True)
    assert sum(len(row) < len(profile.features) for row in rows) > 0  # omitted fields sent
    reply = post_json(client, "/predict/batch", {"rows": rows})
    assert reply.status == 200, reply.text
    batch = np.array(reply.json()["predictions"])
    difference = relative_difference(batch, expected)
    singles = np.array([post_json(client, "/predict", row).json()["prediction"] for row in rows])
    single_difference = relative_difference(singles, expected)
    print(
        f"\nAPI parity: all {len(test)} evaluated rows ({incomplete} with missing values); "
        f"max relative difference batch {difference:.2e}, single {single_difference:.2e}"
    )
    assert incomplete >= 10  # the synthetic data's 1 % missing values reach the test split
    assert difference <= PARITY_RTOL
    assert single_difference <= PARITY_RTOL


def test_parity_of_the_fast_paths_on_all_rows(
    bundle_dir: Path,
    bundle: Bundle,
    evaluated_rows: tuple[pd.DataFrame, np.ndarray],
    profile: Profile,
) -> None:
    """All evaluated rows, missing values included: the serving encoders (row by row, column
    by column), built from the bundle's encoder.json, build the pipeline transformer's matrix
    exactly, and the serving booster predicts its predictions."""
    test, expected = evaluated_rows
    served = load_bundle(bundle_dir, nthread=1)
    assert served.encoder == bundle.transformer.row_encoder()
    rows = request_rows(test, profile)
    reference = bundle.transformer.transform(test)
    assert np.array_equal(served.encoder.encode_rows(rows), reference)
    assert np.array_equal(served.encoder.encode_columns(rows), reference)
    frame = bundle.predict_frame(test)
    fast = served.predict_rows(rows)
    assert np.array_equal(fast, frame)
    print(f"\nfast-path parity: all {len(test)} evaluated rows, matrices identical")
    assert relative_difference(frame, expected) <= PARITY_RTOL
    assert relative_difference(fast, expected) <= PARITY_RTOL


# --- the module ------------------------------------------------------------------------------


def test_bad_configuration_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH_ROWS", "zero")
    with pytest.raises(ValueError, match="MAX_BATCH_ROWS"):
        create_app("unused")
