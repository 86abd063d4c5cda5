"""ingest: the raw data set, as the profile's source gives it.

Synthetic source: draw the houses (deterministic from the `synthetic` params).
CSV source: check that the file is a readable CSV with the profile's columns, then copy it.
Either way, record where it came from in a small JSON beside it.
"""

import _interpreter  # noqa: F401 (first: stops a Python without our packages)

# isort: split

import argparse
import shutil
from pathlib import Path

from house_price import stage
from house_price.cleaning import check_columns
from house_price.errors import DataError
from house_price.io import atomic_path, file_md5, read_raw_csv, write_csv, write_json
from house_price.synthetic import Dirt, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw CSV to write")
    parser.add_argument("--source-info", type=Path, required=True, help="JSON about the source")
    args = parser.parse_args()
    params, profile = stage.load_stage_inputs()

    if profile.is_synthetic:
        settings = params["synthetic"]
        data = generate(
            rows=int(settings["rows"]),
            seed=int(settings["seed"]),
            noise_sigma=float(settings["noise_sigma"]),
            reference_year=profile.reference_year,
            dirt=Dirt(
                missing_rate=settings["missing_rate"],
                duplicate_rate=settings["duplicate_rate"],
                messy_category_rate=settings["messy_category_rate"],
                impossible_rate=settings["impossible_rate"],
            ),
        )
        write_csv(args.raw, data.frame)
        info = {
            "source": "synthetic",
            "noise_sigma": float(settings["noise_sigma"]),
            "noise_floor_rmsle": round(data.noise_floor_rmsle, 6),
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
        check_columns(read_raw_csv(source), profile, str(source))
        with atomic_path(args.raw) as tmp:
            shutil.copyfile(source, tmp)
        info = {"source": str(source), "noise_floor_rmsle": None}

    write_json(args.source_info, {**info, "dataset": profile.name, "md5": file_md5(args.raw)})
    print(f"ingest: {args.raw} from {info['source']} ({params['dataset']})")


if __name__ == "__main__":
    stage.run(main)
