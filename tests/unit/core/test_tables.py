"""Tables as the stages pass them on: one Parquet file or a directory of partitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import REPO

from house_price.core.params import Params, load_params
from house_price.core.tables import read_head, write_table
from house_price.engines import sample


def partitioned(directory: Path) -> Path:
    """Three partitions of 4 rows: x = 0..11, y missing where x is 1, 2, 5, 6 or 7."""
    directory.mkdir()
    for index in range(3):
        x = np.arange(4 * index, 4 * index + 4)
        y = np.where(np.isin(x, [1, 2, 5, 6, 7]), np.nan, x * 10.0)
        write_table(directory / f"part-{index:05d}.parquet", pd.DataFrame({"x": x, "y": y}))
    return directory


def test_read_head_reads_on_into_later_partitions(tmp_path: Path) -> None:
    table = partitioned(tmp_path / "table")
    assert read_head(table, 6)["x"].tolist() == [0, 1, 2, 3, 4, 5]
    assert read_head(table, 100)["x"].tolist() == list(range(12))
    assert read_head(table, 4)["x"].tolist() == [0, 1, 2, 3]


def test_read_head_of_complete_rows_skips_missing_values_across_partitions(
    tmp_path: Path,
) -> None:
    table = partitioned(tmp_path / "table")
    head = read_head(table, 4, complete=["x", "y"])
    assert head["x"].tolist() == [0, 3, 4, 8]
    assert head["y"].tolist() == [0.0, 30.0, 40.0, 80.0]
    assert read_head(table, 2, complete=["x"]).columns.tolist() == ["x"]
    assert len(read_head(table, 100, complete=["y"])) == 7


def test_train_frame_is_a_sample_on_the_dask_engine_only(tmp_path: Path) -> None:
    table = partitioned(tmp_path / "table")
    one_file = tmp_path / "train.parquet"
    write_table(one_file, pd.DataFrame({"x": range(3000)}))
    frame = sample.for_params(on_engine("dask")).train_frame
    assert frame(table)["x"].tolist() == [0, 1, 2, 3, 4]
    assert len(sample.for_params(on_engine("pandas")).train_frame(one_file)) == 3000
    assert len(sample.for_params(on_engine("pandas")).train_frame(table)) == 12


def on_engine(engine: str, sample_rows: int = 5) -> Params:
    """The shipped params on `engine`, the Dask sample `sample_rows` rows (below the param's
    floor: the tables here are small)."""
    params = load_params(REPO / "params.yaml")
    dask = params.dask.model_copy(update={"sample_rows": sample_rows})
    return params.model_copy(update={"engine": engine, "dask": dask})
