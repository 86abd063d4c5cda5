"""The pandas engine's path never imports Dask: checked in a fresh interpreter, as a stage starts
(the engines' interface itself is unit-tested in tests/unit/engines/test_engines.py)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

STAGE_ENGINES = ("ingest", "process", "featurize", "train", "evaluate", "sample")


def test_the_pandas_engine_never_imports_dask() -> None:
    """Every stage's pandas implementation, chosen and imported as the stages do, loads
    neither dask nor distributed."""
    code = (
        "import sys\n"
        "from house_price.core.params import load_params\n"
        "from house_price.engines import evaluate, featurize, ingest, process, sample, train\n"
        f"params = load_params({str(REPO / 'params.yaml')!r})\n"
        "for module in (evaluate, featurize, ingest, process, sample, train):\n"
        "    module.for_params(params)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
