"""The rules of a draft profile, each a constant below so that tests and the docs can name them.

- Reading: every column as text, no implied missing spellings (only the empty field, or one of
  only spaces, is missing: the profile's default `missing_values`). Typical missing spellings
  (`MISSING_SPELLINGS`) are pointed out in a comment, never treated as missing. Fields become
  values by the pipeline's own rule (`house_price.core.parsing`).
- Column kinds, in this order:
  1. no values at all (or only missing spellings) -> left out;
  2. `date`: every value parses with one of `DATE_FORMATS` (years 1800-2200), or with one of
     the fewest of them that read every value between them (a list: `drafting.dates`); the
     digits-only `%Y%m%d` counts only for a column whose name contains "date";
  3. numbers (every value a number; `inf`, `1e400` or `+nan`, which the pipeline drops with
     their row, are counted in a comment and left out of bounds and examples; `nan` in any case
     is also a missing spelling, with its own comment: the pipeline drops its row too):
     - an identifier, left out: whole numbers, distinct in at least `ID_DISTINCT_SHARE` of the
       rows (at least `ID_MIN_ROWS` rows), and an id-like name (`ID_TOKENS`) or consecutive
       integers from 0 or 1 (a row number);
     - a code, so a `category` of the values as written: whole numbers with at most
       `MAX_CATEGORIES` distinct values and a code-like name (`CODE_TOKENS`, or a name ending in
       "code"/"zip"), or with a value with a leading zero (`02134`; never a number: codes
       stripped of their zeros are padded, `drafting.codes`); King County's `zipcode`;
     - `int` when every value is whole (`3.0` counts), else `float`;
  4. text: distinct in at least `ID_DISTINCT_SHARE` of the rows -> an identifier or free text,
     left out; at most `MAX_CATEGORIES` distinct spellings after merging -> `category`; more ->
     left out.
- Bounds: the data's min/max widened by `MARGIN` of the range on each side, never across 0
  (a column without negative values gets no negative min), rounded outwards to the power of ten
  below the margin. For whole numbers the margin is rounded up to a whole number, so at least 1:
  1-6 bedrooms get 0..7, and the API takes the 7-bedroom house the data did not show (the model
  predicts it as its largest seen); a 0/1 flag (also one always 0 or always 1) stays 0..1; one
  value is widened by `MARGIN` of itself (0 alone: 0..1). A whole-number year column (a name
  with a `YEAR_TOKENS` word or "built", largest value 1000-2200) gets `max: reference_year`.
  Dates: the whole years covering the widened range.
- Categories: spellings with the same `house_price.core.spellings.category_key` are one
  category, named by its most frequent spelling; the others become `aliases`.
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

import re

from house_price.core.split import (
    MIN_TEST_ROWS,
    MIN_TRAIN_ROWS,
    ROWS_PER_FOLD,
    rows_needed,
    split_sizes,
)

MISSING_SPELLINGS = ("NA", "N/A", "null", "None", "NaN", "-", "?")
MISSING_KEYS = frozenset(spelling.casefold() for spelling in MISSING_SPELLINGS)
MARGIN = 0.10
ID_DISTINCT_SHARE = 0.95
ID_MIN_ROWS = 10
MAX_CATEGORIES = 200
LEAK_WARN = 0.95
LEAK_OUT = 0.99
# The fewest rows the pipeline trains and tests on, whatever the params (a floor: the default
# params need DEFAULT_PARAMS_ROWS).
MIN_ROWS = MIN_TRAIN_ROWS + MIN_TEST_ROWS
# params.yaml's process.test_size and train.cv_folds (tests/integration/test_profile_init.py
# holds them equal): the draft may be made where no params.yaml is
DEFAULT_TEST_SIZE = 0.2
DEFAULT_CV_FOLDS = 5
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
DIGITS_ONLY_FORMAT = "%Y%m%d"
FIRST_YEAR, LAST_YEAR = 1800, 2200  # of a date a column's format must read


def rows_for_params(test_size: float, cv_folds: int) -> int:
    """The fewest rows the pipeline trains and tests on with these params: the split
    (`split.split_sizes`) leaves MIN_TEST_ROWS to test and, to train, MIN_TRAIN_ROWS and
    ROWS_PER_FOLD rows a fold (`model.fold_splits`)."""
    rows = rows_needed(test_size)
    while split_sizes(rows, test_size)[0] < max(MIN_TRAIN_ROWS, ROWS_PER_FOLD * cv_folds):
        rows += 1
    return rows


DEFAULT_PARAMS_ROWS = rows_for_params(DEFAULT_TEST_SIZE, DEFAULT_CV_FOLDS)  # 13
