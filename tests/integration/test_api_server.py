"""The serving API on a real uvicorn server (`python -m house_price.serve`, as the image runs
it) and on the session pipeline's bundle: what needs the real server, process or pipeline. The
API's behaviour (routes, validation, limits, metrics, docs, parity with the pipeline path) is
tested in-process on the tiny bundle in tests/unit/api/test_api.py; the server's protocol
limits in tests/integration/test_server_limits.py.

Fixtures from tests/conftest.py: `bundle_dir` (the pipeline's model bundle), `evaluated_rows`
(the test split and the evaluate stage's prediction for each of its rows), `server` (uvicorn on
that bundle, one per module) and `mlflow_server` (the tracking server the pipeline registered
`house-price-houses@champion` in)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import (
    PARITY_RTOL,
    ApiServer,
    call,
    post_json,
    relative_difference,
    request_rows,
    start_api,
    stop_api,
)

from house_price.schema import Profile
from house_price.serving.bundle import Bundle

pytestmark = pytest.mark.slow  # the session pipeline run, real uvicorn servers

JSON = {"Content-Type": "application/json"}
# Some of the bad numbers and malformed bodies tests/unit/api/test_api.py sends in-process: here
# they reach the app through uvicorn's parser before test_server_survives_bad_input.
BAD_NUMBERS = [b"NaN", b"-Infinity", b"1e400", b"9" * 5000, b"1" + b"0" * 400 + b".5", b"[1850]"]
MALFORMED = [
    (b'{"sqft": ', JSON),
    (b"\xff\xfe\x00{", JSON),
    (b"[" * 100_000 + b"]" * 100_000, JSON),
    (b"", JSON),
    (b'{"sqft": 1850}', {"Content-Type": "text/plain"}),
    (b'{"sqft": 1850}', {}),
    (b"\x1f\x8b not gzip", {**JSON, "Content-Encoding": "gzip"}),
]


@pytest.fixture(scope="module")
def example(profile: Profile) -> dict[str, Any]:
    return profile.example_row()


def corrupt(bundle_dir: Path, target: Path, file: str, content: bytes) -> Path:
    shutil.copytree(bundle_dir, target)
    (target / file).write_bytes(content)
    return target


def test_missing_bundle_starts_and_answers_503(tmp_path: Path, example: dict[str, Any]) -> None:
    missing = tmp_path / "no-such-bundle"
    api = start_api(missing, tmp_path / "uvicorn.log", expect_status=None)
    try:
        health = call(api.url, "GET", "/health")
        assert health.status == 503
        assert health.json()["status"] == "unavailable"
        assert "not a model bundle" in health.json()["reason"]
        assert str(missing) in health.json()["reason"]
        for path in ("/predict", "/predict/batch"):
            body = example if path == "/predict" else {"rows": [example]}
            reply = post_json(api.url, path, body)
            assert reply.status == 503, reply.text
            assert "model unavailable" in reply.json()["detail"]
        assert call(api.url, "GET", "/model").status == 503
        metrics = call(api.url, "GET", "/metrics")
        assert metrics.status == 200
        assert "model_ready 0.0" in metrics.text
        assert api.alive()
        assert "not a model bundle" in api.log_text()  # the reason is logged
    finally:
        stop_api(api)


def test_corrupt_bundle_starts_and_answers_503_over_http(bundle_dir: Path, tmp_path: Path) -> None:
    broken = corrupt(bundle_dir, tmp_path / "bundle", "model.ubj", b"\x00not a model")
    api = start_api(broken, tmp_path / "uvicorn.log", expect_status=None)
    try:
        health = call(api.url, "GET", "/health")
        assert health.status == 503
        assert "unreadable bundle" in health.json()["reason"]
        assert api.alive()
        assert "unreadable bundle" in api.log_text()
    finally:
        stop_api(api)


WITHOUT_PIPELINE_LIBRARIES = """
import json, sys, warnings

