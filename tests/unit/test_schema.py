"""The dataset profile: the shipped profiles load, a broken declaration is rejected with a
message naming the column and the problem, and category spellings normalise."""

from __future__ import annotations

import copy
import json
import math
import re
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from house_price.core.errors import DataError
from house_price.core.yamlfile import load_yaml
from house_price.data.encoding import derived_value
from house_price.schema import category_key, load_profile, profile_from_dict

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
SOURCES = {
    "houses": "synthetic",
    "california": "data/external/california/california_housing.csv",
    "kingcounty": "data/external/kingcounty/kc_house_data.csv",
}
HOUSES_COLUMNS = ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]


def houses_spec() -> dict[str, Any]:
    return yaml.safe_load((PROFILES / "houses.yaml").read_text())


@pytest.fixture
def houses():
    return load_profile(PROFILES / "houses.yaml", 2025)


@pytest.mark.parametrize("name", ["houses", "california", "kingcounty"])
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(PROFILES / f"{name}.yaml", 2025)
    assert profile.name == name
    assert profile.target.name not in profile.feature_names
    assert profile.feature_names, "a profile without features"
    for item in profile.derived:  # derived features read declared features only
        assert set(item.inputs) <= set(profile.feature_names)
    # Every feature has an example (the API builds its docs and smoke requests from them).
    assert all(column.example is not None for column in profile.features)
    assert profile.source == SOURCES[name]
    assert profile.is_synthetic == (name == "houses")


def test_houses_profile_is_the_course_schema(houses) -> None:
    assert houses.target.name == "price"
    assert houses.feature_names == HOUSES_COLUMNS
    assert houses.feature("location").categories == (
        "Downtown",
        "Urban",
        "Suburb",
        "Rural",
        "Waterfront",
        "Mountain",
    )
    assert houses.feature("condition").categories == ("Poor", "Fair", "Good", "Excellent")
    assert houses.numeric_features == ["sqft", "bedrooms", "bathrooms", "year_built"]
    assert [item.name for item in houses.derived] == ["house_age"]
    assert set(houses.example_row()) == set(HOUSES_COLUMNS)


def test_reference_year_bound_follows_the_param() -> None:
    """`max: reference_year` in a profile stands for the features.reference_year param."""
    assert load_profile(PROFILES / "houses.yaml", 2025).feature("year_built").maximum == 2025
    later = load_profile(PROFILES / "houses.yaml", 2031)
    assert later.feature("year_built").maximum == 2031
    assert later.reference_year == 2031


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        (" suburb ", "Suburb"),
        ("SUBURB", "Suburb"),
        ("Suburb", "Suburb"),
        ("SUBURBAN", "Suburb"),  # a declared alias, in any case
        ("  suburban\t", "Suburb"),
        ("city   centre", "Downtown"),  # runs of whitespace collapse
        ("City Center", "Downtown"),
        ("waterFront", "Waterfront"),
        ("Suburbia", None),  # neither a category nor an alias
        ("", None),
    ],
)
def test_category_normalisation(houses, spelling: str, canonical: str | None) -> None:
    assert houses.feature("location").normalise(spelling) == canonical


def test_category_key_ignores_case_and_whitespace() -> None:
    assert category_key("  Near   BAY ") == category_key("near bay") == "near bay"
    assert category_key("NearBay") != category_key("near bay")


def test_aliases_apply_to_their_column_only(houses) -> None:
    assert houses.feature("condition").normalise("suburban") is None
    assert houses.feature("condition").normalise(" EXCELLENT ") == "Excellent"


