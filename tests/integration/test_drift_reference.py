"""The drift reference the package stage wrote into the session pipeline's bundle (the
reference's arithmetic is unit-tested in tests/unit/serving/test_drift.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from house_price.core.tables import read_table
from house_price.serving.bundle import load_bundle
from house_price.serving.drift import (
    REFERENCE_FILE,
    load_reference,
    write_reference,
)


@pytest.mark.slow
def test_the_bundle_holds_the_train_split_reference(
    bundle_dir: Path, pipeline_repo: Path, tmp_path: Path
) -> None:
    """package wrote drift.json from the train split; the same inputs give the same bytes."""
    reference = load_reference(bundle_dir)
    assert reference is not None
    data = json.loads((bundle_dir / REFERENCE_FILE).read_text())
    train = pd.read_parquet(pipeline_repo / "data" / "processed" / "train.parquet")
    assert data["rows"] == len(train)
    assert [b.name for b in reference.features] == [f["name"] for f in data["features"]]
    for binning in reference.all:
        assert sum(binning.shares) == pytest.approx(1.0, abs=1e-5), binning.name
    sqft = next(b for b in reference.features if b.name == "sqft")
    assert len(sqft.labels) == 10
    assert all(share == pytest.approx(0.1, abs=0.01) for share in sqft.shares)
    copy = tmp_path / "bundle"
    copy.mkdir()
    for path in bundle_dir.iterdir():
        if path.is_file() and path.name != REFERENCE_FILE:
            (copy / path.name).write_bytes(path.read_bytes())
    bundle = load_bundle(copy)
    train = read_table(pipeline_repo / "data" / "processed" / "train.parquet")
    features = train[bundle.profile.feature_names]
    write_reference(copy, bundle.profile, train, bundle.predict_frame(features))
    assert (copy / REFERENCE_FILE).read_bytes() == (bundle_dir / REFERENCE_FILE).read_bytes()
