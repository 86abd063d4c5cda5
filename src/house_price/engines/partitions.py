"""What the Dask engine's stage modules share: tables as directories of Parquet partitions,
`part-00000.parquet`, ... (`core.tables.iter_partitions` reads them in order), and the two calls
into Dask (delayed tasks, one compute), imported when first used: the pandas engine never
imports Dask.

Each partition's work is one task: memory holds a few partitions per worker, whatever the size
of the data. Workers read and write the workspace's paths (absolute), so a remote cluster's
workers need them on a shared filesystem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from house_price.core.io import RAW_LINE

LINE = RAW_LINE  # the raw partitions' index: each row's line in the source CSV


def partition_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def compute(tasks: Sequence[Any]) -> list[Any]:
    """The results of `tasks` (delayed tasks or Dask collections), computed at once."""
    import dask

    return list(dask.compute(*tasks))


def delayed(function: Callable[..., Any], nout: int | None = None) -> Callable[..., Any]:
    """`function` as a pure delayed task (the same arguments: the same key)."""
    from dask import delayed as dask_delayed

    return dask_delayed(function, pure=True, nout=nout)


def write_partition(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    frame.to_parquet(path, index=index, engine="pyarrow")
