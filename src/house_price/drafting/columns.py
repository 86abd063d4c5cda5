"""One column's draft: its kind, tried in order (no values, dates, numbers, text), then what it
holds that the user should know (missing spellings, empty fields, one value in every row)."""

from __future__ import annotations

import pandas as pd

from house_price.core.parsing import is_nan_text, missing_spelled, to_dates
from house_price.drafting.categories import draft_text
from house_price.drafting.dates import draft_date
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.numbers import draft_number
from house_price.drafting.wording import missing_spellings, plural, typical_missing
from house_price.schema import DEFAULT_MISSING_VALUES


def draft_column(values: pd.Series, name: str) -> ColumnDraft:
    """Classify one text column (see `drafting.rules`) and draft its profile entry."""
    rows = len(values)
    missing = missing_spelled(values, DEFAULT_MISSING_VALUES)
    spellings = missing_spellings(values)
    present = values[~missing]
    if present.empty:
        return ColumnDraft(
            name, "empty", left_out=f"no values at all in {rows} rows: left out", comments=[]
        )
    comments: list[str] = []
    # Missing spellings are values: pointed out, never dropped; ignored only to judge the type.
    candidates = present[~typical_missing(present)]
    if candidates.empty:
        listed = ", ".join(f"{spelling!r} ({count})" for spelling, count in spellings.items())
        return ColumnDraft(
            name, "empty", left_out=f"only missing spellings ({listed}), no values: left out"
        )

    draft = (
        draft_date(candidates, name)
        or draft_number(candidates, name, rows)
        or draft_text(present, name, rows)
    )
    consequence = "and take it out of categories"
    if spellings and draft.kind in {"float", "int", "date"}:
        consequence = "otherwise the pipeline rejects the file for a value that is not a "
        consequence += "date" if draft.kind == "date" else "number"
    for spelling, count in spellings.items():
        note = (
            f"{spelling!r} appears {plural(count, 'time')}: add it to missing_values "
            f"if it means missing ({consequence})"
        )
        if draft.kind in {"float", "int"} and is_nan_text(spelling):
            # parsing.to_numbers reads it as a NaN number: non-finite, its row dropped
            impute = "" if missing.any() else " and make the column nullable"
            note = (
                f"{spelling!r} appears {plural(count, 'time')}: the pipeline reads it as NaN "
                f"and drops the row; add it to missing_values{impute} to impute it instead"
            )
        comments.append(note)
        draft.notes.append(f"{name}: {note}")
    if missing.any() and draft.spec is not None:
        share = 100 * missing.sum() / rows
        draft.spec["nullable"] = True
        comments.append(
            f"{plural(int(missing.sum()), 'empty value')} ({share:.1f} %): nullable, "
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
            distinct = to_dates(values, None, spec["format"])[0].dt.normalize().nunique()
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