BLOCKED = {"sklearn", "scipy", "pandas", "joblib", "xgboost"}


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name}: not installed in the serving image")
        return None


sys.meta_path.insert(0, Refuse())
warnings.simplefilter("ignore")  # starlette's TestClient: "use httpx2"
from fastapi.testclient import TestClient

from house_price.api import create_app

bundle_dir, rows = sys.argv[1], json.loads(sys.stdin.read())
with TestClient(create_app(bundle_dir)) as client:
    health = client.get("/health").status_code
    single = client.post("/predict", json=rows[0]).json()["prediction"]
    batch = client.post("/predict/batch", json={"rows": rows}).json()["predictions"]
loaded = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
print(json.dumps({"health": health, "single": single, "batch": batch, "loaded": loaded}))
"""


def test_the_api_serves_without_pandas_sklearn_scipy_joblib_or_xgboost(
    bundle_dir: Path, bundle: Bundle, evaluated_rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """What the serving image has: any import of those fails. The API still loads the bundle,
    passes its self-check and predicts what the pipeline path predicts, on single rows and on
    a batch large enough for the parallel booster."""
    test, expected = evaluated_rows
    mask = test[bundle.profile.feature_names].notna().all(axis=1).to_numpy()
    complete = pd.concat([test[mask]] * 2)  # >= PARALLEL_MIN_ROWS rows
    rows = request_rows(complete, bundle.profile)
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PIPELINE_LIBRARIES, str(bundle_dir)],
        input=json.dumps(rows),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["loaded"] == []
    assert answer["health"] == 200
    pipeline = bundle.predict_frame(complete)
    assert answer["single"] == pipeline[0]
    assert answer["batch"] == pipeline.tolist()
    evaluated = np.concatenate([expected[mask]] * 2)
    assert relative_difference(np.array(answer["batch"]), evaluated) <= PARITY_RTOL


def test_server_survives_bad_input(
    server: ApiServer, example: dict[str, Any], profile: Profile
) -> None:
    name = next(column.name for column in profile.features if column.kind == "float")
    for value in BAD_NUMBERS:
        body = json.dumps({**example, name: "PLACEHOLDER"}).encode()
        reply = call(server.url, "POST", "/predict", body.replace(b'"PLACEHOLDER"', value), JSON)
        assert reply.status == 422, reply.text
    for path in ("/predict", "/predict/batch"):
        for body, headers in MALFORMED:
            reply = call(server.url, "POST", path, body, headers)
            assert 400 <= reply.status < 500, reply.text
    assert server.alive()
    assert call(server.url, "GET", "/health").status == 200
    assert "Traceback" not in server.log_text()


def test_parity_with_the_mlflow_champion(
    mlflow_server: Any,
    server: ApiServer,
    evaluated_rows: tuple[pd.DataFrame, np.ndarray],
    profile: Profile,
) -> None:
    """`models:/house-price-houses@champion` as `mlflow models serve` would load it (pyfunc)
    predicts what the API predicts, on the same rows."""
    import mlflow.pyfunc

    test, expected = evaluated_rows
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server.url)
    try:
        champion = mlflow.pyfunc.load_model("models:/house-price-houses@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    pyfunc = np.asarray(champion.predict(test[profile.feature_names]), dtype=float)
    assert relative_difference(pyfunc, expected) <= PARITY_RTOL
    rows = request_rows(test, profile)
    api = np.array(post_json(server.url, "/predict/batch", {"rows": rows}).json()["predictions"])
    print(f"\nMLflow parity: all {len(test)} rows through the API and through pyfunc")
    assert relative_difference(api, pyfunc) <= PARITY_RTOL


def test_module_imports_only_what_serving_needs(bundle_dir: Path) -> None:
    code = (
        "import sys, house_price.api; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'dvc', 'matplotlib'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"MODEL_DIR": str(bundle_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
