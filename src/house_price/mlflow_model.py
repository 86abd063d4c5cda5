"""The bundle as an MLflow pyfunc model: the same `Bundle.predict_frame` the pipeline scores."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from house_price.bundle import load_bundle


class BundleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.bundle.predict_frame(model_input)
