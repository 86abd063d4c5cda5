"""Leaks: number features that rank the rows (almost) as the target does."""

from __future__ import annotations

import pandas as pd

from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import LEAK_OUT, LEAK_WARN


def spearman(x: pd.Series, y: pd.Series) -> float | None:
    """Rank correlation on the rows where both are present; None when it is undefined."""
    both = x.notna() & y.notna()
    if both.sum() < 3:
        return None
    value = x[both].rank().corr(y[both].rank())
    return None if pd.isna(value) else float(value)


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
