"""Derived features: `<date>_year` and `<date>_month` for every date feature, `house_age` from a
year-built int feature (at the sale date when there is a date feature)."""

from __future__ import annotations

from typing import Any

from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import BUILT


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
