"""Features of the pipeline: derived columns (house_price.data.encoding's arithmetic, shared with
serving), the transformer fitted on the train split only, and the parameters of the serving
path's fast encoder taken from that fitted transformer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from house_price.core.errors import DataError
from house_price.core.prediction import TargetScale
from house_price.data.encoding import CategorySlots, RowEncoder, derived_value
from house_price.schema import Profile


def add_derived(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    out = frame[profile.feature_names].copy()
    for column in profile.numeric_features:
        out[column] = out[column].astype(float)
    for category in profile.category_features:
        # object + NaN is the missing marker scikit-learn's imputers recognise.
        name = category.name
        out[name] = out[name].astype(object).where(out[name].notna(), np.nan)
    arrays = {name: out[name].to_numpy(float) for name in profile.numeric_features}
    arrays.update({name: np.asarray(out[name], "datetime64[D]") for name in profile.date_features})
    for feature in profile.derived:
        out[feature.name] = np.asarray(
            derived_value(feature, arrays, profile.reference_year), dtype=float
        )
    return out


@dataclass(frozen=True)
class Aggregates:
    """What fitting the transformer needs from the train split: its row count, each raw
    feature's count of values, and the value counts (NaN left out) of each numeric or derived
    column and of each category column; `columns` is `add_derived`'s column order."""

    rows: int
    present: dict[str, int]
    numeric: dict[str, pd.Series]
    category: dict[str, pd.Series]
    columns: tuple[str, ...]


def aggregate(frame: pd.DataFrame, profile: Profile) -> Aggregates:
    """The `Aggregates` of one frame of train rows (the whole split, or one partition)."""
    derived = add_derived(frame, profile)
    categories = [column.name for column in profile.category_features]
    numeric = profile.numeric_features + [item.name for item in profile.derived]
    return Aggregates(
        rows=len(frame),
        present={name: int(frame[name].notna().sum()) for name in profile.feature_names},
        numeric={name: derived[name].value_counts() for name in numeric},
        category={name: derived[name].value_counts() for name in categories},
        columns=tuple(derived.columns),
    )


def merge_aggregates(parts: list[Aggregates]) -> Aggregates:
    """The `Aggregates` of the rows of all `parts` (the partitions of one split)."""

    def summed(kind: str, name: str) -> pd.Series:
        counts = [getattr(part, kind)[name] for part in parts]
        return pd.concat(counts).groupby(level=0, sort=False).sum()

    first = parts[0]
    return Aggregates(
        rows=sum(part.rows for part in parts),
        present={name: sum(part.present[name] for part in parts) for name in first.present},
        numeric={name: summed("numeric", name) for name in first.numeric},
        category={name: summed("category", name) for name in first.category},
        columns=first.columns,
    )


