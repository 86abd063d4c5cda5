"""A draft profile from a CSV: small pure functions from a text DataFrame to a profile mapping
with comments, and a renderer to commented YAML. No I/O here: the CLI (`house_price.cli`)
reads the CSV with the pipeline's own reader (`io.read_raw_csv`) and writes the draft.

The rules, each a constant below so that tests and the README can name them:

- Reading: every column as text, no implied missing spellings (only the empty field, or one of
  only spaces, is missing). Typical missing spellings (`MISSING_SPELLINGS`) are pointed out in a
  comment, never treated as missing.
- Column kinds, in this order:
  1. no values at all (or only missing spellings) -> left out;
  2. `date`: every value parses with one of `DATE_FORMATS` (years 1800-2200); the digits-only
     `%Y%m%d` counts only for a column whose name contains "date";
  3. numbers (every value a number; `inf`, `1e400` or `+nan`, which the pipeline drops with
     their row, are counted in a comment and left out of bounds and examples; `nan` in any case
     is also a missing spelling, with its own comment: the pipeline drops its row too):
     - an identifier, left out: whole numbers, distinct in at least `ID_DISTINCT_SHARE` of the
       rows (at least `ID_MIN_ROWS` rows), and an id-like name (`ID_TOKENS`) or consecutive
       integers from 0 or 1 (a row number);
     - a code, so a `category` of the values as written: whole numbers with at most
       `MAX_CATEGORIES` distinct values and a code-like name (`CODE_TOKENS`, or a name ending in
       "code"/"zip") or a value with a leading zero (`02134`); King County's `zipcode`;
     - `int` when every value is whole (`3.0` counts), else `float`;
  4. text: distinct in at least `ID_DISTINCT_SHARE` of the rows -> an identifier or free text,
     left out; at most `MAX_CATEGORIES` distinct spellings after merging -> `category`; more ->
     left out.
- Bounds: the data's min/max widened by `MARGIN` of the range on each side, never across 0
  (a column without negative values gets no negative min), rounded outwards to the power of ten
  below the margin. For whole numbers the margin is rounded down to a whole number, so a 0/1 flag
  stays 0..1 and a 1-5 grade 1..5. A whole-number year column (a name with a `YEAR_TOKENS` word
  or "built", largest value 1000-2200) gets `max: reference_year`. Dates: the whole years
  covering the widened range.
- Categories: spellings with the same `house_price.schema.category_key` are one category, named
  by its most frequent spelling; the others become `aliases`.
- Leaks: a number feature whose |Spearman correlation| with the target is at least
  `LEAK_WARN` gets a WARNING comment (and a line on stderr); at `LEAK_OUT` or more it orders the
  rows almost exactly as the target does, so it is left out, written as a commented line to add
  back. Strong honest predictors (floor area on a small data set) fall between the two: kept,
  flagged for the user to judge.
- Derived: `<date>_year` and `<date>_month` for every date column; `house_age` from a year-built
  int column, at the sale date when there is a date column, else at the reference year.
- Warnings (a comment and a line on stderr), and refusals, as the pipeline would judge the data:
  a feature with the same value in every row teaches the model nothing and its bounds (or its one
  category) refuse any other value: WARNING. The target must be numbers (a text value is named
  with its line), with at least `MIN_ROWS` rows the pipeline keeps (a finite number, 0 or more:
  the fewest it trains and tests on whatever the params) that are not all the same (nothing to
  learn): refused otherwise. Fewer than `DEFAULT_PARAMS_ROWS` (what params.yaml's defaults,
  `DEFAULT_CV_FOLDS` and `DEFAULT_TEST_SIZE`, need; the draft does not read params.yaml):
  WARNING.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from house_price.core.errors import DataError, name_list
from house_price.core.parsing import NAN_TEXT
from house_price.core.split import (
    MIN_TEST_ROWS,
    MIN_TRAIN_ROWS,
    ROWS_PER_FOLD,
    rows_needed,
    split_sizes,
)
from house_price.schema import REFERENCE_YEAR, category_key

MISSING_SPELLINGS = ("NA", "N/A", "null", "None", "NaN", "-", "?")
MARGIN = 0.10
ID_DISTINCT_SHARE = 0.95
ID_MIN_ROWS = 10
MAX_CATEGORIES = 200
LEAK_WARN = 0.95
LEAK_OUT = 0.99
# The fewest rows the pipeline trains and tests on, whatever the params (a floor: the default
# params need DEFAULT_PARAMS_ROWS).
MIN_ROWS = MIN_TRAIN_ROWS + MIN_TEST_ROWS
DEFAULT_TEST_SIZE = 0.2  # params.yaml's process.test_size
DEFAULT_CV_FOLDS = 5  # params.yaml's train.cv_folds
ID_TOKENS = frozenset({"id", "uuid", "guid", "pid", "key", "index"})
CODE_TOKENS = frozenset({"zip", "zipcode", "postcode", "postal", "plz", "code", "fips", "id"})
BUILT = re.compile(r"built", re.IGNORECASE)
YEAR_TOKENS = frozenset({"yr", "year", "built"})
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y%m%dT%H%M%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
)
_DIGITS_ONLY_FORMAT = "%Y%m%d"
_MISSING_KEYS = {spelling.casefold() for spelling in MISSING_SPELLINGS}


# --- small helpers --------------------------------------------------------------------------


def name_tokens(name: str) -> list[str]:
    """`parcelID`, `parcel_id`, `Parcel ID` -> ['parcel', 'id']."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.findall(r"[a-z]+|\d+", spaced.lower())


