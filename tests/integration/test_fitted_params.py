"""The params that fitted the model are what every place reports. With `tune.trials` above 0,
train fits the `train` params with tune's best ones in place; the bundle's metadata.json, the
API's GET /model (served from it) and the model's MLflow run all name those, not params.yaml's
`train` section as written. One tiny pipeline (1,000 synthetic rows, two trials, few trees, a
gate loose enough for them), logging to the copy's local MLflow store."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from conftest import clean_env, git_copy, run, set_params

from house_price.api import create_app
from house_price.core.io import read_json

with warnings.catch_warnings():  # "use httpx2 instead of httpx": the TestClient works with both
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

SEARCHED = {"learning_rate", "max_depth", "min_child_weight", "subsample", "colsample_bytree"}
SEARCHED |= {"reg_lambda"}  # tuning.suggest's search space


@pytest.fixture(scope="module")
def tuned_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = git_copy(tmp_path_factory.mktemp("tuned") / "repo")
    set_params(
        repo,
        **{
            "synthetic.rows": 1000,
            "tune.trials": 2,
            "train.cv_folds": 3,
            "train.n_estimators": 60,
            "train.early_stopping_rounds": 10,
            "evaluate.must_beat": ["median"],
            "evaluate.max_rmsle_over_noise_floor": 100.0,
        },
    )
    run(["dvc", "repro"], cwd=repo, env=clean_env(), timeout=600)
    return repo


@pytest.fixture(scope="module")
def fitted(tuned_repo: Path) -> dict[str, Any]:
    """params.yaml's `train` params with tune's best ones in place: what fitted the model."""
    written = yaml.safe_load((tuned_repo / "params.yaml").read_text())["train"]
    best = read_json(tuned_repo / "artifacts" / "tuned.json")["params"]
    assert set(best) == SEARCHED
    assert any(written[key] != value for key, value in best.items())  # tuning changed them
    return written | best


def test_metadata_names_the_tuned_params(tuned_repo: Path, fitted: dict[str, Any]) -> None:
    metadata = read_json(tuned_repo / "models" / "house-price" / "metadata.json")
    assert metadata["params"] == fitted


def test_get_model_names_the_tuned_params(tuned_repo: Path, fitted: dict[str, Any]) -> None:
    with TestClient(create_app(tuned_repo / "models" / "house-price")) as client:
        reply = client.get("/model")
    assert reply.status_code == 200
    assert reply.json()["params"] == fitted


def test_the_models_run_logs_the_tuned_params(tuned_repo: Path, fitted: dict[str, Any]) -> None:
    bundle = tuned_repo / "models" / "house-price"
    (record,) = [read_json(path) for path in (bundle / "registrations").glob("*.json")]
    logged = mlflow.MlflowClient(tracking_uri=record["tracking_uri"]).get_run(record["run_id"])
    train = {
        key.removeprefix("train."): value
        for key, value in logged.data.params.items()
        if key.startswith("train.")
    }
    assert train == {key: str(value) for key, value in fitted.items()}
