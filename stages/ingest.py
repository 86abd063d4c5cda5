"""ingest: the raw data set, as the profile's source gives it, into the raw directory.

Synthetic source: draw the houses (deterministic from the `synthetic` params).
CSV source: check that the file is a readable CSV with the profile's columns, then copy it.
The pandas engine writes data.csv; the Dask engine writes partitions/, Parquet partitions of
the same text fields, each row numbered by its line (synthetic blocks drawn in parallel; a CSV
read in chunks). Either way, record where it came from in source.json beside it.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import shutil
from pathlib import Path

from house_price.core import stage
from house_price.core.errors import DataError
from house_price.core.io import (
    RAW_CSV,
    RAW_PARTITIONS,
    SOURCE_INFO,
    atomic_dir,
    atomic_path,
    file_md5,
    read_raw_csv,
    write_csv,
    write_json,
)
from house_price.data.cleaning import check_columns
from house_price.data.synthetic import Dirt, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw directory to write")
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    dask = params.engine == "dask"
    raw = args.raw / (RAW_PARTITIONS if dask else RAW_CSV)

    if profile.is_synthetic:
        settings = params.synthetic
        if dask:
            from house_price.engines import cluster, dask_engine  # the Dask engine's only

            with cluster.connect(params.dask), atomic_dir(raw) as partitions:
                floor = dask_engine.ingest_synthetic(partitions, settings, profile.reference_year)
        else:
            data = generate(
                rows=settings.rows,
                seed=settings.seed,
                noise_sigma=settings.noise_sigma,
                reference_year=profile.reference_year,
                dirt=Dirt.from_params(settings),
            )
            write_csv(raw, data.frame)
            floor = data.noise_floor_rmsle
        info = {
            "source": "synthetic",
            "noise_sigma": settings.noise_sigma,
            "noise_floor_rmsle": round(floor, 6),
        }
    else:
        source = Path(profile.source)
        if not source.is_file():
            if (stage.workspace_root() / source).is_file():  # an experiment's temporary copy
                raise DataError(
                    f"{source}: not in this experiment's temporary copy, which holds only what "
                    f"git or DVC tracks: track it with `dvc add {source}` (see README), or "
                    f"queue with `dvc exp run --queue --copy-paths {source}`"
                )
            raise DataError(
                f"{source}: file not found (profile {profile.name!r} reads it; "
                "see the comment at the top of the profile for where to get it)"
            )
        if dask:
            from house_price.engines import dask_engine

            with atomic_dir(raw) as partitions:
                rows = params.dask.partition_rows
                dask_engine.ingest_csv(source, partitions, rows, profile)
        else:
            check_columns(read_raw_csv(source), profile, str(source))
            with atomic_path(raw) as tmp:
                shutil.copyfile(source, tmp)
        info = {"source": str(source), "noise_floor_rmsle": None}

    info |= {"dataset": profile.name, "engine": params.engine, "md5": file_md5(raw)}
    write_json(args.raw / SOURCE_INFO, info)
    print(f"ingest: {raw} from {info['source']} ({params.dataset})")


if __name__ == "__main__":
    stage.run(main)