def sanitise_name(stem: str) -> str:
    """A profile name from a file stem: lower case, runs of other characters as one `_`."""
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    return name if name and not name[0].isdigit() else f"data_{name}".rstrip("_")


def is_missing(values: pd.Series) -> pd.Series:
    """The empty field (or one of only spaces): the only missing value by default."""
    return values.str.strip() == ""


def missing_spellings(values: pd.Series) -> dict[str, int]:
    """Typical missing spellings present, as written, with their counts (most frequent first)."""
    stripped = values.str.strip()
    hits = stripped[stripped.str.casefold().isin(_MISSING_KEYS)]
    return dict(Counter(hits).most_common())


def not_numbers(values: pd.Series) -> pd.Series:
    """Where a value is no number as the pipeline reads numbers (`cleaning.to_numbers`: the
    trimmed text; `inf`, `nan` and `1e400` are numbers, which it drops with their row)."""
    stripped = values.str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce")
    return numbers.isna() & ~stripped.str.casefold().isin(NAN_TEXT)


def as_numbers(values: pd.Series) -> pd.Series | None:
    """Every value as a float (`inf`, `nan`, `1e400` included), or None when any value is no
    number."""
    if not_numbers(values).any():
        return None
    return pd.to_numeric(values.str.strip(), errors="coerce").astype(float)


def rows_for_params(test_size: float, cv_folds: int) -> int:
    """The fewest rows the pipeline trains and tests on with these params: the split
    (`split.split_sizes`) leaves MIN_TEST_ROWS to test and, to train, MIN_TRAIN_ROWS and
    ROWS_PER_FOLD rows a fold (`model.fold_splits`)."""
    rows = rows_needed(test_size)
    while split_sizes(rows, test_size)[0] < max(MIN_TRAIN_ROWS, ROWS_PER_FOLD * cv_folds):
        rows += 1
    return rows


DEFAULT_PARAMS_ROWS = rows_for_params(DEFAULT_TEST_SIZE, DEFAULT_CV_FOLDS)  # 13


def first_of(mask: pd.Series, values: pd.Series) -> str:
    """`'abc' (line 19)`: the first value where `mask` holds, and its line (a frame from
    `io.read_raw_csv` is indexed by file line)."""
    line = mask[mask].index[0]
    return f"{values.loc[line].strip()!r} (line {line})"


def non_finite(numbers: pd.Series, values: pd.Series) -> str | None:
    """`3 non-finite values, e.g. 'inf' (line 2)`: the values that are numbers but not finite,
    or None when there are none."""
    bad = ~np.isfinite(numbers)
    if not bad.any():
        return None
    return f"{_plural(int(bad.sum()), 'non-finite value')}, e.g. {first_of(bad, values)}"


def non_finite_note(numbers: pd.Series, values: pd.Series) -> str | None:
    """A comment on the values that are numbers but not finite, or None when there are none."""
    counted = non_finite(numbers, values)
    return f"{counted}: the pipeline drops such rows" if counted else None


def all_whole(numbers: pd.Series) -> bool:
    return bool((numbers == np.round(numbers)).all())


