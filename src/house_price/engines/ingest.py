"""ingest's engines: the raw data set, drawn or copied, into the raw directory.

The pandas engine writes one CSV (data.csv). The Dask engine writes Parquet partitions of the
same text fields (partitions/), each row indexed by its line in that CSV: the synthetic blocks
drawn in parallel on the cluster, a CSV source read in chunks in this process.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from house_price.core.io import (
    RAW_CSV,
    RAW_PARTITIONS,
    atomic_dir,
    atomic_path,
    iter_raw_csv,
    raw_fields,
    read_raw_csv,
    write_csv,
)
from house_price.core.params import Params, Synthetic
from house_price.data.cleaning import check_columns
from house_price.data.synthetic import (
    Dirt,
    block_rows,
    generate,
    generate_block,
    noise_floor,
    raw_block_rows,
)
from house_price.engines import cluster
from house_price.engines.partitions import (
    LINE,
    compute,
    delayed,
    partition_name,
    write_partition,
)
from house_price.schema import Profile


class Engine(Protocol):
    raw_name: str  # what the raw data is called in the raw directory

    def synthetic(self, raw: Path, settings: Synthetic, reference_year: int) -> float:
        """Draw the `synthetic` params' data set into `raw`; returns its noise floor (RMSLE)."""
        ...

    def copy_csv(self, source: Path, raw: Path, profile: Profile) -> None:
        """Copy a CSV source into `raw`, its header checked against the profile first.
        DataError as `read_raw_csv` raises it."""
        ...


class PandasEngine:
    raw_name = RAW_CSV

    def __init__(self, params: Params) -> None:
        pass

    def synthetic(self, raw: Path, settings: Synthetic, reference_year: int) -> float:
        data = generate(
            rows=settings.rows,
            seed=settings.seed,
            noise_sigma=settings.noise_sigma,
            reference_year=reference_year,
            dirt=Dirt.from_params(settings),
        )
        write_csv(raw, data.frame)
        return data.noise_floor_rmsle

    def copy_csv(self, source: Path, raw: Path, profile: Profile) -> None:
        check_columns(read_raw_csv(source), profile, str(source))
        with atomic_path(raw) as tmp:
            shutil.copyfile(source, tmp)


class DaskEngine:
    raw_name = RAW_PARTITIONS

    def __init__(self, params: Params) -> None:
        self.settings = params.dask

    def synthetic(self, raw: Path, settings: Synthetic, reference_year: int) -> float:
        with cluster.connect(self.settings), atomic_dir(raw) as partitions:
            return ingest_synthetic(partitions, settings, reference_year)

    def copy_csv(self, source: Path, raw: Path, profile: Profile) -> None:
        with atomic_dir(raw) as partitions:  # no cluster: read in order, in this process
            ingest_csv(source, partitions, self.settings.partition_rows, profile)


ENGINES: dict[str, Callable[[Params], Engine]] = {"pandas": PandasEngine, "dask": DaskEngine}


def for_params(params: Params) -> Engine:
    """The implementation of the `engine` param."""
    return ENGINES[params.engine](params)


# --- the Dask engine's work ----------------------------------------------------------------------


def _synthetic_partition(
    block: int, rows: int, first_line: int, settings: Synthetic, year: int, path: Path
) -> tuple[int, float]:
    data = generate_block(
        block, rows, settings.seed, settings.noise_sigma, year, Dirt.from_params(settings)
    )
    fields = raw_fields(data.frame, first_line)
    fields.index.name = LINE
    write_partition(fields, path, index=True)
    return rows, data.noise_floor_rmsle


def ingest_synthetic(directory: Path, settings: Synthetic, reference_year: int) -> float:
    """Generate the `synthetic` params' data set into `directory`, one partition per block
    (synthetic.BLOCK_ROWS houses), the blocks drawn in parallel on the cluster; the rows are
    numbered by the lines they have in the pandas engine's data.csv. Returns the noise floor."""
    sizes = block_rows(settings.rows)
    raw_sizes = raw_block_rows(settings.rows, Dirt.from_params(settings))
    firsts = np.concatenate([[2], 2 + np.cumsum(raw_sizes)[:-1]])  # line 1: the header
    task = delayed(_synthetic_partition)
    directory = directory.absolute()  # workers have their own working directory
    blocks = compute(
        [
            task(
                index, size, int(first), settings, reference_year, directory / partition_name(index)
            )
            for index, (size, first) in enumerate(zip(sizes, firsts, strict=True))
        ]
    )
    return noise_floor(blocks)


def ingest_csv(source: Path, directory: Path, rows: int, profile: Profile) -> int:
    """Copy a CSV source into `directory` as raw partitions of `rows` rows, read in order in
    this process (memory holds one). The header is checked against the profile first; a
    column that is repeated but not declared is kept once (its name is all the report needs).
    Returns the partition count. DataError as `read_raw_csv` raises it."""
    count = 0
    for index, chunk in enumerate(iter_raw_csv(source, rows)):
        if index == 0:
            check_columns(chunk, profile, str(source))
        chunk = chunk.loc[:, ~chunk.columns.duplicated()]
        chunk.index.name = LINE
        write_partition(chunk, directory / partition_name(index), index=True)
        count += 1
    return count
