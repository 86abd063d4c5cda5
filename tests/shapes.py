"""A data set of any shape through the library in-process, as `profile init`, the stages and every
serving face run it: the CSV drafted into a profile (the drafting library and its YAML, read back
as the stages read it), cleaned, split, featurized, trained (a few trees), packaged
(tests/tiny_bundle.py's `build_bundle`), then the test split predicted by each face:

- `pipeline`: the fitted transformer and the booster (what evaluate scores);
- `api batch`, `api one row`: POST /predict/batch and /predict of the FastAPI app (TestClient);
- `batch scoring`: the CSV's own text of the test rows, scored as `house-price predict` does;
- `mlflow`: the bundle saved as the pyfunc model with its signature, loaded by MLflow and served
  by MLflow's scoring app (`mlflow models serve`'s, in-process): POST /invocations.

No server and no subprocess in a test, so the unit tier can use it (the MLflow model is saved to
a local folder: no tracking server). MLflow itself is imported here, when the test module is
collected: its import asks `platform.platform()` (its telemetry's schema), which on Linux runs
`uname -p` once per process, and the unit tier refuses any process started inside a test."""

from __future__ import annotations

import contextlib
import io
import logging
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import xgboost as xgb
from api_support import request_rows
from mlflow.pyfunc import scoring_server
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import StarletteDeprecationWarning
from tiny_bundle import TinyPipeline, build_bundle, prepare, train_and_package

from house_price.api import create_app
from house_price.cli import main
from house_price.core.errors import DataError, error_line
from house_price.core.io import read_raw_csv, write_csv
from house_price.core.yamlfile import load_yaml
from house_price.drafting import draft_profile
from house_price.evaluation.figures import draw_all
from house_price.evaluation.gate import plot_rows
from house_price.serving.batch import Scorer
from house_price.serving.bundle import MODEL_FILE
from house_price.serving.drift import PREDICTION
from house_price.serving.served import ServedModel
from house_price.tracking.pyfunc import PyfuncModel
from house_price.tracking.registry import model_signature
from house_price.training import model

with warnings.catch_warnings():  # "use httpx2 instead of httpx": the TestClient works with both
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

FACES_RTOL = 1e-6  # the same arithmetic on every face, to float rounding
ONE_ROW_REQUESTS = 3  # rows also sent one by one to POST /predict


@dataclass(frozen=True)
class Drafted:
    csv: Path
    profile: Path  # the draft, as `profile init` writes it
    raw: pd.DataFrame  # the CSV as read_raw_csv reads it (text, indexed by file line)


class RefusedError(Exception):
    """`house-price profile init` refused the CSV (exit 1); the message is its stderr."""


def profile_init(directory: Path, content: bytes, target: str, name: str = "shape") -> Drafted:
    """`content` as a CSV in `directory`, drafted by `house-price profile init` (its `main`,
    in-process). Refused with its stderr when it exits 1 (a usage error, exit 2, fails)."""
    csv = directory / f"{name}.csv"
    csv.write_bytes(content)
    path = directory / f"{name}.yaml"
    stderr = io.StringIO()
    argv = ["profile", "init", str(csv), f"--target={target}", "--name", name, "--force"]
    with contextlib.redirect_stderr(stderr):
        code = main([*argv, "--output", str(path)])
    if code:
        assert code == 1, stderr.getvalue()
        raise RefusedError(stderr.getvalue())
    return Drafted(csv, path, read_raw_csv(csv))


def draft(directory: Path, content: bytes, target: str, name: str = "shape") -> Drafted:
    """`profile_init`, and the YAML it wrote read back as the draft the library makes of the
    same frame."""
    drafted = profile_init(directory, content, target, name)
    made = draft_profile(drafted.raw, target, name=name, source="-", command="-")
    written = load_yaml(drafted.profile.read_text(encoding="utf-8"))
    assert written["features"] == made.profile["features"]
    assert written["target"] == made.profile["target"]
    assert written.get("derived") == made.profile.get("derived")
    return drafted


