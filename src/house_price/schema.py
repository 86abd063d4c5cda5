"""The dataset profile: the one declaration of columns, types, bounds, categories and derived
features. Validation, features, the MLflow signature and the API request models derive from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

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


def _bound(value: Any, reference_year: int) -> float | None:
    if value is None:
        return None
    if value == REFERENCE_YEAR:
        return float(reference_year)
    return float(value)


def _column(spec: Mapping[str, Any], reference_year: int) -> Column:
    kind = spec.get("type", "float")
    if kind not in ("float", "int", "category"):
        raise ValueError(f"column {spec.get('name')!r}: unknown type {kind!r}")
    categories = tuple(spec.get("categories", ()))
    if kind == "category" and not categories:
        raise ValueError(f"column {spec['name']!r}: a category column needs `categories`")
    column = Column(
        name=spec["name"],
        kind=kind,
        minimum=_bound(spec.get("min"), reference_year),
        maximum=_bound(spec.get("max"), reference_year),
        categories=categories,
        aliases=dict(spec.get("aliases", {})),
        description=spec.get("description", ""),
        example=spec.get("example"),
    )
    unknown = set(column.aliases.values()) - set(categories)
    if unknown:
        raise ValueError(f"column {column.name!r}: aliases point to undeclared {sorted(unknown)}")
    return column


def profile_from_dict(spec: Mapping[str, Any], reference_year: int) -> Profile:
    features = tuple(_column(item, reference_year) for item in spec["features"])
    names = [column.name for column in features]
    derived = tuple(
        Derived(
            name=item["name"],
            op=item["op"],
            inputs=tuple(item["inputs"]),
            description=item.get("description", ""),
        )
        for item in spec.get("derived", ())
    )
    target = _column({"type": "float", **spec["target"]}, reference_year)
    for item in derived:
        if item.op not in ("age", "ratio"):
            raise ValueError(f"derived {item.name!r}: unknown op {item.op!r}")
        missing = [name for name in item.inputs if name not in names]
        if missing:
            # Inputs must be features: a derived feature may never read the target.
            raise ValueError(f"derived {item.name!r}: inputs {missing} are not declared features")
    if len(set(names)) != len(names) or target.name in names:
        raise ValueError("profile: column names must be unique and distinct from the target")
    return Profile(
        name=spec["name"],
        source=spec.get("source", "synthetic"),
        target=target,
        features=features,
        derived=derived,
        reference_year=reference_year,
        description=spec.get("description", ""),
    )


def load_profile(path: str | Path, reference_year: int) -> Profile:
    with open(path) as handle:
        return profile_from_dict(yaml.safe_load(handle), reference_year)
