"""The request models, generated from the bundle's profile: types, bounds, allowed categories
with the pipeline's normalisation, no unknown fields, no NaN/Infinity. The API validates its
request bodies with them; batch scoring (house_price.serving.batch) and the MLflow model
(house_price.tracking.pyfunc) validate rows with the very same row type (`batch_row_type`).
`error_items` words their validation errors, one message per field, as the API's 422 and batch
scoring's error column show them."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NotRequired, Required

import pydantic_core
from annotated_types import MultipleOf
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, create_model
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from house_price.core.errors import name_list
from house_price.schema import Column, Profile

# Where a client finds every allowed category when a 422 lists only the first CATEGORIES_SHOWN.
LISTED_BY_API = "GET /model lists all {count}"
CATEGORIES_SHOWN = 12  # a longer list (King County's 70 zipcodes) drowned the message


def category_context(column: Column, listed_in: str = LISTED_BY_API) -> dict[str, str]:
    """The `ctx` of the error for an unknown category: `allowed`, every allowed value (for
    clients); `shown`, what the message lists: all of them when there are at most
    CATEGORIES_SHOWN, else the first of them; `hint`, where `listed_in` they all are, and the
    aliases (cut the same way)."""
    count = len(column.categories)
    notes = []
    if count > CATEGORIES_SHOWN:
        notes.append(listed_in.format(count=count))
    notes.append("case and spacing are ignored")
    if column.aliases:
        pairs = [f"{alias!r} -> {target}" for alias, target in column.aliases.items()]
        notes.append(f"aliases: {name_list(pairs, CATEGORIES_SHOWN)}")
    return {
        "allowed": ", ".join(column.categories),
        "shown": name_list(column.categories, CATEGORIES_SHOWN),
        "hint": f" ({'; '.join(notes)})",
    }


class Spellings(dict[str, str]):
    """Spelling -> canonical category, as `Column.normalise` (the pipeline's rule) decides.

    Its bound `__getitem__` is the validator: a spelling seen before is a C-level dict hit,
    with no Python frame per value (10,000-row batches); a new one calls `__missing__`, which
    asks `Column.normalise` and remembers the answer (up to `limit` spellings), or raises the
    422 error that lists the allowed values (`category_context`)."""

    def __init__(self, column: Column, listed_in: str = LISTED_BY_API, limit: int = 1024) -> None:
        # Not seeded with the categories: every spelling, a category's own too, is resolved
        # by `Column.normalise` alone, the rule cleaning applies (a seed of name -> name would
        # be a second rule).
        super().__init__()
        self.column = column
        self.limit = limit
        self.context = category_context(column, listed_in)

    def __missing__(self, value: str) -> str:
        canonical = self.column.normalise(value)
        if canonical is None:
            raise PydanticCustomError(
                "category", "Input should be one of: {shown}{hint}", self.context
            )
        if len(self) < self.limit:
            self[value] = canonical
        return canonical


def _field(column: Column, listed_in: str = LISTED_BY_API) -> tuple[Any, Any]:
    """(type, Field) of one feature in the request models. A nullable column (declared in the
    profile) also takes null or an omitted field: the fitted transformer imputes it, exactly
    as the pipeline does for a missing value. `listed_in`: where an error for an unknown
    category says all the categories are listed."""
    # the alias: the JSON key of the one-row model's `field_name` (a batch row's key already)
    common: dict[str, Any] = {"alias": column.name, "description": column.description or None}
    if column.example is not None:
        common["examples"] = [pydantic_core.to_jsonable_python(column.example)]
    if column.nullable:
        common["default"] = None
        optional = f"{column.description} Optional: null or omitted when unknown."
        common["description"] = optional.strip()
    kind = _value_type(column, listed_in)
    if column.is_category:
        # The schema lists the canonical spellings; the API also accepts what the pipeline
        # normalises to them (case, spacing, aliases), as the description says.
        description = f"{common['description'] or ''} Accepted: a value of the enum in any case "
        description += "and spacing"
        if column.aliases:
            pairs = ", ".join(f"{alias} -> {target}" for alias, target in column.aliases.items())
            description += f", or an alias ({pairs})"
        common["description"] = description.strip() + "."
        common["json_schema_extra"] = {"enum": list(column.categories)}
    if column.nullable:
        kind = kind | None
    return kind, Field(**common)


def _value_type(column: Column, listed_in: str) -> Any:
    """The type of a present value, with the column's rules (bounds, categories) attached."""
    if column.is_category:
        spellings = Spellings(column, listed_in)
        return Annotated[
            str, Field(min_length=1, max_length=200), AfterValidator(spellings.__getitem__)
        ]
    # Strict: JSON numbers only (no "12" strings, no booleans), finite, within the bounds;
    # dates as ISO strings "YYYY-MM-DD" only (no timestamps).
    bounds = Field(strict=True, ge=column.minimum, le=column.maximum)
    if column.is_date:
        return Annotated[dt.date, bounds]
    if column.kind == "float":
        return Annotated[float, bounds, Field(allow_inf_nan=False)]
    # An int column takes whole numbers: 3 and, as JSON Schema's "integer" allows, 3.0 (what
    # pandas-made JSON holds); not 3.5. Validated as a float (all in pydantic-core, no Python
    # call per value), documented as an integer. The encoder works in floats either way.
    schema: dict[str, Any] = {"type": "integer"}
    schema.update({key: value for key, value in _json_bounds(column).items() if value is not None})
    return Annotated[
        float, WithJsonSchema(schema), bounds, Field(allow_inf_nan=False), MultipleOf(1)
    ]


def _json_bounds(column: Column) -> dict[str, int | None]:
    low, high = column.number_bounds
    return {
        "minimum": None if low is None else math.ceil(low),
        "maximum": None if high is None else math.floor(high),
    }


def field_name(index: int) -> str:
    """The one-row model's attribute for the `index`-th feature. A header name may be anything a
    CSV holds (`_lot`, `model_config`, `class`, `lot size`), which pydantic refuses or lets
    shadow a BaseModel attribute as a field name; it is the field's alias instead, so the JSON
    key, the error's `loc` and the schema's property are the header name as written."""
    return f"feature_{index}"


def _fields(profile: Profile) -> dict[str, Any]:
    return {field_name(index): _field(column) for index, column in enumerate(profile.features)}


def row_values(row: BaseModel) -> dict[str, Any]:
    """A validated one-row request (`request_models`) as feature name -> value, the form the
    served model predicts from (batch rows are such dicts already)."""
    values, fields = row.__dict__, type(row).model_fields
    return {str(field.alias): values[name] for name, field in fields.items()}


def _row_config(profile: Profile) -> ConfigDict:
    example = pydantic_core.to_jsonable_python(profile.example_row())
    return ConfigDict(
        extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [example]}
    )