def rejected(spec: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as info:  # noqa: PT011 (the message is checked by callers)
        profile_from_dict(spec, 2025)
    return str(info.value)


def test_derived_feature_reading_the_target_is_rejected() -> None:
    spec = houses_spec()
    spec["derived"].append({"name": "price_per_sqft", "op": "ratio", "inputs": ["price", "sqft"]})
    message = rejected(spec)
    assert "price_per_sqft" in message
    assert "'price'" in message
    assert "not declared features" in message


def test_derived_feature_reading_an_undeclared_column_is_rejected() -> None:
    spec = houses_spec()
    spec["derived"].append({"name": "lot_ratio", "op": "ratio", "inputs": ["sqft", "lot_size"]})
    message = rejected(spec)
    assert "lot_ratio" in message
    assert "lot_size" in message
    assert "sqft" not in message.split("inputs", 1)[1]  # only the undeclared one is named


def test_derived_feature_with_an_unknown_op_is_rejected() -> None:
    spec = houses_spec()
    spec["derived"][0]["op"] = "log"
    assert rejected(spec) == (
        "derived[0] (house_age).op: Input should be 'age', 'ratio', 'year', 'month' or "
        "'projection' (got 'log')"
    )


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"op": "projection", "inputs": ["sqft", "bedrooms"]}, "projection needs degrees"),
        ({"op": "ratio", "inputs": ["sqft", "bedrooms"], "degrees": 30}, "no other op takes"),
        (
            {"op": "projection", "inputs": ["sqft", "location"], "degrees": 30},
            "[numeric, category]",
        ),
        (
            {"op": "projection", "inputs": ["sqft", "bedrooms"], "degrees": 181},
            "less than or equal",
        ),
    ],
)
def test_projection_takes_two_numbers_and_degrees(item: dict[str, Any], problem: str) -> None:
    spec = houses_spec()
    spec["derived"].append({"name": "turned", **item})
    assert problem in rejected(spec)


def test_projection_is_the_coordinate_on_a_turned_axis() -> None:
    spec = houses_spec()
    spec["derived"].append(
        {"name": "turned", "op": "projection", "inputs": ["sqft", "bedrooms"], "degrees": 90}
    )
    (turned,) = [item for item in profile_from_dict(spec, 2025).derived if item.name == "turned"]
    assert turned.degrees == 90
    values = {"sqft": np.array([2.0, np.nan]), "bedrooms": np.array([3.0, 1.0])}
    result = derived_value(turned, values, 2025)
    assert result[0] == pytest.approx(3.0)  # 90 degrees: the second input's axis
    assert np.isnan(result[1])  # missing in, missing out
    half = derived_value(replace(turned, degrees=45.0), {"sqft": 2.0, "bedrooms": 2.0}, 2025)
    assert half == pytest.approx(2 * math.sqrt(2))


def test_unknown_column_type_is_rejected() -> None:
    spec = houses_spec()
    spec["features"][0]["type"] = "decimal"
    assert rejected(spec) == (
        "features[0] (sqft).type: Input should be 'float', 'int', 'category' or 'date' "
        "(got 'decimal')"
    )


def test_alias_to_an_undeclared_category_is_rejected() -> None:
    spec = houses_spec()
    location = next(item for item in spec["features"] if item["name"] == "location")
    location["aliases"]["Seaside"] = "Beach"
    assert rejected(spec) == (
        "features[3] (location).aliases: 'Seaside' -> 'Beach': 'Beach' is not a declared "
        "category; categories: Downtown, Urban, Suburb, Rural, Waterfront, Mountain"
    )


def test_category_column_without_categories_is_rejected() -> None:
    spec = houses_spec()
    condition = next(item for item in spec["features"] if item["name"] == "condition")
    del condition["categories"]
    message = rejected(spec)
    assert "'condition'" in message
    assert "categories" in message


@pytest.mark.parametrize("clash", ["duplicate", "target"])
def test_column_names_must_be_unique_and_not_the_target(clash: str) -> None:
    spec = houses_spec()
    extra = copy.deepcopy(spec["features"][0])
    if clash == "target":
        extra["name"] = "price"
    spec["features"].append(extra)
    assert "unique" in rejected(spec)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (lambda spec: spec.pop("name"), "name: Field required"),
        (
            lambda spec: spec.update(target="price"),
            "target: should be a mapping such as {name: price, min: 0} (got 'price')",
        ),
        (
            lambda spec: spec["features"][0].update(min="100"),
            "features[0] (sqft).min: a bound is a number or 'reference_year' (got '100')",
        ),
        (
            lambda spec: spec["features"][3]["categories"].append(True),
            "features[3] (location).categories[6]: Input should be a valid string (got True)",
        ),
        (
            lambda spec: spec.update(feature=spec.pop("features")),
            "features: Field required; feature: Extra inputs are not permitted (got [",
        ),
        (lambda spec: spec.update(features=[]), "features: List should have at least 1 item"),
        (lambda spec: spec.clear(), "name: Field required; target: Field required"),
    ],
)
def test_profile_layout_mistakes_name_the_place(mistake, message: str) -> None:
    spec = houses_spec()
    mistake(spec)
    assert rejected(spec).startswith(message)


