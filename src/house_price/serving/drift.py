"""Drift from the serving process: reference distributions in the bundle, live counts in the API.

At package time, `write_reference` stores in the bundle (`drift.json`) each feature's training
distribution: bin edges at the train split's deciles for a number or a date (repeated deciles
merged, so a whole-number column such as bedrooms gets one bin per value), one bin per declared
category for a category, plus a `missing` bin for a nullable feature; with the share of the
train split's rows in each bin. The model's prediction on the train split gets the same
treatment. The same inputs give the same bytes (sorted JSON, deterministic quantiles).

At serving time, `LiveCounts` puts every predicted row into those bins (a bisection per value
for a few rows, numpy for a batch) and keeps the counts in memory; the API adds them to its
Prometheus counters about once a second, off the request path. Population stability index and
its alert are PromQL (monitoring/rules/), so any window is a range and several workers or
replicas simply add up.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from house_price.core.io import read_json, write_json
from house_price.core.profile_file import PREDICTION_LABEL
from house_price.schema import Column, Profile

if TYPE_CHECKING:  # imported where used, at package time: the API imports this module
    import pandas as pd

REFERENCE_FILE = "drift.json"
REFERENCE_FORMAT = 1
PREDICTION = PREDICTION_LABEL  # the `feature` label of the prediction's bins (no column's)
MISSING = "missing"
DECILES = tuple(np.linspace(0.1, 0.9, 9))
NUMPY_MIN_ROWS = 16  # from this many rows, numpy bins faster than a bisection per value
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Binning:
    """One feature's bins: `edges` (ascending, numbers; days since 1970 for a date) put a value v
    in bin i when edges[i-1] < v <= edges[i] (bin 0 for v <= edges[0], the last numeric bin
    above the last edge); `categories` map a category to its bin; `missing` is the bin of a
    missing value (None when the feature is never missing)."""

    name: str
    kind: str  # "number", "date" or "category"
    labels: tuple[str, ...]
    shares: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: Mapping[str, int] | None = None
    missing: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "bins": list(self.labels),
            "shares": list(self.shares),
            "missing": self.missing is not None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Binning:
        labels = tuple(str(label) for label in data["bins"])
        shares = tuple(float(share) for share in data["shares"])
        if len(labels) != len(shares) or len(set(labels)) != len(labels):
            raise ValueError(f"drift reference of {data.get('name')!r}: bins and shares differ")
        missing = len(labels) - 1 if data.get("missing") else None
        categories = None
        if data["kind"] == "category":
            named = labels[:-1] if missing is not None else labels
            categories = {label: index for index, label in enumerate(named)}
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            labels=labels,
            shares=shares,
            edges=tuple(float(edge) for edge in data.get("edges", ())),
            categories=categories,
            missing=missing,
        )

    # --- live values -> bin indexes ---------------------------------------------------------

    def index(self, value: Any) -> int:
        """The bin of one validated value (a row's field, or a prediction)."""
        if value is None or (isinstance(value, float) and value != value):
            return self.missing if self.missing is not None else 0
        if self.categories is not None:
            return self.categories.get(value, 0)
        if self.kind == "date":
            value = (value - EPOCH).days
        return bisect_left(self.edges, value)

    def indexer(self) -> Callable[[Any], int]:
        """`index` specialised to this binning: one call per value on the hot path."""
        missing = self.missing if self.missing is not None else 0
        if self.categories is not None:
            get = self.categories.get
            return lambda v: missing if v is None else get(v, 0)
        if self.kind == "date":
            return self.index
        edges = self.edges
        return lambda v: missing if v is None or v != v else bisect_left(edges, v)

    def counts(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Rows per bin for many values, with numpy (categories: a C-level Counter)."""
        size = len(self.labels)
        if self.categories is not None:
            result = np.zeros(size, dtype=np.int64)
            for value, count in Counter(values).items():
                result[self.index(value)] += count
            return result
        if self.kind == "date":
            days = np.array(values, dtype="datetime64[D]")
            absent = np.isnat(days)
            numbers = days.astype(np.int64).astype(np.float64)
        else:
            numbers = np.asarray(values, dtype=np.float64)
            absent = np.isnan(numbers)
        index = np.searchsorted(np.asarray(self.edges), numbers, side="left")
        if absent.any():
            index[absent] = self.missing if self.missing is not None else 0
        return np.bincount(index, minlength=size)


@dataclass(frozen=True)
class Reference:
    features: tuple[Binning, ...]
    prediction: Binning

    @property
    def all(self) -> tuple[Binning, ...]:
        return (*self.features, self.prediction)


# --- the reference, at package time ---------------------------------------------------------


def _number_label(value: float, kind: str) -> str:
    if kind == "date":
        return (EPOCH + dt.timedelta(days=int(value))).isoformat()
    return f"{value:.6g}"


def _interval_labels(edges: Sequence[float], kind: str) -> list[str]:
    shown = [_number_label(edge, kind) for edge in edges]
    if not shown:
        return ["all"]
    labels = [f"<= {shown[0]}"]
    labels += [f"({low}, {high}]" for low, high in pairwise(shown)]
    return [*labels, f"> {shown[-1]}"]


def _shares(counts: np.ndarray) -> tuple[float, ...]:
    total = int(counts.sum())
    return tuple(round(float(count) / total, 6) if total else 0.0 for count in counts)


def numeric_binning(name: str, values: np.ndarray, kind: str, nullable: bool) -> Binning:
    """Edges at the deciles of `values` (floats, NaN missing; days for a date), merged when
    equal; shares of the rows per bin."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        raise ValueError(f"drift reference: {name!r} has no values in the train split")
    deciles = np.quantile(present, DECILES, method="inverted_cdf")  # values of the data
    if kind == "date":
        deciles = np.floor(deciles)
    edges = tuple(float(edge) for edge in np.unique(deciles))
    labels = _interval_labels(edges, kind)
    missing = len(labels) if nullable else None
    binning = Binning(
        name,
        kind,
        tuple(labels) + ((MISSING,) if nullable else ()),
        (),
        edges,
        missing=missing,
    )
    counts = _numeric_counts(binning, values)
    return Binning(name, kind, binning.labels, _shares(counts), edges, missing=missing)


def _numeric_counts(binning: Binning, values: np.ndarray) -> np.ndarray:
    index = np.searchsorted(np.asarray(binning.edges), values, side="left")
    absent = np.isnan(values)
    index[absent] = binning.missing if binning.missing is not None else 0
    return np.bincount(index, minlength=len(binning.labels))


def category_binning(column: Column, values: pd.Series) -> Binning:
    import pandas as pd

    labels = tuple(column.categories) + ((MISSING,) if column.nullable else ())
    binning = Binning(
        column.name,
        "category",
        labels,
        (),
        categories={name: index for index, name in enumerate(column.categories)},
        missing=len(column.categories) if column.nullable else None,
    )
    raw = [None if pd.isna(value) else str(value) for value in values]
    return Binning(
        column.name,
        "category",
        labels,
        _shares(binning.counts(raw)),
        categories=binning.categories,
        missing=binning.missing,
    )


def _as_numbers(column: Column, series: pd.Series) -> np.ndarray:
    import pandas as pd

    if column.is_date:
        days = pd.to_datetime(series).to_numpy(dtype="datetime64[D]")
        numbers = days.astype(np.int64).astype(np.float64)
        numbers[np.isnat(days)] = np.nan
        return numbers
    return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)


def reference(profile: Profile, train: pd.DataFrame, predictions: np.ndarray) -> Reference:
    """The training distribution of every feature of `profile` in `train` (raw features, before
    imputation), and of `predictions` (the model's on those rows)."""
    features = []
    for column in profile.features:
        if column.is_category:
            features.append(category_binning(column, train[column.name]))
        else:
            kind = "date" if column.is_date else "number"
            numbers = _as_numbers(column, train[column.name])
            features.append(numeric_binning(column.name, numbers, kind, column.nullable))
    predicted = numeric_binning(PREDICTION, np.asarray(predictions, float), "number", False)
    return Reference(tuple(features), predicted)


def write_reference(
    bundle_dir: Path, profile: Profile, train: pd.DataFrame, predictions: np.ndarray
) -> Reference:
    """Write `drift.json` into a bundle directory: the distributions of `train` (the train
    split's rows, or a random sample of them on the Dask engine) and of `predictions` (the
    model's on those rows, by the pipeline's path; house_price.serving.bundle.write_bundle)."""
    train = train[profile.feature_names]
    result = reference(profile, train, predictions)
    write_json(
        bundle_dir / REFERENCE_FILE,
        {
            "format": REFERENCE_FORMAT,
            "rows": len(train),
            "features": [binning.to_json() for binning in result.features],
            "prediction": result.prediction.to_json(),
        },
    )
    return result


def load_reference(bundle_dir: Path) -> Reference | None:
    """The bundle's reference distributions; None for a bundle made before drift existed."""
    path = Path(bundle_dir) / REFERENCE_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    if data.get("format") != REFERENCE_FORMAT:
        raise ValueError(f"{path}: unknown format {data.get('format')!r}")
    features = tuple(Binning.from_json(item) for item in data["features"])
    return Reference(features, Binning.from_json(data["prediction"]))


# --- live counts, at serving time ---------------------------------------------------------------


class LiveCounts:
    """Rows per bin since the last `take`, for every feature and the prediction. The API calls
    `add` and `take` only from its metrics flush, under the flush's lock; this class's own lock
    keeps it safe for any other caller too."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.binnings = reference.all
        self.offsets: list[int] = []
        offset = 0
        for binning in self.binnings:
            self.offsets.append(offset)
            offset += len(binning.labels)
        self.size = offset
        self._pending = [0] * offset
        self._lock = threading.Lock()
        self._features = [
            (binning.name, binning, offset)
            for binning, offset in zip(reference.features, self.offsets, strict=False)
        ]
        self._fast = [
            (binning.name, binning.indexer(), offset)
            for binning, offset in zip(reference.features, self.offsets, strict=False)
        ]
        self._prediction = (reference.prediction.indexer(), self.offsets[-1])
        self._prediction_offset = self.offsets[-1]

    def add(
        self, rows: Sequence[Mapping[str, Any]], predictions: Sequence[float] | np.ndarray
    ) -> None:
        if len(rows) < NUMPY_MIN_ROWS:
            fast = self._fast
            hits = [offset + index(row.get(name)) for row in rows for name, index, offset in fast]
            index, offset = self._prediction
            hits += [offset + index(value) for value in np.asarray(predictions, float).tolist()]
            with self._lock:
                pending = self._pending
                for hit in hits:
                    pending[hit] += 1
            return
        blocks = [
            (offset, binning.counts([row.get(name) for row in rows]))
            for name, binning, offset in self._features
        ]
        blocks.append((self._prediction_offset, self.reference.prediction.counts(predictions)))
        with self._lock:
            pending = self._pending
            for offset, counts in blocks:
                for position in np.flatnonzero(counts).tolist():
                    pending[offset + position] += int(counts[position])

    def take(self) -> list[int]:
        """The counts since the last call (flat, in `labels()` order), and start again."""
        with self._lock:
            pending, self._pending = self._pending, [0] * self.size
        return pending

    def labels(self) -> list[tuple[str, str, float]]:
        """(feature, bin, reference share) for every bin, in the order of `take`."""
        return [
            (binning.name, label, share)
            for binning in self.binnings
            for label, share in zip(binning.labels, binning.shares, strict=True)
        ]


def psi(live: Sequence[float], reference_shares: Sequence[float], floor: float = 1e-4) -> float:
    """Population stability index of live counts against reference shares, with the recording
    rule's floor for empty bins (the reference implementation the rule tests compare to)."""
    total = float(sum(live))
    value = 0.0
    for count, share in zip(live, reference_shares, strict=True):
        p = max(count / total if total else 0.0, floor)
        q = max(share, floor)
        value += (p - q) * math.log(p / q)
    return value