def date_formats(values: pd.Series, column: str) -> list[str]:
    """The formats of DATE_FORMATS that parse every (distinct) value, in that order."""
    distinct = list(dict.fromkeys(values.str.strip()))
    if not distinct or not all(any(ch.isdigit() for ch in value) for value in distinct[:50]):
        return []
    found = []
    for fmt in DATE_FORMATS:
        if fmt == _DIGITS_ONLY_FORMAT and "date" not in column.lower():
            continue
        if _parses(distinct[:20], fmt) and _parses(distinct, fmt):
            found.append(fmt)
    return found


def _parses(values: Iterable[str], fmt: str) -> bool:
    try:
        return all(1800 <= datetime.strptime(value, fmt).year <= 2200 for value in values)
    except ValueError:
        return False


def readable_bounds(low: float, high: float, whole: bool) -> tuple[float, float]:
    """min/max widened by MARGIN of the range, not across 0, rounded outwards to the power of
    ten below the margin; for whole numbers a whole margin (maybe 0) and a step of at least 1."""
    span = high - low
    margin = MARGIN * span or MARGIN * max(abs(low), abs(high)) or 1.0
    if whole:
        margin = math.floor(margin)
    exponent = math.floor(math.log10(margin)) if margin else 0
    if whole:
        exponent = max(exponent, 0)
    step = 10.0**exponent
    digits = max(0, -exponent)
    lo = round(math.floor((low - margin) / step) * step, digits)
    hi = round(math.ceil((high + margin) / step) * step, digits)
    if low >= 0:
        lo = max(lo, 0.0)
    if high <= 0:
        hi = min(hi, 0.0)
    return _tidy(lo), _tidy(hi)


def _tidy(value: float) -> float:
    """1100.0 -> 1100 (an int reads better and the schema takes it); 0.0 for -0.0."""
    value = value + 0.0
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def readable_number(value: float, whole: bool) -> float:
    return round(value) if whole else _tidy(float(f"{value:.6g}"))


def spearman(x: pd.Series, y: pd.Series) -> float | None:
    """Rank correlation on the rows where both are present; None when it is undefined."""
    both = x.notna() & y.notna()
    if both.sum() < 3:
        return None
    value = x[both].rank().corr(y[both].rank())
    return None if pd.isna(value) else float(value)


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


# --- one column -----------------------------------------------------------------------------


@dataclass
class ColumnDraft:
    """What the draft says about one column: a feature mapping (`spec`), or why it is left out,
    with the comments written above it and the notes for stderr."""

    name: str
    kind: str  # float, int, category, date; or left out: empty, id, text, leak
    spec: dict[str, Any] | None = None
    comments: list[str] = field(default_factory=list)
    category_counts: dict[str, int] = field(default_factory=dict)
    left_out: str = ""
    notes: list[str] = field(default_factory=list)
    numbers: pd.Series | None = None  # for the leak check

    @property
    def is_feature(self) -> bool:
        return self.spec is not None and not self.left_out


def draft_column(values: pd.Series, name: str) -> ColumnDraft:
    """Classify one text column (see the module docstring) and draft its profile entry."""
    rows = len(values)
    missing = is_missing(values)
    spellings = missing_spellings(values)
    present = values[~missing]
    if present.empty:
        return ColumnDraft(
            name, "empty", left_out=f"no values at all in {rows} rows: left out", comments=[]
        )
    comments: list[str] = []
    # Missing spellings are values: pointed out, never dropped; ignored only to judge the type.
    candidates = present[~present.str.strip().str.casefold().isin(_MISSING_KEYS)]
    if candidates.empty:
        listed = ", ".join(f"{spelling!r} ({count})" for spelling, count in spellings.items())
        return ColumnDraft(
            name, "empty", left_out=f"only missing spellings ({listed}), no values: left out"
        )

    draft = (
        _draft_date(candidates, name)
        or _draft_number(candidates, name, rows)
        or _draft_text(present, name, rows)
    )
    consequence = "and take it out of categories"
    if spellings and draft.kind in {"float", "int", "date"}:
        consequence = "otherwise the pipeline rejects the file for a value that is not a "
        consequence += "date" if draft.kind == "date" else "number"
    for spelling, count in spellings.items():
        note = (
            f"{spelling!r} appears {_plural(count, 'time')}: add it to missing_values "
            f"if it means missing ({consequence})"
        )
        if draft.kind in {"float", "int"} and spelling.casefold() in NAN_TEXT:
            # cleaning.to_numbers reads it as a NaN number: non-finite, its row dropped
            impute = "" if missing.any() else " and make the column nullable"
            note = (
                f"{spelling!r} appears {_plural(count, 'time')}: the pipeline reads it as NaN "
                f"and drops the row; add it to missing_values{impute} to impute it instead"
            )
        comments.append(note)
        draft.notes.append(f"{name}: {note}")
    if missing.any() and draft.spec is not None:
        share = 100 * missing.sum() / rows
        draft.spec["nullable"] = True
        comments.append(
            f"{_plural(int(missing.sum()), 'empty value')} ({share:.1f} %): nullable, "
            "the pipeline imputes them"
        )
    constant = constant_warning(draft, candidates)
    if constant:
        comments.insert(0, constant)
        draft.notes.append(f"{name}: {constant}")
    draft.comments = comments + draft.comments
    return draft


