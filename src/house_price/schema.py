"""The dataset profile: the one declaration of columns, types, bounds, categories, missing-value
spellings, dates and derived features. Validation, features, the MLflow signature and the API
request models derive from it.

Profiles are read by house_price.core.yamlfile: YAML 1.2 booleans (only true/false), so `categories:
[yes, no]` or `example: no` stay text (YAML 1.1, PyYAML's default, would read True/False).
Every example is checked against its column when the profile loads: the API's self-check and
docs use them, so a profile with a bad example never reaches a registered model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from house_price.core.dateformats import ISO8601, DateFormat, check_date_formats
from house_price.core.errors import DataError, name_list
from house_price.core.profile_file import (
    DEFAULT_MISSING_VALUES,
    OP_INPUTS,
    Bound,
    ColumnKind,
    ColumnSpec,
    DerivedOp,
    DerivedSpec,
    ProfileSpec,
    TargetSpec,
    located,
    matrix_column_clash,
)
from house_price.core.spellings import category_key, check_spellings
from house_price.core.yamlfile import load_yaml

REFERENCE_YEAR = "reference_year"  # a bound that stands for the features.reference_year param
DEFAULT_DATE_FORMAT = ISO8601


def _number(bound: float | dt.date | None) -> float | None:
    if isinstance(bound, dt.date):
        raise TypeError(f"{bound}: a date, where a number was expected")
    return bound


@dataclass(frozen=True)
class Column:
    """One declared column. `minimum`/`maximum` are numbers, or dates for a date column;
    `missing_values` are the (trimmed) spellings that mean "no value" in a CSV."""

    name: str
    kind: ColumnKind
    minimum: float | dt.date | None = None
    maximum: float | dt.date | None = None
    categories: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    example: Any = None
    missing_values: frozenset[str] = frozenset(DEFAULT_MISSING_VALUES)
    nullable: bool = False  # the API accepts null or an omitted field; the transformer imputes
    # a date column's strptime format in the CSV, or several tried in order (core.dateformats)
    date_format: DateFormat = DEFAULT_DATE_FORMAT

    @property
    def is_category(self) -> bool:
        return self.kind == "category"

    @property
    def is_date(self) -> bool:
        return self.kind == "date"

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("float", "int")

    @property
    def number_bounds(self) -> tuple[float | None, float | None]:
        """`minimum` and `maximum` of a numeric column, as numbers (a date column has dates)."""
        if self.is_date:
            raise TypeError(f"{self.name}: a date column's bounds are dates")
        return _number(self.minimum), _number(self.maximum)

    @property
    def lookup(self) -> dict[str, str]:
        """Normalised spelling -> canonical category (canonical names and declared aliases)."""
        table = {category_key(name): name for name in self.categories}
        table.update({category_key(alias): target for alias, target in self.aliases.items()})
        return table

    def normalise(self, value: str) -> str | None:
        """The canonical category for a spelling, or None when it is not an allowed category."""
        return self.lookup.get(category_key(value))

    def means_missing(self, text: str) -> bool:
        """Whether a raw CSV field means "no value": a declared missing spelling (trimmed) that
        is not a category or alias of this column (a declared category always wins)."""
        if text.strip() not in self.missing_values:
            return False
        return not (self.is_category and self.normalise(text) is not None)


@dataclass(frozen=True)
class Derived:
    """A feature computed from other columns; never from the target.

    age: [year] -> reference_year - year; [year, date] -> the date's year - year (age at sale).
    ratio: [a, b] -> a / b. year, month: [date] -> the date's calendar year, month (1-12).
    projection: [a, b] -> a cos(degrees) + b sin(degrees), the coordinate along an axis turned
    `degrees` from a's towards b's (e.g. [lat, long]: an oblique map coordinate)."""

    name: str
    op: DerivedOp
    inputs: tuple[str, ...]
    description: str = ""
    degrees: float | None = None  # projection only


@dataclass(frozen=True)
class Profile:
    name: str
    source: str  # "synthetic" or a CSV path relative to the repo root
    target: Column
    features: tuple[Column, ...]
    derived: tuple[Derived, ...]
    reference_year: int
    description: str = ""
    # A numeric feature the model divides the target by (price per square foot); see
    # prediction.TargetScale. None: the model fits the target itself.
    target_per: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.features]

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*self.features, self.target)

    @property
    def numeric_features(self) -> list[str]:
        return [column.name for column in self.features if column.is_numeric]

    @property
    def category_features(self) -> list[Column]:
        return [column for column in self.features if column.is_category]

    @property
    def date_features(self) -> list[str]:
        return [column.name for column in self.features if column.is_date]

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    def feature(self, name: str) -> Column:
        for column in self.features:
            if column.name == name:
                return column
        raise KeyError(name)

    def example_row(self) -> dict[str, Any]:
        """The documented example house: feature name -> value (a date as `datetime.date`)."""
        return {column.name: column.example for column in self.features}


def _as_date(value: Any) -> dt.date | None:
    """A YAML date, datetime or ISO `YYYY-MM-DD` text as a date; None when it is none."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _bound(value: Bound, kind: str, reference_year: int, where: str) -> float | dt.date | None:
    if value is None:
        return None
    if kind == "date":
        parsed = _as_date(value)
        if parsed is None:
            raise ValueError(f"{where}: a date column's bound is a date YYYY-MM-DD (got {value!r})")
        return parsed
    if value == REFERENCE_YEAR:
        return float(reference_year)
    if isinstance(value, str | dt.date):
        raise ValueError(f"{where}: a bound is a number or {REFERENCE_YEAR!r} (got {value!r})")
    if not math.isfinite(value):
        raise ValueError(f"{where}: a bound is a finite number (got {value!r})")
    return float(value)