def median_of_counts(counts: pd.Series) -> float:
    """The median of the values that `counts` (value -> count) describes, as np.median gives
    it: the middle value, or the mean of the two middle ones; NaN when there are none."""
    if counts.empty:
        return np.nan
    ordered = counts.sort_index()
    values = ordered.index.to_numpy(float)
    ends = np.cumsum(ordered.to_numpy())
    total = int(ends[-1])
    middle = values[np.searchsorted(ends, [(total - 1) // 2, total // 2], side="right")]
    return float(np.mean(middle))


def mode_of_counts(counts: pd.Series) -> Any:
    """The most frequent value of `counts` (value -> count); among ties, the smallest, as
    scikit-learn's most_frequent imputer picks it."""
    top = counts[counts == counts.max()]
    return min(top.index)


class FeatureTransformer(TransformerMixin, BaseEstimator):
    """Raw feature columns -> model matrix: derived features, median imputation, one-hot."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def _numeric_columns(self) -> list[str]:
        return self.profile.numeric_features + [item.name for item in self.profile.derived]

    def fit(self, frame: pd.DataFrame, y: Any = None) -> FeatureTransformer:
        """Fit on the train split (`fit_aggregates` of its `aggregate`); DataError names a
        feature with no value in it (nothing to impute from)."""
        return self.fit_aggregates(aggregate(frame, self.profile))

    def fit_aggregates(self, aggregates: Aggregates) -> FeatureTransformer:
        """Fit from the train split's aggregates (one frame's, or the sum of its partitions'
        by `merge_aggregates`): each numeric and derived column's median and each category's
        most frequent level, as scikit-learn's SimpleImputer computes them on the rows (ties:
        the smallest level). The imputers are fitted on one row holding these figures, which
        gives them exactly these statistics. DataError names a feature with no value."""
        empty = [name for name in self.profile.feature_names if not aggregates.present[name]]
        if empty:
            raise DataError(
                f"the train split ({aggregates.rows} rows) has no values in column(s) "
                f"{', '.join(map(repr, empty))}: nothing to learn or impute from"
            )
        categories = self.profile.category_features
        self.column_transformer_ = ColumnTransformer(
            [
                (
                    "numeric",
                    SimpleImputer(strategy="median", keep_empty_features=True),
                    self._numeric_columns(),
                ),
                (
                    "category",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="most_frequent")),
                            (
                                "onehot",
                                OneHotEncoder(
                                    categories=[list(column.categories) for column in categories],
                                    handle_unknown="ignore",
                                    sparse_output=False,
                                    dtype=np.float64,
                                ),
                            ),
                        ]
                    ),
                    [column.name for column in categories],
                ),
            ],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        figures: dict[str, Any] = {name: np.nan for name in aggregates.columns}
        figures |= {name: median_of_counts(counts) for name, counts in aggregates.numeric.items()}
        figures |= {name: mode_of_counts(counts) for name, counts in aggregates.category.items()}
        row = pd.DataFrame({name: [figures[name]] for name in aggregates.columns})
        for column in categories:
            row[column.name] = row[column.name].astype(object)
        for name in self.profile.date_features:
            row[name] = row[name].astype("datetime64[ns]")
        self.column_transformer_.fit(row)
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = self.column_transformer_.transform(add_derived(frame, self.profile))
        return np.ascontiguousarray(matrix, dtype=np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.column_transformer_.get_feature_names_out()

    def target_scale(self, log_target: bool) -> TargetScale:
        """What a model on this matrix fits in place of the target (the profile's
        `target.per` is one of the matrix's columns)."""
        return TargetScale.of(log_target, self.profile.target_per, self.get_feature_names_out())

    def row_encoder(self) -> RowEncoder:
        """The serving fast path's encoder with this fitted state's parameters: the numeric
        imputation fills, and each category's one-hot slots and most frequent level."""
        fitted = self.column_transformer_
        numeric_names = tuple(fitted.transformers_[0][2])
        category_names = fitted.transformers_[1][2]
        # ColumnTransformer fits no step for an empty column list (a numbers-only or a
        # categories-only profile): that step has no statistics to read, and nothing to encode.
        fills = fitted.named_transformers_["numeric"].statistics_ if numeric_names else ()
        category_pipeline = fitted.named_transformers_["category"]
        if category_names:
            imputed = category_pipeline["impute"].statistics_
            levels_of = category_pipeline["onehot"].categories_
        else:
            imputed, levels_of = (), ()
        offset = len(numeric_names)
        categories = []
        for name, fill, levels in zip(category_names, imputed, levels_of, strict=True):
            slots = {str(level): offset + index for index, level in enumerate(levels)}
            categories.append(CategorySlots(name, slots, str(fill)))
            offset += len(levels)
        return RowEncoder(
            self.profile,
            numeric_names,
            tuple(float(value) for value in fills),
            tuple(categories),
            tuple(str(name) for name in self.get_feature_names_out()),
        )


def load_transformer(path: str | Path) -> FeatureTransformer:
    """The fitted transformer featurize saved. Stages load it through here, not joblib, so that
    their DVC deps name this module: the pickle holds the fitted state, this file the code.

    Raises DataError when the file is not a FeatureTransformer."""
    transformer = joblib.load(path)
    if not isinstance(transformer, FeatureTransformer):
        raise DataError(f"{path}: not a fitted FeatureTransformer ({type(transformer).__name__})")
    return transformer