def test_a_long_misplaced_value_is_shown_by_its_start() -> None:
    spec = houses_spec()
    spec["feature"] = spec.pop("features")
    shown = rejected(spec).split("feature: Extra inputs are not permitted (got ", 1)[1]
    assert shown == repr(houses_spec()["features"])[:77] + "...)"


def test_a_profile_that_is_not_a_mapping_is_rejected() -> None:
    for document in (["name", "houses"], None):  # a list, an empty file
        assert rejected(document) == (
            f"profile: should be a mapping with name, source, target, features, derived "
            f"(got {document!r})"
        )


def test_load_profile_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nfeatures: [sqft,\n")
    with pytest.raises(DataError) as info:
        load_profile(broken, 2025)
    assert str(info.value).startswith(f"{broken}: while parsing")
    assert "\n" not in str(info.value)


def test_target_per_names_a_positive_numeric_feature() -> None:
    assert profile_from_dict(houses_spec(), 2025).target_per == "sqft"
    spec = houses_spec()
    del spec["target"]["per"]
    assert profile_from_dict(spec, 2025).target_per is None


@pytest.mark.parametrize(
    ("per", "sqft_min", "problem"),
    [
        ("area", 100, "target (price).per: 'area' is not a numeric feature (numeric: sqft, "),
        ("location", 100, "target (price).per: 'location' is not a numeric feature"),
        ("price", 100, "target (price).per: 'price' is not a numeric feature"),
        ("sqft", 0, "needs a min above 0 (got 0.0)"),
        ("sqft", -5, "needs a min above 0 (got -5.0)"),
        ("sqft", None, "needs a min above 0 (got None)"),
        ("sqft", 1e-46, "needs a min above 0 (got 1e-46)"),  # 0 in the float32 matrix
    ],
)
def test_target_per_that_could_divide_by_zero_is_rejected(per, sqft_min, problem) -> None:
    spec = houses_spec()
    spec["target"]["per"] = per
    sqft = next(column for column in spec["features"] if column["name"] == "sqft")
    sqft["min"] = sqft_min
    message = rejected(spec)
    assert problem in message
    assert "\n" not in message


def test_target_per_needs_a_max() -> None:
    """Without one, a request could multiply a price per square foot past float32's range."""
    spec = houses_spec()
    sqft = next(column for column in spec["features"] if column["name"] == "sqft")
    del sqft["max"]
    message = rejected(spec)
    assert message == (
        "target (price).per: predictions are multiplied by 'sqft', so it needs a max (got none)"
    )


def test_target_per_is_a_target_key_only() -> None:
    spec = houses_spec()
    spec["features"][0]["per"] = "bedrooms"
    assert "features[0] (sqft).per: Extra inputs are not permitted" in rejected(spec)


def test_target_defaults_to_float_with_bounds() -> None:
    profile = profile_from_dict(houses_spec(), 2025)
    assert profile.target.kind == "float"
    assert (profile.target.minimum, profile.target.maximum) == (1000.0, 100_000_000.0)


def test_docs_profile_example_loads() -> None:
    """The example of docs/own-data.md ("Your own data") is a valid profile, so a user can start
    from it."""
    own_data = (REPO / "docs" / "own-data.md").read_text()
    assert own_data.startswith("# Your own data\n"), own_data[:80]
    block = re.search(r"```yaml\n(.*?)```", own_data, re.DOTALL)
    assert block, "no yaml example in docs/own-data.md"
    example = textwrap.dedent(block.group(1))
    profile = profile_from_dict(yaml.safe_load(example), 2025)
    assert profile.name == "mydata"
    assert profile.target.name == "price"
    assert profile.feature("year_built").maximum == 2025
    assert profile.feature("location").normalise(" city centre ") == "Downtown"
    assert [item.name for item in profile.derived] == ["house_age"]


def test_docs_predict_example_is_the_default_profile_example(houses) -> None:
    serving = (REPO / "docs" / "serving.md").read_text()
    call = re.search(r"curl -s http://127\.0\.0\.1:8000/predict .*?-d '(.*?)'", serving, re.DOTALL)
    assert call, "no /predict example in docs/serving.md"
    assert json.loads(call.group(1)) == houses.example_row()


@pytest.mark.parametrize(("minimum", "shown"), [(-200_000, "-200000.0"), (-0.5, "-0.5")])
def test_target_below_zero_is_refused(minimum: float, shown: str) -> None:
    """A negative price would crash log1p in train; rows below min are dropped instead."""
    spec = houses_spec()
    spec["target"]["min"] = minimum
    assert rejected(spec) == (
        "target (price).min: a price is never below 0, so min must be 0 or more "
        f"(rows below it are dropped as out of bounds; got {shown})"
    )
    spec["target"]["min"] = 0
    assert profile_from_dict(spec, 2025).target.minimum == 0


def test_a_target_without_min_has_min_0() -> None:
    """So a bundle whose profile gave none still loads, and negative prices are still dropped."""
    spec = houses_spec()
    del spec["target"]["min"]
    assert profile_from_dict(spec, 2025).target.minimum == 0.0


def test_yaml_merge_keys_are_no_repeated_keys() -> None:
    """`<<: *anchor` merges (DVC reads it); an explicit key after it overrides the merged one."""
    text = "base: &b {a: 1, max: 2}\nx:\n  <<: *b\n  max: 3\n"
    assert load_yaml(text) == {"base": {"a": 1, "max": 2}, "x": {"a": 1, "max": 3}}
    with pytest.raises(yaml.YAMLError, match="repeated key 'max'"):
        load_yaml(text + "  max: 4\n")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("  - {name: sqft, type: float, min: 300, max: 4100, max: 2500}\n", 2),
        ("  - name: sqft\n    type: float\n    max: 4100\n    max: 2500\n", 5),
    ],
)
def test_a_repeated_key_in_a_profile_is_refused(tmp_path: Path, text: str, line: int) -> None:
    """PyYAML keeps the last of two keys silently: the bound the user did not mean."""
    path = tmp_path / "twice.yaml"
    path.write_text(f"name: twice\ntarget: {{name: price, min: 0}}\nfeatures:\n{text}")
    with pytest.raises(DataError) as info:
        load_profile(path, 2025)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "repeated key 'max' (first on line" in message
    assert f"line {line + 2}" in message  # where the second one is
    assert "\n" not in message


def test_codes_written_unquoted_with_a_leading_zero_stay_codes(tmp_path: Path) -> None:
    """PyYAML read `01002` as the octal number 514 (DVC, YAML 1.2, as 1002): a zip code written
    unquoted was refused as `got 514`, or a param silently another number than DVC's."""
    assert load_yaml("a: [01002, -012, 08, 0, 10, 0.5]") == {
        "a": ["01002", "-012", "08", 0, 10, 0.5]
    }
    path = tmp_path / "zips.yaml"
    zip_column = "{name: zip, type: category, categories: [01002, 02134], example: 01002}"
    path.write_text(
        f"name: z\ntarget: {{name: price}}\nfeatures:\n  - {zip_column}\n"
        "  - {name: sqft, example: 3}\n"
    )
    assert load_profile(path, 2025).feature("zip").categories == ("01002", "02134")
    path.write_text(path.read_text().replace("[01002, 02134]", "[01002, 1002]"))
    with pytest.raises(DataError) as info:
        load_profile(path, 2025)
    assert str(info.value) == (
        f"{path}: features[0] (zip).categories[1]: Input should be a valid string (quote it: "
        "'1002'; unquoted, YAML reads a number) (got 1002)"
    )
