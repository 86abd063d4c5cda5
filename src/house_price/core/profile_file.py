"""A profile file's layout, as written: the pydantic models that `house_price.schema` reads a
profile YAML through (strict types, no unknown keys), and what each derived op takes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

DEFAULT_MISSING_VALUES = ("",)  # only the empty field means missing, unless a profile says more
ColumnKind = Literal["float", "int", "category", "date"]
DerivedOp = Literal["age", "ratio", "year", "month", "projection"]
# Header names and profile names are compared trimmed: `LOT SQFT ` in a file is `LOT SQFT`.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


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
                where += f" ({node['name']})"
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
