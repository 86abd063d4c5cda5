"""The train split as one frame, for what fits on one frame (tune, the linear baseline, the
drift reference): all of it on the pandas engine; on the Dask engine its first
`dask.sample_rows` rows, a random sample (the split's partitions are in hash order)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from house_price.core.params import Params
from house_price.core.tables import read_head, read_table


class Engine(Protocol):
    def train_frame(self, train: Path) -> pd.DataFrame:
        """The train split at `train` (one file or a directory of partitions) as one frame."""
        ...

    def run_params(self) -> dict[str, Any]:
        """What a model's MLflow run logs about the engine, beside `Params.run_params`."""
        ...


class PandasEngine:
    def __init__(self, params: Params) -> None:
        pass

    def train_frame(self, train: Path) -> pd.DataFrame:
        return read_table(train)

    def run_params(self) -> dict[str, Any]:
        return {}  # the pandas engine's runs log the params they always did


class DaskEngine:
    def __init__(self, params: Params) -> None:
        self.rows = params.dask.sample_rows

    def train_frame(self, train: Path) -> pd.DataFrame:
        return read_head(train, self.rows)

    def run_params(self) -> dict[str, Any]:
        return {"engine": "dask", "dask": {"sample_rows": self.rows}}


ENGINES: dict[str, Callable[[Params], Engine]] = {"pandas": PandasEngine, "dask": DaskEngine}


def for_params(params: Params) -> Engine:
    """The implementation of the `engine` param."""
    return ENGINES[params.engine](params)