# Header names a CSV can hold that broke a face or the draft before issue 25, and their kin.
CAFE = "café"
ODD_NAMES = [
    "_lot",  # the example: pydantic refused a leading underscore
    "__lot",
    "__class__",
    "__init__",
    # BaseModel's attributes: a field of that name shadowed (or replaced) them
    "model_config",
    "model_fields",
    "schema",
    "json",
    "copy",
    "dict",
    "validate",
    "construct",
    "fields",
    "self",
    # Python keywords and constants
    "class",
    "from",
    "None",
    "true",
    # separators and YAML's special characters
    "lot size",
    "lot.area",
    "lot-area",
    "a, b",
    "key: value",
    "# hash",
    "- dash",
    "'quoted'",
    '"double"',
    "[list]",
    "{map}",
    "&anchor",
    "*alias",
    "!tag",
    "%percent",
    "@at",
    "`tick`",
    "back\\slash",
    "rows",  # the batch body's key
    "prediction",  # the response's key
    # unicode, digits first, and names equal but for case or normalisation
    "größe",
    "面积",
    "1st_floor",
    "2",
    "Floors",
    "floors",
    unicodedata.normalize("NFC", CAFE),
    unicodedata.normalize("NFD", CAFE),
    "lot\xa0width",  # a no-break space, as spreadsheets export it
    "x" * 300,
]


def csv_bytes(columns: dict[str, Any]) -> bytes:
    return pd.DataFrame(columns).to_csv(index=False, lineterminator="\n").encode()


def priced(columns: dict[str, Any], rng: np.random.Generator) -> bytes:
    """The CSV of `columns` and a `price` that depends on their numbers (and on noise)."""
    rows = len(next(iter(columns.values())))
    numeric = [pd.to_numeric(pd.Series(values), errors="coerce").fillna(0).to_numpy(float)
               for values in columns.values()]  # fmt: skip
    signal = sum((values - values.mean()) / (values.std() + 1) for values in numeric)
    price = 300_000 + 50_000 * np.asarray(signal) + rng.normal(0, 20_000, rows)
    return csv_bytes({**columns, "price": np.round(np.clip(price, 10_000, None))})


def numbers_only(rows: int) -> bytes:
    """Houses without a category column: two number columns and a nullable one, and a price."""
    rng = np.random.default_rng(25)
    built = rng.integers(1900, 2020, rows).tolist()
    return priced(
        {
            "sqft": rng.integers(500, 4000, rows),
            "bathrooms": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], rows),
            "year_built": ["" if index % 9 == 0 else year for index, year in enumerate(built)],
        },
        rng,
    )


def odd_headers(rows: int) -> bytes:
    """A number or a category column under each of ODD_NAMES, and a price."""
    rng = np.random.default_rng(8)
    columns: dict[str, Any] = {}
    for index, name in enumerate(ODD_NAMES):
        if index % 3 == 2:
            columns[name] = rng.choice(["low", "mid", "high"], rows)
        else:
            columns[name] = rng.integers(1, 500, rows) * (1 + index % 2)
    return priced(columns, rng)


def one_line(message: str) -> bool:
    """A message that prints as one line (no character str.splitlines() splits at)."""
    return len(message.splitlines()) == 1


def api_faces(
    bundle_dir: Path, rows: list[dict[str, Any]], names: list[str]
) -> dict[str, np.ndarray]:
    """The API app's predictions of `rows`: in one batch, and the first ones one by one. Also
    checks that its OpenAPI document names every feature (`names`) as the JSON key it takes."""
    with TestClient(create_app(bundle_dir)) as client:
        reply = client.post("/predict/batch", json={"rows": rows})
        assert reply.status_code == 200, reply.text
        single = []
        for row in rows[:ONE_ROW_REQUESTS]:
            answer = client.post("/predict", json=row)
            assert answer.status_code == 200, answer.text
            single.append(answer.json()["prediction"])
        document = client.get("/openapi.json").json()
        exposition = client.get("/metrics").text
    properties = document["components"]["schemas"]["PredictRequest"]["properties"]
    assert list(properties) == names
    shares: dict[str, float] = {}  # each feature's drift bins, and the prediction's
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples if family.name == "model_drift_reference_share" else []:
            feature = sample.labels["feature"]
            shares[feature] = shares.get(feature, 0.0) + sample.value
    assert set(shares) == {*names, PREDICTION}
    assert all(abs(total - 1) < 1e-4 for total in shares.values()), shares  # rounded shares
    return {
        "api batch": np.asarray(reply.json()["predictions"], dtype=float),
        "api one row": np.asarray(single, dtype=float),
    }


