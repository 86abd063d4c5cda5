"""What the pipeline's run put on a real `mlflow server` (the session's, sqlite backend), read
back over the server's REST API; and that the registered model predicts as our pipeline does."""

from __future__ import annotations

import json
import re
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import clean_env, git_head, run
from packaging.utils import canonicalize_name
from test_own_data import odd_but_valid, write_own_data

from house_price.core.tables import read_head
from house_price.serving.bundle import load_bundle
from house_price.tracking import trained_rows
from house_price.tracking.registry import BUNDLE_ARTIFACT, flatten
from house_price.training.model import regression_metrics

pytestmark = pytest.mark.slow

MODEL = "house-price-houses"  # mlflow.registered_model's {dataset} filled in
ALIAS = "champion"


class Api:
    def __init__(self, url: str) -> None:
        self.base = f"{url}/api/2.0/mlflow/"

    def get(self, endpoint: str, **query: str) -> dict[str, Any]:
        url = self.base + endpoint + "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + endpoint,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def api(mlflow_server) -> Api:
    return Api(mlflow_server.url)


@pytest.fixture(scope="module")
def registration(bundle_dir: Path) -> dict[str, Any]:
    return load_bundle(bundle_dir).registration


@pytest.fixture(scope="module")
def run_id(registration: dict[str, Any]) -> str:
    return registration["run_id"]


@pytest.fixture(scope="module")
def server_run(api: Api, run_id: str) -> dict[str, Any]:
    return api.get("runs/get", run_id=run_id)["run"]


def as_dict(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["key"]: entry["value"] for entry in entries}


def test_the_run_was_logged_to_the_server(
    pipeline_repo: Path, mlflow_server, api: Api, run_id: str, registration: dict[str, Any]
) -> None:
    assert registration["tracking_uri"] == mlflow_server.url
    experiment = api.get("experiments/get-by-name", experiment_name="house-price")["experiment"]
    found = api.post(
        "runs/search",
        {
            "experiment_ids": [experiment["experiment_id"]],
            "filter": f"tags.git_commit = '{git_head(pipeline_repo)}'",
        },
    )
    assert [item["info"]["run_id"] for item in found["runs"]] == [run_id]
    assert found["runs"][0]["info"]["status"] == "FINISHED"


def test_run_has_the_flattened_params(server_run: dict[str, Any], pipeline_repo: Path) -> None:
    logged = as_dict(server_run["data"]["params"])
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    assert logged["train.max_depth"] == "6"
    assert logged["train.learning_rate"] == "0.05"
    assert logged["dataset"] == "houses"
    expected = flatten(
        {
            "dataset": params["dataset"],
            "train": params["train"],
            "process": params["process"],
            "features": params["features"],
        }
    )
    assert logged == {key: str(value) for key, value in expected.items()}


def test_run_has_the_metrics(server_run: dict[str, Any], pipeline_repo: Path) -> None:
    logged = as_dict(server_run["data"]["metrics"])
    test_metrics = json.loads((pipeline_repo / "metrics.json").read_text())
    training = json.loads((pipeline_repo / "artifacts" / "training.json").read_text())
    for name in ("r2", "rmse", "rmsle", "mae"):
        assert logged[name] == pytest.approx(test_metrics[name], rel=1e-12), name
        for baseline in ("median", "linear"):
            key = f"baselines.{baseline}.{name}"
            assert logged[key] == pytest.approx(test_metrics["baselines"][baseline][name]), key
    assert logged["training.trees"] == training["trees"]
    assert logged["training.cv_rmse_fit_scale"] == pytest.approx(training["cv_rmse_fit_scale"])


