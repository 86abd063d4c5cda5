"""Everything MLflow, in one place: where runs go, what a run records, and the bundle logged
as one MLflow model (so `mlflow models serve -m models:/<name>@<alias>` predicts as our API).

mlflow is imported inside the functions: the serving image does not install it."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from house_price.errors import TrackingError
from house_price.schema import Profile

LOCAL_STORE = Path("mlruns")  # inside the repo and git-ignored; used when no server is set
HEALTH_TIMEOUT_S = 10.0
# MLflow's defaults (120 s timeout, 7 retries with backoff) can hang a stage for many minutes.
CLIENT_LIMITS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "15", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}


def tracking_uri() -> str:
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if configured:
        return configured
    return f"sqlite:///{(LOCAL_STORE / 'mlflow.db').resolve()}"


def check_reachable(uri: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Fail fast, with the URI in the message, when a tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackingError(
        f"MLflow tracking server {uri} is unreachable ({problem} from {url} within {timeout:g}s); "
        "start it, or unset MLFLOW_TRACKING_URI to log to the local store ./mlruns"
    )


def connect() -> str:
    """Point the MLflow client at the configured store, with bounded waits. Returns the URI."""
    import mlflow

    for key, value in CLIENT_LIMITS.items():
        os.environ.setdefault(key, value)
    uri = tracking_uri()
    check_reachable(uri)
    if uri.startswith("sqlite:"):
        LOCAL_STORE.mkdir(exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if mlflow.get_tracking_uri().startswith("sqlite:"):
        artifact_location = (LOCAL_STORE / "artifacts").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=artifact_location)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    # dvc.lock is rewritten by the run itself (stage by stage), so it does not count as a change.
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!dvc.lock"))
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def run_tags(dataset: str, data_hashes: Mapping[str, str]) -> dict[str, str]:
    tags = {"dataset": dataset, **git_state()}
    tags.update({f"data_md5.{name}": value for name, value in data_hashes.items()})
    experiment = os.environ.get("DVC_EXP_NAME")
    if experiment:  # set by `dvc exp run`
        tags["dvc_exp_name"] = experiment
    return tags


def start_training_run(
    experiment: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
) -> str:
    """Record a training run (params, tags, training figures); returns its id."""
    import mlflow

    experiment_id = use_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(flatten(params))
        mlflow.set_tags(dict(tags))
        mlflow.log_metrics(dict(metrics))
        return run.info.run_id


def model_signature(profile: Profile):
    """The features by name, required unless nullable, of MLflow's type `any`: MLflow's own
    column types would refuse what the API accepts (an int64 column for a float feature, a
    float column for an int feature with missing values, a column of missing categories) and,
    when `mlflow models serve` parses JSON, cast silently (2.5 to 2 in a long column, true to
    1.0 in a double one). The model checks every value by the API's rules instead
    (house_price.mlflow_model)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    inputs = Schema(
        [
            ColSpec(AnyType(), column.name, required=not column.nullable)
            for column in profile.features
        ]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double")]))


# What the model's code imports (house_price.mlflow_model and the modules it reaches: the API's
# validation and model path); mlflow itself is added by MLflow. A test checks the list.
SERVING_DISTRIBUTIONS = (
    "xgboost",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "joblib",
    "pyyaml",
    "pydantic",
    "pydantic-core",
    "fastapi",
    "starlette",
    "prometheus-client",
    "typing-extensions",
    "annotated-types",
)


def serving_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in SERVING_DISTRIBUTIONS]


def log_bundle(
    run_id: str,
    bundle_dir: Path,
    profile: Profile,
    input_example: pd.DataFrame,
    metrics: Mapping[str, float],
    registered_model: str,
    alias: str,
) -> str:
    """Log test metrics and the bundle as one pyfunc model to the training run; register it
    and point `alias` at the new version. Returns the registered version."""
    import mlflow
    from mlflow import MlflowClient

    from house_price.mlflow_model import BundleModel

    client = MlflowClient()
    try:
        client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(
            f"run {run_id} is not in {mlflow.get_tracking_uri()}; "
            "re-run training against this store (`dvc repro --force train`)"
        ) from exc
    package_dir = Path(__file__).resolve().parent
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(dict(metrics))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundleModel(),
            artifacts={"bundle": str(bundle_dir)},
            code_paths=[str(package_dir)],
            signature=model_signature(profile),
            input_example=input_example,
            pip_requirements=serving_requirements(),
            registered_model_name=registered_model,
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(registered_model, alias, version)
    return version
