"""Number columns, as the pipeline reads numbers (`parsing.to_numbers`): an identifier (left
out), a code (a category of the values as written), or an int or float feature with bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from house_price.core.parsing import to_numbers
from house_price.drafting.bounds import all_whole, readable_bounds, readable_number
from house_price.drafting.codes import draft_code, has_leading_zero
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import (
    BUILT,
    CODE_TOKENS,
    ID_DISTINCT_SHARE,
    ID_MIN_ROWS,
    ID_TOKENS,
    MAX_CATEGORIES,
    YEAR_TOKENS,
)
from house_price.drafting.wording import name_tokens, non_finite_note
from house_price.schema import REFERENCE_YEAR


def as_numbers(values: pd.Series) -> pd.Series | None:
    """Every value as a float (`inf`, `nan`, `1e400` included), or None when any value is no
    number."""
    numbers, not_numbers = to_numbers(values)
    return None if not_numbers.any() else numbers


def draft_number(values: pd.Series, name: str, rows: int) -> ColumnDraft | None:
    """A number column, or None when a value is no number."""
    every = as_numbers(values)
    if every is None:
        return None
    numbers = every[np.isfinite(every)]
    if numbers.empty:
        return ColumnDraft(name, "empty", left_out="only non-finite numbers, no values: left out")
    non_finite = non_finite_note(every, values)
    draft = draft_finite(values.loc[numbers.index], numbers, name, rows)
    if non_finite and draft.spec is not None:
        draft.comments.append(non_finite)
    return draft


def draft_finite(values: pd.Series, numbers: pd.Series, name: str, rows: int) -> ColumnDraft:
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
    leading_zero = has_leading_zero(values.str.strip())
    code_name = bool(tokens & CODE_TOKENS) or name.lower().endswith(("code", "zip"))
    # Codes with a leading zero are never numbers; other code-like names, up to MAX_CATEGORIES.
    if whole and (leading_zero or (code_name and distinct <= MAX_CATEGORIES)):
        why = "a value with a leading zero" if leading_zero else "a code-like name"
        return draft_code(values, name, why, rows)
    low, high = float(numbers.min()), float(numbers.max())
    minimum, highest = readable_bounds(low, high, whole)
    maximum: float | str = highest
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
