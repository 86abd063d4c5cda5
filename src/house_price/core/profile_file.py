"""A profile file's layout, as written: the pydantic models that `house_price.schema` reads a
profile YAML through (strict types, no unknown keys), and what each derived op takes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from house_price.core.errors import CONTROL, escaped
from house_price.core.io import RAW_LINE

DEFAULT_MISSING_VALUES = ("",)  # only the empty field means missing, unless a profile says more
ColumnKind = Literal["float", "int", "category", "date"]
DerivedOp = Literal["age", "ratio", "year", "month", "projection"]


# The drift metrics' `feature` label of the prediction's bins (house_price.serving.drift).
PREDICTION_LABEL = "(prediction)"
# Names used beside the columns, which a column may not take: what each one names.
RESERVED_NAMES = {
    RAW_LINE: "the raw data's line index (the Dask engine's)",
    PREDICTION_LABEL: "the prediction in the drift metrics (the label of its bins)",
}


def usable_name(name: str) -> str:
    """`name`, or ValueError when no profile may name a column so: a name with a control or
    line-breaking character (`CONTROL`), or one of RESERVED_NAMES. Any other name works in
    every face: it is the API's JSON key (the request models alias it,
    house_price.serving.requests), the MLflow model's column, a key of the bundle's files and a
    label of the drift metrics. A newline or a tab is none a client can type, and would break
    every one-line message and YAML comment naming the column; it is almost always a
    spreadsheet's wrapped header cell."""
    found = CONTROL.search(name)
    if found:
        raise ValueError(
            f"a control character ({found.group()!r}) in a name: rename the column, in the "
            "CSV's header too"
        )
    if name in RESERVED_NAMES:
        raise ValueError(
            f"{name!r} names {RESERVED_NAMES[name]}: rename the column, in the CSV's header too"
        )
    return name


def matrix_column_clash(
    numeric: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> str | None:
    """Why two features would name one column of the model's matrix, or None. The fitted
    transformer names the numeric and derived features' columns by their names and each
    category's one-hot columns `<name>_<level>` (scikit-learn's), and refuses a repeat: a number
    column `heating_gas` beside a category `heating` with the level `gas`."""
    owners = {name: f"feature {name!r}" for name in numeric}
    for name, levels in categories.items():
        for level in levels:
            column = f"{name}_{level}"
            owner = f"the level {level!r} of the category {name!r}"
            if column in owners:
                return (
                    f"{owners[column]} and {owner} both name the model's column {column!r} "
                    "(a category's columns are named <feature>_<level>): rename one"
                )
            owners[column] = owner
    return None


# Header names and profile names are compared trimmed: `LOT SQFT ` in a file is `LOT SQFT`.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(usable_name)
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Bound = float | dt.date | str | None  # a number, a date, or "reference_year"


class ColumnSpec(_Spec):
    """One column as written in a profile."""

    name: Name
    type: ColumnKind = "float"
    min: Bound = None
    max: Bound = None
    categories: list[str] = []
    aliases: dict[str, str] = {}
    description: str = ""
    example: Any = None
    missing_values: list[str] | None = None  # overrides the profile's list for this column
    nullable: bool = False
    # a date column's strptime format (default ISO 8601 dates), or a list tried in order
    format: str | list[str] | None = None


class TargetSpec(ColumnSpec):
    """The target column as written in a profile: a column, and optionally `per`, a numeric
    feature with a min above 0 that the model divides the target by (e.g. sqft_living)."""

    per: Name | None = None


class DerivedSpec(_Spec):
    name: Name
    op: DerivedOp
    inputs: list[Name] = Field(min_length=1)
    description: str = ""
    degrees: float | None = Field(default=None, ge=-180, le=180)  # projection only


class ProfileSpec(_Spec):
    """A profile file's layout; `target` is a column mapping such as `{name: price, min: 0}`."""

    name: Name
    description: str = ""
    source: str = "synthetic"
    missing_values: list[str] = list(DEFAULT_MISSING_VALUES)
    target: TargetSpec
    features: list[ColumnSpec] = Field(min_length=1)
    derived: list[DerivedSpec] = []


# op -> the kinds of its inputs, in order (age takes an optional second input: a date)
OP_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "age": (("numeric",), ("numeric", "date")),
    "ratio": (("numeric", "numeric"),),
    "year": (("date",),),
    "month": (("date",),),
    "projection": (("numeric", "numeric"),),
}


def located(error: Mapping[str, Any], raw: Any) -> str:
    """`features[0] (sqft).type: <problem>`: where in the file, with the column's name."""
    where, node = "", raw
    for part in error["loc"]:
        if isinstance(part, int):
            where += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, Mapping) and isinstance(node.get("name"), str):
                where += f" ({escaped(node['name'])})"
        else:
            where += f".{part}" if where else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    problem = error["msg"].removeprefix("Value error, ")
    if error["type"] == "model_type" and where:  # a column as a scalar, e.g. `target: price`
        problem = "should be a mapping such as {name: price, min: 0}"
    elif error["type"] == "model_type":  # an empty file, or a list at the top
        problem = "should be a mapping with name, source, target, features, derived"
    elif error["type"] == "string_type" and type(error["input"]) in (int, float):
        problem += f" (quote it: '{error['input']}'; unquoted, YAML reads a number)"
    given = ""
    if error["type"] != "missing":
        shown = repr(error["input"])  # a misplaced list of columns: its start is enough
        given = f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    return f"{where or 'profile'}: {problem}{given}"
