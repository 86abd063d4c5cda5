"""ingest: the raw data set, as the profile's source gives it, into the raw directory.

Synthetic source: draw the houses (deterministic from the `synthetic` params).
CSV source: check that the file is a readable CSV with the profile's columns, then copy it.
The engine (house_price.engines.ingest) writes it: the pandas engine as data.csv; the Dask
engine as partitions/, Parquet partitions of the same text fields, each row numbered by its line
(synthetic blocks drawn in parallel; a CSV read in chunks). Either way, record where it came
from in source.json beside it.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
from pathlib import Path

from house_price.core import stage
from house_price.core.errors import DataError
from house_price.core.io import SOURCE_INFO, file_md5, write_json
from house_price.engines import ingest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw directory to write")
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()
    engine = ingest.for_params(params)
    raw = args.raw / engine.raw_name

    if profile.is_synthetic:
        settings = params.synthetic
        floor = engine.synthetic(raw, settings, profile.reference_year)
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
        engine.copy_csv(source, raw, profile)
        info = {"source": str(source), "noise_floor_rmsle": None}

    info |= {"dataset": profile.name, "engine": params.engine, "md5": file_md5(raw)}
    write_json(args.raw / SOURCE_INFO, info)
    print(f"ingest: {raw} from {info['source']} ({params.dataset})")


if __name__ == "__main__":
    stage.run(main)
