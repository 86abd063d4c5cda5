"""How a category column's spellings resolve, and the check that a profile's categories and
aliases resolve every spelling one way only.

One rule, in every face (cleaning, the API's and batch scoring's row type, the MLflow model):
a spelling is compared by `category_key` (case and runs of whitespace do not count) with the
declared categories and aliases, and gives the category it names (`schema.Column.normalise`).
That is a rule only if no key names two categories: an alias spelled like another category
(`Urban: Downtown` where `Urban` is a category), two categories or two aliases with one key and
different categories, or an alias onto a name that is no category (`A: B` where `B` is itself
an alias) would let the order of a lookup decide. `check_spellings` refuses each of them, and
a spelling whose key is empty (`""`, `" "`): a blank field is a missing value, which the
pipeline, the API and batch scoring would otherwise each read their own way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from house_price.core.errors import name_list


def category_key(value: str) -> str:
    """Spelling-insensitive key: case and runs of whitespace do not distinguish categories."""
    return " ".join(value.split()).casefold()


RULE = "case and spacing do not count"


def check_spellings(categories: Sequence[str], aliases: Mapping[str, str], where: str) -> None:
    """ValueError naming the column (`where`) and the spellings when a spelling is blank, a key
    would resolve to two categories, or an alias names no declared category."""
    allowed = f"categories: {name_list(categories)}"
    for field, spellings in (("categories", categories), ("aliases", aliases)):
        blank = next((name for name in spellings if not category_key(name)), None)
        if blank is not None:
            raise ValueError(
                f"{where}.{field}: {blank!r} is blank ({RULE}): a blank field is a missing value, "
                "never a category; remove it"
            )
    owner: dict[str, tuple[str, str]] = {}  # key -> (the spelling that claimed it, its category)
    for name in categories:
        other, _ = owner.setdefault(category_key(name), (name, name))
        if other != name:
            raise ValueError(
                f"{where}.categories: {other!r} and {name!r} are one spelling ({RULE}); "
                "keep one and make the other an alias of it"
            )
    for alias, target in aliases.items():
        if target not in categories:
            also = " (itself an alias: an alias names a category)" if target in aliases else ""
            raise ValueError(
                f"{where}.aliases: {alias!r} -> {target!r}: {target!r} is not a declared "
                f"category{also}; {allowed}"
            )
    for alias, target in aliases.items():
        spelling, named = owner.setdefault(category_key(alias), (alias, target))
        if named == target:
            continue
        if spelling in categories:
            clash = f"but {alias!r} is the category {spelling!r}"
        else:
            clash = f"but {spelling!r} -> {named!r} is the same spelling"
        raise ValueError(
            f"{where}.aliases: {alias!r} -> {target!r}, {clash} ({RULE}): one spelling may name "
            f"one category only; remove one of them ({allowed})"
        )
