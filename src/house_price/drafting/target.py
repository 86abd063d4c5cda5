"""The target's draft: a number column with bounds, refused (DataError) when the pipeline could
not train on it, with a WARNING when the default params need more rows than it has."""

from __future__ import annotations

import numpy as np
import pandas as pd

from house_price.core.errors import DataError
from house_price.core.parsing import is_nan_text, missing_spelled, to_numbers
from house_price.core.split import MIN_TEST_ROWS, MIN_TRAIN_ROWS, ROWS_PER_FOLD, split_sizes
from house_price.drafting.bounds import all_whole, readable_bounds, readable_number
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.numbers import as_numbers
from house_price.drafting.rules import (
    DEFAULT_CV_FOLDS,
    DEFAULT_PARAMS_ROWS,
    DEFAULT_TEST_SIZE,
    MIN_ROWS,
)
from house_price.drafting.wording import (
    first_of,
    missing_spellings,
    non_finite,
    non_finite_note,
    plural,
    typical_missing,
)
from house_price.schema import DEFAULT_MISSING_VALUES


def draft_target(values: pd.Series, name: str) -> ColumnDraft:
    """The target: numbers with bounds; DataError when it is not a number column."""
    missing = missing_spelled(values, DEFAULT_MISSING_VALUES)
    spellings = missing_spellings(values)
    present = values[~missing & ~typical_missing(values)]
    if present.empty:
        raise DataError(f"target column {name!r} has no values")
    every = as_numbers(present)
    if every is None:
        text = to_numbers(present)[1]  # where a value is no number
        raise DataError(
            f"target column {name!r} is not a number column: {plural(int(text.sum()), 'value')} "
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
        f"{plural(len(kept), 'row')} with a value the pipeline keeps (a finite number, 0 or more)"
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
        comments.append(f"{plural(int(missing.sum()), 'row')} without it: the pipeline drops them")
    non_finite_comment = non_finite_note(every, present)
    if non_finite_comment:
        comments.append(non_finite_comment)
    for spelling, count in spellings.items():
        if is_nan_text(spelling):  # parsing.to_numbers: a NaN number, not finite
            comments.append(
                f"{spelling!r} appears {plural(count, 'time')}: the pipeline reads it as NaN "
                "and drops the row (in missing_values too: a row without a target is dropped)"
            )
            continue
        comments.append(
            f"{spelling!r} appears {plural(count, 'time')}: add it to missing_values if it "
            "means missing (otherwise the pipeline rejects the file)"
        )
    below = int((numbers < 0).sum())
    if below:  # the profile requires min >= 0: a price below 0 does not exist
        minimum = 0
        comments.append(f"{plural(below, 'row')} below 0: the pipeline drops them")
    spec = {"name": name, "min": minimum, "max": maximum}
    kind = "int" if whole else "float"
    return ColumnDraft(name, kind, spec, comments, numbers=numbers, notes=notes)
