"""Code columns: whole numbers that name things (zip codes, FIPS codes, account numbers), drafted
as categories of their text, never as numbers (`01002` read as a number is 1002: its leading
zero, and which code it was, would be lost).

A spreadsheet strips leading zeros: a zip column holds `01002` and, from an edited copy, `1002`.
When every code with a leading zero has one width and no code is wider, the shorter ones are
such codes stripped: they are read padded to that width, and every code with a leading zero
gets its stripped spelling as an alias, so that the pipeline, the API and batch scoring read
`1002` as `01002` alike (`schema.Column.normalise`). With codes of several widths (FIPS state
`01` and county `01001`) a shorter code may be a code of its own, and codes not all digits
(`1002.0` from a float export, `+1002`) are not padded: a WARNING names the codes that are one
number (as `parsing.to_numbers` reads them) spelled two ways, and they stay two categories.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from house_price.core.parsing import to_numbers
from house_price.drafting.categories import draft_category
from house_price.drafting.drafts import ColumnDraft
from house_price.drafting.rules import ID_DISTINCT_SHARE, ID_MIN_ROWS, MAX_CATEGORIES
from house_price.drafting.wording import plural

LEADING_ZERO = r"[-+]?0\d"  # `02134`: a code, 2134 would not be written so
DIGITS = r"\d+"


def has_leading_zero(text: pd.Series) -> bool:
    return bool(text.str.match(LEADING_ZERO).any())


def padded_width(text: pd.Series) -> int | None:
    """The width every code with a leading zero has, when they have one and no code is wider;
    None otherwise (several widths, or signs and points)."""
    if not text.str.fullmatch(DIGITS).all():
        return None
    widths = set(text[text.str.match(LEADING_ZERO)].str.len())
    if len(widths) != 1:
        return None
    (width,) = widths
    return width if text.str.len().max() == width else None


def stripped(code: str) -> str:
    """`01002` as a spreadsheet shows it: `1002` (`000` -> `0`)."""
    return code.lstrip("0") or "0"


def draft_code(values: pd.Series, name: str, why: str, rows: int) -> ColumnDraft:
    """A code column of whole numbers as written (`values`, one per row with a value): a
    category, an identifier (left out) or, past MAX_CATEGORIES, left out."""
    text = values.str.strip()
    leading = has_leading_zero(text)
    width = padded_width(text) if leading else None
    notes = []
    short = text.str.len() < (width or 0)
    padded = width is not None and bool(short.any())
    if width is not None and padded:
        line, example = short.idxmax(), text[short].iloc[0]
        notes.append(
            f"WARNING: {plural(int(short.sum()), 'code')} shorter than the {width} digits of the "
            f"codes with a leading zero (e.g. {example!r}, line {line}): read as codes whose "
            f"leading zeros a spreadsheet stripped ({example!r} is {example.zfill(width)!r}); "
            "the aliases map each stripped spelling to its code"
        )
        text = text.str.zfill(width)
    elif leading:
        notes += one_number_two_spellings(text)
    distinct = text.nunique()
    if leading and len(text) >= ID_MIN_ROWS and distinct >= ID_DISTINCT_SHARE * len(text):
        left_out = f"an identifier: codes distinct in {distinct} of {rows} rows: left out"
        return ColumnDraft(
            name, "id", left_out=left_out, comments=notes, notes=notes_of(name, notes)
        )
    if distinct > MAX_CATEGORIES:
        left_out = (
            f"codes ({why}) with {distinct} distinct values, more than {MAX_CATEGORIES} for a "
            "category, and not numbers (their leading zeros would be lost): left out"
        )
        return ColumnDraft(
            name, "text", left_out=left_out, comments=notes, notes=notes_of(name, notes)
        )
    draft = draft_category(text, name, sort_by_value=True)
    if padded and draft.spec is not None:
        aliases = {stripped(code): code for code in draft.spec["categories"] if code[0] == "0"}
        draft.spec = with_aliases(draft.spec, aliases)
    draft.comments = [
        f"numbers, but a code ({why}, {distinct} distinct whole values): a category; "
        "make it int if the order of the numbers means something",
        *notes,
        *draft.comments,
    ]
    draft.notes += notes_of(name, notes)
    return draft


def one_number_two_spellings(text: pd.Series) -> list[str]:
    """A WARNING for codes where one whole number is spelled two ways (`1002` and `01002`, or
    `01002`, `+1002` and a float export's `1002.0`, compared as numbers by `to_numbers`): the
    first such spellings, which to keep (the one of digits only, longest), and how many
    numbers are written so."""
    spellings = pd.Series(text.unique())
    numbers, _ = to_numbers(spellings)
    clashes = spellings[numbers.duplicated(keep=False)].groupby(numbers).agg(list)
    if clashes.empty:
        return []
    first = sorted(clashes.iloc[0], key=len)
    code = max(
        first, key=lambda spelling: (re.fullmatch(DIGITS, spelling) is not None, len(spelling))
    )
    alias = next(spelling for spelling in first if spelling != code)
    why = "codes of several widths" if text.str.fullmatch(DIGITS).all() else "codes not all digits"
    return [
        f"WARNING: {why}, and {plural(len(clashes), 'number')} written more than one way (e.g. "
        f"{', '.join(map(repr, first))}): each spelling is a category; if they name one code "
        f"(its zeros stripped by a spreadsheet, or written as a float), make {alias!r} an alias "
        f"of {code!r}"
    ]


def with_aliases(spec: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """`spec` with `aliases` added to its own, in the key order the other drafts have."""
    merged = {**spec.get("aliases", {}), **aliases}
    out = {key: value for key, value in spec.items() if key not in ("aliases", "example")}
    return {**out, "aliases": merged, "example": spec["example"]}


def notes_of(name: str, comments: list[str]) -> list[str]:
    return [f"{name}: {comment}" for comment in comments]
