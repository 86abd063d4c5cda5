"""`house-price profile init`: a draft profile from a CSV. Small pure functions from a text
DataFrame to a profile mapping with comments, and a renderer to commented YAML. No I/O here: the
CLI (`house_price.cli`) reads the CSV with the pipeline's own reader (`io.read_raw_csv`) and
writes the draft.

The rules and their thresholds: `rules`. Modules, in the order a draft is made:
`columns` (each column's kind: `dates`, `numbers`, `categories`; `bounds`, `wording`), `target`,
`leaks`, `derived`, then `render`; `drafts` holds what they make (`ColumnDraft`, `Draft`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from house_price.core.errors import DataError, name_list
from house_price.core.profile_file import matrix_column_clash, usable_name
from house_price.drafting.columns import draft_column
from house_price.drafting.derived import draft_derived
from house_price.drafting.drafts import ColumnDraft, Draft
from house_price.drafting.leaks import flag_leaks
from house_price.drafting.render import render
from house_price.drafting.rules import MARGIN
from house_price.drafting.target import draft_target
from house_price.drafting.wording import plural, sanitise_name
from house_price.schema import DEFAULT_MISSING_VALUES

__all__ = ["ColumnDraft", "Draft", "column_list", "draft_profile", "render", "sanitise_name"]


def draft_profile(
    frame: pd.DataFrame, target: str, *, name: str, source: str, command: str
) -> Draft:
    """A draft profile for a text frame (as `io.read_raw_csv` reads it: what the pipeline will
    see, header names trimmed, without repeated names). DataError for a header name no profile
    can hold (`usable_name`), or a target that is no column."""
    for position, heading in enumerate(map(str, frame.columns), 1):
        try:
            usable_name(heading)
        except ValueError as exc:
            raise DataError(f"column {position} of the header, {heading!r}: {exc}") from None
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
    numeric = [c.name for c in features if c.kind in ("int", "float")]
    numeric += [item["name"] for item in derived]
    levels = {c.name: c.spec["categories"] for c in features if c.kind == "category" and c.spec}
    clash = matrix_column_clash(numeric, levels)
    if clash:  # the profile loader would refuse the draft (as would the transformer)
        raise DataError(clash)
    profile: dict[str, Any] = {
        "name": name,
        "description": f"Draft from {Path(source).name}: describe the data here.",
        "source": source,
        "missing_values": list(DEFAULT_MISSING_VALUES),
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
        f"({len(features)} features, {plural(len(columns) - len(features), 'column')} left out).",
        "REVIEW BEFORE USE: types, bounds, categories and left-out columns are guesses from the",
        f"data. Bounds: the data's range widened by {MARGIN:.0%} on each side (whole numbers by "
        "at least 1, a 0/1 flag not at all), not across 0, rounded.",
        "Only the empty field is missing (missing_values); see the comments on each column.",
    ]
    return Draft(profile, header, target_draft, columns, derived_comments, notes)


def column_list(columns: Iterable[str]) -> str:
    return f"columns: {name_list(columns)}"
