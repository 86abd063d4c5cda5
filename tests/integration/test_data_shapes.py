"""Data shapes of issue 25 end to end, as a user runs them: the CSV in its folder, `house-price
profile init`, `dvc repro` (logging to the session's MLflow server), then every face on the
evaluated rows: the API (a real uvicorn), batch scoring (`house-price predict`) and the
registered MLflow model (`mlflow models serve` of its champion). Two shapes that ended in a
traceback at `package`: a data set of numbers only (SimpleImputer's `statistics_`), and header
names the request model could not take (`_lot`, `model_config`, ... : tests/shapes.py's
ODD_NAMES). The in-process variants and the property test are in tests/unit/test_shapes*.py."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from api_support import (
    PARITY_RTOL,
    post_json,
    relative_difference,
    request_rows,
    start_api,
    stop_api,
)
from conftest import clean_env, run, set_params
from servers import start_model_server, stop_process_group
from shapes import ODD_NAMES, numbers_only, odd_headers

from house_price.schema import Profile
from house_price.serving.bundle import load_bundle

pytestmark = pytest.mark.slow

HOUSE_PRICE = Path(sys.executable).parent / "house-price"
ROWS = 400
SHAPES: dict[str, tuple[Callable[[int], bytes], list[str] | None]] = {
    "numbersonly": (numbers_only, ["sqft", "bathrooms", "year_built"]),
    "oddheaders": (odd_headers, ODD_NAMES),
}


def csv_of(test: pd.DataFrame, profile: Profile) -> bytes:
    """The evaluated rows as a CSV in the profile's file format (the header: the names as
    written), for `house-price predict`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(profile.feature_names)
    for record in test[profile.feature_names].to_dict(orient="records"):
        writer.writerow(
            "" if pd.isna(value) else str(int(value)) if column.kind == "int" else str(value)
            for column, value in zip(profile.features, record.values(), strict=True)
        )
    return out.getvalue().encode()


def house_price(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(HOUSE_PRICE), *args], cwd=cwd, check=False)


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_drafted_shape_runs_end_to_end_and_every_face_agrees(
    name: str, workspace: Path, mlflow_server, tmp_path: Path
) -> None:
    make, features = SHAPES[name]
    source = workspace / "data" / "external" / name / f"{name}.csv"
    source.parent.mkdir(parents=True)
    source.write_bytes(make(ROWS))
    drafted = house_price(["profile", "init", str(source), "--target", "price"], workspace)
    assert drafted.returncode == 0, drafted.stderr
    # a few hundred rows of made-up houses: the trees must beat the median price only
    set_params(workspace, dataset=name, **{"evaluate.must_beat": ["median"]})
    env = clean_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    result = run(["dvc", "repro"], cwd=workspace, env=env, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    bundle_dir = workspace / "models" / "house-price"
    profile = load_bundle(bundle_dir).profile
    assert profile.feature_names == features
    if name == "numbersonly":
        assert not profile.category_features
    test = pd.read_parquet(workspace / "data" / "processed" / "test.parquet")
    expected = pd.read_parquet(workspace / "artifacts" / "test_predictions.parquet")["prediction"]
    rows = request_rows(test, profile)
    faces: dict[str, np.ndarray] = {}

    api = start_api(bundle_dir, tmp_path / "uvicorn.log")
    try:
        reply = post_json(api.url, "/predict/batch", {"rows": rows})
        assert reply.status == 200, reply.text
        faces["api batch"] = np.asarray(reply.json()["predictions"], dtype=float)
        one = post_json(api.url, "/predict", rows[0])
        assert one.status == 200, one.text
        faces["api one row"] = np.asarray([one.json()["prediction"]])
        unknown = post_json(api.url, "/predict", {**rows[0], "feature_0": 1})
        assert unknown.status == 422  # the header names are the keys, not the fields' names
    finally:
        stop_api(api)

    scoring = tmp_path / "test.csv"
    scoring.write_bytes(csv_of(test, profile))
    output = tmp_path / "predictions.csv"
    scored = house_price(
        ["predict", "--input", str(scoring), "--output", str(output), "--model", str(bundle_dir)],
        workspace,
    )
    assert scored.returncode == 0, scored.stderr
    faces["batch scoring"] = pd.read_csv(output)["prediction"].to_numpy(float)

    model = f"models:/house-price-{name}@champion"
    process, url = start_model_server(model, tmp_path, env, tmp_path / "serve.log")
    try:
        reply = post_json(url, "/invocations", {"dataframe_records": rows}, timeout=120)
        assert reply.status == 200, reply.text
        faces["mlflow"] = np.asarray(reply.json()["predictions"], dtype=float)
    finally:
        stop_process_group(process)

    for face, values in faces.items():
        difference = relative_difference(values, expected.to_numpy()[: len(values)])
        print(f"\n{name}: {face} vs evaluate on {len(values)} rows, max rel. diff {difference:.1e}")
        assert difference <= PARITY_RTOL, face