def _checked_example(column: Column, value: Any, where: str) -> Any:
    """The example as the API takes it; ValueError says how it breaks the column's rules."""
    where = f"{where}.example"
    if value is None:
        raise ValueError(f"{where}: missing (the API's docs and self-check use every example)")
    if column.is_category:
        if not isinstance(value, str) or column.normalise(value) is None:
            raise ValueError(
                f"{where}: {value!r} is not a category of the column "
                f"(allowed: {name_list(column.categories)}; quote values such as 'yes' or '3')"
            )
        return value
    if column.is_date:
        if _as_date(value) is None:
            raise ValueError(f"{where}: {value!r} is not a date YYYY-MM-DD")
        value = _as_date(value)
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a finite number ({column.kind} column)")
    elif column.kind == "int" and value != round(value):
        raise ValueError(f"{where}: {value!r} is not a whole number (int column)")
    low, high = column.minimum, column.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{where}: {value!r} is outside the bounds [{low}, {high}]")
    return value


def _column(
    spec: ColumnSpec, where: str, missing_values: Sequence[str], reference_year: int
) -> Column:
    if spec.type == "category" and not spec.categories:
        raise ValueError(f"column {spec.name!r}: a category column needs `categories`")
    check_spellings(spec.categories, spec.aliases, where)
    if spec.format is not None and spec.type != "date":
        raise ValueError(f"{where}.format: only a date column has a format")
    date_format: DateFormat = DEFAULT_DATE_FORMAT
    if spec.format is not None:
        date_format = check_date_formats(spec.format, f"{where}.format")
    column = Column(
        name=spec.name,
        kind=spec.type,
        minimum=_bound(spec.min, spec.type, reference_year, f"{where}.min"),
        maximum=_bound(spec.max, spec.type, reference_year, f"{where}.max"),
        categories=tuple(spec.categories),
        aliases=dict(spec.aliases),
        description=spec.description,
        missing_values=frozenset(text.strip() for text in (spec.missing_values or missing_values)),
        nullable=spec.nullable,
        date_format=date_format,
    )
    # Both numbers, or both dates for a date column.
    low: Any = column.minimum
    high: Any = column.maximum
    if low is not None and high is not None and low > high:
        raise ValueError(f"{where}: min {column.minimum} is above max {column.maximum}")
    return column


def _feature(
    spec: ColumnSpec, where: str, missing_values: Sequence[str], reference_year: int
) -> Column:
    column = _column(spec, where, missing_values, reference_year)
    example = _checked_example(column, spec.example, where)
    return dataclasses.replace(column, example=example)


def _target(spec: TargetSpec, missing_values: Sequence[str], reference_year: int) -> Column:
    if spec.type not in ("float", "int"):
        raise ValueError(f"target ({spec.name}).type: the target is a number, not {spec.type!r}")
    column = _column(spec, f"target ({spec.name})", missing_values, reference_year)
    # A price below 0 does not exist, and log1p (train.log_target) is undefined below -1: such
    # rows must be dropped as out of bounds, never reach the model. No min means 0.
    minimum, _ = column.number_bounds
    if minimum is None:
        return dataclasses.replace(column, minimum=0.0)
    if minimum < 0:
        raise ValueError(
            f"target ({spec.name}).min: a price is never below 0, so min must be 0 or more "
            f"(rows below it are dropped as out of bounds; got {spec.min})"
        )
    return column


