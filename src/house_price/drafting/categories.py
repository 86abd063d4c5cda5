"""Text columns: an identifier or free text (left out), or a category whose spellings with the
same `core.spellings.category_key` are merged, named by the most frequent one."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from house_price.core.parsing import to_numbers
from house_price.core.spellings import category_key
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import ID_DISTINCT_SHARE, ID_MIN_ROWS, MAX_CATEGORIES
from house_price.drafting.wording import plural


def draft_text(values: pd.Series, name: str, rows: int) -> ColumnDraft:
    """A column that is neither dates nor numbers."""
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
    text = to_numbers(values)[1]  # where a value is no number
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
    draft = draft_category(values, name, sort_by_value=False)
    draft.comments = notes + draft.comments
    draft.notes += [f"{name}: {note}" for note in notes]
    return draft


def draft_category(values: pd.Series, name: str, sort_by_value: bool) -> ColumnDraft:
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
    comments = [f"{plural(len(order), 'category')}, with their row counts"]
    return ColumnDraft(
        name,
        "category",
        spec,
        comments + merges,
        category_counts={value: counts[value] for value in order},
    )