def constant_warning(draft: ColumnDraft, values: pd.Series) -> str | None:
    """A WARNING for a feature with the same value in every row that has one (`values`: those
    rows' text): the model cannot learn from it, and its bounds or its one category refuse
    what the data did not show."""
    spec = draft.spec
    if spec is None or draft.left_out:
        return None
    if draft.kind == "category":
        distinct = len(spec["categories"])  # spellings of one category are one
        refused = "any other value is refused as an unknown category"
        instead = "add the categories that can occur"
    else:
        if draft.kind == "date":  # as the pipeline reads them: days ("08:00" and "17:00": one)
            parsed = pd.to_datetime(values.str.strip(), format=spec["format"]).dt.normalize()
            distinct = parsed.nunique()
        else:  # the finite numbers of a number column ("7" and "7.0": one)
            distinct = draft.numbers.nunique()
        refused = f"its bounds ({spec['min']} to {spec['max']}) refuse values outside them"
        instead = "widen the bounds if other values can occur"
    if distinct != 1:
        return None
    return (
        f"WARNING: the same value ({spec['example']}) in every row: the model cannot learn from "
        f"it, and {refused}. Leave it out, or {instead}"
    )


def _draft_date(values: pd.Series, name: str) -> ColumnDraft | None:
    formats = date_formats(values, name)
    if not formats:
        return None
    fmt = formats[0]
    distinct = {value: datetime.strptime(value, fmt).date() for value in set(values.str.strip())}
    parsed = sorted(values.str.strip().map(distinct))
    first, last = parsed[0], parsed[-1]
    margin_days = MARGIN * (last - first).days
    low_year = (pd.Timestamp(first) - pd.Timedelta(days=margin_days)).year
    high_year = (pd.Timestamp(last) + pd.Timedelta(days=margin_days)).year
    spec = {
        "name": name,
        "type": "date",
        "format": fmt,
        "min": date(low_year, 1, 1).isoformat(),
        "max": date(high_year, 12, 31).isoformat(),
        "example": parsed[len(parsed) // 2].isoformat(),
    }
    comments = [f"dates {first.isoformat()} to {last.isoformat()}, read with format {fmt}"]
    if len(formats) > 1:
        comments.append(f"also parses as {', '.join(formats[1:])}: check which one is meant")
    return ColumnDraft(name, "date", spec, comments)


def _draft_number(values: pd.Series, name: str, rows: int) -> ColumnDraft | None:
    every = as_numbers(values)
    if every is None:
        return None
    numbers = every[np.isfinite(every)]
    if numbers.empty:
        return ColumnDraft(name, "empty", left_out="only non-finite numbers, no values: left out")
    non_finite = non_finite_note(every, values)
    draft = _draft_finite(values.loc[numbers.index], numbers, name, rows)
    if non_finite and draft.spec is not None:
        draft.comments.append(non_finite)
    return draft


def _draft_finite(values: pd.Series, numbers: pd.Series, name: str, rows: int) -> ColumnDraft:
    """A column of finite numbers: an identifier, a code (category) or an int/float feature."""
    whole = all_whole(numbers)
    distinct = numbers.nunique()
    tokens = set(name_tokens(name))
    if whole and len(values) >= ID_MIN_ROWS and distinct >= ID_DISTINCT_SHARE * len(values):
        ordered = np.sort(numbers.unique())
        row_number = ordered[0] in (0, 1) and bool((np.diff(ordered) == 1).all())
        if tokens & ID_TOKENS or row_number:
            why = "an id-like name" if tokens & ID_TOKENS else "numbered rows"
            return ColumnDraft(
                name,
                "id",
                left_out=(
                    f"an identifier, not a feature: {distinct} distinct values in {rows} rows "
                    f"and {why}: left out"
                ),
            )
    leading_zero = values.str.strip().str.match(r"[-+]?0\d").any()
    code_name = bool(tokens & CODE_TOKENS) or name.lower().endswith(("code", "zip"))
    if whole and distinct <= MAX_CATEGORIES and (code_name or leading_zero):
        why = "a value with a leading zero" if leading_zero else "a code-like name"
        draft = _draft_category(values.str.strip(), name, sort_by_value=True)
        draft.comments.insert(
            0,
            f"numbers, but a code ({why}, {distinct} distinct whole values): a category; "
            "make it int if the order of the numbers means something",
        )
        return draft
    low, high = float(numbers.min()), float(numbers.max())
    minimum, maximum = readable_bounds(low, high, whole)
    kind = "int" if whole else "float"
    comments = [f"data {readable_number(low, whole)} to {readable_number(high, whole)}"]
    if whole and (tokens & YEAR_TOKENS or BUILT.search(name)) and 1000 <= high <= 2200:
        maximum = REFERENCE_YEAR
        comments.append("a year: never after the reference year (features.reference_year)")
    spec = {
        "name": name,
        "type": kind,
        "min": minimum,
        "max": maximum,
        "example": readable_number(float(numbers.median()), whole),
    }
    return ColumnDraft(name, kind, spec, comments, numbers=numbers)


def _draft_text(values: pd.Series, name: str, rows: int) -> ColumnDraft:
    keys = values.map(category_key)
    distinct = keys.nunique()
    if len(values) >= ID_MIN_ROWS and distinct >= ID_DISTINCT_SHARE * len(values):
        return ColumnDraft(
            name,
            "id",
            left_out=(
                f"an identifier or free text, not a feature: {distinct} distinct values in "
                f"{rows} rows: left out"
            ),
        )
    text = not_numbers(values)
    notes = []
    if 1 - text.mean() >= 0.9:
        others = Counter(values[text].str.strip()).most_common(3)
        shown = ", ".join(f"{value!r} ({count})" for value, count in others)
        notes.append(
            f"WARNING: {100 * (1 - text.mean()):.0f} % of the values are numbers; the others "
            f"({shown}; the first on line {text[text].index[0]}) make it text: fix them or add "
            "them to missing_values, then make it a number column"
        )
    if distinct > MAX_CATEGORIES:
        return ColumnDraft(
            name,
            "text",
            left_out=(
                f"text with {distinct} distinct values, more than {MAX_CATEGORIES} for a "
                "category: left out"
            ),
            comments=notes,
            notes=[f"{name}: {note}" for note in notes],
        )
    draft = _draft_category(values, name, sort_by_value=False)
    draft.comments = notes + draft.comments
    draft.notes += [f"{name}: {note}" for note in notes]
    return draft


def _draft_category(values: pd.Series, name: str, sort_by_value: bool) -> ColumnDraft:
    """One category per category_key, named by its most frequent spelling (spaces collapsed);
    the other spellings become aliases."""
    spellings = Counter(values)
    groups: dict[str, list[tuple[str, int]]] = {}
    for spelling, count in spellings.most_common():
        groups.setdefault(category_key(spelling), []).append((spelling, count))
    counts: dict[str, int] = {}
    aliases: dict[str, str] = {}
    merges: list[str] = []
    for members in groups.values():
        canonical = " ".join(members[0][0].split())
        counts[canonical] = sum(count for _, count in members)
        others = [(spelling, count) for spelling, count in members if spelling != canonical]
        for spelling, _ in others:
            aliases[spelling] = canonical
        if others:
            listed = ", ".join(f"{spelling!r} ({count})" for spelling, count in others)
            merges.append(f"would merge: {listed} -> {canonical}")
    if sort_by_value:
        order = sorted(counts, key=lambda value: (float(value), value))
    else:
        order = sorted(counts, key=lambda value: (-counts[value], value))
    spec: dict[str, Any] = {"name": name, "type": "category", "categories": order}
    if aliases:
        spec["aliases"] = aliases
    spec["example"] = max(order, key=lambda value: (counts[value], -order.index(value)))
    comments = [f"{_plural(len(order), 'category')}, with their row counts"]
    return ColumnDraft(
        name,
        "category",
        spec,
        comments + merges,
        category_counts={value: counts[value] for value in order},
    )


# --- the whole profile ----------------------------------------------------------------------


@dataclass
class Draft:
    """A draft profile: `profile` is exactly what the rendered YAML parses to."""

    profile: dict[str, Any]
    header: list[str]
    target: ColumnDraft
    columns: list[ColumnDraft]
    derived_comments: list[str]
    notes: list[str]  # for stderr

    @property
    def features(self) -> list[ColumnDraft]:
        return [column for column in self.columns if column.is_feature]

    @property
    def left_out(self) -> list[ColumnDraft]:
        return [column for column in self.columns if not column.is_feature]


def draft_target(values: pd.Series, name: str) -> ColumnDraft:
    """The target: numbers with bounds; DataError when it is not a number column."""
    missing = is_missing(values)
    spellings = missing_spellings(values)
    present = values[~missing & ~values.str.strip().str.casefold().isin(_MISSING_KEYS)]
    if present.empty:
        raise DataError(f"target column {name!r} has no values")
    every = as_numbers(present)
    if every is None:
        text = not_numbers(present)
        raise DataError(
            f"target column {name!r} is not a number column: {_plural(int(text.sum()), 'value')} "
            f"not a number, e.g. {first_of(text, present)}; a spelling that means missing "
            "belongs in the profile's missing_values"
        )
    numbers = every[np.isfinite(every)]
    if numbers.empty:
        raise DataError(
            f"target column {name!r} has no finite value ({non_finite(every, present)})"
        )
    if float(numbers.max()) <= 0:
        raise DataError(
            f"target column {name!r} has no value above 0 (largest {numbers.max():g}): a price "
            "is positive"
        )
    kept = numbers[numbers >= 0]  # the pipeline drops a row below 0 (min 0 at least)
    keeps = (
        f"{_plural(len(kept), 'row')} with a value the pipeline keeps (a finite number, 0 or more)"
    )
    if len(kept) < MIN_ROWS:
        raise DataError(
            f"target column {name!r} has {keeps}; it needs at least {MIN_ROWS} whatever the "
            f"params ({MIN_TRAIN_ROWS} to train, {MIN_TEST_ROWS} to test), and the default "
            f"params {DEFAULT_PARAMS_ROWS}"
        )
    if kept.nunique() == 1:
        raise DataError(
            f"target column {name!r} has the same value "
            f"({readable_number(float(kept.iloc[0]), all_whole(kept))}) in all {len(kept)} rows "
            "the pipeline keeps: there is nothing to learn"
        )
    whole = all_whole(numbers)
    minimum, maximum = readable_bounds(float(numbers.min()), float(numbers.max()), whole)
    comments = [
        f"the value to predict: data {readable_number(float(numbers.min()), whole)} to "
        f"{readable_number(float(numbers.max()), whole)}"
    ]
    notes = []
    if len(kept) < DEFAULT_PARAMS_ROWS:
        train = split_sizes(DEFAULT_PARAMS_ROWS, DEFAULT_TEST_SIZE)[0]
        warning = (
            f"WARNING: {keeps}: the default params need at least {DEFAULT_PARAMS_ROWS} "
            f"(train.cv_folds {DEFAULT_CV_FOLDS} needs {ROWS_PER_FOLD * DEFAULT_CV_FOLDS} train "
            f"rows, {ROWS_PER_FOLD} a fold, and process.test_size {DEFAULT_TEST_SIZE} leaves "
            f"{train} of {DEFAULT_PARAMS_ROWS} to train): add rows, or lower train.cv_folds or "
            "process.test_size in params.yaml"
        )
        comments.append(warning)
        notes.append(f"{name}: {warning}")
    if missing.any():
        comments.append(f"{_plural(int(missing.sum()), 'row')} without it: the pipeline drops them")
    non_finite_comment = non_finite_note(every, present)
    if non_finite_comment:
        comments.append(non_finite_comment)
    for spelling, count in spellings.items():
        if spelling.casefold() in NAN_TEXT:  # cleaning.to_numbers: a NaN number, not finite
            comments.append(
                f"{spelling!r} appears {_plural(count, 'time')}: the pipeline reads it as NaN "
                "and drops the row (in missing_values too: a row without a target is dropped)"
            )
            continue
        comments.append(
            f"{spelling!r} appears {_plural(count, 'time')}: add it to missing_values if it "
            "means missing (otherwise the pipeline rejects the file)"
        )
    below = int((numbers < 0).sum())
    if below:  # the profile requires min >= 0: a price below 0 does not exist
        minimum = 0
        comments.append(f"{_plural(below, 'row')} below 0: the pipeline drops them")
    spec = {"name": name, "min": minimum, "max": maximum}
    kind = "int" if whole else "float"
    return ColumnDraft(name, kind, spec, comments, numbers=numbers, notes=notes)


def flag_leaks(columns: list[ColumnDraft], target: ColumnDraft) -> list[str]:
    """Mark number features that rank the rows like the target (see LEAK_WARN, LEAK_OUT)."""
    notes = []
    if target.numbers is None:
        return notes
    target_numbers = target.numbers
    for column in columns:
        if not column.is_feature or column.numbers is None:
            continue
        rho = spearman(column.numbers, target_numbers.reindex(column.numbers.index))
        if rho is None or abs(rho) < LEAK_WARN:
            continue
        what = (
            f"|Spearman| {abs(rho):.3f} with {target.name} (warning at {LEAK_WARN}, left out "
            f"at {LEAK_OUT})"
        )
        if abs(rho) >= LEAK_OUT:
            column.kind = "leak"
            column.left_out = f"WARNING: probable leak, left out: {what}"
            line = (
                f"{column.name}: WARNING: probable leak, left out of the draft: {what}. "
                "If it is known before the target, add it back (the commented line)"
            )
        else:
            column.comments.insert(
                0,
                f"WARNING: probable leak? {what}. Keep it only if it is known before the "
                f"{target.name} and not computed from it",
            )
            line = f"{column.name}: WARNING: probable leak? {what}: kept, check it"
        notes.append(line)
    return notes


def draft_derived(columns: list[ColumnDraft]) -> tuple[list[dict[str, Any]], list[str]]:
    """year/month of every date feature; house_age from a year-built int feature."""
    features = [column for column in columns if column.is_feature]
    taken = {column.name for column in columns}
    derived: list[dict[str, Any]] = []
    comments: list[str] = []
    dates = [column.name for column in features if column.kind == "date"]
    built = [
        column.name for column in features if column.kind == "int" and BUILT.search(column.name)
    ]
    candidates = []
    for name in dates:
        candidates.append({"name": f"{name}_year", "op": "year", "inputs": [name]})
        candidates.append({"name": f"{name}_month", "op": "month", "inputs": [name]})
    if built:
        inputs = [built[0], dates[0]] if dates else [built[0]]
        candidates.append({"name": "house_age", "op": "age", "inputs": inputs})
        comments.append(
            f"house_age: years from {built[0]} to "
            + (f"the year of {dates[0]} (age at sale)" if dates else "the reference year")
        )
    for item in candidates:
        if item["name"] in taken:
            comments.append(f"not derived: {item['name']} (a column has that name)")
            continue
        taken.add(item["name"])
        derived.append(item)
    return derived, comments


def draft_profile(
    frame: pd.DataFrame, target: str, *, name: str, source: str, command: str
) -> Draft:
    """A draft profile for a text frame (as `io.read_raw_csv` reads it: what the pipeline will
    see, header names trimmed, without repeated names). DataError for a target that is no
    column."""
    if target not in frame.columns:
        raise DataError(f"--target {target!r} is not a column ({column_list(frame.columns)})")
    target_draft = draft_target(frame[target], target)
    unnamed = [str(column) for column in frame.columns if not str(column)]
    columns = [
        draft_column(frame[column], column)
        for column in frame.columns
        if column != target and str(column)
    ]
    notes = target_draft.notes + flag_leaks(columns, target_draft)
    features = [column for column in columns if column.is_feature]
    if not features:
        raise DataError(
            f"no column can be a feature: {', '.join(f'{c.name} ({c.kind})' for c in columns)}"
            if columns
            else "the file has only the target column"
        )
    derived, derived_comments = draft_derived(columns)
    profile: dict[str, Any] = {
        "name": name,
        "description": f"Draft from {Path(source).name}: describe the data here.",
        "source": source,
        "missing_values": [""],
        "target": target_draft.spec,
        "features": [column.spec for column in features],
    }
    if derived:
        profile["derived"] = derived
    for column in columns:
        notes += column.notes
    if unnamed:  # a profile column needs a name
        notes.append(f"{len(unnamed)} column(s) without a header name: left out")
    header = [
        f"Draft profile made by: {command}",
        f"Read {len(frame)} rows, {len(frame.columns)} columns "
        f"({len(features)} features, {_plural(len(columns) - len(features), 'column')} left out).",
        "REVIEW BEFORE USE: types, bounds, categories and left-out columns are guesses from the",
        "data. Bounds: the data's range widened by "
        f"{MARGIN:.0%} on each side, not across 0, rounded.",
        "Only the empty field is missing (missing_values); see the comments on each column.",
    ]
    return Draft(profile, header, target_draft, columns, derived_comments, notes)


def column_list(columns: Iterable[str]) -> str:
    return f"columns: {name_list(columns)}"


# --- YAML with comments ---------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_ .()&+/-]*")
_YAML11_WORDS = {
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "none", "nan", "inf", "~",
}  # fmt: skip


def yaml_scalar(value: Any) -> str:
    """One scalar as YAML that every YAML 1.1 reader reads back as the same value and type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
        return text
    text = str(value)
    if (
        _PLAIN.fullmatch(text)
        and text == text.strip()
        and text.casefold() not in _YAML11_WORDS
        and _reads_back(text, text)
    ):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _reads_back(text: str, value: Any) -> bool:
    try:
        return yaml.safe_load(text) == value and type(yaml.safe_load(text)) is type(value)
    except yaml.YAMLError:
        return False


def yaml_flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_flow(item) for item in value) + "]"
    return yaml_scalar(value)


def _comment_lines(lines: Iterable[str], indent: str, width: int = 100) -> list[str]:
    """Comments wrapped to the line length; a wrapped line continues with two spaces."""
    out = []
    for line in lines:
        words = line.split(" ")
        current = f"{indent}# "
        for word in words:
            if len(current) + len(word) > width and current.strip() != "#":
                out.append(current.rstrip())
                current = f"{indent}#   "
            current += word + " "
        out.append(current.rstrip())
    return out


def _feature_lines(column: ColumnDraft) -> list[str]:
    spec = column.spec or {}
    lines = _comment_lines(column.comments, "  ")
    lines.append(f"  - name: {yaml_scalar(spec['name'])}")
    for key, value in spec.items():
        if key == "name":
            continue
        if key == "categories":
            lines.append("    categories:")
            width = max(len(yaml_scalar(v)) for v in value)
            for item in value:
                count = column.category_counts.get(item, 0)
                lines.append(f"      - {yaml_scalar(item):<{width}}  # {_plural(count, 'row')}")
        elif key == "aliases":
            lines.append("    aliases:")
            lines += [f"      {yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items()]
        else:
            lines.append(f"    {key}: {yaml_flow(value)}")
    return lines


def render(draft: Draft) -> str:
    """The draft as commented YAML; `yaml.safe_load` of it equals `draft.profile`."""
    profile = draft.profile
    lines = [f"# {draft.header[0]}"]  # the command, whole, to copy
    lines += _comment_lines(draft.header[1:], "")
    lines.append(f"name: {yaml_scalar(profile['name'])}")
    lines.append(f"description: {yaml_scalar(profile['description'])}")
    lines.append(f"source: {yaml_scalar(profile['source'])}")
    lines += _comment_lines(
        ["values that mean missing, in every column (a column may set its own missing_values)"],
        "",
    )
    lines.append(f"missing_values: {yaml_flow(profile['missing_values'])}")
    lines += _comment_lines(draft.target.comments, "")
    lines.append("target:")
    lines += [f"  {key}: {yaml_flow(value)}" for key, value in profile["target"].items()]
    lines.append("features:")
    for column in draft.columns:
        if column.is_feature:
            lines += _feature_lines(column)
        elif column.kind == "leak":
            lines += _comment_lines([column.left_out, *column.comments], "  ")
            lines.append(f"  # - {yaml_flow(column.spec)}")
        else:
            lines += _comment_lines([*column.comments, f"{column.name}: {column.left_out}"], "  ")
    if "derived" in profile:
        lines += _comment_lines(["computed from features, never from the target"], "")
        lines += _comment_lines(draft.derived_comments, "")
        lines.append("derived:")
        lines += [f"  - {yaml_flow(item)}" for item in profile["derived"]]
    elif draft.derived_comments:
        lines += _comment_lines(draft.derived_comments, "")
    return "\n".join(lines) + "\n"