def mlflow_face(bundle_dir: Path, directory: Path, rows: list[dict[str, Any]]) -> np.ndarray:
    """The bundle as the MLflow model (its class and signature, as package logs it), saved to
    `directory`, loaded by MLflow and asked through MLflow's scoring app: POST /invocations."""
    profile = ServedModel.load(bundle_dir).bundle.profile
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its warning on pickled models
    with warnings.catch_warnings():  # no input example, `Any` type hints: as package logs it
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(
            str(directory),
            python_model=PyfuncModel(),
            artifacts={"bundle": str(bundle_dir)},
            signature=model_signature(profile),
            pip_requirements=[],
        )
    model = mlflow.pyfunc.load_model(str(directory))
    assert model.metadata.get_input_schema().input_names() == profile.feature_names
    with TestClient(scoring_server.init(model)) as client:
        reply = client.post("/invocations", json={"dataframe_records": rows})
    assert reply.status_code == 200, reply.text
    return np.asarray(reply.json()["predictions"], dtype=float)


def face_predictions(
    pipeline: TinyPipeline, drafted: Drafted, directory: Path
) -> dict[str, np.ndarray]:
    """Every face's predictions of the test split (`directory`: for the MLflow model)."""
    bundle_dir = pipeline.bundle_dir
    profile = pipeline.bundle.profile
    rows = request_rows(pipeline.test, profile)
    scored = Scorer(ServedModel.load(bundle_dir)).score(
        drafted.raw.loc[pipeline.test_lines], str(drafted.csv)
    )
    assert not any(scored.errors), [error for error in scored.errors if error][:3]
    return {
        "pipeline": pipeline.predictions,
        **api_faces(bundle_dir, rows, profile.feature_names),
        "batch scoring": scored.predictions,
        "mlflow": mlflow_face(bundle_dir, directory / "mlflow-model", rows),
    }


def assert_figures_drawn(pipeline: TinyPipeline, directory: Path) -> None:
    """The evaluate stage's plot tables, drawn as package draws them for the MLflow run: the
    importance figure names every column of the model's matrix, as the transformer names it."""
    bundle = pipeline.bundle
    names = [str(name) for name in bundle.transformer.get_feature_names_out()]
    booster = xgb.Booster(model_file=str(pipeline.bundle_dir / MODEL_FILE))
    actual = pipeline.test[bundle.profile.target.name].to_numpy(float)
    points = plot_rows(actual, pipeline.predictions, 100, 42)
    plots = directory / "plots"
    write_csv(plots / "predicted_vs_actual.csv", points[["actual", "predicted"]])
    write_csv(plots / "residuals.csv", points[["predicted", "residual"]])
    importance = pd.DataFrame(model.feature_importance(booster, names))
    write_csv(plots / "feature_importance.csv", importance.round(2))
    axes = draw_all(plots)["feature_importance.png"].axes[0]
    assert sorted(label.get_text() for label in axes.get_yticklabels()) == sorted(names)


def assert_faces_agree(pipeline: TinyPipeline, drafted: Drafted, directory: Path) -> None:
    """Every face predicts every test row as the pipeline does."""
    faces = face_predictions(pipeline, drafted, directory)
    assert_figures_drawn(pipeline, directory)
    expected = pipeline.predictions
    assert len(expected) == len(pipeline.test) > 0
    assert np.isfinite(expected).all()
    for face, values in faces.items():
        reference = expected[: len(values)]
        assert values.shape == reference.shape, face
        np.testing.assert_allclose(values, reference, rtol=FACES_RTOL, err_msg=face)


def build(directory: Path, drafted: Drafted) -> TinyPipeline:
    return build_bundle(directory, drafted.profile, drafted.csv)


def pipeline_or_refusal(directory: Path, drafted: Drafted) -> TinyPipeline | str:
    """The drafted data set trained and packaged, or the one-line message of the stage before
    train that refused it (ingest and every stage load the profile; process cleans and splits,
    featurize fits the transformer)."""
    try:
        prepared = prepare(drafted.profile, drafted.csv)
    except DataError as refused:
        return error_line(refused)
    return train_and_package(directory, prepared)