def test_run_has_the_plots(api: Api, run_id: str, mlflow_server, pipeline_repo: Path) -> None:
    """The evaluate stage's tables and their figures are artifacts of the run (issue 13)."""
    listed = api.get("artifacts/list", run_id=run_id, path="plots")["files"]
    names = {Path(item["path"]).name: item for item in listed}
    for table in ("predicted_vs_actual", "residuals", "feature_importance"):
        assert int(names[f"{table}.png"]["file_size"]) > 10_000, table
        assert (
            int(names[f"{table}.csv"]["file_size"])
            == (pipeline_repo / "plots" / f"{table}.csv").stat().st_size
        )
    url = f"{mlflow_server.url}/get-artifact?" + urllib.parse.urlencode(
        {"path": "plots/predicted_vs_actual.png", "run_uuid": run_id}
    )
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"


def test_run_has_the_lineage_tags(server_run: dict[str, Any], pipeline_repo: Path) -> None:
    tags = as_dict(server_run["data"]["tags"])
    manifest = json.loads((pipeline_repo / "data" / "processed" / "manifest.json").read_text())
    assert tags["git_commit"] == git_head(pipeline_repo)
    assert tags["git_dirty"] == "false"
    assert tags["dataset"] == "houses"
    assert {key: tags[f"data_md5.{key}"] for key in ("raw", "train", "test")} == manifest["md5"]
    assert "dvc_exp_name" not in tags  # a plain `dvc repro`, not an experiment


def test_registered_model_alias_points_at_the_run(
    api: Api, run_id: str, registration: dict[str, Any], pipeline_repo: Path
) -> None:
    registered = api.get("registered-models/get", name=MODEL)["registered_model"]
    aliases = {item["alias"]: item["version"] for item in registered.get("aliases", [])}
    assert aliases == {ALIAS: registration["version"]}
    version = api.get("registered-models/alias", name=MODEL, alias=ALIAS)["model_version"]
    assert version["run_id"] == run_id
    assert version["version"] == registration["version"]
    assert version["status"] == "READY"
    assert ALIAS in version.get("aliases", [])
    # The comparison is on the version, as in reports/promotion.json.
    report = json.loads((pipeline_repo / "reports" / "promotion.json").read_text())
    tags = as_dict(version["tags"])
    assert tags["promoted"] == "true"
    assert tags["promotion.reason"] == report["reason"] == "no champion yet"
    assert tags["baseline.linear.rmse"] == str(report["baselines"]["linear"]["rmse"])
    assert version["description"] == "no champion yet"
    assert report["version"] == registration["version"]
    assert report["run_id"] == run_id


PYFUNC_PREDICT = textwrap.dedent(
    """
    import json, sys
    import mlflow.pyfunc, numpy as np, pandas as pd
    model = mlflow.pyfunc.load_model("models:/house-price-houses@champion")
    names = model.metadata.get_input_schema().input_names()
    rows = pd.read_parquet(sys.argv[1])[names]
    np.save(sys.argv[2], np.asarray(model.predict(rows), dtype=float))
    print(json.dumps(names))
    """
)


def test_registered_model_predicts_as_the_pipeline(
    mlflow_server, pipeline_repo: Path, evaluated_rows, tmp_path: Path
) -> None:
    """In a fresh process, from the server only: the same predictions as the evaluate stage."""
    test, evaluated = evaluated_rows
    assert test.isna().any().any(), "the test rows should include missing values"
    output = tmp_path / "predictions.npy"
    result = run(
        [
            "python",
            "-c",
            PYFUNC_PREDICT,
            str(pipeline_repo / "data" / "processed" / "test.parquet"),
            str(output),
        ],
        cwd=tmp_path,  # not the repo: nothing local to fall back on
        env=clean_env(MLFLOW_TRACKING_URI=mlflow_server.url),
        timeout=300,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "sqft",
        "bedrooms",
        "bathrooms",
        "location",
        "year_built",
        "condition",
    ]
    served = np.load(output)
    assert served.shape == evaluated.shape
    assert np.max(np.abs(served - evaluated) / np.abs(evaluated)) <= 1e-6


