"""What every stage script shares: params, the profile, and clean failures."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from house_price.core.errors import (
    BundleError,
    ClusterError,
    DataError,
    QualityGateError,
    TrackingError,
    error_line,
)
from house_price.core.io import exit_on_sigterm
from house_price.core.params import Params, load_params
from house_price.schema import Profile, load_profile

PROFILES = Path("profiles")
EXTERNAL = Path("data/external")


def workspace_root() -> Path:
    """The user's DVC repository, absolute. DVC sets DVC_ROOT to it for every stage command,
    also in the temporary copies where queued and `--temp` experiments run (see
    dvc/repo/experiments/queue/base.py), so those can log to the workspace's MLflow store, not
    to a copy that is deleted after the run. Outside DVC: the current directory."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def profile_path(params: Params) -> Path:
    return PROFILES / f"{params.dataset}.yaml"


def source_dir(params: Params) -> Path:
    """The data set's own folder, ingest's dep in dvc.yaml: a CSV source must be inside it."""
    return EXTERNAL / params.dataset


def load_stage_inputs(params_path: str = "params.yaml") -> tuple[Params, Profile]:
    """The whole params file, typed (checked: DataError names a param that does not fit), and
    the selected profile (DataError when absent, broken, or its CSV source is outside its
    folder)."""
    params = load_params(params_path)
    path = profile_path(params)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        dataset = params.dataset
        raise DataError(f"params.yaml: dataset {dataset!r} has no {path} (known: {known})")
    profile = load_profile(path, params.features.reference_year)
    folder = source_dir(params)
    source = Path(profile.source)
    if not profile.is_synthetic and not source.resolve().is_relative_to(folder.resolve()):
        raise DataError(
            f"{path}: source {source} is outside {folder}/, the only place ingest reads from: "
            f"put the file there and set source: {folder / source.name}"
        )
    return params, profile


def run(main: Callable[[], None]) -> None:
    """Run a stage; expected failures print one line naming the problem and exit 1."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    exit_on_sigterm()
    try:
        main()
    except (
        DataError,
        TrackingError,
        BundleError,
        QualityGateError,
        ClusterError,
        PermissionError,
    ) as exc:
        stage = Path(sys.argv[0]).stem
        print(f"{stage}: error: {error_line(exc)}", file=sys.stderr)
        raise SystemExit(1) from None
