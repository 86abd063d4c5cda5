"""A category column's spellings resolve one way, in every face (issue 25): a hand-edited
profile whose categories and aliases would let one spelling name two categories is refused with
one line naming the file, the column, the spellings and the categories allowed; an unambiguous
one reads every spelling alike in cleaning, the API's request model and batch scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from house_price.core.errors import DataError
from house_price.core.parsing import missing_fields, to_categories
from house_price.schema import Column, load_profile
from house_price.serving.batch import RowValidator
from house_price.serving.requests import Spellings, request_models, row_values

PROFILES = Path(__file__).resolve().parents[3] / "profiles"
ALLOWED = "(categories: Downtown, Urban, Suburb, Rural, Waterfront, Mountain)"


def houses_with(categories: list[str] | None = None, **aliases: str) -> dict[str, Any]:
    spec = yaml.safe_load((PROFILES / "houses.yaml").read_text())
    location = next(item for item in spec["features"] if item["name"] == "location")
    location["aliases"] = aliases
    if categories is not None:
        location["categories"] = categories
    return spec


def refusal(tmp_path: Path, spec: dict[str, Any]) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(DataError) as info:
        load_profile(path, 2025)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: features[3] (location).")
    return message.removeprefix(f"{path}: features[3] (location).")


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        (  # the example: Urban would be Downtown in cleaning, Urban in the API
            {"Urban": "Downtown"},
            "aliases: 'Urban' -> 'Downtown', but 'Urban' is the category 'Urban' (case and "
            f"spacing do not count): one spelling may name one category only; remove one of "
            f"them {ALLOWED}",
        ),
        (  # the same, spelled as the faces match it
            {" URBAN ": "Downtown"},
            "aliases: ' URBAN ' -> 'Downtown', but ' URBAN ' is the category 'Urban' (case and "
            f"spacing do not count): one spelling may name one category only; remove one of "
            f"them {ALLOWED}",
        ),
        (
            {"city centre": "Downtown", "City Centre": "Rural"},
            "aliases: 'City Centre' -> 'Rural', but 'city centre' -> 'Downtown' is the same "
            "spelling (case and spacing do not count): one spelling may name one category "
            f"only; remove one of them {ALLOWED}",
        ),
        (  # a chain: an alias onto an alias
            {"Centre": "City Centre", "City Centre": "Downtown"},
            "aliases: 'Centre' -> 'City Centre': 'City Centre' is not a declared category "
            "(itself an alias: an alias names a category); categories: Downtown, Urban, "
            "Suburb, Rural, Waterfront, Mountain",
        ),
        (
            {"Seaside": "Beach"},
            "aliases: 'Seaside' -> 'Beach': 'Beach' is not a declared category; categories: "
            "Downtown, Urban, Suburb, Rural, Waterfront, Mountain",
        ),
        (  # the target must be the category as declared: the faces hand it to the model
            {"Centre": "downtown"},
            "aliases: 'Centre' -> 'downtown': 'downtown' is not a declared category; "
            "categories: Downtown, Urban, Suburb, Rural, Waterfront, Mountain",
        ),
    ],
)
def test_an_alias_that_names_two_categories_is_refused(
    tmp_path: Path, aliases: dict[str, str], message: str
) -> None:
    assert refusal(tmp_path, houses_with(**aliases)) == message


@pytest.mark.parametrize("twin", ["urban", " Urban", "URBAN "])
def test_two_categories_of_one_spelling_are_refused(tmp_path: Path, twin: str) -> None:
    categories = ["Downtown", "Urban", "Suburb", twin]
    assert refusal(tmp_path, houses_with(categories)) == (
        f"categories: 'Urban' and {twin!r} are one spelling (case and spacing do not count); "
        "keep one and make the other an alias of it"
    )


BLANK = (
    "is blank (case and spacing do not count): a blank field is a missing value, never a "
    "category; remove it"
)


@pytest.mark.parametrize("blank", ["", " ", "\t", " \t ", "\u00a0"])
def test_a_blank_alias_or_category_is_refused(tmp_path: Path, blank: str) -> None:
    """The pipeline read an empty field as the category of `aliases: {"": Urban}`, the API and
    batch scoring refused it (min_length=1) but read `"  "` as Urban: now no face reads a
    blank as a category, as the profile cannot declare one."""
    assert refusal(tmp_path, houses_with(**{blank: "Urban"})) == f"aliases: {blank!r} {BLANK}"
    categories = ["Downtown", blank, "Urban"]
    assert refusal(tmp_path, houses_with(categories)) == f"categories: {blank!r} {BLANK}"


def test_spellings_of_one_category_are_no_contradiction(tmp_path: Path) -> None:
    """What `profile init` drafts (other spellings of a category as its aliases) and an alias
    repeated in another case onto the same category stay valid."""
    spec = houses_with(**{"urban ": "Urban", "URBAN": "Urban", "centre": "Downtown"})
    spec["features"][3]["aliases"]["CENTRE"] = "Downtown"
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(spec))
    location = load_profile(path, 2025).feature("location")
    assert [location.normalise(text) for text in ("urban", " Centre", "Urban")] == [
        "Urban",
        "Downtown",
        "Urban",
    ]


SPELLINGS = ["Urban", "urban", " URBAN ", "City Centre", "city   CENTRE", "Suburban", "Nowhere"]


def faces(profile_path: Path) -> dict[str, list[str | None]]:
    """Each spelling as cleaning, the API's one-row model and batch scoring read it (None:
    refused as unknown)."""
    profile = load_profile(profile_path, 2025)
    column = profile.feature("location")
    text = pd.Series(SPELLINGS, dtype=object)
    cleaned = to_categories(text, missing_fields(text, column), column)
    row_model, _ = request_models(profile, 10)
    validator = RowValidator(profile)
    api, batch = [], []
    for spelling in SPELLINGS:
        row = {**profile.example_row(), "location": spelling}
        try:
            api.append(row_values(row_model.model_validate(row))["location"])
        except ValidationError:
            api.append(None)
        good, bad = validator.validate([row])
        batch.append(None if bad else good[0]["location"])
    return {
        "cleaning": [None if pd.isna(value) else value for value in cleaned],
        "api": api,
        "batch": batch,
    }


def test_every_face_reads_every_spelling_alike() -> None:
    read = faces(PROFILES / "houses.yaml")
    expected = ["Urban", "Urban", "Urban", "Downtown", "Downtown", "Suburb", None]
    assert read == {"cleaning": expected, "api": expected, "batch": expected}


def test_the_api_asks_the_pipelines_rule_even_for_a_category_spelled_exactly() -> None:
    """The request models once looked a category's own spelling up in a table of their own
    (`Urban` -> Urban) and asked the pipeline's rule for other spellings only: with a column
    the profile check did not make, the two disagreed. Now one rule answers both."""
    column = Column(
        "location",
        "category",
        categories=("Downtown", "Urban"),
        aliases={"Urban": "Downtown"},  # what load_profile refuses
    )
    spellings = Spellings(column)
    assert [spellings[text] for text in ("Urban", "urban")] == [column.normalise("Urban")] * 2
    assert spellings["Downtown"] == "Downtown"