LOGGED_MODEL = textwrap.dedent(
    """
    import json, sys, tempfile
    import mlflow, numpy as np
    from mlflow.models import Model, validate_serving_input
    local = mlflow.artifacts.download_artifacts(sys.argv[1], dst_path=tempfile.mkdtemp())
    model = Model.load(local)
    with open(f"{local}/serving_input_example.json") as handle:
        serving_input = json.load(handle)
    served = validate_serving_input(local, serving_input)  # raises when the model refuses it
    predicted = mlflow.pyfunc.load_model(local).predict(model.load_input_example(local))
    with open(f"{local}/requirements.txt") as handle:
        requirements = handle.read().splitlines()
    print(json.dumps({
        "bundle": model.flavors["python_function"]["artifacts"]["bundle"],
        "requirements": requirements,
        "serving_input": serving_input,
        "served": np.asarray(served, dtype=float).tolist(),
        "predicted": np.asarray(predicted, dtype=float).tolist(),
    }))
    """
)


def logged_model(uri: str, tracking_uri: str, cwd: Path) -> dict[str, Any]:
    """In a fresh process, from the store only: the MLmodel's bundle artifact ({path, uri}),
    the lines of its requirements.txt, the stored serving input example, and the predictions
    of the model from it (as `mlflow models serve` parses it) and from the input example."""
    result = run(
        ["python", "-c", LOGGED_MODEL, uri],
        cwd=cwd,  # not the repo: nothing local to fall back on
        env=clean_env(MLFLOW_TRACKING_URI=tracking_uri),
        timeout=300,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bundle_artifact_has_the_bundle_s_name(
    pipeline_repo: Path, mlflow_server, tmp_path: Path
) -> None:
    """Not the temporary directory package builds the bundle in (.house-price.<random>.tmp)."""
    logged = logged_model(f"models:/{MODEL}@{ALIAS}", mlflow_server.url, tmp_path)
    assert logged["bundle"]["path"] == "artifacts/house-price"  # as in models/, every version
    assert Path(logged["bundle"]["uri"]).name == BUNDLE_ARTIFACT
    assert logged["served"] == logged["predicted"]


def test_logged_model_requires_no_web_framework(
    pipeline_repo: Path, mlflow_server, tmp_path: Path
) -> None:
    """The MLflow model runs the serving core, not the API: its requirements.txt pins the
    serving libraries and none of the web stack (FastAPI, Starlette, prometheus-client)."""
    logged = logged_model(f"models:/{MODEL}@{ALIAS}", mlflow_server.url, tmp_path)
    pinned = {
        canonicalize_name(re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0])
        for line in logged["requirements"]
        if line.strip() and not line.startswith("#")
    }
    assert {"mlflow", "numpy", "pydantic", "xgboost"} <= pinned, pinned
    web = {"fastapi", "fastapi-offline", "starlette", "anyio", "prometheus-client"}
    assert not pinned & web, pinned


def test_a_date_feature_s_input_example_is_what_the_model_accepts(
    workspace: Path, tmp_path: Path
) -> None:
    """A profile with a date feature (datetime64 in the test split): the logged input example
    holds the dates as the API takes them, "YYYY-MM-DD", so MLflow's check of the serving
    input example passes, and the model predicts from it what the bundle predicts."""
    write_own_data(workspace, *odd_but_valid(workspace))
    result = run(["dvc", "exp", "run", "-S", "dataset=mydata"], cwd=workspace, timeout=900)
    assert "Running stage 'package'" in result.stdout
    assert "Failed to validate serving input example" not in result.stdout + result.stderr
    store = f"sqlite:///{workspace / 'mlruns' / 'mlflow.db'}"  # no MLFLOW_TRACKING_URI: local
    logged = logged_model("models:/house-price-mydata@champion", store, tmp_path)

    split = logged["serving_input"]["dataframe_split"]
    bundle = load_bundle(workspace / "models" / "house-price")
    assert split["columns"] == bundle.profile.feature_names
    dates = [row[split["columns"].index("sold")] for row in split["data"]]
    examples = read_head(
        workspace / "data" / "processed" / "test.parquet", 5, complete=bundle.profile.feature_names
    )
    assert len(examples) == 5
    assert dates == examples["sold"].dt.strftime("%Y-%m-%d").tolist()  # not 2014-12-09T00:00:00
    assert logged["served"] == logged["predicted"]
    np.testing.assert_allclose(logged["predicted"], bundle.predict_frame(examples), rtol=1e-9)
    assert logged["bundle"]["path"] == f"artifacts/{BUNDLE_ARTIFACT}"