def _row_doc(profile: Profile) -> str:
    return f"One house of the {profile.name!r} profile: every feature, raw values."


def batch_row_type(profile: Profile, listed_in: str = LISTED_BY_API) -> Any:
    """The rows of a batch: a TypedDict of the same field definitions and config as the one-row
    model (validated into plain dicts). Batch scoring of a CSV (house_price.serving.batch) validates
    its rows with this very type, so the API and the batch command cannot disagree; only
    `listed_in` differs, where an error says all the categories are listed."""
    annotated = {}
    for column in profile.features:
        kind, info = _field(column, listed_in)
        annotated[column.name] = (NotRequired if column.nullable else Required)[
            Annotated[kind, info]
        ]
    batch_row = TypedDict("BatchRow", annotated)  # type: ignore[misc]
    batch_row.__doc__ = _row_doc(profile)
    batch_row.__pydantic_config__ = ConfigDict(**_row_config(profile), title="BatchRow")  # type: ignore
    return batch_row


def request_models(profile: Profile, max_rows: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """The request bodies, generated from the profile: one row, and a batch of rows.

    The rows of a batch are a TypedDict built from the same field definitions and config as
    the one-row model: the same rules, but validated into plain dicts, which is 2-3x faster
    than 10,000 model instances."""
    example = pydantic_core.to_jsonable_python(profile.example_row())
    row_model = create_model(
        "PredictRequest",
        __config__=ConfigDict(**_row_config(profile), title="PredictRequest"),
        __doc__=_row_doc(profile),
        **_fields(profile),
    )
    batch_row = batch_row_type(profile)
    batch_model = create_model(
        "BatchPredictRequest",
        __config__=ConfigDict(
            extra="forbid",
            title="BatchPredictRequest",
            json_schema_extra={"examples": [{"rows": [example, example]}]},
        ),
        __doc__=f"1 to {max_rows} houses; the predictions come back in the same order.",
        rows=(
            list[batch_row],  # type: ignore[valid-type]
            Field(min_length=1, max_length=max_rows, description=f"1 to {max_rows} rows."),
        ),
    )
    return row_model, batch_model


def example_request(row_model: type[BaseModel], profile: Profile) -> dict[str, Any]:
    """The profile's example row as the API receives it: sent as JSON, validated by
    `row_model` (feature name -> value). Raises pydantic.ValidationError when it is invalid."""
    return row_values(row_model.model_validate_json(pydantic_core.to_json(profile.example_row())))


# --- their errors, worded for the client ---------------------------------------------------------

# What pydantic-core's JSON parser (jiter) says, and only says, of a \ud800-\udfff escape that
# is not half of a high-low pair: read as worded, the first suggests a truncated escape.
SURROGATE_ERROR = re.compile("unexpected end of hex escape|lone leading surrogate in hex escape")
UNPAIRED_SURROGATE = (
    "unpaired surrogate \\u escape (\\ud800-\\udbff must be followed by \\udc00-\\udfff)"
)
NON_FINITE = ("NaN", "Infinity", "-Infinity")


def _describe(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) if parts else "body"


def _numbers_as_sent(body: bytes) -> Any:
    """The body parsed again with every number as its JSON text, to name a number that is not
    finite: pydantic-core reads NaN, Infinity and 1e400 alike as float infinities or NaN.
    Error path only: the stdlib's parse takes 1-2x pydantic-core's time. None if it fails."""
    try:
        return json.loads(body, parse_int=str, parse_float=str, parse_constant=str)
    except ValueError:
        return None


def _sent(document: Any, loc: Sequence[Any]) -> str | None:
    """The JSON text at `loc` (["body", ...]) of a `_numbers_as_sent` document."""
    try:
        for key in loc[1:]:
            document = document[key]
    except (LookupError, TypeError):
        return None
    return document if isinstance(document, str) else None


def _shown_number(text: str) -> str:
    if text in NON_FINITE:
        return text
    shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
    return f"{shown}, too large for a 64-bit float"


def error_items(
    errors: Sequence[Mapping[str, Any]], max_rows: int, body: bytes | None = None
) -> list[dict[str, Any]]:
    """One item per error, its message prefixed with the field. With the request's `body`, a
    number that is not finite (or too large for a float) is named as it was sent."""
    items = []
    sent = None
    if body is not None and any(error.get("type") == "finite_number" for error in errors):
        sent = _numbers_as_sent(body)
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] != ["body"]:  # pydantic's own errors; FastAPI's already start with "body"
            loc.insert(0, "body")
        msg = str(error.get("msg", "invalid"))
        kind = str(error.get("type", "value_error"))
        value = error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "too_long" and loc == ["body", "rows"]:
            got = ctx.get("actual_length")
            msg = f"at most {max_rows} rows per request (MAX_BATCH_ROWS), got {got}"
        elif kind == "too_short" and loc == ["body", "rows"]:
            msg = "at least one row is required"
        elif kind == "multiple_of" and ctx.get("multiple_of") == 1:
            msg = "Input should be a whole number"
        elif kind == "date_type":  # a number, true or null: "a valid date" named no format
            msg = "Input should be a valid date, a string in the format YYYY-MM-DD"
        elif kind == "json_invalid" and (words := SURROGATE_ERROR.match(str(ctx.get("error")))):
            ctx = {"error": UNPAIRED_SURROGATE + words.string[words.end() :]}  # " at line ..."
            msg = f"Invalid JSON: {ctx['error']}"
        elif kind == "finite_number" and (text := _sent(sent, loc)) is not None:
            value, msg = text, f"{msg}, got {_shown_number(text)}"
        item: dict[str, Any] = {"loc": loc, "msg": f"{_describe(loc)}: {msg}", "type": kind}
        if value is None or isinstance(value, bool | int | float):
            item["input"] = value if not isinstance(value, float) or math.isfinite(value) else None
        elif isinstance(value, str):
            item["input"] = value[:200]
        if ctx:
            item["ctx"] = {key: str(val) for key, val in ctx.items()}
        items.append(item)
    return items
