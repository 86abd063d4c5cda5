"""Training quality on the real data sets (issue 13), through bench/quality_bench.py: with the
default params, the pipeline's model is at least as good as the issue's plain XGBoost fitted on
the same train matrix and target, scored on the same test split, and reaches the issue's test
R² where it does on this split. King County's 0.92 does not: on the split by hashed line
(issue 14) the plain XGBoost scores 0.887 and the pipeline 0.911; over `process.seed` 40 to 45
the pipeline ranges 0.908 to 0.925 (BENCHMARKS.md, Training quality), so the figure is open in
issue 13, not asserted here. What is asserted for King County is the gain of its profile's
`target.per` (a price per square foot). Skipped, with the reason, where ../shared/data is
absent."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import sys
import time
from types import ModuleType
from typing import Any

import pytest
from conftest import REPO, SHARED_DATA, shared_csv

from house_price.core.params import load_params

pytestmark = pytest.mark.slow

# The test R², where this split reaches it (None: compared with plain XGBoost only).
TARGET_R2 = {"california": 0.85, "kingcounty": None, "seed": None}


@functools.cache
def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_bench", REPO / "bench/quality_bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def split_and_scores(dataset: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The data set's split and the bench's scores on it with the default params, computed
    once per session: the King County scores serve both tests below."""
    bench = bench_module()
    shared_csv(bench.CSV_FILES[dataset])
    params = load_params(REPO / "params.yaml")
    data = bench.load_split(dataset, params, SHARED_DATA)
    started = time.monotonic()
    results = bench.compare(data, params.train)
    print(f"{dataset}: {time.monotonic() - started:.0f} s, {results}")
    return data, results


@pytest.mark.parametrize("dataset", list(TARGET_R2))
def test_pipeline_reaches_the_target_and_beats_plain_xgboost(dataset: str) -> None:
    _, results = split_and_scores(dataset)
    pipeline, plain = results["pipeline"], results["plain XGBoost"]
    if TARGET_R2[dataset] is not None:
        assert pipeline["r2"] >= TARGET_R2[dataset], f"{dataset}: test R² {pipeline['r2']:.4f}"
    assert pipeline["r2"] >= plain["r2"], f"{dataset}: {pipeline['r2']:.4f} < {plain['r2']:.4f}"


def test_a_price_per_square_foot_lifts_king_county() -> None:
    """The same split and train params, the profile with and without `target.per`: fitting the
    price per square foot of living area gains at least 0.01 of test R² (0.888 -> 0.911)."""
    data, results = split_and_scores("kingcounty")
    assert data.profile.target_per == "sqft_living"
    per_house = dataclasses.replace(data.profile, target_per=None)
    with_per = results["pipeline"]
    params = load_params(REPO / "params.yaml")
    without = bench_module().compare(dataclasses.replace(data, profile=per_house), params.train)
    print(f"R² per sqft {with_per['r2']:.4f}, per house {without['pipeline']['r2']:.4f}")
    assert with_per["r2"] >= without["pipeline"]["r2"] + 0.01
