"""Imported first by every stage script: stop with one line when this Python lacks the project's
packages (e.g. `.venv/bin/dvc repro` without the venv on PATH runs the system `python`).

Only looks the modules up (no import), so it costs a stage a few milliseconds.
"""

import sys
from importlib.util import find_spec
from pathlib import Path

REQUIRED = (
    "house_price",
    "pandas",
    "numpy",
    "sklearn",
    "xgboost",
    "pydantic",
    "yaml",
    "joblib",
    "pyarrow",
    "mlflow",
)

missing = [name for name in REQUIRED if find_spec(name) is None]
if missing:
    names = ", ".join(repr(name) for name in missing)
    print(
        f"{Path(sys.argv[0]).stem}: error: this Python ({sys.executable}) lacks the project's "
        f"packages (No module named {names}); run the pipeline with `make run`, or put "
        ".venv/bin first on PATH",
        file=sys.stderr,
    )
    raise SystemExit(1)