def _target_per(spec: TargetSpec, features: Mapping[str, Column]) -> str | None:
    """The target's `per` column, checked: a numeric feature whose declared min is above 0 (in
    float32, the precision the model matrix holds), so that no valid row divides by zero or
    flips the sign, and which declares a max, so that no valid row multiplies a prediction past
    what a price can be (a float32 overflow would be an infinite price)."""
    if spec.per is None:
        return None
    where = f"target ({spec.name}).per"
    column = features.get(spec.per)
    if column is None or not column.is_numeric:
        numeric = ", ".join(name for name, item in features.items() if item.is_numeric)
        raise ValueError(f"{where}: {spec.per!r} is not a numeric feature (numeric: {numeric})")
    minimum, _ = column.number_bounds
    if minimum is None or np.float32(minimum) <= 0:
        raise ValueError(
            f"{where}: the target is divided by {spec.per!r}, so it needs a min above 0 "
            f"(got {column.minimum})"
        )
    if column.maximum is None:
        raise ValueError(
            f"{where}: predictions are multiplied by {spec.per!r}, so it needs a max (got none)"
        )
    return spec.per


def _derived(item: DerivedSpec, where: str, features: Mapping[str, Column]) -> Derived:
    missing = [name for name in item.inputs if name not in features]
    if missing:
        # Inputs must be features: a derived feature may never read the target.
        raise ValueError(f"derived {item.name!r}: inputs {missing} are not declared features")
    kinds = tuple(
        "numeric" if features[name].is_numeric else features[name].kind for name in item.inputs
    )
    allowed = OP_INPUTS[item.op]
    if kinds not in allowed:
        wanted = " or ".join("[" + ", ".join(option) + "]" for option in allowed)
        raise ValueError(
            f"{where}.inputs: {item.op} takes {wanted} columns, got [{', '.join(kinds)}]"
        )
    if (item.op == "projection") != (item.degrees is not None):
        raise ValueError(f"{where}.degrees: projection needs degrees, no other op takes them")
    return Derived(item.name, item.op, tuple(item.inputs), item.description, item.degrees)


def profile_from_dict(raw: Any, reference_year: int) -> Profile:
    """The Profile a parsed YAML document declares; ValueError names what does not fit."""
    try:
        spec = ProfileSpec.model_validate(raw)
    except ValidationError as exc:
        raise ValueError("; ".join(located(error, raw) for error in exc.errors())) from None
    features = tuple(
        _feature(item, f"features[{index}] ({item.name})", spec.missing_values, reference_year)
        for index, item in enumerate(spec.features)
    )
    target = _target(spec.target, spec.missing_values, reference_year)
    by_name = {column.name: column for column in features}
    derived = tuple(
        _derived(item, f"derived[{index}] ({item.name})", by_name)
        for index, item in enumerate(spec.derived)
    )
    names = [*by_name, *(item.name for item in derived)]
    if len(by_name) != len(features) or len(set(names)) != len(names) or target.name in names:
        raise ValueError("profile: column names must be unique and distinct from the target")
    numeric = [name for name, column in by_name.items() if column.is_numeric]
    levels = {column.name: column.categories for column in features if column.is_category}
    clash = matrix_column_clash([*numeric, *(item.name for item in derived)], levels)
    if clash:
        raise ValueError(f"profile: {clash}")
    used = {name for item in derived for name in item.inputs}
    for column in features:
        if column.is_date and column.name not in used:
            raise ValueError(
                f"column {column.name!r}: a date is no model input by itself; derive features "
                "from it (ops year, month, or age with inputs [<year built>, <date>])"
            )
    return Profile(
        name=spec.name,
        source=spec.source,
        target=target,
        features=features,
        derived=derived,
        reference_year=reference_year,
        description=spec.description,
        target_per=_target_per(spec.target, by_name),
    )


def load_profile(path: str | Path, reference_year: int) -> Profile:
    """The profile in a YAML file; DataError names the file and what in it does not fit."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return profile_from_dict(load_yaml(text), reference_year)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        problem = " ".join(str(exc).split())  # one line, also for YAML's multi-line messages
        raise DataError(f"{path}: {problem}") from None
