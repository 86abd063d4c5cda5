"""How the draft words things: names from file stems and headers, counts, examples with their
line, non-finite values, the missing spellings a column holds."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from house_price.drafting.rules import MISSING_KEYS


def name_tokens(name: str) -> list[str]:
    """`parcelID`, `parcel_id`, `Parcel ID` -> ['parcel', 'id']."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.findall(r"[a-z]+|\d+", spaced.lower())


def sanitise_name(stem: str) -> str:
    """A profile name from a file stem: lower case, runs of other characters as one `_`."""
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    return name if name and not name[0].isdigit() else f"data_{name}".rstrip("_")


def plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def typical_missing(values: pd.Series) -> pd.Series:
    """Where a value is one of MISSING_SPELLINGS (trimmed, in any case)."""
    return values.str.strip().str.casefold().isin(MISSING_KEYS)


def missing_spellings(values: pd.Series) -> dict[str, int]:
    """Typical missing spellings present, as written, with their counts (most frequent first)."""
    stripped = values.str.strip()
    hits = stripped[typical_missing(values)]
    return dict(Counter(hits).most_common())


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
    return f"{plural(int(bad.sum()), 'non-finite value')}, e.g. {first_of(bad, values)}"


def non_finite_note(numbers: pd.Series, values: pd.Series) -> str | None:
    """A comment on the values that are numbers but not finite, or None when there are none."""
    counted = non_finite(numbers, values)
    return f"{counted}: the pipeline drops such rows" if counted else None
