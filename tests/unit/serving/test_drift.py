"""Drift reference distributions (package time) and live counting (serving time)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from house_price.api.metrics import PRICE_BUCKETS, Metrics, PendingHistogram
from house_price.schema import Column
from house_price.serving.drift import (
    PREDICTION,
    LiveCounts,
    Reference,
    category_binning,
    numeric_binning,
    psi,
)
from house_price.serving.served import ServedModel


def _reference() -> Reference:
    rng = np.random.default_rng(0)
    sqft = rng.normal(1800, 400, 2000)
    sqft[::50] = np.nan
    number = numeric_binning("sqft", sqft, "number", nullable=True)
    days = (np.arange(2000) % 3650 + 7000).astype(float)
    date = numeric_binning("sold", days, "date", nullable=False)
    column = Column(name="location", kind="category", categories=("A", "B", "C"), nullable=True)
    category = category_binning(column, pd.Series(["A"] * 10 + ["B"] * 5 + [None] * 5))
    prediction = numeric_binning(PREDICTION, rng.lognormal(12, 0.4, 2000), "number", False)
    return Reference((number, date, category), prediction)


def test_numeric_bins_are_the_deciles() -> None:
    reference = _reference()
    sqft = reference.features[0]
    assert len(sqft.edges) == 9
    assert sqft.labels[-1] == "missing"
    assert sum(sqft.shares) == pytest.approx(1.0, abs=1e-5)
    assert sqft.shares[-1] == pytest.approx(0.02)  # one row in 50 is missing
    for share in sqft.shares[:-1]:
        assert share == pytest.approx(0.098, abs=0.002)
    assert reference.features[2].shares == (0.5, 0.25, 0.0, 0.25)  # A, B, C, missing


def test_repeated_deciles_merge_into_one_bin_per_value() -> None:
    bedrooms = np.array([1.0] * 10 + [2.0] * 30 + [3.0] * 40 + [4.0] * 20)
    binning = numeric_binning("bedrooms", bedrooms, "number", nullable=False)
    assert binning.edges == (1.0, 2.0, 3.0, 4.0)
    assert binning.labels == ("<= 1", "(1, 2]", "(2, 3]", "(3, 4]", "> 4")
    assert binning.shares == (0.1, 0.3, 0.4, 0.2, 0.0)


def test_one_value_and_many_values_land_in_the_same_bins() -> None:
    """The bisection (a few rows) and numpy (a batch) agree on every value, edges included."""
    reference = _reference()
    sqft, sold, location = reference.features
    values = [*sqft.edges, None, float("nan"), -1e9, 1e9, 1800.0, *np.linspace(500, 3000, 97)]
    one_by_one = np.bincount([sqft.index(v) for v in values], minlength=len(sqft.labels))
    assert list(one_by_one) == list(sqft.counts(values))
    dates = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in (6000, 7000, 8000, 12000)]
    assert list(np.bincount([sold.index(d) for d in dates], minlength=len(sold.labels))) == list(
        sold.counts(dates)
    )
    names = ["A", "B", "C", None, "A"]
    assert [location.index(n) for n in names] == [0, 1, 2, 3, 0]
    assert list(location.counts(names)) == [2, 1, 1, 1]


def test_live_counts_small_and_batch_paths_agree() -> None:
    reference = _reference()
    rng = random.Random(1)  # noqa: S311 (test data)
    rows = [
        {
            "sqft": rng.choice([None, rng.uniform(300, 4000)]),
            "sold": dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(8000)),
            "location": rng.choice(["A", "B", "C", None]),
        }
        for _ in range(200)
    ]
    predictions = np.array([rng.uniform(5e4, 9e5) for _ in rows])
    one_by_one = LiveCounts(reference)
    for row, value in zip(rows, predictions, strict=True):
        one_by_one.add([row], np.array([value]))
    batched = LiveCounts(reference)
    batched.add(rows, predictions)
    counts = batched.take()
    assert one_by_one.take() == counts
    assert batched.take() == [0] * batched.size  # take starts again
    labels = batched.labels()
    assert len(labels) == len(counts)
    per_feature: dict[str, int] = {}
    for (feature, _, _), count in zip(labels, counts, strict=True):
        per_feature[feature] = per_feature.get(feature, 0) + count
    assert per_feature == {"sqft": 200, "sold": 200, "location": 200, PREDICTION: 200}


def test_psi_reference_values() -> None:
    assert psi([70, 10, 10, 10], [0.25] * 4) == pytest.approx(0.45 * np.log(7))
    assert psi([25, 25, 25, 25], [0.25] * 4) == 0.0


def test_pending_histogram_matches_observe() -> None:
    """Bulk-added buckets and sum expose exactly what one `observe` per value would."""
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.lognormal(12, 1.5, 500), PRICE_BUCKETS, [0.0, 2e9]])
    texts = []
    for bulk in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("price", "p", buckets=PRICE_BUCKETS, registry=registry)
        if bulk:
            pending = PendingHistogram(histogram, PRICE_BUCKETS)
            pending.add(values[:7])  # the bisection path
            pending.add(values[7:])  # the numpy path
            pending.flush()
        else:
            for value in values:
                histogram.observe(float(value))
        texts.append(
            [
                line
                for line in generate_latest(registry).decode().splitlines()
                if "created" not in line
            ]
        )
    bulk_lines, observed = texts[1], texts[0]
    assert [line.rsplit(" ", 1)[0] for line in bulk_lines] == [
        line.rsplit(" ", 1)[0] for line in observed
    ]
    for got, want in zip(bulk_lines, observed, strict=True):
        if got.startswith("#"):
            continue
        assert float(got.rsplit(" ", 1)[1]) == pytest.approx(float(want.rsplit(" ", 1)[1]))


def test_drift_series_are_keyed_by_the_model_version(bundle_dir: Path) -> None:
    """The API's drift counters and reference shares carry the served version, on the same
    (version, feature, bin) keys: what the rules join a version's counts to its own reference on
    (monitoring/rules/recording.yml), so that old pods' counts after a rollout meet old bins."""
    model = ServedModel.load(bundle_dir)
    metrics = Metrics()
    metrics.loaded(model)
    rows = [model.bundle.profile.example_row()] * 20
    metrics.record(metrics.batch_many, rows, model.predict(rows))
    metrics.flush()
    exposed = {
        family.name: family.samples
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
    }

    def key(sample: Sample) -> tuple[str, str, str]:
        return (sample.labels["model_version"], sample.labels["feature"], sample.labels["bin"])

    counts = {
        key(sample): sample.value
        for sample in exposed["model_drift_observations"]
        if sample.name == "model_drift_observations_total"
    }
    shares = {key(sample): sample.value for sample in exposed["model_drift_reference_share"]}
    assert set(counts) == set(shares)
    assert {labels[0] for labels in shares} == {model.version}
    assert len(shares) == len(LiveCounts(model.reference).labels())
    features = {feature for _, feature, _ in shares}
    assert features == {*model.bundle.profile.feature_names, PREDICTION}
    for feature in features:
        in_feature = [key for key in shares if key[1] == feature]
        assert sum(counts[key] for key in in_feature) == len(rows)
        assert sum(shares[key] for key in in_feature) == pytest.approx(1.0, abs=1e-5)
