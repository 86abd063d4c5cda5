"""Everything MLflow, in one place: where runs go, what a run records, the bundle logged as one
MLflow model (so `mlflow models serve -m models:/<name>@<alias>` predicts as our API), and the
registry's champion: fetching it, and recording a promotion decision on a model version.

mlflow is imported inside the functions: the serving image does not install it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from house_price.core.errors import TrackingError
from house_price.core.stage import workspace_root
from house_price.schema import Profile
from house_price.tracking import trained_rows
from house_price.tracking.trained_rows import ARTIFACT as TRAINED_ROWS_ARTIFACT
from house_price.tracking.trained_rows import TrainedRows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STORE_DIR = "mlruns"  # in the workspace and git-ignored; used when no server is set
HEALTH_TIMEOUT_S = 10.0
# The bundle's directory in the logged model (artifacts/house-price), as in models/: the same in
# every version, whatever directory the bundle was built in.
BUNDLE_ARTIFACT = "house-price"
LOCK_TIMEOUT_S = 900.0  # another experiment's package stage: a few seconds, a minute at most
# MLflow's defaults (120 s timeout, 7 retries with backoff) can hang a stage for many minutes;
# and a stage's log is no place for per-file progress bars.
CLIENT_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def local_store() -> Path:
    return workspace_root() / STORE_DIR


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else the workspace's sqlite store mlruns/mlflow.db."""
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if configured:
        return configured
    return f"sqlite:///{local_store() / 'mlflow.db'}"


