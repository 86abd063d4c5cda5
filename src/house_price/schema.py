"""The dataset profile: the one declaration of columns, types, bounds, categories and derived
features. Validation, features, the MLflow signature and the API request models derive from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from house_price.errors import DataError

ColumnKind = Literal["float", "int", "category"]
DerivedOp = Literal["age", "ratio"]
REFERENCE_YEAR = "reference_year"  # a bound that stands for the features.reference_year param


def category_key(value: str) -> str:
    """Spelling-insensitive key: case and runs of whitespace do not distinguish categories."""
    return " ".join(value.split()).casefold()


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    example: Any = None

    @property
    def is_category(self) -> bool:
        return self.kind == "category"

    @property
    def lookup(self) -> dict[str, str]:
        """Normalised spelling -> canonical category (canonical names and declared aliases)."""
        table = {category_key(name): name for name in self.categories}
        table.update({category_key(alias): target for alias, target in self.aliases.items()})
        return table

    def normalise(self, value: str) -> str | None:
        """The canonical category for a spelling, or None when it is not an allowed category."""
        return self.lookup.get(category_key(value))


@dataclass(frozen=True)
class Derived:
    """A feature computed from other columns; never from the target."""

    name: str
    op: DerivedOp
    inputs: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    source: str  # "synthetic" or a CSV path relative to the repo root
    target: Column
    features: tuple[Column, ...]
    derived: tuple[Derived, ...]
    reference_year: int
    description: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.features]

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*self.features, self.target)

    @property
    def numeric_features(self) -> list[str]:
        return [column.name for column in self.features if not column.is_category]

    @property
    def category_features(self) -> list[Column]:
        return [column for column in self.features if column.is_category]

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    def feature(self, name: str) -> Column:
        for column in self.features:
            if column.name == name:
                return column
        raise KeyError(name)

    def example_row(self) -> dict[str, Any]:
        return {column.name: column.example for column in self.features}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ColumnSpec(_Spec):
    """One column as written in a profile."""

    name: str = Field(min_length=1)
    type: ColumnKind = "float"
    min: float | str | None = None
    max: float | str | None = None
    categories: list[str] = []
    aliases: dict[str, str] = {}
    description: str = ""
    example: Any = None

    @field_validator("min", "max")
    @classmethod
    def _number_or_reference_year(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and value != REFERENCE_YEAR:
            raise ValueError(f"a bound is a number or {REFERENCE_YEAR!r}")
        return value


class DerivedSpec(_Spec):
    name: str = Field(min_length=1)
    op: DerivedOp
    inputs: list[str] = Field(min_length=1)
    description: str = ""


class ProfileSpec(_Spec):
    """A profile file's layout; `target` is a column mapping such as `{name: price, min: 0}`."""

    name: str = Field(min_length=1)
    description: str = ""
    source: str = "synthetic"
    target: ColumnSpec
    features: list[ColumnSpec] = Field(min_length=1)
    derived: list[DerivedSpec] = []


def _bound(value: float | str | None, reference_year: int) -> float | None:
    if value is None:
        return None
    if value == REFERENCE_YEAR:
        return float(reference_year)
    return float(value)


def _column(spec: ColumnSpec, reference_year: int) -> Column:
    if spec.type == "category" and not spec.categories:
        raise ValueError(f"column {spec.name!r}: a category column needs `categories`")
    unknown = set(spec.aliases.values()) - set(spec.categories)
    if unknown:
        raise ValueError(f"column {spec.name!r}: aliases point to undeclared {sorted(unknown)}")
    return Column(
        name=spec.name,
        kind=spec.type,
        minimum=_bound(spec.min, reference_year),
        maximum=_bound(spec.max, reference_year),
        categories=tuple(spec.categories),
        aliases=dict(spec.aliases),
        description=spec.description,
        example=spec.example,
    )


def _located(error: Mapping[str, Any], raw: Any) -> str:
    """`features[0] (sqft).type: <problem>`: where in the file, with the column's name."""
    where, node = "", raw
    for part in error["loc"]:
        if isinstance(part, int):
            where += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, Mapping) and isinstance(node.get("name"), str):
                where += f" ({node['name']})"
        else:
            where += f".{part}" if where else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    problem = error["msg"].removeprefix("Value error, ")
    if error["type"] == "model_type" and where:  # a column as a scalar, e.g. `target: price`
        problem = "should be a mapping such as {name: price, min: 0}"
    elif error["type"] == "model_type":  # an empty file, or a list at the top
        problem = "should be a mapping with name, source, target, features, derived"
    given = ""
    if error["type"] != "missing":
        shown = repr(error["input"])  # a misplaced list of columns: its start is enough
        given = f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    return f"{where or 'profile'}: {problem}{given}"


def profile_from_dict(raw: Any, reference_year: int) -> Profile:
    """The Profile a parsed YAML document declares; ValueError names what does not fit."""
    try:
        spec = ProfileSpec.model_validate(raw)
    except ValidationError as exc:
        raise ValueError("; ".join(_located(error, raw) for error in exc.errors())) from None
    features = tuple(_column(item, reference_year) for item in spec.features)
    target = _column(spec.target, reference_year)
    names = [column.name for column in features]
    for item in spec.derived:
        missing = [name for name in item.inputs if name not in names]
        if missing:
            # Inputs must be features: a derived feature may never read the target.
            raise ValueError(f"derived {item.name!r}: inputs {missing} are not declared features")
    if len(set(names)) != len(names) or target.name in names:
        raise ValueError("profile: column names must be unique and distinct from the target")
    return Profile(
        name=spec.name,
        source=spec.source,
        target=target,
        features=features,
        derived=tuple(
            Derived(item.name, item.op, tuple(item.inputs), item.description)
            for item in spec.derived
        ),
        reference_year=reference_year,
        description=spec.description,
    )


def load_profile(path: str | Path, reference_year: int) -> Profile:
    """The profile in a YAML file; DataError names the file and what in it does not fit."""
    try:
        with open(path, encoding="utf-8") as handle:
            return profile_from_dict(yaml.safe_load(handle), reference_year)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        problem = " ".join(str(exc).split())  # one line, also for YAML's multi-line messages
        raise DataError(f"{path}: {problem}") from None