def test_the_run_records_its_training_rows(api: Api, run_id: str, pipeline_repo: Path) -> None:
    """What a later challenger needs to leave the champion's training rows out: their keys, one
    per train row, as a run artifact (not in the bundle: dvc.lock's hashes do not change)."""
    listed = api.get("artifacts/list", run_id=run_id, path="lineage")["files"]
    assert [item["path"] for item in listed] == [trained_rows.ARTIFACT]
    train = pipeline_repo / "data" / "processed" / "train.parquet"
    bundle_dir = pipeline_repo / "models" / "house-price"
    assert not [path for path in bundle_dir.rglob("*") if path.suffix == ".npz"]
    columns = [column.name for column in load_bundle(bundle_dir).profile.columns]
    recorded = trained_rows.of_table(train, columns)
    assert len(recorded.keys) == len(pd.read_parquet(train))
    assert int(listed[0]["file_size"]) > 8 * len(recorded.keys)


def test_after_a_change_of_seed_the_champion_is_scored_on_rows_it_never_saw(
    workspace: Path, mlflow_server, pipeline_repo: Path
) -> None:
    """The issue's example, on the default data: `process.seed` 42 -> 43. Most of the new test
    rows were in the champion's training split. Both models are scored on the others only, and
    the report and the version's tags say how many."""
    env = clean_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    own = "mlflow.registered_model=house-price-reseed"  # not the session's champion
    run(["dvc", "exp", "run", "-S", own], cwd=workspace, env=env, timeout=900)
    first = json.loads((workspace / "reports" / "promotion.json").read_text())
    assert first["reason"] == "no champion yet"
    result = run(
        ["dvc", "exp", "run", "-S", own, "-S", "process.seed=43"], cwd=workspace, env=env,
        timeout=1500,
    )  # fmt: skip
    report = json.loads((workspace / "reports" / "promotion.json").read_text())
    held = report["champion"]
    assert held["version"] == first["version"]

    columns = [
        column.name for column in load_bundle(workspace / "models" / "house-price").profile.columns
    ]
    processed = pipeline_repo / "data" / "processed"
    seen = {
        repr(row)
        for row in pd.read_parquet(processed / "train.parquet")[columns].itertuples(
            index=False, name=None
        )
    }
    test = pd.read_parquet(workspace / "data" / "processed" / "test.parquet")
    unseen = test[
        [repr(row) not in seen for row in test[columns].itertuples(index=False, name=None)]
    ]
    assert held["test_rows"] == len(test)
    assert held["rows"] == len(unseen)
    assert 0.1 * len(test) < len(unseen) < 0.4 * len(test)  # about the fifth held out by both
    champion = load_bundle(pipeline_repo / "models" / "house-price")
    actual = unseen["price"].to_numpy(float)
    figures = regression_metrics(actual, champion.predict_frame(unseen))
    assert held["metrics"]["rmse"] == pytest.approx(figures["rmse"], rel=1e-6)
    assert report["reason"].endswith(
        f", on the {len(unseen)} of {len(test)} test rows neither was trained on"
    )
    assert report["reason"] in result.stdout
    version = Api(mlflow_server.url).get(
        "model-versions/get", name="house-price-reseed", version=report["version"]
    )["model_version"]
    tags = as_dict(version["tags"])
    assert tags["promotion.rows"] == str(len(unseen))
    assert tags["champion.rmse"] == str(held["metrics"]["rmse"])
    assert tags["challenger.rmse"] == str(held["challenger_metrics"]["rmse"])