@contextmanager
def registry_lock(timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the workspace's registry lock (mlruns/.registry.lock) while a stage talks to MLflow.

    Queued experiments run side by side (`dvc queue start -j 2`): creating the sqlite store is
    not safe to race. (Two challengers compared with the same old champion: the registry's own
    promotion lock, tracking.promotion_lock, which also holds across machines.)
    Raises TrackingError after `timeout` seconds of waiting."""
    local_store().mkdir(parents=True, exist_ok=True)
    path = local_store() / ".registry.lock"
    with open(path, "w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TrackingError(
                        f"{path} is held by another run for more than {timeout:g}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        local_store().mkdir(exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if mlflow.get_tracking_uri().startswith("sqlite:"):
        artifact_location = (local_store() / "artifacts").as_uri()
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


def registered_model_name(template: str, dataset: str) -> str:
    """`mlflow.registered_model` with `{dataset}` replaced: one champion per data set."""
    return template.replace("{dataset}", dataset)


def log_run(
    experiment: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    metrics: Mapping[str, Any],
    plots_dir: Path | None = None,
    figures: Mapping[str, Figure] | None = None,
) -> str:
    """Record one finished run: flattened params, tags, metrics (nested mappings flattened
    to `a.b.c`), the files of `plots_dir` (artifacts `plots/`) and `figures` ({"name.png":
    matplotlib figure}, artifacts `plots/name.png`). Returns its id."""
    import mlflow

    experiment_id = use_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(flatten(params))
        mlflow.set_tags(dict(tags))
        mlflow.log_metrics(flatten(metrics))
        if plots_dir is not None:
            mlflow.log_artifacts(str(plots_dir), "plots")
        for name, figure in (figures or {}).items():
            mlflow.log_figure(figure, f"plots/{name}")
        return run.info.run_id


def model_signature(profile: Profile):
    """The features by name, required unless nullable, of MLflow's type `any`: MLflow's own
    column types would refuse what the API accepts (an int64 column for a float feature, a
    float column for an int feature with missing values, a column of missing categories) and,
    when `mlflow models serve` parses JSON, cast silently (2.5 to 2 in a long column, true to
    1.0 in a double one). The model checks every value by the API's rules instead
    (house_price.tracking.pyfunc)."""
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


# What the model's code imports (house_price.tracking.pyfunc and the modules it reaches: the
# serving core, no web code); mlflow itself is added by MLflow. A test checks the list.
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
    examples: pd.DataFrame,
    registered_model: str,
) -> str:
    """Log the bundle as one pyfunc model to the run and register it as a new version of
    `registered_model` (no alias moves here: see record_decision). Returns the version.

    `examples`: a few feature rows (e.g. of the test split), logged as the model's input
    example in the form a client sends. The bundle is logged from a copy named BUNDLE_ARTIFACT:
    MLflow names the artifact after the directory, and `bundle_dir` may be a temporary one."""
    import mlflow

    from house_price.tracking.pyfunc import PyfuncModel, request_frame

    package_dir = Path(__file__).resolve().parents[1]  # all of house_price
    with tempfile.TemporaryDirectory(prefix="bundle.") as scratch:
        named = Path(scratch) / BUNDLE_ARTIFACT
        shutil.copytree(bundle_dir, named)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=PyfuncModel(),
                artifacts={"bundle": str(named)},
                code_paths=[str(package_dir)],
                signature=model_signature(profile),
                input_example=request_frame(examples, profile),
                pip_requirements=serving_requirements(),
                registered_model_name=registered_model,
            )
    return str(info.registered_model_version)


@dataclass(frozen=True)
class ChampionFiles:
    """The version an alias points at, its bundle, and the record of its training rows
    (tracking.trained_rows; None for a version registered before they were recorded)."""

    version: str
    bundle: Path
    trained_rows: Path | None


def alias_version(registered_model: str, alias: str) -> str | None:
    """The version `alias` points at; None when the model or the alias does not exist."""
    return _alias_target(registered_model, alias)[0]


def _alias_target(registered_model: str, alias: str) -> tuple[str | None, str | None]:
    """(version, its run id) of `alias`, or (None, None)."""
    import mlflow
    from mlflow import MlflowClient

    try:
        version = MlflowClient().get_model_version_by_alias(registered_model, alias)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None, None
        raise
    return str(version.version), version.run_id


def champion_files(registered_model: str, alias: str, destination: Path) -> ChampionFiles | None:
    """The version `alias` points at, with its bundle and the record of its training rows
    downloaded under `destination`; None when the model or the alias does not exist yet.

    Raises TrackingError when the version exists but its files cannot be downloaded."""
    import mlflow
    from mlflow import MlflowClient

    version, run_id = _alias_target(registered_model, alias)
    if version is None:
        return None
    uri = f"models:/{registered_model}/{version}"
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination))
        pyfunc = mlflow.models.Model.load(local).flavors["python_function"]
        bundle = Path(local) / pyfunc["artifacts"]["bundle"]["path"]
        trained = None
        folder, _ = TRAINED_ROWS_ARTIFACT.rsplit("/", 1)
        listed = MlflowClient().list_artifacts(run_id, folder) if run_id else []
        if any(item.path == TRAINED_ROWS_ARTIFACT for item in listed):
            trained = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id,
                    artifact_path=TRAINED_ROWS_ARTIFACT,
                    dst_path=str(destination / "run"),
                )
            )
    except (mlflow.exceptions.MlflowException, OSError, KeyError) as exc:
        raise TrackingError(f"cannot download the bundle of {uri} (@{alias}): {exc}") from exc
    return ChampionFiles(version, bundle, trained)


def log_trained_rows(run_id: str, rows: TrainedRows) -> None:
    """Record the train split's row keys with the run (TRAINED_ROWS_ARTIFACT), for the
    challengers that will be compared with this model."""
    import mlflow

    folder, name = TRAINED_ROWS_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory(prefix="trained.") as scratch:
        path = Path(scratch) / name
        trained_rows.write(path, rows)
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifact(str(path), folder)


def record_decision(
    registered_model: str,
    version: str,
    alias: str,
    tags: Mapping[str, str],
    description: str,
    promote: bool,
) -> None:
    """Put the comparison on the model version (tags and description) and move `alias` to it
    when `promote`; a version not promoted gets the `challenger` alias instead."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(registered_model, version, key, value)
    client.update_model_version(registered_model, version, description=description)
    client.set_registered_model_alias(registered_model, alias if promote else "challenger", version)
