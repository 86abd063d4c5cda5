"""`PyfuncModel`, the MLflow adapter: the bundle as an MLflow pyfunc model that predicts exactly
as the API does, through the serving core the API serves with: the bundle loaded and
self-checked as a `ServedModel` (house_price.serving.served), each row validated and normalised
by the API's row type (`batch.RowValidator`, JSON as a client sends it: types, whole numbers,
bounds, categories in any case and spacing or by alias), predicted by `ServedModel.predict`.
It imports no web code (FastAPI, Starlette, prometheus-client): the logged model's
requirements do not list them (tracking.registry.SERVING_DISTRIBUTIONS).

A DataFrame row is taken as a client's JSON row (`batch.frame_rows`): the feature columns
only (others are ignored), a missing value (None, NaN) null in a nullable column and a missing
field in another. If any row is invalid, nothing is predicted: an MlflowException with
INVALID_PARAMETER_VALUE (`mlflow models serve` answers 400) names each bad row and field.
Its input example is in that form too (`request_frame`).
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pydantic_core
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from house_price.schema import Profile
from house_price.serving.batch import RowValidator, describe_errors, frame_rows
from house_price.serving.served import ServedModel

MAX_REPORTED_ROWS = 20


def invalid_rows_message(bad: dict[int, list[Any]], rows: list[dict[str, Any]]) -> str:
    """`2 of 5 rows invalid, nothing predicted: row 0: location: Input should be one of: ...
    (got 'Nowhere'); row 3: ...` (row: the 0-based position in the input)."""
    shown = []
    for index in sorted(bad)[:MAX_REPORTED_ROWS]:
        raw = {name: str(value) for name, value in rows[index].items() if value is not None}
        shown.append(f"row {index}: {describe_errors(bad[index], raw)}")
    more = len(bad) - len(shown)
    tail = f"; and {more} more invalid rows" if more else ""
    return f"{len(bad)} of {len(rows)} rows invalid, nothing predicted: {'; '.join(shown)}{tail}"


def request_frame(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Feature rows (n rows, any columns) as a client's JSON request holds them: n rows of the
    profile's feature columns, each row as `frame_rows` makes it, in the JSON form the API
    parses (a date as "YYYY-MM-DD"). The logged input example: MLflow would write a datetime64
    column as "2014-12-09T00:00:00", a timestamp the API's date type refuses."""
    rows = pydantic_core.to_jsonable_python(frame_rows(frame, profile))
    return pd.DataFrame(rows, columns=profile.feature_names)


class PyfuncModel(mlflow.pyfunc.PythonModel):
    """The MLflow adapter of the served model: `load_context` serves the logged bundle,
    `predict` takes a DataFrame of client rows."""

    def load_context(self, context: Any) -> None:
        self.model = ServedModel.load(context.artifacts["bundle"])
        self.validator = RowValidator(self.model.bundle.profile, as_json=True)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        rows = frame_rows(frame, self.model.bundle.profile)
        good, bad = self.validator.validate(rows)
        if bad:
            raise MlflowException(invalid_rows_message(bad, rows), INVALID_PARAMETER_VALUE)
        if not good:
            return np.empty(0)
        return self.model.predict(good)
