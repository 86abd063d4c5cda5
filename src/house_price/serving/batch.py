"""Batch scoring of a CSV with the model bundle: `house-price predict`.

The CSV is in the profile's file format, as the training data is: read as text
(`read_raw_csv`), a field is missing by the column's declared spellings
(`parsing.missing_fields`), numbers are parsed as the pipeline parses them (`pd.to_numeric`
on the trimmed text) and dates by the column's `format`. What a value must then satisfy is the
API's rule, and only the API's: each row is validated by the very row type of
`POST /predict/batch` (`requests.batch_row_type`: types, whole numbers, bounds, finite
numbers, categories with the pipeline's normalisation), a missing value becoming `null` for a
nullable column and an omitted field otherwise, exactly as a client of the API would send it.
Valid rows are predicted by the served model the API serves (`ServedModel.predict`: the same
bundle loading and self-check, the same encoder), so batch scoring and the API cannot
disagree.

Rows are processed in chunks (validated dicts for a chunk only), so memory stays bounded by
the text of the file.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pydantic_core
from pydantic import TypeAdapter, ValidationError

from house_price.core.dateformats import format_words, written
from house_price.core.errors import DataError, escaped
from house_price.core.io import atomic_path, read_raw_csv
from house_price.core.parsing import missing_fields, to_dates, to_numbers
from house_price.data.cleaning import check_columns
from house_price.schema import DEFAULT_DATE_FORMAT, Column, Profile
from house_price.serving.limits import DEFAULT_MAX_BATCH_ROWS, model_threads_env
from house_price.serving.requests import batch_row_type, error_items
from house_price.serving.served import ServedModel

CHUNK_ROWS = 100_000
GOT_CHARS = 80
# Where an error for an unknown category says all of them are listed (the API says GET /model).
LISTED_IN_BUNDLE = "the model bundle's profile.yaml lists all {count}"


@dataclass(frozen=True)
class Scored:
    """One output row per input data row, in file order."""

    lines: np.ndarray  # the input file line of each row
    predictions: np.ndarray  # NaN for a bad row
    errors: list[str]  # "" for a good row

    @property
    def bad(self) -> int:
        return sum(1 for error in self.errors if error)


def request_values(text: pd.Series, column: Column) -> tuple[list[Any], np.ndarray]:
    """CSV text of one column -> the values a client would send the API (floats, dates, the
    category spelling as written; a text that is no number or date stays text, for the row
    validator to refuse), and where the field means missing."""
    missing_mask = missing_fields(text, column)
    missing = missing_mask.to_numpy(bool)
    if column.is_category:
        values = text.tolist()
    else:
        # Parsed as the pipeline parses them ("nan" is a number: the API refuses NaN).
        if column.is_date:
            parsed, unparsed_mask = to_dates(text, missing_mask, column.date_format)
            ok = parsed.notna().to_numpy(bool)
            values = [None] * len(text)
            dates = parsed[ok].dt.date.tolist()
            for index, value in zip(np.flatnonzero(ok), dates, strict=True):
                values[index] = value
        else:
            numbers, unparsed_mask = to_numbers(text, missing_mask)
            values = numbers.tolist()
        raw = text.to_numpy(object)
        for index in np.flatnonzero(unparsed_mask.to_numpy(bool)):
            values[index] = raw[index]
    for index in np.flatnonzero(missing):
        values[index] = None
    return values, missing


def request_rows(frame: pd.DataFrame, profile: Profile) -> list[dict[str, Any]]:
    """The rows of `frame` as API batch rows: a missing value is null in a nullable column and
    an omitted field in another (which the row type refuses: "Field required")."""
    names = profile.feature_names
    columns = []
    omitted = []
    for column in profile.features:
        values, missing = request_values(frame[column.name], column)
        columns.append(values)
        if not column.nullable:
            omitted.append((column.name, np.flatnonzero(missing)))
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    for name, indices in omitted:
        for index in indices:
            del rows[index][name]
    return rows


def is_missing(value: Any) -> bool:
    """How a DataFrame holds "no value": None, NaN, NaT or pd.NA."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def frame_value(value: Any) -> Any:
    """A DataFrame value as a client would put it in a JSON request: numpy scalars as Python
    numbers, a timestamp at midnight as its date; anything else as it is (the row type
    refuses what the API would refuse, e.g. "12" in a number column, True, 2.5 in an int
    column, a timestamp with a time)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.datetime) and value.tzinfo is None and value.time() == dt.time():
        return value.date()
    return value


def frame_rows(frame: pd.DataFrame, profile: Profile) -> list[dict[str, Any]]:
    """The rows of a typed DataFrame (pd.read_csv's, or MLflow's from a JSON request) as API
    batch rows: the profile's feature columns only (others, e.g. an id or the target, are
    ignored), a missing value null in a nullable column and an omitted field in another
    (which the row type refuses: "Field required"), as `request_rows` does for CSV text."""
    rows: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    for column in profile.features:
        if column.name not in frame.columns:
            continue  # an omitted field in every row
        for row, value in zip(rows, frame[column.name].tolist(), strict=True):
            if not is_missing(value):
                row[column.name] = frame_value(value)
            elif column.nullable:
                row[column.name] = None
    return rows


def _got(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= GOT_CHARS else shown[: GOT_CHARS - 3] + "..."


def csv_date_format(column: Column) -> str:
    """How a date column is written in the profile's CSV files, with its example: `an ISO 8601
    date such as '2014-10-13'`, or `a date in the profile's format '%Y%m%dT%H%M%S' such as
    '20141013T000000'` (`formats ... or ...` for several, the example in the first)."""
    example = column.example  # every feature has one (schema)
    if column.date_format == DEFAULT_DATE_FORMAT:
        return f"an ISO 8601 date such as {example.isoformat()!r}"
    shown = written(example, column.date_format)
    return f"a date in the profile's {format_words(column.date_format)} such as {shown!r}"


def describe_errors(
    errors: Sequence[dict[str, Any]], raw: dict[str, str], profile: Profile | None = None
) -> str:
    """`bedrooms: Input should be a whole number (got '2.5'); ...`: the API's messages (its
    own `error_items`), with the CSV text of the field. With the `profile` of CSV rows, a
    value that is no date names the format the CSV's dates are read in (the API's message
    names the API's, YYYY-MM-DD)."""
    dates = (
        {column.name: column for column in profile.features if column.is_date} if profile else {}
    )
    parts = []
    for error in errors:
        field = str(error["loc"][-1]) if error.get("loc") else ""
        if error.get("type") == "missing":
            message = f"{field}: missing value, and the column is not nullable"
        elif field in dates and error.get("type") in ("date_type", "date_parsing"):
            message = f"{field}: Input should be {csv_date_format(dates[field])}"
        else:
            (item,) = error_items([error], DEFAULT_MAX_BATCH_ROWS)
            message = item["msg"]
        if field in raw:
            message += f" (got {_got(raw[field])})"
        parts.append(message)
    return escaped("; ".join(parts))  # one line, on stderr and in the error column


class RowValidator:
    """Rows -> API batch rows, validated by the API's row type (`requests.batch_row_type`).

    Rows of Python values (the CSV's parsed fields) by default; with `as_json`, the rows are
    validated as the JSON text a client would send `POST /predict/batch` (dates as
    "YYYY-MM-DD" strings, NaN and infinities as the constants the API's parser reads and its
    row type refuses): how the MLflow model checks a DataFrame."""

    def __init__(self, profile: Profile, as_json: bool = False) -> None:
        self.profile = profile
        row_type = batch_row_type(profile, LISTED_IN_BUNDLE)
        self.rows = TypeAdapter(list[row_type])  # type: ignore[valid-type]
        self.check = self.from_json if as_json else self.rows.validate_python

    def from_json(self, rows: list[dict[str, Any]]) -> list[Any]:
        body = pydantic_core.to_json(rows, inf_nan_mode="constants", fallback=str)
        return self.rows.validate_json(body)

    def validate(self, rows: list[dict[str, Any]]) -> tuple[list[Any], dict[int, list[Any]]]:
        """(validated good rows, {index of a bad row: its errors, loc the field})."""
        try:
            return self.check(rows), {}
        except ValidationError as exc:
            bad: dict[int, list[Any]] = {}
            for error in exc.errors(include_url=False):
                index, *rest = error["loc"]
                bad.setdefault(int(index), []).append({**error, "loc": tuple(rest)})
        good = [row for index, row in enumerate(rows) if index not in bad]
        return self.check(good), bad  # rows validate independently

    def validate_frame(self, frame: pd.DataFrame) -> tuple[list[Any], dict[int, list[Any]]]:
        return self.validate(request_rows(frame, self.profile))


class Scorer:
    """Validates and predicts chunks of raw CSV rows with the API's row type and served model."""

    def __init__(self, model: ServedModel) -> None:
        self.model = model
        self.profile = model.bundle.profile
        self.validator = RowValidator(self.profile)

    def score(self, frame: pd.DataFrame, source: str, chunk_rows: int = CHUNK_ROWS) -> Scored:
        # the target and other columns may be there or not: they are ignored
        check_columns(frame, self.profile, source, self.profile.features)
        predictions = np.full(len(frame), np.nan)
        errors = [""] * len(frame)
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            good, bad = self.validator.validate_frame(chunk)
            keep = np.ones(len(chunk), dtype=bool)
            for index, row_errors in bad.items():
                keep[index] = False
                raw = {name: str(chunk[name].iat[index]) for name in self.profile.feature_names}
                errors[start + index] = describe_errors(row_errors, raw, self.profile)
            if good:
                values = self.model.predict(good)
                predictions[start + np.flatnonzero(keep)] = values
        return Scored(frame.index.to_numpy(), predictions, errors)


def write_all(stream: BinaryIO, data: bytes) -> None:
    """All of `data` to `stream`. A buffered write into a pipe whose reader is gone returned
    the bytes the pipe took (64 KiB) instead of raising: the next write raises the
    BrokenPipeError."""
    view = memoryview(data)
    while view:
        view = view[stream.write(view) :]


def write_scored(path: Path | None, scored: Scored) -> None:
    """The output CSV, written atomically to `path`, or to stdout when `path` is None (CHUNK_ROWS
    rows at a time; BrokenPipeError when the reader is gone)."""
    frame = pd.DataFrame(
        {"line": scored.lines, "prediction": scored.predictions, "error": scored.errors}
    )
    options: dict[str, Any] = {"index": False, "lineterminator": "\n", "na_rep": ""}
    if path is None:
        for start in range(0, max(len(frame), 1), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            write_all(sys.stdout.buffer, chunk.to_csv(header=start == 0, **options).encode())
        sys.stdout.buffer.flush()
        return
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **options)


def model_threads() -> int:
    """MODEL_THREADS as the API reads it (default 0: XGBoost's choice)."""
    try:
        return model_threads_env()
    except ValueError as exc:
        raise DataError(str(exc)) from None


def predict_csv(input_path: Path, output_path: Path | None, model_dir: Path) -> Scored:
    """Score `input_path` into `output_path` (None: stdout); DataError/BundleError for a
    whole-file problem (nothing is written then)."""
    if output_path is not None and output_path.is_dir():
        raise DataError(f"{output_path}: is a directory; --output takes a file")
    if (
        output_path is not None
        and input_path.exists()
        and output_path.exists()
        and input_path.samefile(output_path)
    ):
        raise DataError(f"{output_path}: --output is the input file")
    frame = read_raw_csv(input_path)
    model = ServedModel.load(model_dir, model_threads())
    scored = Scorer(model).score(frame, str(input_path))
    write_scored(output_path, scored)
    return scored
